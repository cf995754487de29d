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
from components.errors import ConfigError
from components.image.config import ImageSpec, check_image_reference, parse_image
from components.logging.config import LoggingSpec, parse_logging
from components.observability.charts import DEFAULT_REPOSITORY as DEFAULT_HELM_REPOSITORY
from components.observability.config import DEFAULT_RUNBOOK_BASE_URL, MonitoringConfig, parse_monitoring
from components.service.config import ServiceSpec, parse_service

PROJECT = "gosvc"
_LOG = LoggingSpec()  # the logging keys' defaults are the model's own
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
    _k("cpuLimit", "string", defaults.CPU_LIMIT, "CPU limit; empty for none. Go before 1.25 also gets GOMAXPROCS from it.", "service", "resources", "cpu_limit"),
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
    _k("image", "string", "", "A prebuilt image to deploy, such as a CI pipeline's 'repository@sha256:<digest>' or 'repository:tag'; when set, nothing is built and the gosvc:image* build keys are unused.", "prebuilt_image", "reference"),
    _k("imageContext", "string", "app", "Go module directory to build, relative to the project.", "image", "context"),
    _k("imageDockerfile", "string", "", "Your own Dockerfile; empty to generate one.", "image", "dockerfile"),
    _k("goVersion", "string", "", "Builder Go release; empty for go.mod's toolchain line, else the newest patch release of its go line's minor.", "image", "go_version"),
    _k("imageRuntime", "string", "distroless", "Runtime base: distroless, alpine or scratch.", "image", "runtime"),
    _k("imageRepository", "string", "registry.example.com/gosvc/hello", "Image repository, without tag.", "image", "repository"),
    _k("imageTag", "string", "0.1.0", "Image tag (never 'latest').", "image", "tag"),
    _k("imagePush", "boolean", False, "Push the image; the Deployment then uses its registry digest.", "image", "push"),
    _k("imagePlatform", "string", defaults.DEFAULT_PLATFORM, "Target platform of the build.", "image", "platform"),
    _k("imageCacheFrom", "array", [], "Images to use as build cache.", "image", "cache_from"),
    _k("monitoringEnabled", "boolean", True, "ServiceMonitor, PrometheusRule and Grafana dashboard for the service.", "monitoring", "service_enabled"),
    _k("scrapeInterval", "string", "30s", "How often Prometheus scrapes the metrics port (Prometheus duration).", "monitoring", "service", "scrape_interval"),
    _k("scrapeTimeout", "string", "10s", "Scrape timeout; at most the interval.", "monitoring", "service", "scrape_timeout"),
    _k("alertErrorRatio", "string", "0.05", "Share of 5xx responses (0-1) that fires GoServiceHighErrorRatio.", "monitoring", "service", "alerts", "error_ratio"),
    _k("alertLatencyP99Seconds", "string", "0.5", "p99 latency in seconds that fires GoServiceHighLatencyP99.", "monitoring", "service", "alerts", "latency_p99_seconds"),
    _k("alertRestarts", "integer", 3, "Container restarts within 15m that fire GoServicePodRestarting.", "monitoring", "service", "alerts", "restarts"),
    _k("alertMemoryPercent", "integer", 90, "Working set as percent of the memory limit that fires GoServiceMemoryNearLimit.", "monitoring", "service", "alerts", "memory_percent"),
    _k("alertHpaMaxedMinutes", "integer", 15, "Minutes at the HPA maximum before GoServiceHpaMaxedOut fires.", "monitoring", "service", "alerts", "hpa_maxed_minutes"),
    _k("alertRunbookBaseUrl", "string", DEFAULT_RUNBOOK_BASE_URL, "Page with the runbooks; alerts link to '<url>#<alert name in lower case>'.", "monitoring", "service", "runbook_base_url"),
    _k("grafanaDashboard", "boolean", True, "Ship the service's Grafana dashboard as a ConfigMap.", "monitoring", "service", "dashboard"),
    _k("prometheusStackEnabled", "boolean", True, "Install kube-prometheus-stack and prometheus-adapter (in gosvc:monitoringNamespace).", "monitoring", "stack_enabled"),
    _k("helmRepository", "string", DEFAULT_HELM_REPOSITORY, "Repository of both charts: https:// or oci:// (an air-gapped mirror).", "monitoring", "stack", "helm_repository"),
    _k("monitoringStorageClass", "string", "", "StorageClass of the Prometheus and Alertmanager volumes; empty for the cluster default.", "monitoring", "stack", "storage_class"),
    _k("prometheusReplicas", "integer", 1, "Prometheus replicas.", "monitoring", "stack", "prometheus", "replicas"),
    _k("prometheusRetention", "string", "10d", "How long Prometheus keeps samples (Prometheus duration).", "monitoring", "stack", "prometheus", "retention"),
    _k("prometheusRetentionSize", "string", "", "Size cap on Prometheus data such as '45GB'; empty for none.", "monitoring", "stack", "prometheus", "retention_size"),
    _k("prometheusStorageSize", "string", "", "Prometheus volume size such as '50Gi'; empty for no persistence (emptyDir).", "monitoring", "stack", "prometheus", "storage_size"),
    _k("prometheusCpuRequest", "string", "200m", "Prometheus CPU request.", "monitoring", "stack", "prometheus", "resources", "cpu_request"),
    _k("prometheusCpuLimit", "string", "", "Prometheus CPU limit; empty for none.", "monitoring", "stack", "prometheus", "resources", "cpu_limit"),
    _k("prometheusMemoryRequest", "string", "512Mi", "Prometheus memory request.", "monitoring", "stack", "prometheus", "resources", "memory_request"),
    _k("prometheusMemoryLimit", "string", "1Gi", "Prometheus memory limit; empty means equal to the request.", "monitoring", "stack", "prometheus", "resources", "memory_limit"),
    _k("alertmanagerReplicas", "integer", 1, "Alertmanager replicas.", "monitoring", "stack", "alertmanager", "replicas"),
    _k("alertmanagerStorageSize", "string", "", "Alertmanager volume size; empty for no persistence.", "monitoring", "stack", "alertmanager", "storage_size"),
    _k("adapterReplicas", "integer", 1, "prometheus-adapter replicas.", "monitoring", "stack", "adapter_replicas"),
    _k("nodeExporterEnabled", "boolean", True, "Run node-exporter (host access) in its own namespace '<monitoringNamespace>-node-exporter', which enforces 'privileged'.", "monitoring", "stack", "node_exporter"),
    _k("monitoringCreateNamespace", "boolean", True, "Create the monitoring namespaces (gosvc:monitoringNamespace enforces Pod Security 'baseline', node-exporter's 'privileged'); false when they exist already.", "monitoring", "stack", "create_namespace"),
    _k("grafanaEnabled", "boolean", True, "Run Grafana with the service dashboards; false where the cluster has a Grafana of its own.", "monitoring", "stack", "grafana"),
    _k("grafanaAdminSecret", "string", "", "Existing Secret in the monitoring namespace with keys 'admin-user' and 'admin-password' for Grafana's admin login; empty to generate the password.", "monitoring", "stack", "grafana_admin_secret"),
    _k("monitoringImageDigests", "array", [], "Digests pinning the monitoring charts' images, as '<repository>@sha256:<hex>' (repositories in components/observability/images.py).", "monitoring", "stack", "image_digests"),
    _k("monitoringResolveDigests", "boolean", False, "At pulumi up, resolve each monitoring chart image's tag to its registry digest and deploy by digest (gosvc:monitoringImageDigests wins where set).", "monitoring", "stack", "resolve_digests"),
    _k("monitoringApiServerCidr", "string", "0.0.0.0/0", "Where the monitoring pods may reach the Kubernetes API and the API server calls the adapter and webhook from (TCP); narrow it to the API server.", "monitoring", "stack", "api_server_cidr"),
    *(_k(f"{part}{key}", type_, default, desc, "logging", *target) for part, key, type_, default, desc, target in (
        ("logging", "Enabled", "boolean", _LOG.enabled, "Deploy the logging pipeline: Filebeat -> Kafka -> Logstash -> Elasticsearch -> Kibana.", ("enabled",)),
        ("logging", "Namespace", "string", _LOG.namespace, "Namespace of the logging pipeline.", ("namespace",)),
        ("logging", "FilebeatNamespace", "string", "", "Namespace of Filebeat and the node tuning; empty for '<loggingNamespace>-filebeat'.", ("filebeat_namespace",)),
        ("logging", "CreateNamespace", "boolean", _LOG.create_namespace, "Create the logging namespaces: the pipeline's enforces Pod Security 'restricted', Filebeat's 'privileged'.", ("create_namespace",)),
        ("logging", "StorageClass", "string", "", "StorageClass of the Kafka, Logstash and Elasticsearch volumes; empty for the cluster default.", ("storage_class",)),
        ("logging", "ApiServerCidr", "string", _LOG.api_server_cidr, "Where Filebeat may reach the Kubernetes API (TCP 443/6443); narrow it to the API server.", ("api_server_cidr",)),
        ("logging", "ImageDigests", "array", [], "Digests pinning the logging images, as '<repository>@sha256:<hex>' (repositories in components/logging/versions.py).", ("image_digests",)),
        ("logging", "ElasticSecret", "string", "", "Existing Secret (key 'password') with the elastic superuser's password; empty to generate it.", ("existing_secrets", "elastic")),
        ("logging", "KibanaSystemSecret", "string", "", "Existing Secret (key 'password') with the kibana_system user's password; empty to generate it.", ("existing_secrets", "kibana_system")),
        ("logging", "LogstashWriterSecret", "string", "", "Existing Secret (key 'password') with Logstash's writer password; empty to generate it.", ("existing_secrets", "logstash_writer")),
        ("logging", "KibanaEncryptionSecret", "string", "", "Existing Secret (keys 'security', 'saved-objects') with Kibana's encryption keys; empty to generate them.", ("existing_secrets", "kibana_encryption_keys")),
        ("logging", "CertificatesSecret", "string", "", "Existing kubernetes.io/tls Secret (tls.crt, tls.key, ca.crt) for Elasticsearch; empty to generate a CA and certificate.", ("existing_secrets", "certificates")),
        ("logging", "ConfirmChanges", "array", [], "Refused changes to a running pipeline confirmed after their procedure: 'elasticsearch.nodes'.", ("confirm_changes",)),
        ("logging", "ResolveDigests", "boolean", _LOG.resolve_digests, "At pulumi up, resolve each logging image's tag to its registry digest and deploy by digest (gosvc:loggingImageDigests wins where set).", ("resolve_digests",)),
        ("filebeat", "CpuRequest", "string", _LOG.filebeat.resources.cpu_request, "Filebeat CPU request.", ("filebeat", "resources", "cpu_request")),
        ("filebeat", "CpuLimit", "string", _LOG.filebeat.resources.cpu_limit, "Filebeat CPU limit, its throughput ceiling (bottleneck: collector CPU); also sets max_procs. Empty for none.", ("filebeat", "resources", "cpu_limit")),
        ("filebeat", "Memory", "string", _LOG.filebeat.resources.memory_request, "Filebeat memory request and limit.", ("filebeat", "resources", "memory_request")),
        ("filebeat", "QueueEvents", "integer", _LOG.filebeat.queue_events, "Events Filebeat's memory queue holds.", ("filebeat", "queue_events")),
        ("filebeat", "BulkMaxSize", "integer", _LOG.filebeat.bulk_max_size, "Events per Filebeat request to Kafka.", ("filebeat", "bulk_max_size")),
        ("filebeat", "Compression", "string", _LOG.filebeat.compression, "Filebeat -> Kafka compression: gzip, snappy, lz4, zstd or none.", ("filebeat", "compression")),
        ("filebeat", "RateLimit", "string", "", "Optional Filebeat rate limit such as '5000/s'; events above it are DROPPED. Empty for none.", ("filebeat", "rate_limit")),
        ("kafka", "Brokers", "integer", _LOG.kafka.brokers, "Kafka brokers; the first three (one below three brokers) are also the KRaft controllers, fixed for the life of the cluster. Grows in place; fewer only with kafka.brokers in gosvc:loggingConfirmChanges after moving replicas off.", ("kafka", "brokers")),
        ("kafka", "ReplicationFactor", "integer", _LOG.kafka.replication_factor, "Replicas of each log partition; at most gosvc:kafkaBrokers.", ("kafka", "replication_factor")),
        ("kafka", "MinInsyncReplicas", "integer", _LOG.kafka.min_insync_replicas, "Replicas that must acknowledge a write; below the replication factor unless it is 1.", ("kafka", "min_insync_replicas")),
        ("kafka", "Partitions", "integer", _LOG.kafka.partitions, "Partitions of the log topic: the ceiling of Logstash consumers (bottleneck: consumer lag).", ("kafka", "partitions")),
        ("kafka", "RetentionHours", "integer", _LOG.kafka.retention_hours, "Hours Kafka keeps logs: the buffer while Elasticsearch is down or slow.", ("kafka", "retention_hours")),
        ("kafka", "Topic", "string", _LOG.kafka.topic, "The log topic.", ("kafka", "topic")),
        ("kafka", "Storage", "string", _LOG.kafka.storage, "Volume size per Kafka broker.", ("kafka", "storage")),
        ("kafka", "CpuRequest", "string", _LOG.kafka.resources.cpu_request, "Kafka CPU request.", ("kafka", "resources", "cpu_request")),
        ("kafka", "CpuLimit", "string", "", "Kafka CPU limit; empty for none.", ("kafka", "resources", "cpu_limit")),
        ("kafka", "Memory", "string", _LOG.kafka.resources.memory_request, "Kafka memory request and limit; the heap is half of it.", ("kafka", "resources", "memory_request")),
        ("logstash", "Replicas", "integer", _LOG.logstash.replicas, "Logstash replicas.", ("logstash", "replicas")),
        ("logstash", "ConsumerThreads", "integer", _LOG.logstash.consumer_threads, "Kafka consumer threads per Logstash replica; replicas x threads should equal the partitions.", ("logstash", "consumer_threads")),
        ("logstash", "Workers", "integer", _LOG.logstash.workers, "Logstash pipeline.workers (about one per core).", ("logstash", "workers")),
        ("logstash", "BatchSize", "integer", _LOG.logstash.batch_size, "Logstash pipeline.batch.size: events per bulk request (bottleneck: bulk rejections).", ("logstash", "batch_size")),
        ("logstash", "BatchDelayMs", "integer", _LOG.logstash.batch_delay_ms, "Logstash pipeline.batch.delay in milliseconds.", ("logstash", "batch_delay_ms")),
        ("logstash", "QueueMaxBytes", "string", _LOG.logstash.queue_max_bytes, "Logstash persisted queue cap (quantity); with the 256Mi DLQ it must fit the queue volume.", ("logstash", "queue_max_bytes")),
        ("logstash", "QueueStorage", "string", _LOG.logstash.queue_storage, "Logstash queue volume per replica.", ("logstash", "queue_storage")),
        ("logstash", "IndexMode", "string", _LOG.logstash.index_mode, "'data_stream' (logs-gosvc-default) or 'daily' (gosvc-logs-YYYY.MM.dd).", ("logstash", "index_mode")),
        ("logstash", "CpuRequest", "string", _LOG.logstash.resources.cpu_request, "Logstash CPU request.", ("logstash", "resources", "cpu_request")),
        ("logstash", "CpuLimit", "string", "", "Logstash CPU limit; empty for none.", ("logstash", "resources", "cpu_limit")),
        ("logstash", "Memory", "string", _LOG.logstash.resources.memory_request, "Logstash memory request and limit; the heap is half of it.", ("logstash", "resources", "memory_request")),
        ("elasticsearch", "Nodes", "integer", _LOG.elasticsearch.nodes, "Elasticsearch master-eligible data nodes: 1 or an odd number.", ("elasticsearch", "nodes")),
        ("elasticsearch", "Heap", "string", "", "Elasticsearch JVM heap; empty for half of gosvc:elasticsearchMemory.", ("elasticsearch", "heap")),
        ("elasticsearch", "IndexReplicas", "integer", _LOG.elasticsearch.index_replicas, "Replicas of each log index; at most nodes - 1.", ("elasticsearch", "index_replicas")),
        ("elasticsearch", "Storage", "string", _LOG.elasticsearch.storage, "Volume size per Elasticsearch node.", ("elasticsearch", "storage")),
        ("elasticsearch", "MaxMapCount", "string", _LOG.elasticsearch.max_map_count, "How nodes get vm.max_map_count=262144: 'daemonset' (a privileged DaemonSet in Filebeat's namespace), 'node' (already set), 'no-mmap' (node.store.allow_mmap: false: slower searches).", ("elasticsearch", "max_map_count")),
        ("elasticsearch", "CpuRequest", "string", _LOG.elasticsearch.resources.cpu_request, "Elasticsearch CPU request (bottleneck: bulk rejections).", ("elasticsearch", "resources", "cpu_request")),
        ("elasticsearch", "CpuLimit", "string", "", "Elasticsearch CPU limit; empty for none.", ("elasticsearch", "resources", "cpu_limit")),
        ("elasticsearch", "Memory", "string", _LOG.elasticsearch.resources.memory_request, "Elasticsearch memory request and limit.", ("elasticsearch", "resources", "memory_request")),
        ("kibana", "Replicas", "integer", _LOG.kibana.replicas, "Kibana replicas.", ("kibana", "replicas")),
        ("kibana", "IngressNamespaces", "array", [], "Namespaces allowed to reach Kibana; none by default (port-forward still works).", ("kibana", "ingress_namespaces")),
        ("kibana", "CpuRequest", "string", _LOG.kibana.resources.cpu_request, "Kibana CPU request.", ("kibana", "resources", "cpu_request")),
        ("kibana", "CpuLimit", "string", "", "Kibana CPU limit; empty for none.", ("kibana", "resources", "cpu_limit")),
        ("kibana", "Memory", "string", _LOG.kibana.resources.memory_request, "Kibana memory request and limit.", ("kibana", "resources", "memory_request")),
    )),
)
KEYS_BY_NAME = {k.name: k for k in KEYS}
KEYS_BY_TARGET = {k.target: k for k in KEYS}


@dataclass(frozen=True)
class Section:
    """A group of keys that together make one component's args, and how to validate them."""

    name: str
    resolve: Callable[[dict[str, Any], str], Any]


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
    "logging": Section("logging", parse_logging),
}


@dataclass(frozen=True)
class StackConfig:
    """The validated stack: one spec per section."""

    prebuilt_image: str | None
    image: ImageSpec
    service: ServiceSpec
    monitoring: MonitoringConfig | None = None
    logging: LoggingSpec | None = None


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
