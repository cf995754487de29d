"""The program under the real Pulumi engine, Kubernetes provider and policy pack, against a local control plane.

The tests run in file order, as one lifecycle per stack: up, read back, preview, placement,
updates, policy and config checks, destroy; the last test checks the report `make e2e` leaves.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

import kubernetes
import pytest

from tools.e2e import existing_secrets, readback
from tools.e2e.cluster import ZONE_LABEL
from tests.e2e.conftest import wait_for
from tests.e2e.policy_reports import assert_written
from tools.e2e.engine import EngineStack
from tools.e2e.overlay import LOGGING_STACKS, e2e_config

pytestmark = pytest.mark.e2e

STACKS = ("dev", "staging", "prod")
SERVICE = "hello"
NEW_DIGEST = "sha256:" + hashlib.sha256(b"gosvc e2e: the next release").hexdigest()
SCENARIOS: dict[str, dict[str, dict[str, Any]]] = {
    "new image": {
        "dev": {"image": "registry.example.com/gosvc/hello:0.1.1-dev"},
        "prod": {"image": f"registry.example.com/gosvc/hello@{NEW_DIGEST}"},
    },
    "new cpu and memory requests": {
        "dev": {"cpuRequest": "100m", "memoryRequest": "96Mi"},
        "prod": {"cpuRequest": "300m", "memoryRequest": "320Mi"},
    },
    "new hpa bounds": {
        "dev": {"hpaMinReplicas": 3, "hpaMaxReplicas": 6},
        "prod": {"hpaMaxReplicas": 30},
    },
}
"""Ordinary changes a team makes between releases; none may replace anything."""


@pytest.fixture(scope="module")
def deployed() -> dict[str, EngineStack]:
    return {}


@pytest.fixture(scope="module")
def configs() -> dict[str, dict[str, Any]]:
    """Each stack's config as last applied, so scenarios build on each other."""
    return {stack: e2e_config(stack) for stack in STACKS}


def _stack(deployed: dict[str, EngineStack], name: str) -> EngineStack:
    if name not in deployed:
        pytest.fail(f"stack {name} was not deployed (see test_up_succeeds_under_the_policy_pack)")
    return deployed[name]



def _namespace(config: dict[str, Any]) -> str:
    return config["gosvc:namespace"]


def _namespaces(cluster) -> set[str]:
    return {n.metadata.name for n in kubernetes.client.CoreV1Api(cluster.api()).list_namespace().items}


def _pods(cluster, namespace: str) -> list[Any]:
    apps = kubernetes.client.AppsV1Api(cluster.api())
    selector = apps.read_namespaced_deployment(SERVICE, namespace).spec.selector.match_labels
    label_selector = ",".join(f"{k}={v}" for k, v in selector.items())
    pods = kubernetes.client.CoreV1Api(cluster.api()).list_namespaced_pod(namespace, label_selector=label_selector).items
    return [p for p in pods if p.metadata.deletion_timestamp is None]



def _at_hpa_minimum(cluster, config: dict[str, Any]) -> None:
    """Wait until the HPA has raised the Deployment to its minimum and every pod is available."""
    apps = kubernetes.client.AppsV1Api(cluster.api())
    minimum = config["gosvc:hpaMinReplicas"]
    min_ready = apps.read_namespaced_deployment(SERVICE, _namespace(config)).spec.min_ready_seconds or 0

    def reached():
        status = apps.read_namespaced_deployment(SERVICE, _namespace(config)).status
        return status.replicas == status.ready_replicas == status.available_replicas == minimum

    wait_for(f"{minimum} ready and available replicas", reached, timeout=min_ready + 90)


# -- up, read back, preview ------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_up_succeeds_under_the_policy_pack(engine, cluster, deployed, configs, report, stack):
    if configs[stack]["gosvc:loggingEnabled"]:  # its namespaces and Secrets exist before the pipeline goes up
        existing_secrets.create(cluster.api(), configs[stack])
    under = engine.stack(stack, configs[stack])
    op = under.up()
    entry = report.stack(stack)
    if op.succeeded:  # the Deployment as up left it: what the provider's readiness wait waited for
        status = kubernetes.client.AppsV1Api(cluster.api()).read_namespaced_deployment(SERVICE, _namespace(configs[stack])).status
        entry["deployment_when_up_returned"] = {"replicas": status.replicas, "ready": status.ready_replicas, "available": status.available_replicas}
    entry.update(
        up="succeeded" if op.succeeded else "failed",
        up_seconds=op.seconds,
        created=op.summary.get("create", 0),
        policy_violations=[v.to_json() for v in op.violations],
    )
    assert op.succeeded, f"up of {stack} failed:\n{op.error[-4000:]}"
    deployed[stack] = under
    state = under.stack.export_stack().deployment["resources"]
    entry["resources"] = len([r for r in state if r["type"] != "pulumi:pulumi:Stack" and not r["type"].startswith("pulumi:providers:")])
    entry["kubernetes_objects"] = len(under.kubernetes_objects())
    assert not [v for v in op.violations if v.level == "mandatory"], "a mandatory policy failed yet up succeeded"
    assert under.program.runs == 1


@pytest.mark.parametrize("stack", STACKS)
def test_every_object_is_live_as_synthesized(cluster, deployed, configs, synthesized, report, stack):
    under = _stack(deployed, stack)
    expected = synthesized(stack, configs[stack])
    problems: dict[str, list[str]] = {}
    for manifest in expected:
        key = f"{manifest['kind']} {manifest['metadata'].get('namespace', '-')}/{manifest['metadata']['name']}"
        live = readback.read(cluster.dynamic(), manifest)
        found = ["missing from the API server"] if live is None else readback.differences(manifest, live)
        if found:
            problems[key] = found
    report.stack(stack)["objects_as_synthesized"] = {"checked": len(expected), "differing": problems}
    assert not problems, problems
    in_state = {(o["kind"], o["namespace"], o["name"]) for o in under.kubernetes_objects()}
    synthesized_keys = {(m["kind"], m["metadata"].get("namespace"), m["metadata"]["name"]) for m in expected}
    assert in_state == synthesized_keys


@pytest.mark.parametrize("stack", STACKS)
def test_deployment_is_available_with_its_resources_probes_and_security(cluster, deployed, configs, stack):
    _stack(deployed, stack)
    config = configs[stack]
    apps = kubernetes.client.AppsV1Api(cluster.api())
    deployment = apps.read_namespaced_deployment(SERVICE, _namespace(config))
    container = deployment.spec.template.spec.containers[0]
    assert container.image == config["gosvc:image"]
    assert container.resources.requests["cpu"] == config["gosvc:cpuRequest"]
    assert container.resources.requests["memory"] == config["gosvc:memoryRequest"]
    assert container.readiness_probe.http_get.path and container.liveness_probe.http_get.path
    assert container.security_context.read_only_root_filesystem is True
    assert container.security_context.allow_privilege_escalation is False
    assert container.security_context.capabilities.drop == ["ALL"]
    assert deployment.spec.template.spec.security_context.run_as_non_root is True
    # up returned once the Deployment's first pod was Ready; the HPA controller then raises it to
    # its minimum within a sync period (15 s) and the pods count as available after minReadySeconds
    _at_hpa_minimum(cluster, config)
    hpa = kubernetes.client.AutoscalingV2Api(cluster.api()).read_namespaced_horizontal_pod_autoscaler(SERVICE, _namespace(config))
    metrics = {m.type: m for m in hpa.spec.metrics}
    assert metrics["Resource"].resource.name == "cpu"
    assert metrics["Pods"].pods.metric.name == "requests_per_second"
    assert metrics["Pods"].pods.target.average_value == config["gosvc:hpaRequestsPerSecond"]


@pytest.mark.parametrize("stack", LOGGING_STACKS)
def test_logging_pipeline_is_ready_at_its_stack_sizes_on_bound_volumes(cluster, deployed, configs, report, stack):
    _stack(deployed, stack)
    spec = existing_secrets.logging_spec(configs[stack])
    apps = kubernetes.client.AppsV1Api(cluster.api())
    core = kubernetes.client.CoreV1Api(cluster.api())
    sizes = {"kafka": (spec.kafka.brokers, spec.kafka.storage), "logstash": (spec.logstash.replicas, spec.logstash.queue_storage),
             "elasticsearch": (spec.elasticsearch.nodes, spec.elasticsearch.storage)}
    seen = {}
    for name, (replicas, storage) in sizes.items():
        status = apps.read_namespaced_stateful_set(name, spec.namespace).status
        claims = [c for c in core.list_namespaced_persistent_volume_claim(spec.namespace).items if c.metadata.name.startswith(f"data-{name}-")]
        seen[name] = {"replicas": replicas, "ready": status.ready_replicas, "claims": {c.metadata.name: [c.status.phase, c.spec.resources.requests["storage"]] for c in claims}}
        assert status.ready_replicas == replicas, name
        assert len(claims) == replicas and all(c.status.phase == "Bound" and c.spec.resources.requests["storage"] == storage for c in claims), name
    data_nodes = core.list_namespaced_pod(spec.namespace, label_selector="app.kubernetes.io/name=elasticsearch,app.kubernetes.io/component=search").items
    nodes_used = {p.spec.node_name for p in data_nodes if p.metadata.deletion_timestamp is None}
    report.data["logging"][stack] = {"stateful_sets": seen, "elasticsearch_nodes": sorted(nodes_used)}
    assert len(nodes_used) == spec.elasticsearch.nodes, "required anti-affinity: one Elasticsearch node per Kubernetes node"


@pytest.mark.parametrize("stack", STACKS)
def test_preview_right_after_up_shows_no_changes(deployed, report, stack):
    op = _stack(deployed, stack).preview()
    report.stack(stack)["changes_after_up"] = op.changes
    assert op.succeeded, op.error[-4000:]
    assert op.changes == 0, f"perpetual diff: {op.changed_steps}\n{op.output[-4000:]}"
    report.stack(stack)["policy_report"] = {"directory": str(op.policy_report), "states": assert_written(op, stack)}


# -- where the real scheduler put prod's pods ----------------------------------------------------


def test_prod_pods_land_on_distinct_nodes_across_zones(cluster, deployed, configs, report):
    _stack(deployed, "prod")
    _at_hpa_minimum(cluster, configs["prod"])
    core = kubernetes.client.CoreV1Api(cluster.api())
    zones = {n.metadata.name: n.metadata.labels[ZONE_LABEL] for n in core.list_node().items}
    pods = _pods(cluster, _namespace(configs["prod"]))
    placement = [{"pod": p.metadata.name, "node": p.spec.node_name, "zone": zones.get(p.spec.node_name), "phase": p.status.phase} for p in pods]
    report.data["placement"]["prod"] = {"pods": sorted(placement, key=lambda p: p["node"] or "")}
    assert len(pods) == configs["prod"]["gosvc:hpaMinReplicas"] == 3
    assert all(p["phase"] == "Running" for p in placement)
    assert len({p["node"] for p in placement}) == 3, "required anti-affinity: one pod per node"
    assert {p["zone"] for p in placement} == {"zone-a", "zone-b", "zone-c"}, "zone spread: one pod per zone"


def test_more_replicas_than_nodes_under_required_anti_affinity_stay_pending(cluster, deployed, configs, report):
    """Scaled to 5 (as the HPA would under load) on 3 nodes: 2 pods find no node and stay Pending."""
    _stack(deployed, "prod")
    namespace = _namespace(configs["prod"])
    apps = kubernetes.client.AppsV1Api(cluster.api())
    apps.patch_namespaced_deployment_scale(SERVICE, namespace, {"spec": {"replicas": 5}})

    def settled():
        pods = _pods(cluster, namespace)
        unschedulable = [
            p for p in pods
            if any(c.type == "PodScheduled" and c.status == "False" and c.reason == "Unschedulable" for c in p.status.conditions or [])
        ]
        running = [p for p in pods if p.status.phase == "Running"]
        return (running, unschedulable) if len(pods) == 5 and len(running) == 3 and len(unschedulable) == 2 else None

    running, pending = wait_for("3 running and 2 unschedulable prod pods", settled)
    message = next(c.message for c in pending[0].status.conditions if c.type == "PodScheduled")
    report.data["placement"]["prod"]["overflow"] = {
        "requested": 5,
        "running": len(running),
        "pending": len(pending),
        "nodes_of_running": sorted(p.spec.node_name for p in running),
        "scheduler_message": message,
    }
    assert len({p.spec.node_name for p in running}) == 3
    assert all(p.spec.node_name is None for p in pending)
    assert "anti-affinity" in message, message

    apps.patch_namespaced_deployment_scale(SERVICE, namespace, {"spec": {"replicas": 3}})
    wait_for("prod back to 3 running pods", lambda: len(_pods(cluster, namespace)) == 3 and all(p.status.phase == "Running" for p in _pods(cluster, namespace)))


# -- ordinary updates: in place, never a replacement ---------------------------------------------


@pytest.mark.parametrize("scenario", list(SCENARIOS))
@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_update_is_in_place(cluster, deployed, configs, report, stack, scenario):
    under = _stack(deployed, stack)
    changes = SCENARIOS[scenario][stack]
    configs[stack] = {**configs[stack], **{f"gosvc:{k}": v for k, v in changes.items()}}
    under.write_config(configs[stack])
    op = under.up()
    after = under.preview() if op.succeeded else None
    report.data["scenarios"].append(
        {
            "name": scenario,
            "stack": stack,
            "changes": changes,
            "succeeded": op.succeeded,
            "updated": op.updated_types,
            "replaced": op.replaced_types,
            "created": op.types("create"),
            "deleted": op.types("delete"),
            "changes_after": after.changes if after else None,
            "seconds": op.seconds,
        }
    )
    assert op.succeeded, op.error[-4000:]
    assert op.replaced_types == [], f"{scenario} replaced {op.replaced_types}"
    assert op.types("create") == [] and op.types("delete") == []
    assert op.updated_types, f"{scenario} changed nothing: {op.summary}"
    assert after.changes == 0, after.changed_steps
    live = readback.read(cluster.dynamic(), {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": SERVICE, "namespace": _namespace(configs[stack])}})
    container = live["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == configs[stack]["gosvc:image"]
    assert container["resources"]["requests"]["cpu"] == configs[stack]["gosvc:cpuRequest"]


# -- the policy pack inside the engine, and config the engine or the program refuses -------------


def test_mandatory_violation_blocks_the_real_preview(engine, cluster, report):
    """prod's pack requires digests: the same program deploying a tag-only image is refused."""
    config = e2e_config("prod", namespace="gosvc-policy-blocked", image="registry.example.com/gosvc/hello:0.1.0")
    under = engine.stack("prod-tag-only", config, pack_config="prod")
    op = under.preview()
    mandatory = [v for v in op.violations if v.level == "mandatory"]
    report.data["policy"].update(
        mandatory_blocked=not op.succeeded and bool(mandatory),
        mandatory_violations=[v.to_json() for v in mandatory],
    )
    assert not op.succeeded, "preview passed despite a mandatory violation"
    assert [v.policy for v in mandatory] == ["image-digest-pinned"]
    assert "is not pinned by digest" in mandatory[0].message
    assert "image-digest-pinned" in op.error or "image-digest-pinned" in op.output
    assert under.program.runs == 1, "the program ran; the pack refused what it registered"
    assert assert_written(op, "prod-tag-only")["violated"] >= 1
    assert "gosvc-policy-blocked" not in _namespaces(cluster)
    under.remove()


def test_advisory_violation_passes_and_is_shown(deployed, report):
    """dev's pack only advises digests: the preview passes and says why."""
    op = _stack(deployed, "dev").preview()
    advisory = [v for v in op.violations if v.level == "advisory"]
    report.data["policy"].update(advisory_passed=op.succeeded, advisory_violations=[v.to_json() for v in advisory])
    assert op.succeeded, op.error[-4000:]
    assert "image-digest-pinned" in {v.policy for v in advisory}
    assert "image-digest-pinned" in op.output and "advisory" in op.output


def test_config_of_the_wrong_type_is_refused_before_the_program_runs(engine, report):
    config = e2e_config("dev", namespace="gosvc-wrong-type", replicas="three")
    under = engine.stack("dev-wrong-type", config, pack_config="dev")
    op = under.preview()
    report.data["config"]["wrong_type"] = {"key": "gosvc:replicas", "value": "three", "refused": not op.succeeded, "program_runs": under.program.runs, "error": op.error[-600:]}
    assert not op.succeeded
    assert "gosvc:replicas" in op.error and "integer" in op.error, op.error[-2000:]
    assert under.program.runs == 0
    under.remove()


def test_invalid_config_fails_in_the_program_and_creates_nothing(engine, cluster, report):
    config = e2e_config("dev", namespace="gosvc-invalid", hpaMinReplicas=9, hpaMaxReplicas=3)
    under = engine.stack("dev-invalid", config, pack_config="dev")
    op = under.up()
    expected = "gosvc:hpaMinReplicas: invalid value 9; must be at most gosvc:hpaMaxReplicas (3)"
    report.data["config"]["invalid_value"] = {"refused": not op.succeeded, "message_shown": expected in op.error + op.output, "created": op.types("create")}
    assert not op.succeeded
    assert expected in op.error + op.output
    assert under.kubernetes_objects() == []
    assert "gosvc-invalid" not in _namespaces(cluster)
    under.remove()


# -- destroy ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_destroy_leaves_nothing_behind(cluster, deployed, report, stack):
    under = _stack(deployed, stack)
    objects = under.kubernetes_objects()
    op = under.destroy()

    def gone() -> list[str]:
        left = []
        for o in objects:
            manifest = {"apiVersion": o["apiVersion"], "kind": o["kind"], "metadata": {"name": o["name"], "namespace": o["namespace"]}}
            if readback.read(cluster.dynamic(), manifest) is not None:
                left.append(f"{o['kind']} {o['namespace']}/{o['name']}")
        return left

    remaining = gone()
    if remaining:  # a namespace the provider stopped waiting for may still be Terminating; give it a moment
        time.sleep(10)
        remaining = gone()
    report.stack(stack).update(destroyed_clean=op.succeeded and not remaining, left_after_destroy=remaining, destroy_seconds=op.seconds)
    assert op.succeeded, op.error[-4000:]
    assert objects, "the stack held no Kubernetes objects to destroy"
    assert remaining == []
    under.remove()


def test_report_shows_what_done_means(report):
    data = report.data
    assert {"pulumi", "pulumi-kubernetes", "kubernetes", "etcd", "kwok", "prometheus-operator"} <= set(data["tools"])
    for stack in ("dev", "prod"):
        entry = data["stacks"][stack]
        assert entry["up"] == "succeeded" and entry["resources"] > 0
        assert entry["changes_after_up"] == 0
        assert entry["destroyed_clean"] is True
    assert {s["name"] for s in data["scenarios"]} == set(SCENARIOS)
    assert all(s["replaced"] == [] for s in data["scenarios"])
    assert data["policy"]["mandatory_blocked"] is True
    assert len(data["placement"]["prod"]["pods"]) == 3
    # tests/e2e/test_package.py runs first: the YAML program through the gosvc provider
    yaml_program = data["yaml_program"]
    assert yaml_program["up"] == "succeeded" and yaml_program["changes_after_up"] == 0 and yaml_program["destroyed"] is True
    assert yaml_program["schema"]["served_equals_committed"] is True
    # tests/e2e/test_logging_changes.py: the change matrix on a running pipeline
    assert data["upgrades"] and all(u["outcome"] in ("in-place", "refused") for u in data["upgrades"])
    assert set(data["logging"]) >= {"dev", "prod"}
