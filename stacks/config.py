"""The `gosvc:*` stack configuration keys: declared once here, read and validated as a whole.

Pulumi project config can only declare scalar and array keys, so stack config is flat
(`gosvc:hpaMinReplicas`); each key maps onto one field of a component's args. The table
below is the single declaration: `Pulumi.yaml` is checked against it by a test, and
errors are reported under the stack key the user typed. A key's default is its Spec
field's own (SPEC) unless the Spec has none or the stack deliberately differs;
tests/test_definitions.py holds every key to its field.
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

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from components.config import Model, validate_model
from components.errors import ConfigError
from components.image.config import ImageSpec, check_image_reference, parse_image
from components.logging.config import LoggingSpec, parse_logging
from components.observability.config import MonitoringConfig, parse_monitoring
from components.service.config import ServiceSpec, parse_service

PROJECT = "gosvc"
ConfigType = Literal["string", "integer", "boolean", "array"]


class LoggingConfig(LoggingSpec):
    """The stack config's `logging` section: LoggingPipeline's spec and the stack's switch for the pipeline. The switch
    is the program's, not the component's: a program that wants no pipeline creates no LoggingPipeline."""

    enabled: bool = True


def parse_logging_config(raw: dict[str, Any], where: str) -> LoggingConfig:
    """The `logging` stack section: the pipeline's args validated as LoggingPipeline validates them, plus the switch."""
    spec = parse_logging({k: v for k, v in raw.items() if k != "enabled"}, where)
    return validate_model(LoggingConfig, {**dict(spec), "enabled": raw.get("enabled", True)}, where)


SECTION_MODELS: dict[str, type[Model]] = {
    "image": ImageSpec,
    "service": ServiceSpec,
    "monitoring": MonitoringConfig,
    "logging": LoggingConfig,
}
"""The model each section's keys land on; `prebuilt_image` is a single reference, no model."""


class _SpecDefault:
    """The marker of a key whose default is its Spec field's own: the default is defined once, in the Spec."""

    def __repr__(self) -> str:
        return "SPEC"


SPEC: Any = _SpecDefault()


def spec_default(target: tuple[str, ...]) -> Any:
    """The default the section's model gives the field at `target`, in the stack's terms: '' for unset, a number as
    its text (Pulumi project config has no number type), a copy of a list."""
    model: Any = SECTION_MODELS[target[0]]
    value: Any = None
    for depth, part in enumerate(target[1:]):
        if depth == 0:
            value = model.model_fields[part].default
            if value is PydanticUndefined:
                raise ValueError(f"{'.'.join(target)} is required in {model.__name__}: a stack key must give its default")
        elif isinstance(value, BaseModel):
            value = getattr(value, part)
        else:
            raise ValueError(f"{'.'.join(target)} does not name a field of {model.__name__}")
    if value is None:
        return ""
    if isinstance(value, float):
        return str(value)
    return list(value) if isinstance(value, list) else value


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
    """A key; `default` is SPEC where it is the Spec's own, a value only where the Spec has none or the stack differs."""
    return ConfigKey(name, type_, spec_default(tuple(target)) if default is SPEC else default, description, tuple(target))


KEYS: tuple[ConfigKey, ...] = (
    _k("namespace", "string", SPEC, "Namespace the service runs in (not 'default').", "service", "namespace"),
    _k("createNamespace", "boolean", True, "Create the namespace with Pod Security Admission 'restricted' labels.", "service", "create_namespace"),
    _k("serviceName", "string", "hello", "Name of the service: Deployment, Service and label app.kubernetes.io/name.", "service", "service_name"),
    _k("replicas", "integer", SPEC, "Replica count when the HPA is off (at least 1).", "service", "replicas"),
    _k("httpPort", "integer", SPEC, "Container port of the public HTTP listener.", "service", "http_port"),
    _k("metricsPort", "integer", SPEC, "Container port serving /metrics.", "service", "metrics_port"),
    _k("adminPort", "integer", SPEC, "Loopback port of the pprof listener; reachable only by port-forward.", "service", "admin_port"),
    _k("cpuRequest", "string", SPEC, "CPU request (Kubernetes quantity).", "service", "resources", "cpu_request"),
    _k("cpuLimit", "string", SPEC, "CPU limit; empty for none. Go before 1.25 also gets GOMAXPROCS from it.", "service", "resources", "cpu_limit"),
    _k("memoryRequest", "string", SPEC, "Memory request (Kubernetes quantity).", "service", "resources", "memory_request"),
    _k("memoryLimit", "string", SPEC, "Memory limit; empty means equal to the request.", "service", "resources", "memory_limit"),
    _k("goMemLimitPercent", "integer", SPEC, "GOMEMLIMIT as a percentage of the memory limit (50-100).", "service", "go_mem_limit_percent"),
    _k("antiAffinity", "string", SPEC, "Pod anti-affinity on kubernetes.io/hostname: 'preferred' or 'required'.", "service", "scheduling", "anti_affinity"),
    _k("zoneSpread", "boolean", SPEC, "Spread replicas across topology.kubernetes.io/zone.", "service", "scheduling", "zone_spread"),
    _k("hpaEnabled", "boolean", SPEC, "Run a HorizontalPodAutoscaler; the Deployment then sets no replicas.", "service", "autoscaling", "enabled"),
    _k("hpaMinReplicas", "integer", SPEC, "HPA minimum replicas.", "service", "autoscaling", "min_replicas"),
    _k("hpaMaxReplicas", "integer", SPEC, "HPA maximum replicas.", "service", "autoscaling", "max_replicas"),
    _k("hpaCpuUtilization", "integer", SPEC, "HPA target average CPU utilization, percent of the request (1-100).", "service", "autoscaling", "cpu_utilization"),
    _k("hpaScaleDownStabilizationSeconds", "integer", SPEC, "How long the HPA waits before scaling down.", "service", "autoscaling", "scale_down_stabilization_seconds"),
    _k("hpaRequestsPerSecond", "string", SPEC, "Per-pod requests/s target of the HPA custom metric; empty for CPU only. Needs prometheus-adapter.", "service", "autoscaling", "requests_per_second"),
    _k("ingressNamespaces", "array", SPEC, "Namespaces allowed to reach the HTTP port, besides the service's own.", "service", "network", "ingress_namespaces"),
    _k("monitoringNamespace", "string", SPEC, "Namespace allowed to scrape the metrics port.", "service", "network", "monitoring_namespace"),
    _k("egress", "array", SPEC, "Extra egress targets besides DNS: 'CIDR:port' or 'namespace:port'.", "service", "network", "egress"),
    _k("shutdownTimeoutSeconds", "integer", SPEC, "The app's graceful shutdown timeout (SHUTDOWN_TIMEOUT).", "service", "shutdown_timeout_seconds"),
    _k("preStopSleepSeconds", "integer", SPEC, "preStop sleep so endpoints drain before SIGTERM.", "service", "pre_stop_sleep_seconds"),
    _k("logLevel", "string", SPEC, "App log level: debug, info, warn or error.", "service", "log_level"),
    _k("image", "string", "", "A prebuilt image to deploy, such as a CI pipeline's 'repository@sha256:<digest>' or 'repository:tag'; when set, nothing is built and the gosvc:image* build keys are unused.", "prebuilt_image", "reference"),
    _k("imageContext", "string", "app", "Go module directory to build, relative to the project.", "image", "context"),
    _k("imageDockerfile", "string", SPEC, "Your own Dockerfile; empty to generate one.", "image", "dockerfile"),
    _k("goVersion", "string", SPEC, "Builder Go release; empty for go.mod's toolchain line, else the newest patch release of its go line's minor.", "image", "go_version"),
    _k("imageRuntime", "string", SPEC, "Runtime base: distroless, alpine or scratch.", "image", "runtime"),
    _k("imageRepository", "string", "registry.example.com/gosvc/hello", "Image repository, without tag.", "image", "repository"),
    _k("imageTag", "string", "0.1.0", "Image tag (never 'latest').", "image", "tag"),
    _k("imagePush", "boolean", SPEC, "Push the image; the Deployment then uses its registry digest.", "image", "push"),
    _k("imagePlatform", "string", SPEC, "Target platform of the build.", "image", "platform"),
    _k("imageCacheFrom", "array", SPEC, "Images to use as build cache.", "image", "cache_from"),
    _k("monitoringEnabled", "boolean", SPEC, "ServiceMonitor, PrometheusRule and Grafana dashboard for the service.", "monitoring", "service_enabled"),
    _k("scrapeInterval", "string", SPEC, "How often Prometheus scrapes the metrics port (Prometheus duration).", "monitoring", "service", "scrape_interval"),
    _k("scrapeTimeout", "string", SPEC, "Scrape timeout; at most the interval.", "monitoring", "service", "scrape_timeout"),
    _k("alertErrorRatio", "string", SPEC, "Share of 5xx responses (0-1) that fires GoServiceHighErrorRatio.", "monitoring", "service", "alerts", "error_ratio"),
    _k("alertLatencyP99Seconds", "string", SPEC, "p99 latency in seconds that fires GoServiceHighLatencyP99.", "monitoring", "service", "alerts", "latency_p99_seconds"),
    _k("alertRestarts", "integer", SPEC, "Container restarts within 15m that fire GoServicePodRestarting.", "monitoring", "service", "alerts", "restarts"),
    _k("alertMemoryPercent", "integer", SPEC, "Working set as percent of the memory limit that fires GoServiceMemoryNearLimit.", "monitoring", "service", "alerts", "memory_percent"),
    _k("alertHpaMaxedMinutes", "integer", SPEC, "Minutes at the HPA maximum before GoServiceHpaMaxedOut fires.", "monitoring", "service", "alerts", "hpa_maxed_minutes"),
    _k("alertRunbookBaseUrl", "string", SPEC, "Page with the runbooks; alerts link to '<url>#<alert name in lower case>'.", "monitoring", "service", "runbook_base_url"),
    _k("grafanaDashboard", "boolean", SPEC, "Ship the service's Grafana dashboard as a ConfigMap.", "monitoring", "service", "dashboard"),
    _k("prometheusStackEnabled", "boolean", SPEC, "Install kube-prometheus-stack and prometheus-adapter (in gosvc:monitoringNamespace).", "monitoring", "stack_enabled"),
    _k("helmRepository", "string", SPEC, "Repository of both charts: https:// or oci:// (an air-gapped mirror).", "monitoring", "stack", "helm_repository"),
    _k("monitoringStorageClass", "string", SPEC, "StorageClass of the Prometheus and Alertmanager volumes; empty for the cluster default.", "monitoring", "stack", "storage_class"),
    _k("prometheusReplicas", "integer", SPEC, "Prometheus replicas.", "monitoring", "stack", "prometheus", "replicas"),
    _k("prometheusRetention", "string", SPEC, "How long Prometheus keeps samples (Prometheus duration).", "monitoring", "stack", "prometheus", "retention"),
    _k("prometheusRetentionSize", "string", SPEC, "Size cap on Prometheus data such as '45GB'; empty for none.", "monitoring", "stack", "prometheus", "retention_size"),
    _k("prometheusStorageSize", "string", SPEC, "Prometheus volume size such as '50Gi'; empty for no persistence (emptyDir).", "monitoring", "stack", "prometheus", "storage_size"),
    _k("prometheusCpuRequest", "string", SPEC, "Prometheus CPU request.", "monitoring", "stack", "prometheus", "resources", "cpu_request"),
    _k("prometheusCpuLimit", "string", SPEC, "Prometheus CPU limit; empty for none.", "monitoring", "stack", "prometheus", "resources", "cpu_limit"),
    _k("prometheusMemoryRequest", "string", SPEC, "Prometheus memory request.", "monitoring", "stack", "prometheus", "resources", "memory_request"),
    _k("prometheusMemoryLimit", "string", SPEC, "Prometheus memory limit; empty means equal to the request.", "monitoring", "stack", "prometheus", "resources", "memory_limit"),
    _k("alertmanagerReplicas", "integer", SPEC, "Alertmanager replicas.", "monitoring", "stack", "alertmanager", "replicas"),
    _k("alertmanagerStorageSize", "string", SPEC, "Alertmanager volume size; empty for no persistence.", "monitoring", "stack", "alertmanager", "storage_size"),
    _k("adapterReplicas", "integer", SPEC, "prometheus-adapter replicas.", "monitoring", "stack", "adapter_replicas"),
    _k("nodeExporterEnabled", "boolean", SPEC, "Run node-exporter (host access) in its own namespace '<monitoringNamespace>-node-exporter', which enforces 'privileged'.", "monitoring", "stack", "node_exporter"),
    _k("monitoringCreateNamespace", "boolean", SPEC, "Create the monitoring namespaces (gosvc:monitoringNamespace enforces Pod Security 'baseline', node-exporter's 'privileged'); false when they exist already.", "monitoring", "stack", "create_namespace"),
    _k("grafanaEnabled", "boolean", SPEC, "Run Grafana with the service dashboards; false where the cluster has a Grafana of its own.", "monitoring", "stack", "grafana"),
    _k("grafanaAdminSecret", "string", SPEC, "Existing Secret in the monitoring namespace with keys 'admin-user' and 'admin-password' for Grafana's admin login; empty to generate the password.", "monitoring", "stack", "grafana_admin_secret"),
    _k("monitoringImageDigests", "array", SPEC, "Digests pinning the monitoring charts' images, as '<repository>@sha256:<hex>' (repositories in components/observability/images.py).", "monitoring", "stack", "image_digests"),
    _k("monitoringResolveDigests", "boolean", SPEC, "At pulumi up, resolve each monitoring chart image's tag to its registry digest and deploy by digest (gosvc:monitoringImageDigests wins where set).", "monitoring", "stack", "resolve_digests"),
    _k("monitoringApiServerCidr", "string", SPEC, "Where the monitoring pods may reach the Kubernetes API and the API server calls the adapter and webhook from (TCP); narrow it to the API server.", "monitoring", "stack", "api_server_cidr"),
    *(_k(f"{part}{key}", type_, default, desc, "logging", *target) for part, key, type_, default, desc, target in (
        ("logging", "Enabled", "boolean", SPEC, "Deploy the logging pipeline: Filebeat -> Kafka -> Logstash -> Elasticsearch -> Kibana.", ("enabled",)),
        ("logging", "Namespace", "string", SPEC, "Namespace of the logging pipeline.", ("namespace",)),
        ("logging", "FilebeatNamespace", "string", SPEC, "Namespace of Filebeat and the node tuning; empty for '<loggingNamespace>-filebeat'.", ("filebeat_namespace",)),
        ("logging", "CreateNamespace", "boolean", SPEC, "Create the logging namespaces: the pipeline's enforces Pod Security 'restricted', Filebeat's 'privileged'.", ("create_namespace",)),
        ("logging", "StorageClass", "string", SPEC, "StorageClass of the Kafka, Logstash and Elasticsearch volumes; empty for the cluster default.", ("storage_class",)),
        ("logging", "ApiServerCidr", "string", SPEC, "Where Filebeat may reach the Kubernetes API (TCP 443/6443); narrow it to the API server.", ("api_server_cidr",)),
        ("logging", "ImageDigests", "array", SPEC, "Digests pinning the logging images, as '<repository>@sha256:<hex>' (repositories in components/logging/versions.py).", ("image_digests",)),
        ("logging", "ElasticSecret", "string", SPEC, "Existing Secret (key 'password') with the elastic superuser's password; empty to generate it.", ("existing_secrets", "elastic")),
        ("logging", "KibanaSystemSecret", "string", SPEC, "Existing Secret (key 'password') with the kibana_system user's password; empty to generate it.", ("existing_secrets", "kibana_system")),
        ("logging", "LogstashWriterSecret", "string", SPEC, "Existing Secret (key 'password') with Logstash's writer password; empty to generate it.", ("existing_secrets", "logstash_writer")),
        ("logging", "KibanaEncryptionSecret", "string", SPEC, "Existing Secret (keys 'security', 'saved-objects') with Kibana's encryption keys; empty to generate them.", ("existing_secrets", "kibana_encryption_keys")),
        ("logging", "CertificatesSecret", "string", SPEC, "Existing kubernetes.io/tls Secret (tls.crt, tls.key, ca.crt) for Elasticsearch; empty to generate a CA and certificate.", ("existing_secrets", "certificates")),
        ("logging", "ConfirmChanges", "array", SPEC, "Refused changes to a running pipeline confirmed after their procedure: 'elasticsearch.nodes'.", ("confirm_changes",)),
        ("logging", "ResolveDigests", "boolean", SPEC, "At pulumi up, resolve each logging image's tag to its registry digest and deploy by digest (gosvc:loggingImageDigests wins where set).", ("resolve_digests",)),
        ("filebeat", "CpuRequest", "string", SPEC, "Filebeat CPU request.", ("filebeat", "resources", "cpu_request")),
        ("filebeat", "CpuLimit", "string", SPEC, "Filebeat CPU limit, its throughput ceiling (bottleneck: collector CPU); also sets max_procs. Empty for none.", ("filebeat", "resources", "cpu_limit")),
        ("filebeat", "Memory", "string", SPEC, "Filebeat memory request and limit.", ("filebeat", "resources", "memory_request")),
        ("filebeat", "QueueEvents", "integer", SPEC, "Events Filebeat's memory queue holds.", ("filebeat", "queue_events")),
        ("filebeat", "BulkMaxSize", "integer", SPEC, "Events per Filebeat request to Kafka.", ("filebeat", "bulk_max_size")),
        ("filebeat", "Compression", "string", SPEC, "Filebeat -> Kafka compression: gzip, snappy, lz4, zstd or none.", ("filebeat", "compression")),
        ("filebeat", "RateLimit", "string", SPEC, "Optional Filebeat rate limit such as '5000/s'; events above it are DROPPED. Empty for none.", ("filebeat", "rate_limit")),
        ("kafka", "Brokers", "integer", SPEC, "Kafka brokers; the first three (one below three brokers) are also the KRaft controllers, fixed for the life of the cluster. Grows in place; fewer only with kafka.brokers in gosvc:loggingConfirmChanges after moving replicas off.", ("kafka", "brokers")),
        ("kafka", "ReplicationFactor", "integer", SPEC, "Replicas of each log partition; at most gosvc:kafkaBrokers.", ("kafka", "replication_factor")),
        ("kafka", "MinInsyncReplicas", "integer", SPEC, "Replicas that must acknowledge a write; below the replication factor unless it is 1.", ("kafka", "min_insync_replicas")),
        ("kafka", "Partitions", "integer", SPEC, "Partitions of the log topic: the ceiling of Logstash consumers (bottleneck: consumer lag).", ("kafka", "partitions")),
        ("kafka", "RetentionHours", "integer", SPEC, "Hours Kafka keeps logs: the buffer while Elasticsearch is down or slow.", ("kafka", "retention_hours")),
        ("kafka", "Topic", "string", SPEC, "The log topic.", ("kafka", "topic")),
        ("kafka", "Storage", "string", SPEC, "Volume size per Kafka broker.", ("kafka", "storage")),
        ("kafka", "CpuRequest", "string", SPEC, "Kafka CPU request.", ("kafka", "resources", "cpu_request")),
        ("kafka", "CpuLimit", "string", SPEC, "Kafka CPU limit; empty for none.", ("kafka", "resources", "cpu_limit")),
        ("kafka", "Memory", "string", SPEC, "Kafka memory request and limit; the heap is half of it.", ("kafka", "resources", "memory_request")),
        ("logstash", "Replicas", "integer", SPEC, "Logstash replicas.", ("logstash", "replicas")),
        ("logstash", "ConsumerThreads", "integer", SPEC, "Kafka consumer threads per Logstash replica; replicas x threads should equal the partitions.", ("logstash", "consumer_threads")),
        ("logstash", "Workers", "integer", SPEC, "Logstash pipeline.workers (about one per core).", ("logstash", "workers")),
        ("logstash", "BatchSize", "integer", SPEC, "Logstash pipeline.batch.size: events per bulk request (bottleneck: bulk rejections).", ("logstash", "batch_size")),
        ("logstash", "BatchDelayMs", "integer", SPEC, "Logstash pipeline.batch.delay in milliseconds.", ("logstash", "batch_delay_ms")),
        ("logstash", "QueueMaxBytes", "string", SPEC, "Logstash persisted queue cap (quantity); with the 256Mi DLQ it must fit the queue volume.", ("logstash", "queue_max_bytes")),
        ("logstash", "QueueStorage", "string", SPEC, "Logstash queue volume per replica.", ("logstash", "queue_storage")),
        ("logstash", "IndexMode", "string", SPEC, "'data_stream' (logs-gosvc-default) or 'daily' (gosvc-logs-YYYY.MM.dd).", ("logstash", "index_mode")),
        ("logstash", "CpuRequest", "string", SPEC, "Logstash CPU request.", ("logstash", "resources", "cpu_request")),
        ("logstash", "CpuLimit", "string", SPEC, "Logstash CPU limit; empty for none.", ("logstash", "resources", "cpu_limit")),
        ("logstash", "Memory", "string", SPEC, "Logstash memory request and limit; the heap is half of it.", ("logstash", "resources", "memory_request")),
        ("elasticsearch", "Nodes", "integer", SPEC, "Elasticsearch master-eligible data nodes: 1 or an odd number.", ("elasticsearch", "nodes")),
        ("elasticsearch", "Heap", "string", SPEC, "Elasticsearch JVM heap; empty for half of gosvc:elasticsearchMemory.", ("elasticsearch", "heap")),
        ("elasticsearch", "IndexReplicas", "integer", SPEC, "Replicas of each log index; at most nodes - 1.", ("elasticsearch", "index_replicas")),
        ("elasticsearch", "Storage", "string", SPEC, "Volume size per Elasticsearch node.", ("elasticsearch", "storage")),
        ("elasticsearch", "MaxMapCount", "string", SPEC, "How nodes get vm.max_map_count=262144: 'daemonset' (a privileged DaemonSet in Filebeat's namespace), 'node' (already set), 'no-mmap' (node.store.allow_mmap: false: slower searches).", ("elasticsearch", "max_map_count")),
        ("elasticsearch", "CpuRequest", "string", SPEC, "Elasticsearch CPU request (bottleneck: bulk rejections).", ("elasticsearch", "resources", "cpu_request")),
        ("elasticsearch", "CpuLimit", "string", SPEC, "Elasticsearch CPU limit; empty for none.", ("elasticsearch", "resources", "cpu_limit")),
        ("elasticsearch", "Memory", "string", SPEC, "Elasticsearch memory request and limit.", ("elasticsearch", "resources", "memory_request")),
        ("kibana", "Replicas", "integer", SPEC, "Kibana replicas.", ("kibana", "replicas")),
        ("kibana", "IngressNamespaces", "array", SPEC, "Namespaces allowed to reach Kibana; none by default (port-forward still works).", ("kibana", "ingress_namespaces")),
        ("kibana", "CpuRequest", "string", SPEC, "Kibana CPU request.", ("kibana", "resources", "cpu_request")),
        ("kibana", "CpuLimit", "string", SPEC, "Kibana CPU limit; empty for none.", ("kibana", "resources", "cpu_limit")),
        ("kibana", "Memory", "string", SPEC, "Kibana memory request and limit.", ("kibana", "resources", "memory_request")),
    )),
)
KEYS_BY_NAME = {k.name: k for k in KEYS}
KEYS_BY_TARGET = {k.target: k for k in KEYS}


@dataclass(frozen=True)
class Section:
    """A group of keys that together make one component's args, and how to validate them."""

    name: str
    parse: Callable[[dict[str, Any], str], Any]


def parse_prebuilt_image(raw: dict[str, Any], where: str) -> str | None:
    """The prebuilt image reference, if one is set: pinned by tag or digest, never `latest`."""
    reference = raw.get("reference")
    if reference is None:
        return None
    try:
        check_image_reference(reference)
    except ValueError as err:
        raise ConfigError(f"{where}: reference", reference, str(err)) from None
    return reference


SECTIONS: dict[str, Section] = {
    "prebuilt_image": Section("prebuilt_image", parse_prebuilt_image),
    "image": Section("image", parse_image),
    "service": Section("service", parse_service),
    "monitoring": Section("monitoring", parse_monitoring),
    "logging": Section("logging", parse_logging_config),
}


@dataclass(frozen=True)
class StackConfig:
    """The validated stack: one spec per section."""

    prebuilt_image: str | None
    image: ImageSpec
    service: ServiceSpec
    monitoring: MonitoringConfig | None = None
    logging: LoggingConfig | None = None


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
            specs[name] = section.parse(trees[name], name)
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
