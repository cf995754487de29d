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

The facts compared are structured fields of the parts' StatefulSets (replicas, claim templates),
the volume patches' sizes, and annotations the component writes on each StatefulSet's own
metadata for this purpose (`RECORDED`); no config file is read back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import pulumi

from components import tokens
from components.config import quantity
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
STATEFUL_SET = "kubernetes:apps/v1:StatefulSet"
VOLUME_PATCH = "kubernetes:core/v1:PersistentVolumeClaimPatch"
PIPELINE_TOKENS = (tokens.LOGGING_PIPELINE, tokens.FORMER[tokens.LOGGING_PIPELINE])
PART_TOKENS = {part: (token, tokens.FORMER[token]) for part, token in tokens.LOGGING_PARTS.items()}
"""Each part's type token, and the one releases before the one-scheme change registered (a stack may still hold it)."""
RECORDED = {
    "kafka": {
        kafka.VOTERS_ANNOTATION: "how many pods are KRaft controllers (the entries of controller.quorum.voters)",
        kafka.PARTITIONS_ANNOTATION: "the log topic's partition count (kafka-topics.sh --describe)",
    },
    "elasticsearch": {
        elasticsearch.INITIAL_MASTERS_ANNOTATION: "cluster.initial_master_nodes of its ConfigMap, comma-separated, empty when it has none",
        elasticsearch.DISCOVERY_ANNOTATION: f"discovery.type of its elasticsearch.yml, {elasticsearch.MULTI_NODE} when unset",
    },
}
"""The annotations each part's StatefulSet carries for a later `pulumi up`, with where to find the value by hand."""


class DeployedStateError(pulumi.RunError):
    """The stack's state holds the pipeline, but not in the form the data-loss checks can read; nothing is registered."""


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
    """How many Kafka pods are KRaft voters (the StatefulSet's annotation)."""
    initial_masters: list[str] | None = None
    """The deployed Elasticsearch bootstrap set ([] when it had none); None when no Elasticsearch was deployed."""
    single_node_discovery: bool = False
    """The deployed nodes run with `discovery.type: single-node`, which gosvc generated for one node before."""


def part_name(name: str, part: str) -> str:
    """The Pulumi name of the pipeline's part component (LoggingPart)."""
    return f"{name}-{part}"


def resource_name(name: str, part: str, role: str) -> str:
    """The Pulumi name LoggingPart gives a role's object."""
    return f"{name}-{part}-{role.replace('_', '-')}"


def _is_child(urn: str, parent_types: tuple[str, ...], type_: str, name: str) -> bool:
    """Whether `urn` is a `type_` resource named `name` whose parent has one of `parent_types`. The engine qualifies
    a child's type with its parent's (`...<parent type>$<type>::<name>`), so this holds in any parent chain."""
    for parent in parent_types:
        tail = f"{parent}${type_}::{name}"
        if urn.endswith(tail) and urn[: -len(tail)].endswith(("$", "::")):
            return True
    return False


def _children(resources: Mapping[str, Any], parent_types: tuple[str, ...], type_: str, name: str) -> list[tuple[str, dict]]:
    """(URN, outputs) of each state entry of type `type_` named `name` under a parent of one of `parent_types`."""
    return [
        (urn, dict((entry or {}).get("outputs") or {}))
        for urn, entry in resources.items()
        if (entry or {}).get("type") == type_ and _is_child(urn, parent_types, type_, name)
    ]


def _one(found: list[tuple[str, dict]], name: str) -> tuple[str, dict] | None:
    """The single entry found, None for none; several mean several pipelines of one name, which no check can tell apart."""
    if len(found) > 1:
        raise DeployedStateError(
            f"LoggingPipeline '{name}': the stack's state holds {len(found)} resources where one was expected "
            f"({', '.join(sorted(urn for urn, _ in found))}), so the data-loss checks cannot tell which is this pipeline's; "
            "give each LoggingPipeline of the stack a name of its own"
        )
    return found[0] if found else None


def _part(resources: Mapping[str, Any], name: str, part: str) -> str | None:
    """The URN of the pipeline's part component, None when the state holds none."""
    found = [hit for token in PART_TOKENS[part] for hit in _children(resources, PIPELINE_TOKENS, token, part_name(name, part))]
    entry = _one(found, name)
    return entry[0] if entry else None


def _stateful_set(resources: Mapping[str, Any], name: str, part: str, part_urn: str) -> dict:
    """The outputs of the part's StatefulSet; its absence beside the part is an error, never a new pipeline."""
    role = resource_name(name, part, "stateful_set")
    entry = _one(_children(resources, PART_TOKENS[part], STATEFUL_SET, role), name)
    if entry is None:
        raise DeployedStateError(
            f"LoggingPipeline '{name}': the stack's state holds its part {part_urn} but not that part's StatefulSet "
            f"'{role}' ({STATEFUL_SET}), so the data-loss checks cannot tell what runs. If an earlier `pulumi up` failed "
            f"before creating it, the part holds no volume: remove it with `pulumi destroy --target '{part_urn}' "
            "--target-dependents`, then run `pulumi up` again"
        )
    return entry[1]


def _recorded(name: str, part: str, stateful_set: Mapping[str, Any]) -> dict[str, str]:
    """The annotations the part's StatefulSet carries for later `pulumi up`s (`RECORDED`); an error when any is missing."""
    metadata = stateful_set.get("metadata") or {}
    annotations = metadata.get("annotations") or {}
    wanted = RECORDED.get(part, {})
    missing = [key for key in wanted if not isinstance(annotations.get(key), str)]
    if missing:
        app, namespace = metadata.get("name", part), metadata.get("namespace", "")
        values = "; ".join(f"{key}: {wanted[key]}" for key in missing)
        raise DeployedStateError(
            f"LoggingPipeline '{name}': the stack's state holds StatefulSet '{app}' without the annotation(s) "
            f"{', '.join(missing)}, which record what the data-loss checks compare with; it was deployed by a gosvc version "
            f"before they existed. Annotate the running StatefulSet with the values it runs with ({values}): "
            f"`kubectl annotate -n {namespace} statefulset {app} <key>=<value> ...`, then run `pulumi refresh` and `pulumi up` again"
        )
    return {key: annotations[key] for key in wanted}


def _count(name: str, part: str, key: str, value: str) -> int:
    if not value.isdigit():
        raise DeployedStateError(f"LoggingPipeline '{name}': the {part} StatefulSet's annotation {key} is {value!r}, not a count")
    return int(value)


def _claim(stateful_set: Mapping[str, Any]) -> dict:
    for template in (stateful_set.get("spec") or {}).get("volumeClaimTemplates") or []:
        if (template.get("metadata") or {}).get("name") == CLAIM:
            return template.get("spec") or {}
    return {}


def _requested(claim_spec: Mapping[str, Any]) -> str | None:
    """The storage a claim's spec (or a claim patch's) requests."""
    return ((claim_spec.get("resources") or {}).get("requests") or {}).get("storage")


def _read_volumes(result: Deployed, resources: Mapping[str, Any], name: str, part: str, stateful_set: Mapping[str, Any]) -> None:
    """The part's replicas, its claim template's size and class, and the largest size an expansion patch gave its volumes."""
    claim = _claim(stateful_set)
    result.replicas[part] = int((stateful_set.get("spec") or {}).get("replicas") or 0)
    result.storage_class[part] = claim.get("storageClassName")
    size = _requested(claim)
    if not size:
        return
    result.template_storage[part] = largest = size
    for ordinal in range(result.replicas[part]):
        patch = _one(_children(resources, PART_TOKENS[part], VOLUME_PATCH, resource_name(name, part, f"volume_{ordinal}")), name)
        patched = _requested(patch[1].get("spec") or {}) if patch else None
        if patched and quantity(patched) > quantity(largest):
            largest = patched
    result.volume_storage[part] = largest


def deployed(resources: Mapping[str, Any], name: str) -> Deployed | None:
    """The pipeline `name` as `resources` (readStackResourceOutputs' `outputs`) hold it; None before its first deploy.

    Reads only structured fields: each stateful part's StatefulSet (replicas, claim template) and the facts its
    annotations record (`RECORDED`), and the volume patches' sizes. Raises DeployedStateError when the pipeline's
    parts are in the state but what the checks need is not.
    """
    parts = {part: urn for part in STATEFUL if (urn := _part(resources, name, part)) is not None}
    sets = {part: _stateful_set(resources, name, part, urn) for part, urn in parts.items()}
    if not sets:
        return None
    result = Deployed(namespace=(next(iter(sets.values())).get("metadata") or {}).get("namespace", ""))
    for part, obj in sets.items():
        _read_volumes(result, resources, name, part, obj)
    if "kafka" in sets:
        recorded = _recorded(name, "kafka", sets["kafka"])
        result.kafka_voters = _count(name, "kafka", kafka.VOTERS_ANNOTATION, recorded[kafka.VOTERS_ANNOTATION])
        result.kafka_partitions = _count(name, "kafka", kafka.PARTITIONS_ANNOTATION, recorded[kafka.PARTITIONS_ANNOTATION])
    if "elasticsearch" in sets:
        recorded = _recorded(name, "elasticsearch", sets["elasticsearch"])
        masters = recorded[elasticsearch.INITIAL_MASTERS_ANNOTATION]
        result.initial_masters = masters.split(",") if masters else []
        result.single_node_discovery = recorded[elasticsearch.DISCOVERY_ANNOTATION] == "single-node"
    return result


def _refuse(key: str, value: Any, reason: str) -> None:
    raise ConfigError(key, value, reason)


def check(previous: Deployed | None, spec: LoggingSpec) -> None:
    """Raises ConfigError, naming the key and the safe procedure, for a change that would lose or strand data."""
    if previous is None:
        return
    _check_namespace(previous, spec)
    for part in STATEFUL:
        _check_volumes(previous, spec, part)
    _check_kafka_brokers(previous, spec)
    _check_kafka_partitions(previous, spec)
    _check_elasticsearch_nodes(previous, spec)


def _check_namespace(previous: Deployed, spec: LoggingSpec) -> None:
    if previous.namespace and previous.namespace != spec.namespace:
        _refuse(
            "namespace",
            spec.namespace,
            f"the pipeline runs in {previous.namespace!r}, and moving it would delete that namespace with every volume in it; "
            "deploy a second LoggingPipeline in the new namespace, point the collectors at it, and remove the old one once Kafka has drained",
        )


def _check_volumes(previous: Deployed, spec: LoggingSpec, part: str) -> None:
    """Volumes never shrink, and never move to another StorageClass."""
    if part not in previous.volume_storage:
        return
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


def _check_kafka_partitions(previous: Deployed, spec: LoggingSpec) -> None:
    if previous.kafka_partitions is not None and spec.kafka.partitions < previous.kafka_partitions:
        _refuse(
            "kafka.partitions",
            spec.kafka.partitions,
            f"the log topic has {previous.kafka_partitions} partitions and Kafka cannot remove partitions; keep "
            f"{previous.kafka_partitions} or more",
        )


def _check_elasticsearch_nodes(previous: Deployed, spec: LoggingSpec) -> None:
    """A single-node cluster restarts as a cluster of one before it grows; fewer nodes need the documented procedure."""
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
