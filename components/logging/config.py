"""The validated LoggingPipeline spec: one frozen model per part, and the rules that span parts.

Single-field limits live on the fields; `LoggingSpec.check` holds the cross-part rules that
would otherwise only fail in the cluster (a replication factor above the broker count, a
heap above the memory limit, ...). Rules whose breach only wastes resources are not errors:
`warnings()` returns them so the component can log them and tests can assert them.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any, Literal

from pydantic import Field, field_validator

from components.config import DnsLabels, Model, NamespaceName, ResourcesSpec, SecretName, StorageClassName, cidr, digest_pins, quantity, validate_checked
from components.errors import ConfigError
from components.logging import durability, versions

MIB = 1024 * 1024
KAFKA_TOPIC = re.compile(r"^[A-Za-z0-9._-]{1,249}$")
RATE_LIMIT = re.compile(r"^[1-9][0-9]*/(s|m|h)$")
CONFIRMABLE = ("elasticsearch.nodes", "kafka.brokers")
"""Changes refused on a running pipeline that the user may confirm after following the documented procedure."""
DLQ_MAX_MIB = 256
"""Cap of Logstash's dead letter queue, which shares the queue volume with the persisted queue."""
HEAP_SHARE = Decimal("0.5")
"""Default JVM heap: half the memory limit, leaving the rest to off-heap memory and the page cache."""


def _quantity(value: str | None) -> str | None:
    if value is not None:
        quantity(value)
    return value


class FilebeatSpec(Model):
    """Filebeat DaemonSet: its resources, internal queue, Kafka batching and optional rate limit."""

    resources: ResourcesSpec = ResourcesSpec(cpu_request="100m", cpu_limit="1", memory_request="200Mi")
    queue_events: int = Field(3200, ge=64, le=1_000_000)
    bulk_max_size: int = Field(2048, ge=1, le=100_000)
    compression: Literal["gzip", "snappy", "lz4", "zstd", "none"] = "gzip"
    rate_limit: str | None = None

    @field_validator("rate_limit")
    @classmethod
    def _rate(cls, value: str | None) -> str | None:
        if value is not None and not RATE_LIMIT.match(value):
            raise ValueError("must be events per unit such as '5000/s', '100000/m' or '1000000/h'")
        return value


class KafkaSpec(Model):
    """KRaft brokers (the first three, or one below three brokers, also controllers), durability settings and the log topic."""

    brokers: int = Field(3, ge=1, le=9)
    replication_factor: int = Field(3, ge=1, le=9)
    min_insync_replicas: int = Field(2, ge=1, le=9)
    partitions: int = Field(6, ge=1, le=1000)
    retention_hours: int = Field(72, ge=1, le=24 * 365)
    topic: str = "gosvc-logs"
    storage: str = "20Gi"
    resources: ResourcesSpec = ResourcesSpec(cpu_request="500m", cpu_limit=None, memory_request="2Gi")

    @field_validator("topic")
    @classmethod
    def _topic(cls, value: str) -> str:
        if not KAFKA_TOPIC.match(value) or value in (".", ".."):
            raise ValueError("must be a Kafka topic name: letters, digits, '.', '_', '-', at most 249 characters")
        return value

    @field_validator("storage")
    @classmethod
    def _sizes(cls, value: str) -> str:
        return _quantity(value)


class LogstashSpec(Model):
    """Logstash StatefulSet: Kafka consumers, pipeline tuning, persisted queue and index layout."""

    replicas: int = Field(2, ge=1, le=100)
    consumer_threads: int = Field(3, ge=1, le=64)
    workers: int = Field(2, ge=1, le=256)
    batch_size: int = Field(125, ge=1, le=100_000)
    batch_delay_ms: int = Field(50, ge=1, le=60_000)
    queue_max_bytes: str = "1Gi"
    queue_storage: str = "2Gi"
    index_mode: Literal["data_stream", "daily"] = "data_stream"
    resources: ResourcesSpec = ResourcesSpec(cpu_request="500m", cpu_limit=None, memory_request="2Gi")

    @field_validator("queue_max_bytes", "queue_storage")
    @classmethod
    def _sizes(cls, value: str) -> str:
        return _quantity(value)

    @property
    def queue_max_mib(self) -> int:
        return int(quantity(self.queue_max_bytes) // MIB)


def default_heap_mib(resources: ResourcesSpec) -> int:
    """A JVM heap of half the container's memory limit, in whole MiB; the rest is page cache and off-heap."""
    return int(quantity(resources.effective_memory_limit) * HEAP_SHARE // MIB)


class ElasticsearchSpec(Model):
    """Elasticsearch StatefulSet: node count, heap, storage and the log indices' replicas."""

    nodes: int = Field(3, ge=1, le=15)
    heap: str | None = None
    index_replicas: int = Field(1, ge=0, le=5)
    storage: str = "50Gi"
    max_map_count: Literal["daemonset", "node", "no-mmap"] = "daemonset"
    resources: ResourcesSpec = ResourcesSpec(cpu_request="1", cpu_limit=None, memory_request="4Gi")

    @field_validator("heap", "storage")
    @classmethod
    def _sizes(cls, value: str | None) -> str | None:
        return _quantity(value)

    @property
    def heap_mib(self) -> int:
        """The configured heap, or half the memory limit, in whole MiB."""
        if self.heap is not None:
            return int(quantity(self.heap) // MIB)
        return default_heap_mib(self.resources)


class ExistingSecretsSpec(Model):
    """Secrets the cluster already holds (from cert-manager, an external secret store, ...), used instead of
    generating them; each unset one is generated. Keys each must hold are in `secrets.REQUIRED_KEYS`."""

    elastic: SecretName | None = None
    kibana_system: SecretName | None = None
    logstash_writer: SecretName | None = None
    kibana_encryption_keys: SecretName | None = None
    certificates: SecretName | None = None


class KibanaSpec(Model):
    """Kibana Deployment and the namespaces allowed to reach it."""

    replicas: int = Field(2, ge=1, le=10)
    ingress_namespaces: DnsLabels = []
    resources: ResourcesSpec = ResourcesSpec(cpu_request="250m", cpu_limit=None, memory_request="1Gi")


class LoggingSpec(Model):
    """Everything LoggingPipeline needs, validated; see `LoggingPipelineArgs` for each field."""

    namespace: NamespaceName = "logging"
    filebeat_namespace: NamespaceName | None = None
    create_namespace: bool = True
    storage_class: StorageClassName | None = None
    api_server_cidr: str = "0.0.0.0/0"
    image_digests: list[str] = []
    resolve_digests: bool = False
    existing_secrets: ExistingSecretsSpec = ExistingSecretsSpec()
    confirm_changes: list[Literal[CONFIRMABLE]] = []  # type: ignore[valid-type]
    filebeat: FilebeatSpec = FilebeatSpec()
    kafka: KafkaSpec = KafkaSpec()
    logstash: LogstashSpec = LogstashSpec()
    elasticsearch: ElasticsearchSpec = ElasticsearchSpec()
    kibana: KibanaSpec = KibanaSpec()

    @property
    def collector_namespace(self) -> str:
        """Where Filebeat and the node tuning run: a namespace of their own whose Pod Security allows hostPaths."""
        return self.filebeat_namespace or f"{self.namespace}-filebeat"

    @field_validator("image_digests")
    @classmethod
    def _digests(cls, value: list[str]) -> list[str]:
        digest_pins(value, versions.REPOSITORIES)
        return value

    def image(self, image: str) -> str:
        """An image of versions.py, pinned by digest when one is configured for its repository."""
        return versions.pinned(image, self.image_digests)

    @field_validator("api_server_cidr")
    @classmethod
    def _cidr(cls, value: str) -> str:
        return cidr(value)

    def check(self) -> None:
        """Cross-part rules; raises ConfigError naming the field to change."""
        for part in ("filebeat", "kafka", "logstash", "elasticsearch", "kibana"):
            getattr(self, part).resources.check(f"{part}.resources")
        _check_namespaces(self)
        _check_existing_secrets(self.existing_secrets)
        _check_kafka(self.kafka)
        _check_logstash(self.logstash, self.kafka)
        _check_elasticsearch(self.elasticsearch)


def _check_namespaces(spec: LoggingSpec) -> None:
    """The collector runs in a namespace of its own, whose name fits."""
    if spec.collector_namespace == spec.namespace:
        raise ConfigError(
            "filebeat_namespace",
            spec.collector_namespace,
            f"must differ from namespace ({spec.namespace}): Filebeat's hostPaths need Pod Security 'privileged', "
            "and the namespace of Kafka, Logstash, Elasticsearch and Kibana enforces 'restricted'",
        )
    if spec.filebeat_namespace is None and len(spec.collector_namespace) > 63:
        raise ConfigError(
            "filebeat_namespace",
            None,
            f"defaults to '<namespace>-filebeat', which is longer than 63 characters for namespace {spec.namespace!r}; set it",
        )


def _check_existing_secrets(secrets: ExistingSecretsSpec) -> None:
    """Each user's password comes from a Secret of its own."""
    named = [(key, getattr(secrets, key)) for key in ("elastic", "kibana_system", "logstash_writer")]
    seen: dict[str, str] = {}
    for key, value in named:
        if value is not None and value in seen:
            raise ConfigError(
                f"existing_secrets.{key}",
                value,
                f"is also existing_secrets.{seen[value]}: each user's password is the key 'password' of a Secret of its own",
            )
        if value is not None:
            seen[value] = key


def _check_kafka(kafka: KafkaSpec) -> None:
    """Kafka's durability rules (`durability`): every replica on a broker of its own, and room below the replication factor."""
    if durability.replication_problem(kafka.replication_factor, kafka.brokers):
        raise ConfigError(
            "kafka.replication_factor",
            kafka.replication_factor,
            f"must be at most kafka.brokers ({kafka.brokers}): each replica needs its own broker; add brokers or lower the replication factor",
        )
    if durability.min_insync_problem(kafka.min_insync_replicas, kafka.replication_factor):
        raise ConfigError(
            "kafka.min_insync_replicas",
            kafka.min_insync_replicas,
            f"must be below kafka.replication_factor ({kafka.replication_factor}) so that acks=all writes survive one broker "
            "being down (1 is the only value when the replication factor is 1)",
        )


def _check_logstash(logstash: LogstashSpec, kafka: KafkaSpec) -> None:
    """Every consumer thread can own a partition, and the queue fits its volume beside the dead letter queue."""
    if logstash.consumer_threads > kafka.partitions:
        raise ConfigError(
            "logstash.consumer_threads",
            logstash.consumer_threads,
            f"must be at most kafka.partitions ({kafka.partitions}): a Kafka consumer thread without a partition never reads; "
            "lower the threads or raise the partitions",
        )
    if quantity(logstash.queue_max_bytes) + DLQ_MAX_MIB * MIB >= quantity(logstash.queue_storage):
        raise ConfigError(
            "logstash.queue_max_bytes",
            logstash.queue_max_bytes,
            f"plus the {DLQ_MAX_MIB}Mi dead letter queue must fit in logstash.queue_storage ({logstash.queue_storage}), "
            "the volume that holds both; lower the queue or grow the volume",
        )


def _check_elasticsearch(es: ElasticsearchSpec) -> None:
    """An odd number of master-eligible nodes, a heap that fits the memory, and replicas the nodes can place."""
    if es.nodes > 1 and es.nodes % 2 == 0:
        raise ConfigError(
            "elasticsearch.nodes",
            es.nodes,
            "must be 1 or an odd number: every node is master-eligible, and an even number of masters tolerates no more "
            "failures than one node fewer while risking a tied election",
        )
    limit = quantity(es.resources.effective_memory_limit)
    if es.heap is not None and quantity(es.heap) >= limit:
        raise ConfigError(
            "elasticsearch.heap",
            es.heap,
            f"must be below the memory limit ({es.resources.effective_memory_limit}); leave room for off-heap memory, "
            "about half the limit is recommended",
        )
    if es.heap_mib < 256:
        raise ConfigError(
            "elasticsearch.resources.memory_request", es.resources.memory_request, "gives a heap below 256Mi; raise the memory"
        )
    if es.index_replicas > es.nodes - 1:
        raise ConfigError(
            "elasticsearch.index_replicas",
            es.index_replicas,
            f"must be at most elasticsearch.nodes - 1 ({es.nodes - 1}): a replica is never placed on its primary's node, "
            "so more replicas would stay unassigned",
        )


def warnings(spec: LoggingSpec) -> list[str]:
    """Settings that work but waste resources or trade safety away; the component logs each one."""
    found: list[str] = []
    kafka, logstash, es, fb = spec.kafka, spec.logstash, spec.elasticsearch, spec.filebeat
    consumers = logstash.replicas * logstash.consumer_threads
    if consumers > kafka.partitions:
        found.append(
            f"logstash.replicas x logstash.consumer_threads = {consumers} consumers for kafka.partitions = {kafka.partitions}: "
            f"{consumers - kafka.partitions} consumer threads will sit idle (they only take over when a replica goes away)"
        )
    if kafka.brokers == 2:
        found.append(
            "kafka.brokers = 2: a new cluster of fewer than three brokers has one KRaft controller (kafka-0), so leadership and "
            "in-sync replicas cannot change while it restarts; three brokers run three controllers"
        )
    if kafka.replication_factor == 1 and kafka.brokers > 1:
        found.append("kafka.replication_factor = 1 with several brokers: losing one broker loses the logs it holds")
    if es.nodes > 1 and es.index_replicas == 0:
        found.append("elasticsearch.index_replicas = 0 on a multi-node cluster: losing one node loses the indices it holds")
    if es.heap is not None and es.heap_mib > quantity(es.resources.effective_memory_limit) * HEAP_SHARE / MIB:
        found.append(f"elasticsearch.heap = {es.heap} is above half the memory limit; Lucene relies on the rest for the page cache")
    if fb.rate_limit is not None:
        found.append(f"filebeat.rate_limit = {fb.rate_limit}: Filebeat's rate_limit processor drops the events above the limit")
    if fb.bulk_max_size > fb.queue_events:
        found.append(
            f"filebeat.bulk_max_size = {fb.bulk_max_size} exceeds filebeat.queue_events = {fb.queue_events}: "
            "batches can never fill, so each one waits for the flush timeout"
        )
    return found


def parse_logging(raw: dict[str, Any], where: str) -> LoggingSpec:
    """Validates raw args into a LoggingSpec; raises one ConfigError naming `where` and the field."""
    return validate_checked(LoggingSpec, raw, where)
