"""GoService's validated args: the workload, its autoscaling, scheduling, network and init containers."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, field_validator

from components import defaults
from components.config import DNS_LABEL, DnsLabel, DnsLabels, GoRelease, Model, NamespaceName, ResourcesSpec, dns_label, quantity, validate_checked
from components.errors import ConfigError
from components.image.config import check_image_reference

ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
SECRETISH_ENV = re.compile(r"(PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|PRIVATE_?KEY|CREDENTIAL)", re.I)
MIN_APP_MEMORY_BYTES = 16 * 1024 * 1024


class AutoscalingSpec(Model):
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


class SchedulingSpec(Model):
    """How replicas are kept apart: hostname anti-affinity and optional zone spread."""

    anti_affinity: Literal["preferred", "required"] = "preferred"
    zone_spread: bool = False


class EgressTarget(Model):
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
        dns_label(where)
        return cls(namespace=where, port=int(port))


class NetworkSpec(Model):
    """Who may reach the service and where it may connect."""

    ingress_namespaces: DnsLabels = []
    monitoring_namespace: DnsLabel = defaults.MONITORING_NAMESPACE
    egress: list[str] = []

    @field_validator("egress")
    @classmethod
    def _egress(cls, value: list[str]) -> list[str]:
        for v in value:
            EgressTarget.parse(v)
        return value

    @property
    def egress_targets(self) -> list[EgressTarget]:
        return [EgressTarget.parse(v) for v in self.egress]


class InitContainerSpec(Model):
    """An init container; it gets the same restricted security context as the app."""

    name: DnsLabel
    image: str
    command: list[str] = []
    args: list[str] = []
    resources: ResourcesSpec = ResourcesSpec(cpu_request="50m", cpu_limit=None, memory_request="32Mi")

    @field_validator("image")
    @classmethod
    def _image(cls, value: str) -> str:
        check_image_reference(value)
        return value


class ServiceSpec(Model):
    """Everything GoService needs, validated; see `GoServiceArgs` for each field's meaning."""

    service_name: DnsLabel
    namespace: NamespaceName = defaults.NAMESPACE
    create_namespace: bool = False
    replicas: int = Field(2, ge=1, le=1000)
    http_port: int = Field(defaults.HTTP_PORT, ge=1024, le=65535)
    metrics_port: int = Field(defaults.METRICS_PORT, ge=1024, le=65535)
    admin_port: int = Field(defaults.ADMIN_PORT, ge=1024, le=65535)
    resources: ResourcesSpec = ResourcesSpec()
    go_mem_limit_percent: int = Field(defaults.GOMEMLIMIT_PERCENT, ge=50, le=100)
    go_version: GoRelease | None = None
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


def parse_service(raw: dict[str, Any], where: str) -> ServiceSpec:
    return validate_checked(ServiceSpec, raw, where)
