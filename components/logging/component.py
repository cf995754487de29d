"""LoggingPipeline and its parts as ComponentResources: validate, build the specs, register them in order.

No `from __future__ import annotations` here: Pulumi's component analyzer reads the args'
annotations as objects, not strings.
"""

import time
from typing import Any, TypedDict

import pulumi
import pulumi_docker as docker
from typing_extensions import NotRequired

from components import tokens
from components.args import ResourcesArgs
from components.config import plain_args
from components.k8s import security
from components.k8s.register import register
from components.logging import credentials, elasticsearch, filebeat, kafka, kibana, logstash, network, secrets, upgrades, versions
from components.logging.config import LoggingSpec, parse_logging, warnings

TYPE = tokens.LOGGING_PIPELINE
PART_TYPES = tokens.LOGGING_PARTS


class FilebeatArgs(TypedDict):
    """The Filebeat DaemonSet."""

    resources: NotRequired[ResourcesArgs]
    """Default 100m CPU request, 1 CPU limit, 200Mi memory. The CPU limit is the collector's throughput ceiling."""
    queue_events: NotRequired[int]
    """Events the in-memory queue holds, default 3200."""
    bulk_max_size: NotRequired[int]
    """Events per Kafka request, default 2048."""
    compression: NotRequired[str]
    """gzip (default), snappy, lz4, zstd or none."""
    rate_limit: NotRequired[str]
    """Optional cap such as '5000/s'; events above it are dropped. Unset by default."""


class KafkaArgs(TypedDict):
    """The Kafka cluster (KRaft: the first pods are controllers too, the rest brokers only) and the log topic."""

    brokers: NotRequired[int]
    """Broker count, default 3; the first three (one below three brokers) are also the KRaft voters, fixed once formed. Grows in place."""
    replication_factor: NotRequired[int]
    """Replicas of every partition, default 3; at most `brokers`."""
    min_insync_replicas: NotRequired[int]
    """Replicas that must acknowledge a write, default 2; below the replication factor unless it is 1."""
    partitions: NotRequired[int]
    """Partitions of the log topic, default 6: the ceiling of Logstash's parallel consumers."""
    retention_hours: NotRequired[int]
    """How long Kafka keeps logs, default 72: the buffer if Elasticsearch is down."""
    topic: NotRequired[str]
    """Topic name, default 'gosvc-logs'."""
    storage: NotRequired[str]
    """Volume size per broker, default 20Gi."""
    resources: NotRequired[ResourcesArgs]
    """Default 500m CPU, 2Gi memory; the heap is half the memory limit."""


class LogstashArgs(TypedDict):
    """The Logstash StatefulSet."""

    replicas: NotRequired[int]
    """Replicas, default 2."""
    consumer_threads: NotRequired[int]
    """Kafka consumer threads per replica, default 3; replicas x threads beyond the partitions sit idle."""
    workers: NotRequired[int]
    """pipeline.workers, default 2 (about one per core)."""
    batch_size: NotRequired[int]
    """pipeline.batch.size, default 125 events per worker batch and Elasticsearch bulk request."""
    batch_delay_ms: NotRequired[int]
    """pipeline.batch.delay in milliseconds, default 50."""
    queue_max_bytes: NotRequired[str]
    """Persisted queue cap, default 1Gi; it plus the 256Mi dead letter queue must fit `queue_storage`."""
    queue_storage: NotRequired[str]
    """Queue volume per replica, default 2Gi."""
    index_mode: NotRequired[str]
    """'data_stream' (default: logs-gosvc-default) or 'daily' (gosvc-logs-YYYY.MM.dd)."""
    resources: NotRequired[ResourcesArgs]
    """Default 500m CPU, 2Gi memory; the heap is half the memory limit."""


class ElasticsearchArgs(TypedDict):
    """The Elasticsearch StatefulSet."""

    nodes: NotRequired[int]
    """Master-eligible data nodes: 1 or an odd number, default 3."""
    heap: NotRequired[str]
    """JVM heap; default half the memory limit."""
    index_replicas: NotRequired[int]
    """Replicas of each log index, default 1; at most nodes - 1."""
    storage: NotRequired[str]
    """Volume size per node, default 50Gi."""
    max_map_count: NotRequired[str]
    """How nodes meet Elasticsearch's vm.max_map_count of 262144: 'daemonset' (default: a privileged DaemonSet in
    Filebeat's namespace sets it on every node), 'node' (the nodes already set it), or 'no-mmap'
    (node.store.allow_mmap: false; no sysctl, but slower searches and more heap pressure)."""
    resources: NotRequired[ResourcesArgs]
    """Default 1 CPU, 4Gi memory."""


class KibanaArgs(TypedDict):
    """The Kibana Deployment."""

    replicas: NotRequired[int]
    """Replicas, default 2 (they share sessions through the generated encryption keys)."""
    ingress_namespaces: NotRequired[list[str]]
    """Namespaces allowed to reach Kibana; none by default (port-forward still works)."""
    resources: NotRequired[ResourcesArgs]
    """Default 250m CPU, 1Gi memory."""


class ExistingSecretsArgs(TypedDict):
    """Existing Secrets to use instead of generated credentials (each unset one is generated), in the pipeline's namespace."""

    elastic: NotRequired[str]
    """Secret with key 'password': the `elastic` superuser's password."""
    kibana_system: NotRequired[str]
    """Secret with key 'password': the `kibana_system` user's password."""
    logstash_writer: NotRequired[str]
    """Secret with key 'password': the password of Logstash's writer user."""
    kibana_encryption_keys: NotRequired[str]
    """Secret with keys 'security' and 'saved-objects': Kibana's encryption keys, at least 32 characters each."""
    certificates: NotRequired[str]
    """kubernetes.io/tls Secret with 'tls.crt', 'tls.key' and 'ca.crt' (as cert-manager writes it): Elasticsearch's
    node certificate, valid for the names in `elasticsearch.certificate_dns_names`, and the CA clients trust."""


class LoggingPipelineArgs(TypedDict):
    """Arguments of LoggingPipeline; all are plain values. Most shape the objects registered; the namespace
    also seeds the Kafka cluster id and the config checksums, which must be computed from the real value."""

    namespace: NotRequired[str]
    """Namespace of Kafka, Logstash, Elasticsearch and Kibana, default 'logging'; Pod Security enforces 'restricted'."""
    filebeat_namespace: NotRequired[str]
    """Namespace of Filebeat and the node tuning, default '<namespace>-filebeat'; Pod Security allows their hostPaths."""
    create_namespace: NotRequired[bool]
    """Create both namespaces with their Pod Security labels (default true)."""
    storage_class: NotRequired[str]
    """StorageClass of every volume; the cluster default when unset."""
    api_server_cidr: NotRequired[str]
    """Where Filebeat may reach the Kubernetes API (ports 443/6443), default 0.0.0.0/0; narrow it to the API server's address."""
    filebeat: NotRequired[FilebeatArgs]
    """The collector."""
    kafka: NotRequired[KafkaArgs]
    """The buffer."""
    logstash: NotRequired[LogstashArgs]
    """The processor."""
    elasticsearch: NotRequired[ElasticsearchArgs]
    """The store."""
    kibana: NotRequired[KibanaArgs]
    """The UI."""
    image_digests: NotRequired[list[str]]
    """Digests pinning images, as '<repository>@sha256:<hex>'."""
    resolve_digests: NotRequired[bool]
    """Resolve every image not pinned by image_digests to its registry digest at deploy time (default false)."""
    existing_secrets: NotRequired[ExistingSecretsArgs]
    """Credentials the cluster already holds; the rest are generated."""
    confirm_changes: NotRequired[list[str]]
    """Keys whose refused change on a running pipeline the user confirms after the documented procedure: 'elasticsearch.nodes', 'kafka.brokers'."""


def resolve_logging_pipeline(name: str, args: LoggingPipelineArgs | dict | None) -> LoggingSpec:
    """Validates LoggingPipeline args into a LoggingSpec; raises ConfigError naming the field."""
    where = f"LoggingPipeline '{name}'"
    # Unset top-level args take the defaults; a None further down means "none" (no CPU limit, default heap).
    raw = plain_args(args, where)
    return parse_logging(raw, where)


def namespaces(name: str, spec: LoggingSpec) -> dict[str, dict]:
    """The pipeline's namespace enforces the 'restricted' Pod Security Standard; the collector's enforces 'privileged'
    (Filebeat's read-only hostPaths, the node tuning's sysctl) and warns and audits at 'restricted'."""
    return {
        "ns": security.namespace(spec.namespace, "logging", name),
        "collector-ns": security.namespace(spec.collector_namespace, "logging", name, "privileged"),
    }


def registry_digests(spec: LoggingSpec, opts: pulumi.ResourceOptions) -> dict[str, pulumi.Output[str]]:
    """Each image still pinned by tag alone, mapped to `image@<digest>` as its registry serves it at `pulumi up`.

    The lookup is the docker provider's getRegistryImage, so a moved tag shows up as a diff
    instead of silently changing what runs.
    """
    if not spec.resolve_digests:
        return {}
    invoke = pulumi.InvokeOptions(parent=opts.parent)
    return {
        image: docker.get_registry_image_output(name=image, opts=invoke).sha256_digest.apply(lambda digest, image=image: f"{image}@{digest}")
        for image in versions.IMAGES
        if spec.image(image) == image
    }


def pin_images(obj: Any, refs: dict[str, Any]) -> Any:
    """`obj` with every `image` field found in `refs` replaced by its digest reference."""
    if isinstance(obj, dict):
        return {k: refs.get(v, v) if k == "image" and isinstance(v, str) else pin_images(v, refs) for k, v in obj.items()}
    if isinstance(obj, list):
        return [pin_images(v, refs) for v in obj]
    return obj


def build(name: str, spec: LoggingSpec, creds: Any, previous: upgrades.Deployed | None = None) -> dict[str, dict[str, dict]]:
    """Every object of the pipeline: part -> role -> plain Kubernetes dict. Pure apart from `creds` Outputs placed as values.

    `previous` is the pipeline as the stack last deployed it: it keeps Elasticsearch's bootstrap
    node set and adds the patches that grow existing volumes (see upgrades.py).
    """
    patches = upgrades.volume_patches(previous, spec)
    es = {**elasticsearch.build(name, spec, creds, upgrades.initial_master_nodes(previous)), **elasticsearch.node_tuning_objects(name, spec)}
    return {
        "elasticsearch": {**es, **patches.get("elasticsearch", {})},
        "kafka": {**kafka.build(name, spec, upgrades.kafka_voters(previous)), **patches.get("kafka", {})},
        "logstash": {**logstash.build(name, spec), **patches.get("logstash", {})},
        "kibana": kibana.build(name, spec, creds),
        "filebeat": filebeat.build(name, spec, kafka.bootstrap_servers(name, spec)),
        "network": network.build(name, spec),
    }


def role_options(obj: dict) -> dict[str, Any]:
    """Resource options that keep data: a StatefulSet's claim templates never change after create (a change would
    replace it; volumes grow through patches instead), and a volume patch leaves the claim alone when dropped."""
    if obj["kind"] == "StatefulSet":
        return {"ignore_changes": ["spec.volumeClaimTemplates"]}
    if obj["kind"] == "PersistentVolumeClaimPatch":
        return {"retain_on_delete": True}
    return {}


CHECKPOINT_READS = 8
"""Attempts at reading the stack's state: the engine rewrites its checkpoint file during an update, and a read
that lands mid-write finds it empty ("failed to load checkpoint: EOF"), then succeeds a moment later."""


def read_state() -> dict:
    """Every resource's type and outputs in this stack's state, by URN, through the engine's built-in
    readStackResourceOutputs. The one place that retries, and only a checkpoint caught mid-write (CHECKPOINT_READS)."""
    args = {"stackName": f"{pulumi.get_organization()}/{pulumi.get_project()}/{pulumi.get_stack()}"}
    attempt = 1
    while True:
        try:
            return (pulumi.runtime.invoke(upgrades.READ_STATE, args).value or {}).get("outputs") or {}
        except Exception as err:  # the SDK raises a plain Exception carrying the engine's message
            if "failed to load checkpoint" not in str(err) or attempt == CHECKPOINT_READS:
                raise
            time.sleep(0.1 * attempt)
            attempt += 1


def read_deployed(name: str) -> upgrades.Deployed | None:
    """The pipeline `name` as this stack's state last recorded it (see upgrades.deployed)."""
    return upgrades.deployed(read_state(), name)


class LoggingPart(pulumi.ComponentResource):
    """One part of the pipeline (Kafka, Elasticsearch, ...): registers its objects in the order given,
    each depending on the ones before it and on `after[role]` from other parts."""

    def __init__(
        self,
        part: str,
        name: str,
        objects: dict[str, dict],
        depends_on: list[pulumi.Resource],
        after: dict[str, list[pulumi.Resource]] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__(PART_TYPES[part], upgrades.part_name(name, part), {}, tokens.options(PART_TYPES[part], opts))
        self.resources: dict[str, pulumi.CustomResource] = {}
        earlier: list[pulumi.Resource] = list(depends_on)
        for role, obj in objects.items():
            deps = [*earlier, *(after or {}).get(role, [])]
            options = pulumi.ResourceOptions(parent=self, depends_on=deps, **role_options(obj))
            resource = register(obj, upgrades.resource_name(name, part, role), options)
            self.resources[role] = resource
            earlier.append(resource)
        self.register_outputs({})


class LoggingPipeline(pulumi.ComponentResource):
    """Filebeat -> Kafka -> Logstash -> Elasticsearch -> Kibana, sized per stack.

    Creates two namespaces (optional): a 'restricted' one for Kafka, Logstash, Elasticsearch and
    Kibana, and a privileged one for Filebeat and the node tuning. Then the credentials no
    existing Secret provides, and one child component per part, each with its ServiceAccount,
    config, workload, PDB, and NetworkPolicies that allow only the pipeline's flows. Defaults are
    production-shaped: 3 brokers, replication factor 3, min.insync.replicas 2, 3 Elasticsearch
    nodes with one replica per index. Every input is plain: each one shapes the objects registered.
    Changes that would lose data on a running pipeline are refused before anything is registered
    (see upgrades.py).
    """

    namespace: pulumi.Output[str]
    """Namespace of Kafka, Logstash, Elasticsearch and Kibana."""
    kafka_bootstrap_servers: pulumi.Output[str]
    """Comma-separated broker addresses."""
    kafka_topic: pulumi.Output[str]
    """The log topic."""
    elasticsearch_url: pulumi.Output[str]
    """In-cluster HTTPS URL of Elasticsearch."""
    kibana_url: pulumi.Output[str]
    """In-cluster URL of Kibana."""
    elastic_password: pulumi.Output[str | None]
    """Password of the `elastic` superuser (a secret) when generated; None when it comes from an existing Secret."""
    elastic_password_secret: pulumi.Output[str]
    """Name of the Secret (in `namespace`) whose key 'password' holds the `elastic` superuser's password."""

    def __init__(self, name: str, args: LoggingPipelineArgs, opts: pulumi.ResourceOptions | None = None):
        spec = resolve_logging_pipeline(name, args)
        previous = read_deployed(name)
        upgrades.check(previous, spec)
        super().__init__(TYPE, name, {}, tokens.options(TYPE, opts))
        self.spec = spec
        self.warnings = warnings(spec)
        for text in self.warnings:
            pulumi.log.warn(f"LoggingPipeline '{name}': {text}", resource=self)
        child = pulumi.ResourceOptions(parent=self)
        base: list[pulumi.Resource] = []
        if spec.create_namespace:
            base = [register(obj, f"{name}-{key}", child) for key, obj in namespaces(name, spec).items()]
        creds = credentials.generate(name, spec, child)
        refs = registry_digests(spec, child)
        built = build(name, spec, creds, previous)
        objects = {part: {role: pin_images(obj, refs) for role, obj in roles.items()} for part, roles in built.items()}

        def part(key: str, after: dict[str, list[pulumi.Resource]] | None = None) -> LoggingPart:
            return LoggingPart(key, name, objects[key], base, after, child)

        self.parts: dict[str, LoggingPart] = {}
        self.parts["network"] = part("network")
        es = self.parts["elasticsearch"] = part("elasticsearch")
        kf = self.parts["kafka"] = part("kafka")
        ready = [kf.resources["topic_job"], es.resources["setup_job"]]
        self.parts["logstash"] = part("logstash", {"stateful_set": ready})
        self.parts["kibana"] = part("kibana", {"deployment": [es.resources["setup_job"]]})
        self.parts["filebeat"] = part("filebeat", {"daemon_set": [kf.resources["topic_job"]]})

        self.namespace = pulumi.Output.from_input(spec.namespace)
        self.kafka_bootstrap_servers = pulumi.Output.from_input(",".join(kafka.bootstrap_servers(name, spec)))
        self.kafka_topic = pulumi.Output.from_input(spec.kafka.topic)
        self.elasticsearch_url = pulumi.Output.from_input(elasticsearch.url(name, spec))
        self.kibana_url = pulumi.Output.from_input(kibana.url(name, spec))
        self.elastic_password = creds.elastic if creds.elastic is not None else pulumi.Output.from_input(None)
        self.elastic_password_secret = pulumi.Output.from_input(secrets.refs(spec).elastic)
        self.register_outputs(
            {
                "namespace": self.namespace,
                "kafka_bootstrap_servers": self.kafka_bootstrap_servers,
                "kafka_topic": self.kafka_topic,
                "elasticsearch_url": self.elasticsearch_url,
                "kibana_url": self.kibana_url,
                "elastic_password": self.elastic_password,
                "elastic_password_secret": self.elastic_password_secret,
            }
        )
