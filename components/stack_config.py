"""The `gosvc:*` stack configuration keys: declared once here, read and validated as a whole.

Pulumi project config can only declare scalar and array keys, so stack config is flat
(`gosvc:hpaMinReplicas`); each key maps onto one field of a component's args. The table
below is the single declaration: `Pulumi.yaml` is checked against it by a test, and
errors are reported under the stack key the user typed.
"""

from __future__ import annotations

import difflib
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Literal

import yaml

from components import defaults
from components.config import ImageSpec, ServiceSpec, resolve_image, resolve_service
from components.errors import ConfigError

PROJECT = "gosvc"
ConfigType = Literal["string", "integer", "boolean", "array"]


@dataclass(frozen=True)
class ConfigKey:
    """One stack config key: its Pulumi type, default, description and where it lands."""

    name: str
    type: ConfigType
    default: Any
    description: str
    target: tuple[str, ...]

    @property
    def full_name(self) -> str:
        return f"{PROJECT}:{self.name}"


def _k(name: str, type_: ConfigType, default: Any, description: str, *target: str) -> ConfigKey:
    return ConfigKey(name, type_, default, description, tuple(target))


KEYS: tuple[ConfigKey, ...] = (
    _k("namespace", "string", defaults.NAMESPACE, "Namespace the service runs in (not 'default').", "service", "namespace"),
    _k("createNamespace", "boolean", True, "Create the namespace with Pod Security Admission 'restricted' labels.", "service", "create_namespace"),
    _k("serviceName", "string", "hello", "Name of the service: Deployment, Service and label app.kubernetes.io/name.", "service", "service_name"),
    _k("replicas", "integer", 2, "Replica count when the HPA is off (at least 1).", "service", "replicas"),
    _k("httpPort", "integer", defaults.HTTP_PORT, "Container port of the public HTTP listener.", "service", "http_port"),
    _k("metricsPort", "integer", defaults.METRICS_PORT, "Container port serving /metrics.", "service", "metrics_port"),
    _k("adminPort", "integer", defaults.ADMIN_PORT, "Loopback port of the pprof listener; reachable only by port-forward.", "service", "admin_port"),
    _k("cpuRequest", "string", defaults.CPU_REQUEST, "CPU request (Kubernetes quantity).", "service", "resources", "cpu_request"),
    _k("cpuLimit", "string", defaults.CPU_LIMIT, "CPU limit; empty for none. Also sets GOMAXPROCS.", "service", "resources", "cpu_limit"),
    _k("memoryRequest", "string", defaults.MEMORY_REQUEST, "Memory request (Kubernetes quantity).", "service", "resources", "memory_request"),
    _k("memoryLimit", "string", "", "Memory limit; empty means equal to the request.", "service", "resources", "memory_limit"),
    _k("goMemLimitPercent", "integer", defaults.GOMEMLIMIT_PERCENT, "GOMEMLIMIT as a percentage of the memory limit (50-100).", "service", "go_mem_limit_percent"),
    _k("antiAffinity", "string", "preferred", "Pod anti-affinity on kubernetes.io/hostname: 'preferred' or 'required'.", "service", "scheduling", "anti_affinity"),
    _k("zoneSpread", "boolean", False, "Spread replicas across topology.kubernetes.io/zone.", "service", "scheduling", "zone_spread"),
    _k("hpaEnabled", "boolean", True, "Run a HorizontalPodAutoscaler; the Deployment then sets no replicas.", "service", "autoscaling", "enabled"),
    _k("hpaMinReplicas", "integer", defaults.HPA_MIN_REPLICAS, "HPA minimum replicas.", "service", "autoscaling", "min_replicas"),
    _k("hpaMaxReplicas", "integer", defaults.HPA_MAX_REPLICAS, "HPA maximum replicas.", "service", "autoscaling", "max_replicas"),
    _k("hpaCpuUtilization", "integer", defaults.HPA_CPU_UTILIZATION, "HPA target average CPU utilization, percent of the request (1-100).", "service", "autoscaling", "cpu_utilization"),
    _k("hpaScaleDownStabilizationSeconds", "integer", defaults.HPA_SCALE_DOWN_STABILIZATION_SECONDS, "How long the HPA waits before scaling down.", "service", "autoscaling", "scale_down_stabilization_seconds"),
    _k("hpaRequestsPerSecond", "string", "", "Per-pod requests/s target of the HPA custom metric; empty for CPU only. Needs prometheus-adapter.", "service", "autoscaling", "requests_per_second"),
    _k("ingressNamespaces", "array", [], "Namespaces allowed to reach the HTTP port, besides the service's own.", "service", "network", "ingress_namespaces"),
    _k("monitoringNamespace", "string", defaults.MONITORING_NAMESPACE, "Namespace allowed to scrape the metrics port.", "service", "network", "monitoring_namespace"),
    _k("egress", "array", [], "Extra egress targets besides DNS: 'CIDR:port' or 'namespace:port'.", "service", "network", "egress"),
    _k("shutdownTimeoutSeconds", "integer", defaults.SHUTDOWN_TIMEOUT_SECONDS, "The app's graceful shutdown timeout (SHUTDOWN_TIMEOUT).", "service", "shutdown_timeout_seconds"),
    _k("preStopSleepSeconds", "integer", defaults.PRE_STOP_SLEEP_SECONDS, "preStop sleep so endpoints drain before SIGTERM.", "service", "pre_stop_sleep_seconds"),
    _k("logLevel", "string", "info", "App log level: debug, info, warn or error.", "service", "log_level"),
    _k("imageContext", "string", "app", "Go module directory to build, relative to the project.", "image", "context"),
    _k("imageDockerfile", "string", "", "Your own Dockerfile; empty to generate one.", "image", "dockerfile"),
    _k("goVersion", "string", "", "Builder Go version; empty to read it from go.mod.", "image", "go_version"),
    _k("imageRuntime", "string", "distroless", "Runtime base: distroless, alpine or scratch.", "image", "runtime"),
    _k("imageRepository", "string", "registry.example.com/gosvc/hello", "Image repository, without tag.", "image", "repository"),
    _k("imageTag", "string", "0.1.0", "Image tag (never 'latest').", "image", "tag"),
    _k("imagePush", "boolean", False, "Push the image; the Deployment then uses its registry digest.", "image", "push"),
    _k("imagePlatform", "string", defaults.DEFAULT_PLATFORM, "Target platform of the build.", "image", "platform"),
    _k("imageCacheFrom", "array", [], "Images to use as build cache.", "image", "cache_from"),
)
KEYS_BY_NAME = {k.name: k for k in KEYS}
KEYS_BY_TARGET = {k.target: k for k in KEYS}


@dataclass(frozen=True)
class Section:
    """A group of keys that together make one component's args, and how to validate them."""

    name: str
    resolve: Callable[[dict[str, Any], str], Any]


SECTIONS: dict[str, Section] = {
    "image": Section("image", resolve_image),
    "service": Section("service", resolve_service),
}


@dataclass(frozen=True)
class StackConfig:
    """The validated stack: one spec per section."""

    image: ImageSpec
    service: ServiceSpec


def _parse(key: ConfigKey, raw: Any) -> Any:
    """Turns a raw config value (a string from the engine, or already typed) into the key's type."""
    if key.type == "array":
        if isinstance(raw, str):
            try:
                raw = json.loads(raw)
            except json.JSONDecodeError:
                raise ConfigError(key.full_name, raw, "must be a JSON array of strings, e.g. '[\"a\", \"b\"]'") from None
        if not isinstance(raw, list) or not all(isinstance(v, str) for v in raw):
            raise ConfigError(key.full_name, raw, "must be an array of strings")
        return raw
    if key.type == "string":
        if not isinstance(raw, str):
            raise ConfigError(key.full_name, raw, "must be a string")
        return raw or None
    if key.type == "integer":
        if isinstance(raw, str):
            try:
                return int(raw.strip())
            except ValueError:
                raise ConfigError(key.full_name, raw, "must be a whole number") from None
        if isinstance(raw, bool) or not isinstance(raw, (int, float)) or not float(raw).is_integer():
            raise ConfigError(key.full_name, raw, "must be a whole number")
        return int(raw)
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.strip().lower() in ("true", "false"):
        return raw.strip().lower() == "true"
    raise ConfigError(key.full_name, raw, "must be true or false")


def _set(tree: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for part in path[:-1]:
        tree = tree.setdefault(part, {})
    tree[path[-1]] = value


def _stack_error(err: ConfigError, component: str) -> ConfigError:
    """Re-labels a component-level error with the stack key that set the offending field."""
    field = err.key.split(": ", 1)[-1]
    allowed = err.allowed
    for other in sorted(KEYS, key=lambda k: -len(k.target)):
        field_path = ".".join(other.target[1:])
        if other.target[0] == component and ("_" in field_path or "." in field_path):  # identifiers, not prose words
            dotted = re.escape(field_path)
            allowed = re.sub(rf"(?<![\w.]){dotted}(?![\w.])", other.full_name, allowed)
    key = KEYS_BY_TARGET.get((component, *re.sub(r"\[\d+\]", "", field).split(".")))
    if key is None:
        return ConfigError(f"{PROJECT} {component} config: {field}", err.value, allowed)
    return ConfigError(key.full_name, err.value, allowed)


def load(values: dict[str, Any]) -> StackConfig:
    """Validates a whole stack's config (keys with or without the `gosvc:` prefix).

    Keys of other namespaces (`kubernetes:context`, ...) are ignored. Raises ConfigError
    on the first problem; returns a StackConfig only when every key is valid.
    """
    trees: dict[str, dict[str, Any]] = {name: {} for name in SECTIONS}
    for key in KEYS:
        value = key.default if key.type != "string" else (key.default or None)
        _set(trees, key.target, value)
    for full, raw in values.items():
        namespace, _, name = full.rpartition(":")
        if namespace not in ("", PROJECT):
            continue
        key = KEYS_BY_NAME.get(name)
        if key is None:
            near = difflib.get_close_matches(name, KEYS_BY_NAME, n=1)
            hint = f"did you mean '{PROJECT}:{near[0]}'? " if near else ""
            raise ConfigError(f"{PROJECT}:{name}", raw, f"unknown key; {hint}known keys are listed in Pulumi.yaml")
        _set(trees, key.target, _parse(key, raw))
    specs: dict[str, Any] = {}
    for name, section in SECTIONS.items():
        try:
            specs[name] = section.resolve(trees[name], name)
        except ConfigError as err:
            raise _stack_error(err, name) from None
    return StackConfig(**specs)


def from_pulumi() -> StackConfig:
    """Reads every `gosvc:*` key the engine passed to this program, then validates them."""
    from pulumi.runtime import config as runtime_config

    values = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    return load({k: v for k, v in values.items() if k.startswith(f"{PROJECT}:")})


def render_project_config() -> dict[str, dict[str, Any]]:
    """The `config:` block of Pulumi.yaml, as it must read for these keys."""
    block: dict[str, dict[str, Any]] = {}
    for key in KEYS:
        decl: dict[str, Any] = {"type": key.type, "description": key.description, "default": key.default}
        if key.type == "array":
            decl["items"] = {"type": "string"}
        block[key.full_name] = decl
    return block


def write_pulumi_yaml(path: Path) -> None:
    """Rewrites the `config:` block of a Pulumi.yaml from KEYS, keeping its other settings."""
    project = yaml.safe_load(path.read_text())
    project["config"] = render_project_config()
    path.write_text(yaml.safe_dump(project, sort_keys=False, width=1000))


if __name__ == "__main__":
    write_pulumi_yaml(Path(sys.argv[1] if len(sys.argv) > 1 else "Pulumi.yaml"))
