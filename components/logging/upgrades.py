"""Changes to a running pipeline: what the stack last deployed, which changes are refused, which are carried safely.

Kubernetes cannot change a StatefulSet's volume claim templates in place, so the Kubernetes
provider would replace the StatefulSet (every broker or data node down at once) on a storage
change. The component therefore never changes the templates after the first `pulumi up`
(`ignore_changes`); a larger size reaches the existing volumes through one PersistentVolumeClaim
patch per replica instead, which the cluster expands in place. Changes that no patch can make
safe are refused here, before anything is registered, by comparing the new spec with what the
stack's own state says was deployed (`deployed`, read through the engine's
`readStackResourceOutputs`):

- a smaller volume (Kubernetes volumes never shrink), another StorageClass or namespace (new,
  empty volumes; a namespace change would delete the old namespace with its volumes);
- fewer Kafka brokers than the KRaft voters the cluster was formed with (the voter set is static), or
  fewer at all unless confirmed (`confirm_changes`) after the documented procedure: Kafka never moves
  the replicas a leaving broker holds;
- fewer Kafka partitions (Kafka cannot remove partitions);
- fewer Elasticsearch nodes, unless confirmed (`confirm_changes`) after the documented procedure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import yaml

from components.config import quantity
from components import tokens
from components.errors import ConfigError
from components.logging import elasticsearch, kafka, logstash
from components.logging.config import LoggingSpec

READ_STATE = "pulumi:pulumi:readStackResourceOutputs"
"""The engine's built-in invoke returning every resource's outputs of a stack, by URN."""
STATEFUL = {"kafka": kafka.part, "logstash": logstash.part, "elasticsearch": elasticsearch.part}
STORAGE_KEY = {"kafka": "kafka.storage", "logstash": "logstash.queue_storage", "elasticsearch": "elasticsearch.storage"}
CLAIM = "data"
"""The volume claim template every stateful part names its volume by."""
PATCH_FORCE = "pulumi.com/patchForce"


def _storage(spec: LoggingSpec, part: str) -> str:
    return {"kafka": spec.kafka.storage, "logstash": spec.logstash.queue_storage, "elasticsearch": spec.elasticsearch.storage}[part]


def _replicas(spec: LoggingSpec, part: str) -> int:
    return {"kafka": spec.kafka.brokers, "logstash": spec.logstash.replicas, "elasticsearch": spec.elasticsearch.nodes}[part]


@dataclass
class Deployed:
    """The stateful shape of a pipeline as the stack last deployed it."""

    namespace: str
    replicas: dict[str, int] = field(default_factory=dict)
    template_storage: dict[str, str] = field(default_factory=dict)
    """Size in each part's volume claim template: what its first volumes were created with."""
    volume_storage: dict[str, str] = field(default_factory=dict)
    """The larger of the template's size and any expansion patch's: what the volumes hold now."""
    storage_class: dict[str, str | None] = field(default_factory=dict)
    kafka_partitions: int | None = None
    kafka_voters: int | None = None
    """How many Kafka pods are KRaft voters: the StatefulSet's annotation, or, for pipelines deployed before it, every pod."""
    initial_masters: list[str] | None = None
    """The deployed Elasticsearch bootstrap set ([] when it had none); None when unknown."""
    single_node_discovery: bool = False
    """The deployed elasticsearch.yml sets `discovery.type: single-node`, which gosvc generated for one node before."""


def resource_name(name: str, part: str, role: str) -> str:
    """The Pulumi name LoggingPart gives a role's object."""
    return f"{name}-{part}-{role.replace('_', '-')}"


PART_CLASSES = frozenset(token.rsplit(":", 1)[-1] for token in tokens.LOGGING_PARTS.values())


def _pipeline_outputs(resources: Mapping[str, Any], name: str) -> dict[str, dict]:
    """Outputs of this pipeline's resources, by Pulumi name: URNs named after the pipeline whose parent is one of its parts."""
    found = {}
    for urn, entry in resources.items():
        pieces = urn.split("::")
        if len(pieces) < 4 or not pieces[3].startswith(f"{name}-"):
            continue
        parents = pieces[2].split("$")[:-1]
        if not parents or parents[-1].rsplit(":", 1)[-1] not in PART_CLASSES:
            continue
        found[pieces[3]] = dict((entry or {}).get("outputs") or {})
    return found


def _claim(stateful_set: Mapping[str, Any]) -> dict:
    for template in (stateful_set.get("spec") or {}).get("volumeClaimTemplates") or []:
        if (template.get("metadata") or {}).get("name") == CLAIM:
            return template.get("spec") or {}
    return {}


def deployed(resources: Mapping[str, Any], name: str) -> Deployed | None:
    """The pipeline `name` as `resources` (readStackResourceOutputs' `outputs`) hold it; None before its first deploy."""
    outputs = _pipeline_outputs(resources, name)
    sets = {part: outputs.get(resource_name(name, part, "stateful_set")) for part in STATEFUL}
    sets = {part: obj for part, obj in sets.items() if obj}
    if not sets:
        return None
    namespace = next(iter(sets.values())).get("metadata", {}).get("namespace", "")
    result = Deployed(namespace=namespace)
    for part, obj in sets.items():
        claim = _claim(obj)
        result.replicas[part] = int((obj.get("spec") or {}).get("replicas") or 0)
        size = ((claim.get("resources") or {}).get("requests") or {}).get("storage")
        result.storage_class[part] = claim.get("storageClassName")
        if size:
            result.template_storage[part] = size
            largest = size
            for key, patch in outputs.items():
                if key.startswith(resource_name(name, part, "volume_")):
                    patched = (((patch.get("spec") or {}).get("resources") or {}).get("requests") or {}).get("storage")
                    if patched and quantity(patched) > quantity(largest):
                        largest = patched
            result.volume_storage[part] = largest
    if "kafka" in sets:
        voters = ((sets["kafka"].get("metadata") or {}).get("annotations") or {}).get(kafka.VOTERS_ANNOTATION)
        result.kafka_voters = int(voters) if voters and voters.isdigit() else result.replicas["kafka"]
    kafka_config = (outputs.get(resource_name(name, "kafka", "config")) or {}).get("data") or {}
    for line in str(kafka_config.get(kafka.CONFIG_KEY, "")).splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "num.partitions" and value.strip().isdigit():
            result.kafka_partitions = int(value.strip())
    es_config = (outputs.get(resource_name(name, "elasticsearch", "config")) or {}).get("data") or {}
    if elasticsearch.CONFIG_KEY in es_config:
        # Pipelines deployed before the set moved to its own key carried it in elasticsearch.yml.
        settings = {key: yaml.safe_load(es_config.get(key) or "") or {} for key in (elasticsearch.CONFIG_KEY, elasticsearch.BOOTSTRAP_KEY)}
        result.initial_masters = list(
            settings[elasticsearch.BOOTSTRAP_KEY].get("cluster.initial_master_nodes")
            or settings[elasticsearch.CONFIG_KEY].get("cluster.initial_master_nodes")
            or []
        )
        result.single_node_discovery = settings[elasticsearch.CONFIG_KEY].get("discovery.type") == "single-node"
    return result


def _refuse(key: str, value: Any, reason: str) -> None:
    raise ConfigError(key, value, reason)


def check(previous: Deployed | None, spec: LoggingSpec) -> None:
    """Raises ConfigError, naming the key and the safe procedure, for a change that would lose or strand data."""
    if previous is None:
        return
    if previous.namespace and previous.namespace != spec.namespace:
        _refuse(
            "namespace",
            spec.namespace,
            f"the pipeline runs in {previous.namespace!r}, and moving it would delete that namespace with every volume in it; "
            "deploy a second LoggingPipeline in the new namespace, point the collectors at it, and remove the old one once Kafka has drained",
        )
    for part in STATEFUL:
        if part not in previous.volume_storage:
            continue
        key, wanted, current = STORAGE_KEY[part], _storage(spec, part), previous.volume_storage[part]
        if quantity(wanted) < quantity(current):
            _refuse(key, wanted, f"the {part} volumes hold {current} and Kubernetes volumes cannot shrink; keep {current} or larger")
        if previous.storage_class.get(part) != spec.storage_class:
            _refuse(
                "storage_class",
                spec.storage_class,
                f"the {part} volumes were created in StorageClass {previous.storage_class.get(part) or '(the cluster default)'!r}, "
                "and a StatefulSet's volumes cannot move; keep it, or migrate the data to a second pipeline",
            )
    _check_kafka_brokers(previous, spec)
    if previous.kafka_partitions is not None and spec.kafka.partitions < previous.kafka_partitions:
        _refuse(
            "kafka.partitions",
            spec.kafka.partitions,
            f"the log topic has {previous.kafka_partitions} partitions and Kafka cannot remove partitions; keep "
            f"{previous.kafka_partitions} or more",
        )
    nodes = previous.replicas.get("elasticsearch")
    if previous.single_node_discovery and spec.elasticsearch.nodes > 1:
        _refuse(
            "elasticsearch.nodes",
            spec.elasticsearch.nodes,
            "the node runs with discovery.type single-node, which refuses every joining node, and the StatefulSet controller "
            "waits for the new nodes to be Ready before it restarts the old one; first apply this version with "
            "elasticsearch.nodes 1 (the node restarts once as a cluster of one), then raise the count",
        )
    if nodes is not None and spec.elasticsearch.nodes < nodes and "elasticsearch.nodes" not in spec.confirm_changes:
        _refuse(
            "elasticsearch.nodes",
            spec.elasticsearch.nodes,
            f"the cluster runs {nodes} master-eligible data nodes, and removing them without moving their shards and votes away "
            "loses data or the master quorum; first exclude the highest-numbered nodes "
            "(POST _cluster/voting_config_exclusions?node_names=..., PUT _cluster/settings "
            "cluster.routing.allocation.exclude._name=...), wait for green health with no shards on them, then apply the change "
            "with 'elasticsearch.nodes' in confirm_changes (stack key loggingConfirmChanges)",
        )


def _check_kafka_brokers(previous: Deployed, spec: LoggingSpec) -> None:
    running, wanted, voters = previous.replicas.get("kafka"), spec.kafka.brokers, previous.kafka_voters
    if running is None or wanted >= running:
        return
    if voters is not None and wanted < voters:
        _refuse(
            "kafka.brokers",
            wanted,
            f"kafka-0 to kafka-{voters - 1} are the KRaft controllers the cluster was formed with (a static voter set), so it "
            f"cannot run on fewer than {voters} brokers; keep {voters} or more, or deploy a second LoggingPipeline, point "
            "Filebeat at it and remove this one once its topic is consumed",
        )
    if "kafka.brokers" not in spec.confirm_changes:
        leaving = ",".join(str(i) for i in range(wanted, running))
        staying = ",".join(str(i) for i in range(wanted))
        _refuse(
            "kafka.brokers",
            wanted,
            f"brokers {leaving} would leave, and Kafka never moves the replicas a leaving broker holds, so their partitions "
            "would stay under-replicated or offline; first move every replica off them (kafka-reassign-partitions.sh "
            f"--generate --broker-list {staying} over every topic, then --execute and --verify until complete), then apply "
            "with 'kafka.brokers' in confirm_changes (stack key loggingConfirmChanges), and afterwards unregister them "
            f"(kafka-cluster.sh unregister --id N); their claims are kept",
        )


def kafka_voters(previous: Deployed | None) -> int | None:
    """The running Kafka quorum's size, which a later `pulumi up` keeps; None for a new cluster."""
    return previous.kafka_voters if previous is not None else None


def initial_master_nodes(previous: Deployed | None) -> list[str] | None:
    """The bootstrap node set to keep in the ConfigMap: the deployed one on a running cluster, None (all nodes) on a
    new one. Only nodes whose volume never joined a cluster apply it (`elasticsearch.copy_config_script`)."""
    if previous is None or "elasticsearch" not in previous.replicas:
        return None
    return previous.initial_masters


def volume_patches(previous: Deployed | None, spec: LoggingSpec) -> dict[str, dict[str, dict]]:
    """Part -> role -> PersistentVolumeClaim patch raising each replica's volume to the configured size,
    for parts whose configured size is above their claim template's (which never changes after the first up)."""
    if previous is None:
        return {}
    found: dict[str, dict[str, dict]] = {}
    for part, make_part in STATEFUL.items():
        template = previous.template_storage.get(part)
        wanted = _storage(spec, part)
        if template is None or quantity(wanted) <= quantity(template):
            continue
        p = make_part("", spec)
        found[part] = {
            f"volume_{ordinal}": {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaimPatch",
                "metadata": {
                    "name": f"{CLAIM}-{p.app}-{ordinal}",
                    "namespace": spec.namespace,
                    # The claim was created by the StatefulSet controller, which owns the size field until this takes it.
                    "annotations": {PATCH_FORCE: "true"},
                },
                "spec": {"resources": {"requests": {"storage": wanted}}},
            }
            for ordinal in range(_replicas(spec, part))
        }
    return found
