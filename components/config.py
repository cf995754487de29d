"""Validated models of the components' arguments.

Every component turns its raw args into one of these frozen models before it registers
anything, so bad input fails with one `ConfigError` that names the field, the value and
what is allowed, and nothing reaches the engine.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any, Callable, Literal

import pulumi
from kubernetes.utils import parse_quantity
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from components import defaults
from components.errors import ConfigError

MAX_QUANTITY = Decimal(10) ** 18
DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
SECRETISH_ENV = re.compile(r"(PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|PRIVATE_?KEY|CREDENTIAL)", re.I)
_TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REPOSITORY = rf"(?:[a-zA-Z0-9.-]+(?::[0-9]+)?/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"
IMAGE_TAG = re.compile(rf"^{_TAG}$")
IMAGE_REPOSITORY = re.compile(rf"^{_REPOSITORY}$")
IMAGE_REFERENCE = re.compile(rf"^(?P<repository>{_REPOSITORY})(?::(?P<tag>{_TAG}))?(?:@(?P<digest>sha256:[0-9a-f]{{64}}))?$")
"""An image reference as the distribution spec writes it: repository, then a tag, a sha256 digest or both."""
GO_VERSION = re.compile(r"^1\.\d+(\.\d+)?$")
MIN_APP_MEMORY_BYTES = 16 * 1024 * 1024
PLATFORM = re.compile(r"^linux/(amd64|arm64|arm/v7|ppc64le|s390x|riscv64)$")


def quantity(value: str) -> Decimal:
    """Parses a Kubernetes quantity with the official client's parser; ValueError if malformed."""
    try:
        parsed = parse_quantity(value)
    except (ValueError, ArithmeticError, TypeError) as err:
        raise ValueError(f"not a Kubernetes quantity ({err})") from None
    if not parsed.is_finite() or parsed <= 0:
        raise ValueError("must be a positive Kubernetes quantity such as '250m', '1', '128Mi'")
    if parsed > MAX_QUANTITY:
        raise ValueError("is larger than any real CPU or memory size (at most 1E, 10^18)")
    return parsed


def plain_args(args: dict[str, Any] | None, where: str, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """Component args as plain values (unset ones dropped), refusing Outputs where the specs need a value now."""

    def plain(value: Any, path: str) -> Any:
        if isinstance(value, pulumi.Output):
            raise ConfigError(path, "<Output>", "must be a plain value known when the program runs, not an Output")
        if isinstance(value, dict):
            return {k: plain(v, f"{path}.{k}") for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [plain(v, f"{path}[{i}]") for i, v in enumerate(value)]
        return value

    return {k: plain(v, f"{where}: {k}") for k, v in dict(args or {}).items() if v is not None and k not in skip}


def namespace_name(value: str) -> str:
    """A namespace of the workload's own: a DNS label, never 'default' or a kube-* system namespace."""
    _dns_label(value)
    if value == "default" or value.startswith("kube-"):
        raise ValueError("must be a namespace of its own, not 'default' or a 'kube-*' system namespace")
    return value


def _dns_label(value: str) -> str:
    if not DNS_LABEL.match(value):
        raise ValueError("must be a DNS-1123 label: lower-case letters, digits and '-', starting with a letter, at most 63 characters")
    return value


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ResourcesSpec(_Model):
    """CPU and memory for one container; the memory limit defaults to the request."""

    cpu_request: str = defaults.CPU_REQUEST
    cpu_limit: str | None = defaults.CPU_LIMIT
    memory_request: str = defaults.MEMORY_REQUEST
    memory_limit: str | None = None

    @field_validator("cpu_request", "cpu_limit", "memory_request", "memory_limit")
    @classmethod
    def _is_quantity(cls, value: str | None) -> str | None:
        if value is not None:
            quantity(value)
        return value

    @property
    def effective_memory_limit(self) -> str:
        return self.memory_limit or self.memory_request

    def check(self, path: str) -> None:
        if self.cpu_limit is not None and quantity(self.cpu_limit) < quantity(self.cpu_request):
            raise ConfigError(
                f"{path}.cpu_limit", self.cpu_limit, f"must be at least {path}.cpu_request ({self.cpu_request})"
            )
        if quantity(self.effective_memory_limit) < quantity(self.memory_request):
            raise ConfigError(
                f"{path}.memory_limit", self.memory_limit, f"must be at least {path}.memory_request ({self.memory_request})"
            )


class AutoscalingSpec(_Model):
    """HorizontalPodAutoscaler bounds and CPU target."""

    enabled: bool = True
    min_replicas: int = Field(defaults.HPA_MIN_REPLICAS, ge=1, le=1000)
    max_replicas: int = Field(defaults.HPA_MAX_REPLICAS, ge=1, le=1000)
    cpu_utilization: int = Field(defaults.HPA_CPU_UTILIZATION, ge=1, le=100)
    scale_down_stabilization_seconds: int = Field(defaults.HPA_SCALE_DOWN_STABILIZATION_SECONDS, ge=0, le=3600)
    requests_per_second: str | None = None

    @field_validator("requests_per_second")
    @classmethod
    def _rps(cls, value: str | None) -> str | None:
        if value is not None:
            quantity(value)
        return value


class SchedulingSpec(_Model):
    """How replicas are kept apart: hostname anti-affinity and optional zone spread."""

    anti_affinity: Literal["preferred", "required"] = "preferred"
    zone_spread: bool = False


class EgressTarget(_Model):
    """One allowed egress destination: a CIDR block or a namespace, and a TCP port."""

    cidr: str | None = None
    namespace: str | None = None
    port: int = Field(ge=1, le=65535)

    @classmethod
    def parse(cls, text: str) -> "EgressTarget":
        where, sep, port = text.rpartition(":")
        if not sep or not port.isdigit() or not where:
            raise ValueError(f"egress target {text!r} must look like '10.0.0.0/16:5432' or 'payments:8080'")
        if "/" in where:
            import ipaddress

            try:
                ipaddress.ip_network(where, strict=True)
            except ValueError as err:
                raise ValueError(f"egress target {text!r}: {err}") from None
            return cls(cidr=where, port=int(port))
        _dns_label(where)
        return cls(namespace=where, port=int(port))


class NetworkSpec(_Model):
    """Who may reach the service and where it may connect."""

    ingress_namespaces: list[str] = []
    monitoring_namespace: str = defaults.MONITORING_NAMESPACE
    egress: list[str] = []

    @field_validator("ingress_namespaces")
    @classmethod
    def _labels(cls, value: list[str]) -> list[str]:
        return [_dns_label(v) for v in value]

    @field_validator("monitoring_namespace")
    @classmethod
    def _label(cls, value: str) -> str:
        return _dns_label(value)

    @field_validator("egress")
    @classmethod
    def _egress(cls, value: list[str]) -> list[str]:
        for v in value:
            EgressTarget.parse(v)
        return value

    @property
    def egress_targets(self) -> list[EgressTarget]:
        return [EgressTarget.parse(v) for v in self.egress]


class InitContainerSpec(_Model):
    """An init container; it gets the same restricted security context as the app."""

    name: str
    image: str
    command: list[str] = []
    args: list[str] = []
    resources: ResourcesSpec = ResourcesSpec(cpu_request="50m", cpu_limit=None, memory_request="32Mi")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _dns_label(value)

    @field_validator("image")
    @classmethod
    def _image(cls, value: str) -> str:
        check_image_reference(value)
        return value


class ServiceSpec(_Model):
    """Everything GoService needs, validated; see `GoServiceArgs` for each field's meaning."""

    service_name: str
    namespace: str = defaults.NAMESPACE
    create_namespace: bool = False
    replicas: int = Field(2, ge=1, le=1000)
    http_port: int = Field(defaults.HTTP_PORT, ge=1024, le=65535)
    metrics_port: int = Field(defaults.METRICS_PORT, ge=1024, le=65535)
    admin_port: int = Field(defaults.ADMIN_PORT, ge=1024, le=65535)
    resources: ResourcesSpec = ResourcesSpec()
    go_mem_limit_percent: int = Field(defaults.GOMEMLIMIT_PERCENT, ge=50, le=100)
    go_version: str | None = None
    """The Go release the binary is built with ('1.26.0'); before 1.25, or unknown, GOMAXPROCS is set from the CPU limit."""
    autoscaling: AutoscalingSpec = AutoscalingSpec()
    scheduling: SchedulingSpec = SchedulingSpec()
    network: NetworkSpec = NetworkSpec()
    shutdown_timeout_seconds: int = Field(defaults.SHUTDOWN_TIMEOUT_SECONDS, ge=1, le=600)
    pre_stop_sleep_seconds: int = Field(defaults.PRE_STOP_SLEEP_SECONDS, ge=0, le=60)
    log_level: Literal["debug", "info", "warn", "error"] = "info"
    env: dict[str, str] = {}
    secret_env: dict[str, str] = {}
    init_containers: list[InitContainerSpec] = []

    @field_validator("go_version")
    @classmethod
    def _go_version(cls, value: str | None) -> str | None:
        if value is not None and not GO_VERSION.match(value):
            raise ValueError("must be a Go release like '1.26' or '1.26.0'")
        return value

    @field_validator("service_name")
    @classmethod
    def _service_name(cls, value: str) -> str:
        return _dns_label(value)

    @field_validator("namespace")
    @classmethod
    def _namespace(cls, value: str) -> str:
        return namespace_name(value)

    @field_validator("env")
    @classmethod
    def _env(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if not ENV_NAME.match(key):
                raise ValueError(f"env name {key!r} is not a valid environment variable name")
            if SECRETISH_ENV.search(key):
                raise ValueError(f"env {key!r} looks like a secret; put it in secret_env as 'secret-name/key'")
        return value

    @field_validator("secret_env")
    @classmethod
    def _secret_env(cls, value: dict[str, str]) -> dict[str, str]:
        for key, ref in value.items():
            if not ENV_NAME.match(key):
                raise ValueError(f"env name {key!r} is not a valid environment variable name")
            secret, sep, item = ref.partition("/")
            if not sep or not item or not DNS_LABEL.match(secret):
                raise ValueError(f"secret_env {key!r}: {ref!r} must be 'secret-name/key'")
        return value

    @property
    def termination_grace_seconds(self) -> int:
        """Long enough for the preStop sleep plus the app's own shutdown, with a margin."""
        return self.pre_stop_sleep_seconds + self.shutdown_timeout_seconds + defaults.TERMINATION_GRACE_MARGIN_SECONDS

    @property
    def max_replicas(self) -> int:
        return self.autoscaling.max_replicas if self.autoscaling.enabled else self.replicas

    @property
    def min_replicas(self) -> int:
        return self.autoscaling.min_replicas if self.autoscaling.enabled else self.replicas

    def check(self) -> None:
        """Cross-field rules that a single field's validator cannot see."""
        self.resources.check("resources")
        if quantity(self.resources.effective_memory_limit) < MIN_APP_MEMORY_BYTES:
            raise ConfigError(
                "resources.memory_limit", self.resources.effective_memory_limit, "must be at least 16Mi: a Go service needs room for its heap and runtime"
            )
        for i, init in enumerate(self.init_containers):
            init.resources.check(f"init_containers[{i}].resources")
        scaling = self.autoscaling
        if scaling.enabled and scaling.min_replicas > scaling.max_replicas:
            raise ConfigError(
                "autoscaling.min_replicas",
                scaling.min_replicas,
                f"must be at most autoscaling.max_replicas ({scaling.max_replicas}); raise max_replicas or lower min_replicas",
            )
        ports = {"http_port": self.http_port, "metrics_port": self.metrics_port, "admin_port": self.admin_port}
        if len(set(ports.values())) != len(ports):
            raise ConfigError("metrics_port", ports, "http_port, metrics_port and admin_port must be three different ports")
        names = [c.name for c in self.init_containers]
        if len(set(names)) != len(names) or "app" in names:
            raise ConfigError("init_containers", names, "init container names must be unique and not 'app'")
        clash = set(self.env) & set(self.secret_env)
        if clash:
            raise ConfigError("secret_env", sorted(clash), "a variable may be in env or secret_env, not both")


class ImageSpec(_Model):
    """Everything GoImage needs, validated; see `GoImageArgs` for each field's meaning."""

    context: str
    repository: str
    tag: str
    dockerfile: str | None = None
    go_version: str | None = None
    runtime: Literal["distroless", "alpine", "scratch"] = "distroless"
    push: bool = False
    platform: str = defaults.DEFAULT_PLATFORM
    cache_from: list[str] = []
    main_package: str = "."
    version: str | None = None

    @field_validator("repository")
    @classmethod
    def _repository(cls, value: str) -> str:
        if not IMAGE_REPOSITORY.match(value):
            raise ValueError("must be an image repository such as 'registry.example.com/team/app', without a tag")
        return value

    @field_validator("tag")
    @classmethod
    def _tag(cls, value: str) -> str:
        if value == "latest":
            raise ValueError("'latest' is not allowed: it is mutable, so rollbacks and audits cannot tell versions apart; use a version such as '1.4.2' or a commit SHA")
        if not IMAGE_TAG.match(value):
            raise ValueError("must be a Docker tag: letters, digits, '_', '.', '-', at most 128 characters")
        return value

    @field_validator("go_version")
    @classmethod
    def _go_version(cls, value: str | None) -> str | None:
        if value is not None and not GO_VERSION.match(value):
            raise ValueError("must be a Go release such as '1.24' or '1.24.3'")
        return value

    @field_validator("platform")
    @classmethod
    def _platform(cls, value: str) -> str:
        if not PLATFORM.match(value):
            raise ValueError("must be a Linux platform such as 'linux/amd64' or 'linux/arm64'")
        return value

    @field_validator("cache_from")
    @classmethod
    def _cache_from(cls, value: list[str]) -> list[str]:
        for ref in value:
            check_image_reference(ref)
        return value

    @property
    def image_name(self) -> str:
        return f"{self.repository}:{self.tag}"

    @property
    def build_version(self) -> str:
        return self.version or self.tag


def check_image_reference(ref: str) -> None:
    """Raises ValueError for a malformed image reference, one with no tag or digest, or one tagged `latest`."""
    match = IMAGE_REFERENCE.match(ref)
    if match is None:
        raise ValueError(
            f"image {ref!r} is not an image reference; write 'repository:tag', 'repository@sha256:<64 hex digits>' or "
            "'repository:tag@sha256:<64 hex digits>' with a lower-case repository"
        )
    if match["digest"] is not None:
        return
    if match["tag"] is None:
        raise ValueError(f"image {ref!r} has no tag; pin a version tag or a digest")
    if match["tag"] == "latest":
        raise ValueError(f"image {ref!r} uses the mutable 'latest' tag; pin a version tag or a digest")


def _error_path(loc: tuple[Any, ...]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def validate_model(model: type[_Model], raw: dict[str, Any], where: str) -> Any:
    """Builds `model` from `raw`, turning the first problem into a ConfigError naming `where` and the field."""
    try:
        return model.model_validate(raw)
    except ValidationError as err:
        first = err.errors(include_url=False)[0]
        path = _error_path(first["loc"])
        value = first.get("input")
        message = first["msg"].removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":
            allowed = sorted(model.model_fields) if len(first["loc"]) == 1 else None
            message = "unknown key" + (f"; known keys are {', '.join(allowed)}" if allowed else "")
        raise ConfigError(f"{where}: {path}" if path else where, value, message) from None


def validate_checked(model: type[_Model], raw: dict[str, Any], where: str, *checks: Callable[[Any], None]) -> Any:
    """validate_model, then the cross-field checks (by default the model's own `check()`), their errors naming `where`."""
    spec = validate_model(model, raw, where)
    try:
        for check in checks or (model.check,):  # type: ignore[attr-defined]
            check(spec)
    except ConfigError as err:
        raise ConfigError(f"{where}: {err.key}", err.value, err.allowed) from None
    return spec


def resolve_service(raw: dict[str, Any], where: str) -> ServiceSpec:
    return validate_checked(ServiceSpec, raw, where)


def resolve_image(raw: dict[str, Any], where: str) -> ImageSpec:
    return validate_model(ImageSpec, raw, where)
