"""What every component's config shares: quantities, the frozen model base and its validation, resources.

Every component turns its raw args into a frozen model (its package's `config`: service/,
image/, observability/, logging/) before it registers anything, so bad input fails with one
`ConfigError` that names the field, the value and what is allowed, and nothing reaches the engine.
"""

from __future__ import annotations

import ipaddress
import re
from decimal import Decimal
from typing import Annotated, Any, Callable

import pulumi
from kubernetes.utils import parse_quantity
from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError, field_validator

from components import defaults
from components.errors import ConfigError

MAX_QUANTITY = Decimal(10) ** 18
DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
"""A DNS-1123 subdomain: the names of Secrets, StorageClasses and most other objects."""
DIGEST_REF = re.compile(r"^(?P<repository>[^@\s]+)@(?P<digest>sha256:[0-9a-f]{64})$")
"""An image pinned by digest alone: '<repository>@sha256:<64 hex digits>'."""


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
    dns_label(value)
    if value == "default" or value.startswith("kube-"):
        raise ValueError("must be a namespace of its own, not 'default' or a 'kube-*' system namespace")
    return value


def dns_label(value: str) -> str:
    """A DNS-1123 label: the names of namespaces, Services and most objects gosvc creates."""
    if not DNS_LABEL.match(value):
        raise ValueError("must be a DNS-1123 label: lower-case letters, digits and '-', starting with a letter, at most 63 characters")
    return value


def object_name(kind: str) -> Callable[[str], str]:
    """A validator for the name of an existing `kind` object (Secret, StorageClass): a DNS-1123 subdomain."""

    def check(value: str) -> str:
        if not SUBDOMAIN.match(value):
            raise ValueError(f"must be a {kind} name (DNS-1123 subdomain)")
        return value

    return check


GO_RELEASE = re.compile(r"^1\.\d+(\.\d+)?$")


def go_release(value: str) -> str:
    """A Go release such as '1.26' or '1.26.0'."""
    if not GO_RELEASE.match(value):
        raise ValueError("must be a Go release such as '1.26' or '1.26.0'")
    return value


DnsLabel = Annotated[str, AfterValidator(dns_label)]
"""A field holding a DNS-1123 label (a Service, container or app name)."""
DnsLabels = Annotated[list[str], AfterValidator(lambda names: [dns_label(name) for name in names])]
"""A list of DNS-1123 labels, validated as one field so an error names the field the user set."""
NamespaceName = Annotated[str, AfterValidator(namespace_name)]
"""A field holding a namespace of the workload's own."""
SecretName = Annotated[str, AfterValidator(object_name("Secret"))]
StorageClassName = Annotated[str, AfterValidator(object_name("StorageClass"))]
GoRelease = Annotated[str, AfterValidator(go_release)]


class Model(BaseModel):
    """The base of every Spec: frozen, so a built spec cannot drift, and refusing unknown fields, so a typo is an error."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ResourcesSpec(Model):
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


def cidr(value: str) -> str:
    """A CIDR block, refused with an example when it is not one (host bits set included)."""
    try:
        ipaddress.ip_network(value, strict=True)
    except ValueError as err:
        raise ValueError(f"must be a CIDR block such as '10.0.0.1/32' ({err})") from None
    return value


def _error_path(loc: tuple[Any, ...]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def validate_model(model: type[Model], raw: dict[str, Any], where: str) -> Any:
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


def validate_checked(model: type[Model], raw: dict[str, Any], where: str, *checks: Callable[[Any], None]) -> Any:
    """validate_model, then the cross-field checks (by default the model's own `check()`), their errors naming `where`."""
    spec = validate_model(model, raw, where)
    try:
        for check in checks or (model.check,):  # type: ignore[attr-defined]
            check(spec)
    except ConfigError as err:
        raise ConfigError(f"{where}: {err.key}", err.value, err.allowed) from None
    return spec


def digest_pins(refs: list[str], repositories: tuple[str, ...]) -> list[tuple[str, str]]:
    """(repository, digest) of each '<repository>@sha256:<hex>' pin; ValueError naming a malformed pin or a repository
    that is not among `repositories` (the images a component runs)."""
    pins = []
    for ref in refs:
        match = DIGEST_REF.match(ref)
        if not match:
            raise ValueError(f"{ref!r} must be '<repository>@sha256:<64 hex digits>'")
        if match["repository"] not in repositories:
            raise ValueError(f"{ref!r}: the repository must be one of {', '.join(repositories)}")
        pins.append((match["repository"], match["digest"]))
    return pins
