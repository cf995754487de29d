"""Availability policies; all but probes-configured are stack policies over the compliant service's objects."""

from __future__ import annotations

import pytest
from policy_harness import DELETE, Case, edit, edits, load, one

SERVICE = load("compliant-service")
DEPLOY = SERVICE[0]
POD = "spec.template.spec"
APP = f"{POD}.containers[0]"


def changed(kind: str, changes: dict, docs: list[dict] | None = None) -> list[dict]:
    """The service's objects with the one of `kind` edited."""
    return [edits(d, changes) if d["kind"] == kind else d for d in (docs or SERVICE)]


def without(*kinds: str, docs: list[dict] | None = None) -> list[dict]:
    return [d for d in (docs or SERVICE) if d["kind"] not in kinds]


LIVE_FIELDS = [
    {"manager": "pulumi-kubernetes-bae1afb4", "operation": "Apply", "apiVersion": "apps/v1", "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:selector": {}, "f:template": {}}}},
    {"manager": "kube-controller-manager", "operation": "Update", "subresource": "scale", "apiVersion": "apps/v1", "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:replicas": {}}}},
]
"""managedFields as the API server returns them: Pulumi applied the template, the HPA set replicas through the scale subresource."""

FIXED_ONE = changed("Deployment", {"spec.replicas": 1}, without("HorizontalPodAutoscaler"))
STATEFUL = edits(DEPLOY, {"kind": "StatefulSet", "spec.strategy": DELETE, "spec.updateStrategy": {"type": "OnDelete"}, "spec.replicas": 3})

JOB = edits(DEPLOY, {"kind": "Job", "apiVersion": "batch/v1", "spec.replicas": DELETE, "spec.strategy": DELETE, f"{APP}.readinessProbe": DELETE, f"{APP}.livenessProbe": DELETE})
CRONJOB = {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": DEPLOY["metadata"]}
BARE_POD = {"apiVersion": "v1", "kind": "Pod", "metadata": DEPLOY["metadata"]}
SIDECAR = {
    "name": "proxy",
    "image": "registry.example.com/gosvc/proxy:1.0.0",
    "restartPolicy": "Always",
    "ports": [{"name": "proxy", "containerPort": 15020}],
    "livenessProbe": {"httpGet": {"path": "/healthz", "port": 15021}},
}
"""A restartable init container (a sidecar): the kubelet runs its probes, so their ports are judged too."""

EXEMPT_REPLICAS = "policies.gosvc.dev/exempt-replicas-at-least-two"
PROMETHEUS = {
    "apiVersion": "monitoring.coreos.com/v1",
    "kind": "Prometheus",
    "metadata": {"name": "k8s", "namespace": "monitoring"},
    "spec": {"shards": 2, "podMetadata": {"labels": {"team": "obs"}}},
}
ALERTMANAGER = {"apiVersion": "monitoring.coreos.com/v1", "kind": "Alertmanager", "metadata": {"name": "main", "namespace": "monitoring"}, "spec": {}}
OPERATED_SERVICE = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {"name": "prom", "namespace": "monitoring"},
    "spec": {"selector": {"app.kubernetes.io/name": "prometheus", "operator.prometheus.io/name": "k8s"}, "ports": [{"port": 9090}]},
}
"""The pods Prometheus Operator runs for a Prometheus are in no workload the stack declares; their labels are the operator's."""
KUBE_SYSTEM_SERVICE = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "etcd", "namespace": "kube-system"}, "spec": {"selector": {"component": "etcd"}, "ports": [{"port": 2381}]}}

CASES = [
    Case("probes-configured", "compliant", DEPLOY),
    Case("probes-configured", "daemonset", one("filebeat-daemonset-exempt")),
    Case("probes-configured", "no-readiness", edit(DEPLOY, f"{APP}.readinessProbe", DELETE), ("container 'app' has no readinessProbe",)),
    Case("probes-configured", "no-liveness", edit(DEPLOY, f"{APP}.livenessProbe", DELETE), ("container 'app' has no livenessProbe",)),
    Case("probes-configured", "identical", edit(DEPLOY, f"{APP}.livenessProbe", {"httpGet": {"path": "/readyz", "port": "http"}, "periodSeconds": 5}), ("identical readiness and liveness",)),
    Case("probes-configured", "undeclared-port", edit(DEPLOY, f"{APP}.livenessProbe.httpGet.port", "admin"), ("livenessProbe uses port 'admin'",)),
    Case("probes-configured", "declared-number", edit(DEPLOY, f"{APP}.livenessProbe.httpGet.port", 8080)),
    Case("probes-configured", "undeclared-number", edit(DEPLOY, f"{APP}.livenessProbe.httpGet.port", 8081), ("livenessProbe uses port 8081, which the container does not declare",)),
    Case("probes-configured", "numeric-string", edit(DEPLOY, f"{APP}.readinessProbe.httpGet.port", "8081"), ("readinessProbe uses port 8081",)),
    Case("probes-configured", "undeclared-tcp", edit(DEPLOY, f"{APP}.readinessProbe", {"tcpSocket": {"port": 7000}}), ("readinessProbe uses port 7000",)),
    Case("probes-configured", "undeclared-startup", edit(DEPLOY, f"{APP}.startupProbe", {"grpc": {"port": 9000}}), ("startupProbe uses port 9000",)),
    Case("probes-configured", "exec-probe-has-no-port", edit(DEPLOY, f"{APP}.startupProbe", {"exec": {"command": ["true"]}})),
    Case("probes-configured", "jobs-need-no-probes", JOB),
    Case("probes-configured", "job-probe-on-declared-port", edit(JOB, f"{APP}.livenessProbe", {"tcpSocket": {"port": "http"}})),
    Case("probes-configured", "job-probe-port", edit(JOB, f"{APP}.livenessProbe", {"tcpSocket": {"port": 7000}}), ("container 'app': livenessProbe uses port 7000",)),
    Case(
        "probes-configured",
        "cronjob-probe-port",
        {**CRONJOB, "spec": {"jobTemplate": {"spec": edit(JOB, f"{APP}.startupProbe", {"httpGet": {"port": "admin"}})["spec"]}}},
        ("container 'app': startupProbe uses port 'admin'",),
    ),
    Case("probes-configured", "pod-probe-port", {**BARE_POD, "spec": edit(JOB, f"{APP}.readinessProbe", {"grpc": {"port": 9000}})["spec"]["template"]["spec"]}, ("readinessProbe uses port 9000",)),
    Case("probes-configured", "kinds-from-config-leave-ports-checked", edit(DEPLOY, f"{APP}.readinessProbe.httpGet.port", "admin"), ("readinessProbe uses port 'admin'",), {"kinds": []}),
    Case("probes-configured", "kinds-from-config", edit(DEPLOY, f"{APP}.readinessProbe", DELETE), (), {"kinds": []}),
    Case("probes-configured", "udp-port-is-not-a-probe-target", edits(DEPLOY, {f"{APP}.ports[0].protocol": "UDP"}), ("readinessProbe uses port 'http'", "livenessProbe uses port 'http'")),
    Case("probes-configured", "sidecar-probe-port", edit(DEPLOY, f"{POD}.initContainers[0]", SIDECAR), ("init container 'proxy': livenessProbe uses port 15021",)),
    Case("probes-configured", "sidecar-probe-on-declared-port", edit(DEPLOY, f"{POD}.initContainers[0]", edit(SIDECAR, "livenessProbe.httpGet.port", 15020))),
    Case("probes-configured", "sidecar-needs-no-probes", edit(DEPLOY, f"{POD}.initContainers[0]", edit(SIDECAR, "livenessProbe", DELETE))),
    Case("replicas-at-least-two", "compliant", SERVICE),
    Case("replicas-at-least-two", "hpa-min-one", changed("HorizontalPodAutoscaler", {"spec.minReplicas": 1}), ("can run 1 replica(s) (its HPA's minReplicas)",)),
    Case("replicas-at-least-two", "one-replica", FIXED_ONE, ("Deployment shop/hello can run 1 replica(s) (spec.replicas)",)),
    Case("replicas-at-least-two", "replicas-unset-without-hpa", without("HorizontalPodAutoscaler"), ("can run 1 replica(s)",)),
    Case("replicas-at-least-two", "min-from-config", SERVICE, ("can run 3 replica(s)",), {"minReplicas": 4.0}),
    Case("replicas-at-least-two", "exempt-with-reason", changed("Deployment", {"metadata.annotations": {EXEMPT_REPLICAS: "a controller without leader election"}}, FIXED_ONE)),
    Case("replicas-at-least-two", "exempt-without-reason", changed("Deployment", {"metadata.annotations": {EXEMPT_REPLICAS: " "}}, FIXED_ONE), ("can run 1 replica(s)",)),
    Case("selectors-match", "operator-pods", [PROMETHEUS, OPERATED_SERVICE]),
    Case("selectors-match", "operator-pod-metadata", [PROMETHEUS, edits(OPERATED_SERVICE, {"spec.selector": {"team": "obs", "operator.prometheus.io/shard": "1"}})]),
    Case("selectors-match", "operator-pods-of-another", [PROMETHEUS, edits(OPERATED_SERVICE, {"spec.selector": {"prometheus": "other"}})], ("Service monitoring/prom selects no pods",)),
    Case("selectors-match", "operator-shard-beyond", [PROMETHEUS, edits(OPERATED_SERVICE, {"spec.selector": {"operator.prometheus.io/shard": "2"}})], ("selects no pods",)),
    Case("selectors-match", "operator-kind-of-another-group", [edits(PROMETHEUS, {"apiVersion": "example.com/v1"}), OPERATED_SERVICE], ("selects no pods",)),
    Case("selectors-match", "alertmanager-pods", [ALERTMANAGER, edits(OPERATED_SERVICE, {"spec.selector": {"app.kubernetes.io/name": "alertmanager", "alertmanager": "main"}})]),
    Case("selectors-match", "cluster-namespace", [KUBE_SYSTEM_SERVICE]),
    Case("selectors-match", "cluster-namespace-from-config", [KUBE_SYSTEM_SERVICE], ("Service kube-system/etcd selects no pods",), {"externalNamespaces": []}),
    Case("anti-affinity-or-spread", "compliant", SERVICE),
    Case("anti-affinity-or-spread", "none", changed("Deployment", {f"{POD}.affinity": DELETE}), ("no pod anti-affinity or topology spread",)),
    Case(
        "anti-affinity-or-spread",
        "zone-spread-instead",
        changed("Deployment", {f"{POD}.affinity": DELETE, f"{POD}.topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "ScheduleAnyway", "labelSelector": {"matchLabels": {"app.kubernetes.io/name": "hello"}}}]}),
    ),
    Case(
        "anti-affinity-or-spread",
        "selects-other-pods",
        changed("Deployment", {f"{POD}.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].labelSelector.matchLabels": {"app": "other"}}),
        ("no pod anti-affinity",),
    ),
    Case("anti-affinity-or-spread", "single-replica-needs-none", changed("Deployment", {f"{POD}.affinity": DELETE}, FIXED_ONE)),
    Case("rolling-update-safe", "compliant", SERVICE),
    Case("rolling-update-safe", "max-unavailable-with-pdb", changed("Deployment", {"spec.strategy.rollingUpdate.maxUnavailable": 1})),
    Case("rolling-update-safe", "max-unavailable-without-pdb", changed("Deployment", {"spec.strategy.rollingUpdate.maxUnavailable": 1}, without("PodDisruptionBudget")), ("maxUnavailable 1 and no PodDisruptionBudget",)),
    Case("rolling-update-safe", "default-strategy-without-pdb", changed("Deployment", {"spec.strategy": DELETE}, without("PodDisruptionBudget")), ("maxUnavailable 25%",)),
    # The controller rounds maxUnavailable down: a chart's default 25% stops no pod first below four replicas.
    Case("rolling-update-safe", "default-strategy-single-replica", changed("Deployment", {"spec.strategy": DELETE}, without("PodDisruptionBudget", docs=FIXED_ONE))),
    Case("rolling-update-safe", "percent-rounds-to-one", changed("Deployment", {"spec.strategy": DELETE, "spec.replicas": 4}, without("PodDisruptionBudget", docs=FIXED_ONE)), ("maxUnavailable 25%",)),
    Case(
        "rolling-update-safe",
        "no-surge-either",
        changed("Deployment", {"spec.strategy.rollingUpdate": {"maxUnavailable": "25%", "maxSurge": 0}}, without("PodDisruptionBudget", docs=FIXED_ONE)),
        ("maxUnavailable 25%",),
    ),
    Case("rolling-update-safe", "zero-percent", changed("Deployment", {"spec.strategy.rollingUpdate.maxUnavailable": "0%"}, without("PodDisruptionBudget"))),
    Case("rolling-update-safe", "recreate", changed("Deployment", {"spec.strategy": {"type": "Recreate"}}), ("uses the Recreate strategy",)),
    Case("rolling-update-safe", "statefulset-on-delete", [STATEFUL], ("updateStrategy OnDelete",)),
    Case("hpa-bounds", "compliant", SERVICE),
    Case("hpa-bounds", "min-one", changed("HorizontalPodAutoscaler", {"spec.minReplicas": 1}), ("has minReplicas 1",)),
    Case("hpa-bounds", "max-not-above-min", changed("HorizontalPodAutoscaler", {"spec.maxReplicas": 3}), ("maxReplicas 3 not above minReplicas 3",)),
    Case("hpa-bounds", "cpu-target-without-cpu-request", changed("Deployment", {f"{APP}.resources.requests.cpu": DELETE}), ("targets cpu utilization but Deployment shop/hello container 'app' requests no cpu",)),
    Case(
        "hpa-bounds",
        "default-metric-is-cpu",
        changed("Deployment", {f"{APP}.resources.requests.cpu": DELETE}, changed("HorizontalPodAutoscaler", {"spec.metrics": DELETE})),
        ("targets cpu utilization",),
    ),
    Case(
        "hpa-bounds",
        "average-value-needs-no-request",
        changed("Deployment", {f"{APP}.resources.requests.cpu": DELETE}, changed("HorizontalPodAutoscaler", {"spec.metrics[0].resource.target": {"type": "AverageValue", "averageValue": "500m"}})),
    ),
    Case("hpa-bounds", "min-from-config", SERVICE, ("has minReplicas 3",), {"minReplicas": 5}),
    Case("hpa-owns-replicas", "compliant", SERVICE),
    Case("hpa-owns-replicas", "replicas-set", changed("Deployment", {"spec.replicas": 3}), ("sets spec.replicas 3 while HorizontalPodAutoscaler shop/hello scales it",)),
    # As a real cluster returns the object: the server's default replicas, fields owned by who set them.
    Case("hpa-owns-replicas", "server-default-replicas", changed("Deployment", {"spec.replicas": 1, "metadata.managedFields": LIVE_FIELDS})),
    Case(
        "hpa-owns-replicas",
        "applied-replicas",
        changed("Deployment", {"spec.replicas": 3, "metadata.managedFields": [{**LIVE_FIELDS[0], "fieldsV1": {"f:spec": {"f:replicas": {}, "f:template": {}}}}, LIVE_FIELDS[1]]}),
        ("sets spec.replicas 3 while HorizontalPodAutoscaler shop/hello scales it",),
    ),
    Case("pdb-for-multi-replica", "compliant", SERVICE),
    Case("pdb-for-multi-replica", "single-replica-needs-none", without("PodDisruptionBudget", docs=FIXED_ONE)),
    Case("pdb-for-multi-replica", "missing", without("PodDisruptionBudget"), ("can run 10 replicas but no PodDisruptionBudget selects its pods",)),
    Case("pdb-for-multi-replica", "blocks-all", changed("PodDisruptionBudget", {"spec.maxUnavailable": 0}), ("maxUnavailable 0, which blocks every eviction",)),
    Case("pdb-for-multi-replica", "min-available-at-hpa-min", changed("PodDisruptionBudget", {"spec.maxUnavailable": DELETE, "spec.minAvailable": 3}), ("minAvailable 3, not below the 3 replica(s)",)),
    Case("pdb-for-multi-replica", "min-available-below-hpa-min", changed("PodDisruptionBudget", {"spec.maxUnavailable": DELETE, "spec.minAvailable": 2})),
    Case("pdb-for-multi-replica", "min-available-all", changed("PodDisruptionBudget", {"spec.maxUnavailable": DELETE, "spec.minAvailable": "100%"}), ("minAvailable 100%",)),
    Case("pdb-for-multi-replica", "no-unhealthy-eviction-policy", changed("PodDisruptionBudget", {"spec.unhealthyPodEvictionPolicy": DELETE}), ("sets no unhealthyPodEvictionPolicy",)),
    Case("selectors-match", "compliant", SERVICE),
    Case("selectors-match", "service-selects-nothing", changed("Service", {"spec.selector": {"app.kubernetes.io/name": "helo"}}), ("Service shop/hello selects no pods",)),
    Case("selectors-match", "service-in-other-namespace", changed("Service", {"metadata.namespace": "other"}), ("Service other/hello selects no pods",)),
    Case("selectors-match", "pdb-selects-nothing", changed("PodDisruptionBudget", {"spec.selector.matchLabels": {"tier": "web"}}), ("PodDisruptionBudget shop/hello selects no pods",)),
    Case(
        "selectors-match",
        "netpol-expression-excludes",
        changed("NetworkPolicy", {"spec.podSelector": {"matchExpressions": [{"key": "app.kubernetes.io/name", "operator": "NotIn", "values": ["hello"]}]}}),
        ("NetworkPolicy shop/hello podSelector selects no pods",),
    ),
    Case("selectors-match", "netpol-empty-selector-selects-all", changed("NetworkPolicy", {"spec.podSelector": {}})),
    Case("selectors-match", "hpa-target-missing", changed("HorizontalPodAutoscaler", {"spec.scaleTargetRef.name": "hullo"}), ("targets Deployment 'hullo', which does not exist",)),
    Case(
        "selectors-match",
        "workload-selector-not-template",
        changed("Deployment", {"spec.selector.matchLabels": {"app.kubernetes.io/name": "other"}}),
        ("spec.selector does not match its pod template labels",),
    ),
]


@pytest.mark.parametrize("case", [c.param() for c in CASES])
def test_availability_policy(case: Case):
    case.check()


# -- the selector index: it may only narrow the search, never change what matches --------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from policies.rules.definition import Stack, Subject  # noqa: E402
from policies.rules.props import UNKNOWN  # noqa: E402
from policies.rules.relations import candidates, labels_known, selects  # noqa: E402

_namespaces = st.sampled_from(["a", "b", None, UNKNOWN])
_label_values = st.sampled_from(["x", "y", UNKNOWN])
_labels = st.dictionaries(st.sampled_from(["app", "tier", "team"]), _label_values, max_size=3)


@st.composite
def _stacks(draw):
    workloads = []
    for i in range(draw(st.integers(0, 8))):
        labels = draw(st.one_of(_labels, st.just(UNKNOWN)))
        props = {
            "kind": draw(st.sampled_from(["Deployment", "StatefulSet"])),
            "metadata": {"name": f"w{i}", "namespace": draw(_namespaces)},
            "spec": {"template": {"metadata": {"labels": labels}}},
        }
        workloads.append(Subject.of(f"kubernetes:apps/v1:{props['kind']}", f"w{i}", f"urn:w{i}", props, None))
    return Stack(workloads)


@settings(max_examples=300, deadline=None)
@given(
    stack=_stacks(),
    namespace=_namespaces,
    selector=st.one_of(
        st.just({}), st.just(UNKNOWN),
        st.builds(lambda m: {"matchLabels": m}, _labels),
        st.builds(lambda m: {"matchLabels": m, "matchExpressions": [{"key": "tier", "operator": "Exists"}]}, _labels),
    ),
)
def test_the_selector_index_finds_every_workload_a_full_scan_does(stack, namespace, selector):
    found = candidates(stack, namespace, selector)
    scanned = stack.in_namespace(stack.workloads(), namespace)
    assert [w.urn for w in found] == [w.urn for w in scanned if w in found], "stack order"
    assert {w.urn for w in found} <= {w.urn for w in scanned}
    assert {w.urn for w in scanned if selects(selector, w) is not False or not labels_known(w)} <= {w.urn for w in found}
