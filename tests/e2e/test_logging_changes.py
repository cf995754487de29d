"""The logging pipeline under the real engine: existing Secrets, real volumes, Pod Security, and a change matrix.

One stack (dev's config in namespaces of its own) goes up once per module, in the `pipeline` fixture, with
Secrets the test created. The read-only checks look at it as brought up; the change matrix, one test because
its changes build on each other, changes every stateful knob on the running pipeline in turn, records each in
report.json's `upgrades` with what the engine did, and fails with a table of every change that went wrong; no
change may replace or delete a StatefulSet or a volume claim. Any one test can run alone: the fixture brings the
stack up and destroys it at the end unless test_destroy_keeps_the_volumes did.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Callable, Iterator, Mapping

import kubernetes
import pytest
import yaml

from components.logging import versions
from components.logging.config import LoggingSpec
from tools.e2e import existing_secrets
from tools.e2e.cluster import NodeSpec, node_manifest
from tests.e2e.conftest import wait_for
from tools.e2e.engine import NO_CHANGE_OPS, EngineStack, Operation
from tools.e2e.overlay import e2e_config

pytestmark = pytest.mark.e2e

STACK = "logging-changes"
DATA_BEARING = ("kubernetes:apps/v1:StatefulSet", "kubernetes:core/v1:PersistentVolumeClaim")
"""What no ordinary change may replace or delete. A dropped volume patch is retained on delete: the claim stays as it is."""
ZONE = "topology.kubernetes.io/zone"
NEW_DIGEST = "sha256:" + hashlib.sha256(b"gosvc e2e: the next Elastic and Kafka patch release").hexdigest()


@dataclass
class Change:
    """One change to the running pipeline: the stack keys it sets, the outcome the design promises, and what to see live."""

    key: str
    """The LoggingPipeline arg the change is about (what a refusal must name)."""
    values: dict[str, Any]
    expect: str
    """'in-place' or 'refused'."""
    live: Callable[["Live"], None] | None = None
    changed: list[str] = field(default_factory=list)


class Live:
    """Reads of the pipeline's namespace on the local API server."""

    def __init__(self, cluster, namespace: str) -> None:
        self.namespace = namespace
        self.core = kubernetes.client.CoreV1Api(cluster.api())
        self.apps = kubernetes.client.AppsV1Api(cluster.api())
        self.batch = kubernetes.client.BatchV1Api(cluster.api())

    def claim(self, name: str) -> str:
        return self.core.read_namespaced_persistent_volume_claim(name, self.namespace).spec.resources.requests["storage"]

    def claims(self) -> dict[str, Any]:
        return {c.metadata.name: c for c in self.core.list_namespaced_persistent_volume_claim(self.namespace).items}

    def stateful_set(self, name: str):
        return self.apps.read_namespaced_stateful_set(name, self.namespace)

    def config(self, name: str, key: str) -> str:
        return self.core.read_namespaced_config_map(name, self.namespace).data[key]

    def job_command(self, name: str) -> str:
        job = self.batch.read_namespaced_job(name, self.namespace)
        assert any(c.type == "Complete" and c.status == "True" for c in job.status.conditions or []), f"Job {name} did not complete"
        return " ".join(job.spec.template.spec.containers[0].command)

    def ready(self, name: str) -> bool:
        found = self.stateful_set(name)
        return found.status.ready_replicas == found.status.replicas == found.spec.replicas


def _props(text: str) -> dict[str, str]:
    """server.properties read as the policy pack reads any program's Kafka config."""
    from policies.rules.log_pipeline import kafka_properties

    return kafka_properties(text)


def _es(live: Live) -> dict:
    return yaml.safe_load(live.config("elasticsearch", "elasticsearch.yml"))


def _storage(claim: str, size: str) -> Callable[[Live], None]:
    def check(live: Live) -> None:
        assert live.claim(claim) == size

    return check


def _partitions(live: Live) -> None:
    from components.logging import kafka

    assert live.stateful_set("kafka").metadata.annotations[kafka.PARTITIONS_ANNOTATION] == "4", "the fact the next up reads back"
    assert _props(live.config("kafka", "server.properties"))["num.partitions"] == "4"
    assert "--partitions 4" in live.job_command("kafka-create-topic")


def _retention(live: Live) -> None:
    assert _props(live.config("kafka", "server.properties"))["log.retention.hours"] == "48"
    assert f"retention.ms={48 * 3600 * 1000}" in live.job_command("kafka-create-topic")


def _kafka_grown(brokers: int) -> Callable[[Live], None]:
    def check(live: Live) -> None:
        sts = live.stateful_set("kafka")
        assert sts.spec.replicas == brokers and live.ready("kafka")
        assert sts.metadata.annotations["gosvc.dev/kafka-controllers"] == "1", "the quorum dev was formed with"
        props = _props(live.config("kafka", "server.properties"))
        assert props["controller.quorum.voters"].count("@") == 1 and props["min.insync.replicas"] == "2"
        from policies.rules.log_pipeline import topic_settings

        assert topic_settings(live.job_command("kafka-create-topic")) == (3, 2)
        assert {live.claim(f"data-kafka-{i}") for i in range(brokers)} == {"8Gi"}, "new brokers' claims are grown like the first"
        zones = {n.metadata.name: n.metadata.labels[ZONE] for n in live.core.list_node().items}
        pods = live.core.list_namespaced_pod(live.namespace, label_selector="app.kubernetes.io/name=kafka,app.kubernetes.io/component=broker").items
        assert len(pods) == brokers
        # The API server copies the node's zone onto the pod at binding, where the broker's KAFKA_RACK reads it.
        assert all(p.metadata.labels.get(ZONE) == zones[p.spec.node_name] for p in pods), [(p.metadata.name, p.spec.node_name, p.metadata.labels) for p in pods]

    return check


def _queue(live: Live) -> None:
    assert yaml.safe_load(live.config("logstash", "logstash.yml"))["queue.max_bytes"] == "640mb"


def _logstash_replicas(live: Live) -> None:
    assert live.stateful_set("logstash").spec.replicas == 2 and live.ready("logstash")
    assert live.claim("data-logstash-1") == "2Gi", "the new replica's claim is grown like the others"


def _heap(live: Live) -> None:
    env = {e.name: e.value for e in live.stateful_set("elasticsearch").spec.template.spec.containers[0].env}
    assert env["ES_JAVA_OPTS"] == "-Xms768m -Xmx768m"


def _es_grown(live: Live) -> None:
    assert live.stateful_set("elasticsearch").spec.replicas == 3 and live.ready("elasticsearch")
    conf = _es(live)
    assert "discovery.type" not in conf and len(conf["discovery.seed_hosts"]) == 3
    assert "cluster.initial_master_nodes" not in conf
    bootstrap = yaml.safe_load(live.config("elasticsearch", "bootstrap.yml"))
    assert bootstrap == {"cluster.initial_master_nodes": ["elasticsearch-0"]}, "the set node 0 formed with: nodes 1 and 2 can only join it"
    from components.logging import elasticsearch

    assert live.stateful_set("elasticsearch").metadata.annotations[elasticsearch.INITIAL_MASTERS_ANNOTATION] == "elasticsearch-0"
    assert {live.claim(f"data-elasticsearch-{i}") for i in range(3)} == {"20Gi"}


def _es_shrunk(live: Live) -> None:
    assert live.stateful_set("elasticsearch").spec.replicas == 1
    assert {"data-elasticsearch-1", "data-elasticsearch-2"} <= set(live.claims()), "scaled-away nodes keep their volumes"


def _digests(live: Live) -> None:
    images = {c.image for name in ("kafka", "logstash", "elasticsearch") for c in live.stateful_set(name).spec.template.spec.containers}
    assert images and all(image.endswith(f"@{NEW_DIGEST}") for image in images), images


CHANGES = [
    Change("kafka.storage", {"kafkaStorage": "8Gi"}, "in-place", _storage("data-kafka-0", "8Gi")),
    Change("kafka.brokers", {"kafkaBrokers": 3, "kafkaReplicationFactor": 3, "kafkaMinInsyncReplicas": 2}, "in-place", _kafka_grown(3)),
    Change("kafka.brokers", {"kafkaBrokers": 5}, "in-place", _kafka_grown(5)),
    Change("kafka.brokers", {"kafkaBrokers": 3}, "refused"),
    Change("kafka.partitions", {"kafkaPartitions": 4}, "in-place", _partitions),
    Change("kafka.partitions", {"kafkaPartitions": 1, "logstashConsumerThreads": 1}, "refused"),
    Change("kafka.retention_hours", {"kafkaRetentionHours": 48}, "in-place", _retention),
    Change("kafka.storage", {"kafkaStorage": "5Gi"}, "refused"),
    Change("logstash.queue_max_bytes", {"logstashQueueMaxBytes": "640Mi"}, "in-place", _queue),
    Change("logstash.queue_storage", {"logstashQueueStorage": "2Gi"}, "in-place", _storage("data-logstash-0", "2Gi")),
    Change("logstash.replicas", {"logstashReplicas": 2}, "in-place", _logstash_replicas),
    Change("elasticsearch.heap", {"elasticsearchHeap": "768Mi"}, "in-place", _heap),
    Change("elasticsearch.storage", {"elasticsearchStorage": "20Gi"}, "in-place", _storage("data-elasticsearch-0", "20Gi")),
    Change("elasticsearch.nodes", {"elasticsearchNodes": 3}, "in-place", _es_grown),
    Change("elasticsearch.storage", {"elasticsearchStorage": "10Gi"}, "refused"),
    Change("elasticsearch.nodes", {"elasticsearchNodes": 1}, "refused"),
    Change("elasticsearch.nodes", {"elasticsearchNodes": 1, "loggingConfirmChanges": ["elasticsearch.nodes"]}, "in-place", _es_shrunk),
    Change("image_digests", {"loggingImageDigests": [f"{r}@{NEW_DIGEST}" for r in versions.REPOSITORIES]}, "in-place", _digests),
    Change("namespace", {"loggingNamespace": "logging-moved"}, "refused"),
    Change("storage_class", {"loggingStorageClass": "standard"}, "refused"),
]


@pytest.fixture(scope="module", autouse=True)
def five_nodes(cluster):
    """Two more fake nodes for this module: five Kafka brokers need five nodes under their required anti-affinity.
    Removed when the module ends, so later modules see the cluster's three."""
    core = kubernetes.client.CoreV1Api(cluster.api())
    extra = (NodeSpec("e2e-node-d", "zone-a"), NodeSpec("e2e-node-e", "zone-b"))
    for node in extra:
        core.create_node(node_manifest(node))
    wait_for("the extra nodes Ready", lambda: {n.name for n in extra} <= cluster.ready_nodes())
    yield
    for node in extra:
        core.delete_node(node.name)


@dataclass(frozen=True)
class Pipeline:
    """The stack as the module's fixture brought it up: the config it went up with, the spec its Secrets were made for,
    the up, and the stack file's config as the engine left it then (it writes the values back as strings)."""

    stack: EngineStack
    config: Mapping[str, Any]
    spec: LoggingSpec
    up: Operation
    stack_file_config: Mapping[str, Any]

    @property
    def namespace(self) -> str:
        return self.config["gosvc:loggingNamespace"]


def _wait_ready(live: Live) -> None:
    for name in ("kafka", "logstash", "elasticsearch"):
        wait_for(f"StatefulSet {name} ready", lambda name=name: live.ready(name))


def _stack_file_config(under: EngineStack) -> dict[str, Any]:
    return yaml.safe_load(under.stack_file.read_text())["config"]


def _exists(under: EngineStack) -> bool:
    return under.name in {s.name for s in under.stack.workspace.list_stacks()}


@pytest.fixture(scope="module")
def pipeline(engine, cluster, report, five_nodes) -> Iterator[Pipeline]:
    """dev's pipeline up and ready with Secrets made here, in namespaces of its own; destroyed when the module ends
    unless a test destroyed it."""
    config = e2e_config("dev", namespace="gosvc-changes", loggingNamespace="logging-changes")
    spec = existing_secrets.create(cluster.api(), config)
    under = engine.stack(STACK, config, pack_config="dev")
    op = under.up()
    entry = report.data["logging"].setdefault(STACK, {})
    entry.update(up="succeeded" if op.succeeded else "failed", up_seconds=op.seconds, created=op.summary.get("create", 0))
    assert op.succeeded, op.error[-4000:]
    assert not [v for v in op.violations if v.level == "mandatory"]
    brought_up = Pipeline(under, MappingProxyType(dict(config)), spec, op, MappingProxyType(_stack_file_config(under)))
    _wait_ready(Live(cluster, brought_up.namespace))
    yield brought_up
    if _exists(under):
        op = under.destroy()
        assert op.succeeded, op.error[-4000:]
        under.remove()


def _as_brought_up(pipeline: Pipeline) -> EngineStack:
    """The stack, failing clearly if it no longer holds the config it went up with: the read-only checks describe that state."""
    under = pipeline.stack
    if not _exists(under):
        pytest.fail(f"stack {STACK} was destroyed before this check ran (test_destroy_keeps_the_volumes destroys it)")
    applied, then = _stack_file_config(under), pipeline.stack_file_config
    if applied != then:
        changed = sorted(k for k in set(applied) | set(then) if applied.get(k) != then.get(k))
        pytest.fail(f"stack {STACK} was changed since up ({', '.join(changed)}): the change matrix ran before this check")
    return under


def test_up_uses_the_existing_secrets_and_generates_no_credential(pipeline):
    types = {t for _, t, _ in pipeline.up.steps}
    assert not {t for t in types if t.startswith(("random:", "tls:"))}, "no credential was generated"
    assert "kubernetes:core/v1:Secret" not in types, "the component created no Secret: it uses the existing ones"


def test_pipeline_is_ready_on_bound_volumes_with_the_existing_secrets(cluster, pipeline, report):
    _as_brought_up(pipeline)
    live = Live(cluster, pipeline.namespace)
    _wait_ready(live)
    for job in ("kafka-create-topic", "elasticsearch-setup"):
        live.job_command(job)
    claims = live.claims()
    report.data["logging"][STACK]["claims"] = {n: {"phase": c.status.phase, "size": c.spec.resources.requests["storage"], "class": c.spec.storage_class_name} for n, c in claims.items()}
    assert set(claims) == {"data-kafka-0", "data-logstash-0", "data-elasticsearch-0"}
    assert all(c.status.phase == "Bound" and c.spec.storage_class_name == "kwok-volume" for c in claims.values())
    pod = live.stateful_set("elasticsearch").spec.template.spec
    secrets_used = {v.secret.secret_name for v in pod.volumes if v.secret}
    assert {"byo-elastic", "byo-elasticsearch-tls"} <= secrets_used
    existing = {s.metadata.name for s in live.core.list_namespaced_secret(pipeline.namespace).items}
    assert secrets_used <= existing


def test_restricted_namespace_admits_every_logging_pod_but_filebeats(cluster, pipeline, report):
    _as_brought_up(pipeline)
    spec = pipeline.spec
    core = kubernetes.client.CoreV1Api(cluster.api())
    apps = kubernetes.client.AppsV1Api(cluster.api())
    labels = core.read_namespace(spec.namespace).metadata.labels
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    pods = [p for p in core.list_namespaced_pod(spec.namespace).items if p.metadata.deletion_timestamp is None]
    admitted = sorted({p.metadata.labels["app.kubernetes.io/name"] for p in pods})
    assert {"kafka", "logstash", "elasticsearch", "kibana"} <= set(admitted)
    refused = {}
    for workload in apps.list_namespaced_daemon_set(spec.collector_namespace).items:
        template = cluster.api().sanitize_for_serialization(workload.spec.template)
        # Its ServiceAccount lives in the collector's namespace; the namespace's default one stands in, which Pod Security ignores.
        pod_spec = {k: v for k, v in template["spec"].items() if k not in ("serviceAccountName", "serviceAccount")}
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"psa-probe-{workload.metadata.name}"}, "spec": pod_spec}
        with pytest.raises(kubernetes.client.ApiException) as err:
            core.create_namespaced_pod(spec.namespace, pod, dry_run="All")
        assert err.value.status == 403 and "violates PodSecurity" in err.value.body, err.value.body
        refused[workload.metadata.name] = err.value.body.split("violates PodSecurity", 1)[1][:300]
    report.data["logging"][STACK]["pod_security"] = {"restricted_namespace_admitted": admitted, "refused_in_restricted": refused}
    assert set(refused) == {"filebeat", "elasticsearch-node-tuning"}


def test_preview_after_up_shows_no_changes(pipeline, report):
    op = _as_brought_up(pipeline).preview()
    report.data["logging"][STACK]["changes_after_up"] = op.changes
    assert op.succeeded, op.error[-4000:]
    assert op.changes == 0, op.changed_steps


def _outcome(op: Operation) -> str:
    if not op.succeeded:
        return "refused"
    touched = set(op.replaced_types) | set(op.types("delete"))
    return "replaced" if touched & set(DATA_BEARING) else "in-place"


@dataclass
class Applied:
    """One change of the matrix as applied: its report.json entry, what went wrong, the config live afterwards, and
    whether the sequence may go on."""

    entry: dict[str, Any]
    problems: list[str]
    config: dict[str, Any]
    go_on: bool


def _entry(change: Change, config: dict[str, Any], op: Operation, after: Operation | None) -> dict[str, Any]:
    """The change's record in report.json's `upgrades`."""
    message = next((line.split("error: ", 1)[1] for line in (op.error + "\n" + op.output).splitlines() if "error: " in line and change.key in line), None)
    return {
        "key": change.key,
        "from": {k: config.get(f"gosvc:{k}") for k in change.values},
        "to": dict(change.values),
        "outcome": _outcome(op),
        "expected": change.expect,
        "replaced": op.replaced_types,
        "deleted": op.types("delete"),
        "updated": op.updated_types,
        "created": op.types("create"),
        "changes_after": after.changes if after else None,
        "steps": [f"{step} {urn.rsplit('::', 1)[-1]}" for step, _, urn in op.steps if step not in NO_CHANGE_OPS],
        "message": message,
        "seconds": op.seconds,
    }


def _apply(under: EngineStack, cluster, config: dict[str, Any], change: Change) -> Applied:
    """Applies one change on top of `config` (what is live), checks what the design promises of it, and leaves the
    stack file holding what is live afterwards: a refused change's config is written back."""
    wanted = {**config, **{f"gosvc:{k}": v for k, v in change.values.items()}}
    under.write_config(wanted)
    runs = under.program.runs
    op = under.up()
    after = under.preview() if op.succeeded else None
    entry = _entry(change, config, op, after)
    outcome = entry["outcome"]
    live_config = config if outcome == "refused" else wanted
    if outcome == "refused":
        under.write_config(config)
    problems = []
    if set(op.replaced_types) & set(DATA_BEARING):
        problems.append(f"{change.key} replaced {op.replaced_types}")
    if set(op.types("delete")) & set(DATA_BEARING):
        problems.append(f"{change.key} deleted {op.types('delete')}")
    if outcome != change.expect:
        problems.append(f"outcome {outcome}, expected {change.expect}" + ("" if entry["message"] else f": {op.error[-1500:]}"))
        # Going on is safe only when nothing was applied: a refusal that registered nothing, rolled back above.
        return Applied(entry, problems, live_config, go_on=outcome == "refused" and not op.changed_steps)
    if outcome == "refused":
        if not (entry["message"] and "invalid value" in entry["message"]):
            problems.append(f"the refusal does not name {change.key} with 'invalid value': {op.error[-1500:]}")
        if op.changed_steps != []:
            problems.append(f"a refused change registers nothing, yet: {op.changed_steps}")
        if under.program.runs != runs + 1:
            problems.append(f"the program ran {under.program.runs - runs} times, not once")
        return Applied(entry, problems, live_config, go_on=not op.changed_steps)
    if not (op.updated_types or op.types("create")):
        problems.append(f"{change.key} changed nothing: {op.summary}")
    if after.changes != 0:
        problems.append(f"the preview after it shows {after.changes} changes: {after.changed_steps}")
    if change.live is not None:
        try:
            change.live(Live(cluster, wanted["gosvc:loggingNamespace"]))
        except (Exception, pytest.fail.Exception) as err:
            problems.append(f"live check: {type(err).__name__}: {err}")
    return Applied(entry, problems, live_config, go_on=True)


def _table(applied: list[Applied]) -> str:
    """One row per change in CHANGES: key, expected, outcome, the kinds it replaced or deleted, the engine's message;
    then what went wrong with it."""
    lines = [f"{'#':>2}  {'key':<26} {'expected':<9} {'outcome':<9} {'replaced/deleted':<32} message"]
    for number, change in enumerate(CHANGES):
        if number >= len(applied):
            lines.append(f"{number:>2}  {change.key:<26} {change.expect:<9} {'not run':<9}")
            continue
        entry, problems = applied[number].entry, applied[number].problems
        touched = [f"{t.rsplit(':', 1)[-1]} {how}" for how in ("replaced", "deleted") for t in entry[how]]
        lines.append(f"{number:>2}{'!' if problems else ' '} {change.key:<26} {change.expect:<9} {entry['outcome']:<9} {', '.join(touched) or '-':<32} {(entry['message'] or '-')[:160]}")
        lines += [f"      - {problem}" for problem in problems]
    return "\n".join(lines)


def test_change_matrix_on_the_running_pipeline(cluster, pipeline, report):
    """Every change in CHANGES, in order, on the stack as brought up: each builds on those before it, and each is
    recorded in report.json's `upgrades`. The test fails at the end with the whole matrix if any change went wrong.
    The sequence goes on past a change that was applied as planned or refused without registering anything (its
    config is rolled back); one that replaced or deleted a data-bearing object, was applied though it should have
    been refused, or registered steps and then failed, ends it: the changes after it would start from a stack the
    matrix did not plan, and a lost volume is not to be built on."""
    under = _as_brought_up(pipeline)
    config = dict(pipeline.config)
    applied: list[Applied] = []
    for change in CHANGES:
        step = _apply(under, cluster, config, change)
        report.data["upgrades"].append(step.entry)
        applied.append(step)
        config = step.config
        if not step.go_on:
            break
    all_as_planned = len(applied) == len(CHANGES) and not any(step.problems for step in applied)
    assert all_as_planned, "the change matrix:\n" + _table(applied)
    upgrades = report.data["upgrades"]
    assert [u["key"] for u in upgrades] == [c.key for c in CHANGES]
    for u in upgrades:
        assert u["outcome"] == u["expected"] and u["outcome"] in ("in-place", "refused")
        assert not set(u["replaced"]) & set(DATA_BEARING)


def test_destroy_keeps_the_volumes(cluster, pipeline, report):
    under = pipeline.stack
    live = Live(cluster, pipeline.namespace)
    claims = set(live.claims())
    op = under.destroy()
    assert op.succeeded, op.error[-4000:]
    left = set(live.claims())
    report.data["logging"][STACK].update(destroyed=op.succeeded, claims_before_destroy=sorted(claims), claims_after_destroy=sorted(left))
    # The namespaces were the platform team's, so they and the claims in them stay (retention policy Retain).
    assert claims and claims == left
    under.remove()
