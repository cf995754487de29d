"""Network and observability policies: NetworkPolicy coverage, Service types, GoService metrics scraped by a ServiceMonitor."""

from __future__ import annotations

import pytest
from policy_harness import DELETE, Case, edits, evaluate, load

SERVICE = load("compliant-service")
SVC = next(d for d in SERVICE if d["kind"] == "Service")
HELM_PROMETHEUS = {"pulumiType": "kubernetes:helm.sh/v3:Release", "name": "prometheus", "chart": "kube-prometheus-stack", "namespace": "monitoring"}


def changed(kind: str, changes: dict, docs: list[dict] | None = None) -> list[dict]:
    return [edits(d, changes) if d["kind"] == kind else d for d in (docs or SERVICE)]


def without(*kinds: str, docs: list[dict] | None = None) -> list[dict]:
    return [d for d in (docs or SERVICE) if d["kind"] not in kinds]


CASES = [
    Case("networkpolicy-per-workload", "compliant", SERVICE),
    Case("networkpolicy-per-workload", "none", without("NetworkPolicy"), ("Deployment shop/hello: no NetworkPolicy in its namespace isolates its pods for Ingress and Egress",)),
    Case("networkpolicy-per-workload", "ingress-only", changed("NetworkPolicy", {"spec.policyTypes": ["Ingress"], "spec.egress": DELETE}), ("for Egress",)),
    Case("networkpolicy-per-workload", "egress-implied-by-rules", changed("NetworkPolicy", {"spec.policyTypes": DELETE})),
    Case("networkpolicy-per-workload", "other-namespace", changed("NetworkPolicy", {"metadata.namespace": "elsewhere"}), ("for Ingress and Egress",)),
    Case(
        "networkpolicy-per-workload",
        "namespace-default-deny-plus-allow",
        changed("NetworkPolicy", {"spec.policyTypes": ["Ingress"], "spec.egress": DELETE})
        + [{"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "deny-egress", "namespace": "shop"}, "spec": {"podSelector": {}, "policyTypes": ["Egress"]}}],
    ),
    Case("service-type-allowed", "compliant", SVC),
    Case("service-type-allowed", "node-port", edits(SVC, {"spec.type": "NodePort"}), ("is a NodePort Service",)),
    Case("service-type-allowed", "load-balancer", edits(SVC, {"spec.type": "LoadBalancer"}), ("is a LoadBalancer Service",)),
    Case("service-type-allowed", "load-balancer-allowed", edits(SVC, {"spec.type": "LoadBalancer"}), (), {"allowLoadBalancer": True}),
    Case("service-type-allowed", "external-ips", edits(SVC, {"spec.externalIPs": ["203.0.113.7"]}), ("sets externalIPs",)),
    Case("metrics-scraped", "compliant", SERVICE),
    Case("metrics-scraped", "operator-from-helm-only", without("ServiceMonitor") + [HELM_PROMETHEUS], ("Service shop/hello: no ServiceMonitor selects its labels",)),
    Case("metrics-scraped", "wrong-port", changed("ServiceMonitor", {"spec.endpoints": [{"port": "http"}]}), ("scrapes port 'metrics'",)),
    Case("metrics-scraped", "other-namespace", changed("ServiceMonitor", {"spec.namespaceSelector.matchNames": ["default"]}), ("no ServiceMonitor selects",)),
    Case("metrics-scraped", "any-namespace", changed("ServiceMonitor", {"spec.namespaceSelector": {"any": True}})),
    Case("metrics-scraped", "same-namespace-implied", changed("ServiceMonitor", {"spec.namespaceSelector": DELETE, "metadata.namespace": "shop"})),
    Case("metrics-scraped", "labels-do-not-match", changed("ServiceMonitor", {"spec.selector.matchLabels": {"app": "hello"}}), ("no ServiceMonitor selects",)),
    Case("metrics-scraped", "no-metrics-port", changed("Service", {"spec.ports": [{"name": "http", "port": 80}]}), ("has no port named 'metrics'",)),
    Case("metrics-scraped", "port-name-from-config", SERVICE, ("has no port named 'prom'",), {"metricsPortName": "prom"}),
]


@pytest.mark.parametrize("case", [c.param() for c in CASES])
def test_network_policy(case: Case):
    case.check()


@pytest.mark.parametrize(
    "docs,reason",
    [
        (without("ServiceMonitor"), "no Prometheus Operator"),
        ([d for d in SERVICE if d.get("pulumiParent") is None] + [edits(SVC, {"pulumiParent": DELETE})], "no GoService"),
    ],
)
def test_metrics_scraped_is_not_applicable_without_the_operator_or_a_go_service(docs, reason):
    outcome = evaluate("metrics-scraped", docs)
    assert outcome.messages == [] and reason in outcome.not_applicable
