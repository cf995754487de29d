"""The monitoring namespace's NetworkPolicies, evaluated the way a CNI would, and its Pod Security labels."""

from __future__ import annotations

import json

import pytest

from components.observability import network, prometheus_stack
from components.observability.config import PrometheusStackSpec

SPEC = PrometheusStackSpec()


def _selects(selector: dict, labels: dict) -> bool:
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expr in selector.get("matchExpressions", []):
        assert expr["operator"] == "In", expr
        if labels.get(expr["key"]) not in expr["values"]:
            return False
    return True


def _peer_matches(peer: dict, labels: dict) -> bool:
    """A peer in the same namespace: a pod selector, or a namespace selector of every namespace; ipBlocks are not pods."""
    if "ipBlock" in peer:
        return False
    if "namespaceSelector" in peer and peer["namespaceSelector"] != {}:
        return False
    return _selects(peer.get("podSelector", {}), labels)


def _port_matches(rule: dict, port: int, protocol: str) -> bool:
    return "ports" not in rule or any(p["port"] == port and p.get("protocol", "TCP") == protocol for p in rule["ports"])


def _allowed(policies: list[dict], direction: str, subject: dict, other: dict, port: int, protocol: str) -> bool:
    """Whether `subject` may send (egress) to / receive (ingress) from `other`: isolated pods need a rule that allows it."""
    key, peers = ("egress", "to") if direction == "Egress" else ("ingress", "from")
    selecting = [p["spec"] for p in policies if direction in p["spec"]["policyTypes"] and _selects(p["spec"]["podSelector"], subject)]
    if not selecting:
        return True
    return any(
        _port_matches(rule, port, protocol) and ("to" not in rule and "from" not in rule or any(_peer_matches(peer, other) for peer in rule[peers]))
        for spec in selecting
        for rule in spec.get(key, [])
    )


def flows(spec: PrometheusStackSpec = SPEC) -> list[dict]:
    return [p for p in network.build(spec, "mon").values() if p["metadata"]["namespace"] == spec.namespace]


def can(src: str, dst: str, port: int, protocol: str = "TCP") -> bool:
    policies = flows()
    a, b = network.PODS[src], network.PODS[dst]
    return _allowed(policies, "Egress", a, b, port, protocol) and _allowed(policies, "Ingress", b, a, port, protocol)


@pytest.mark.parametrize("src, dst, port, protocol", [
    ("grafana", "prometheus", 9090, "TCP"),
    ("adapter", "prometheus", 9090, "TCP"),
    ("prometheus", "alertmanager", 9093, "TCP"),
    ("grafana", "alertmanager", 9093, "TCP"),
    ("alertmanager", "alertmanager", 9094, "TCP"),
    ("alertmanager", "alertmanager", 9094, "UDP"),
    ("prometheus", "grafana", 3000, "TCP"),
    ("prometheus", "kube_state_metrics", 8080, "TCP"),
    ("prometheus", "operator", 10250, "TCP"),
    ("prometheus", "prometheus", 9090, "TCP"),
])
def test_the_stacks_own_flows_are_allowed(src, dst, port, protocol):
    assert can(src, dst, port, protocol)


@pytest.mark.parametrize("src, dst, port", [
    ("kube_state_metrics", "prometheus", 9090),
    ("grafana", "adapter", 6443),
    ("adapter", "alertmanager", 9093),
    ("grafana", "kube_state_metrics", 8080),
    ("operator", "grafana", 3000),
    ("alertmanager", "prometheus", 9090),
])
def test_everything_else_inside_the_namespace_is_denied(src, dst, port):
    assert not can(src, dst, port)


def test_default_deny_isolates_every_pod_both_ways_and_dns_and_the_api_server_are_open_to_all():
    policies = network.build(SPEC, "mon")
    deny = policies["default_deny"]["spec"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    assert policies["dns"]["spec"]["egress"][0]["ports"] == [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]
    narrowed = network.build(PrometheusStackSpec(api_server_cidr="10.0.0.1/32"), "mon")
    (rule,) = narrowed["api_server"]["spec"]["egress"]
    assert rule["to"] == [{"ipBlock": {"cidr": "10.0.0.1/32"}}] and {p["port"] for p in rule["ports"]} == {443, 6443}
    assert narrowed["adapter_api"]["spec"]["ingress"][0]["from"] == [{"ipBlock": {"cidr": "10.0.0.1/32"}}]


def test_node_exporter_has_a_namespace_of_its_own_that_alone_admits_privileged_pods():
    found = prometheus_stack.namespaces(SPEC, "mon")
    enforce = {ns["metadata"]["name"]: ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] for ns in found.values()}
    assert enforce == {"monitoring": "baseline", "monitoring-node-exporter": "privileged"}
    assert all(ns["metadata"]["labels"]["pod-security.kubernetes.io/warn"] == "restricted" for ns in found.values())
    assert prometheus_stack.values(SPEC)["prometheus-node-exporter"]["namespaceOverride"] == "monitoring-node-exporter"
    assert network.build(SPEC, "mon")["node_exporter_default_deny"]["metadata"]["namespace"] == "monitoring-node-exporter"
    without = PrometheusStackSpec(node_exporter=False)
    assert list(prometheus_stack.namespaces(without, "mon")) == ["namespace"] and "node_exporter_default_deny" not in network.build(without, "mon")


def test_api_server_cidr_is_validated():
    from components.errors import ConfigError
    from components.observability.component import resolve_prometheus_stack

    with pytest.raises(ConfigError, match="api_server_cidr"):
        resolve_prometheus_stack("mon", {"api_server_cidr": "10.0.0.1/8"})[0]


def test_chart_workloads_are_hardened_through_their_values():
    """The values alone; tests/e2e/test_real_charts.py renders them with the real charts and checks the objects."""
    values = prometheus_stack.values(SPEC)
    grafana = values["grafana"]
    for context in (grafana["containerSecurityContext"], grafana["sidecar"]["securityContext"], values["prometheus-node-exporter"]["containerSecurityContext"]):
        assert context["readOnlyRootFilesystem"] is True and context["allowPrivilegeEscalation"] is False
        assert context["capabilities"] == {"drop": ["ALL"]} and context["seccompProfile"] == {"type": "RuntimeDefault"} and context["runAsNonRoot"] is True
    assert grafana["testFramework"] == {"enabled": False}
    assert grafana["sidecar"]["dashboards"]["resource"] == "configmap" and grafana["sidecar"]["datasources"] == {"enabled": False}
    role = prometheus_stack.grafana_cluster_role(SPEC, "mon")
    assert grafana["rbac"]["useExistingClusterRole"] == role["metadata"]["name"]
    assert role["rules"] == [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "watch"]}]
    assert values["prometheusOperator"]["admissionWebhooks"]["patch"]["resources"]["requests"]["memory"]
    assert values["prometheus-node-exporter"]["securityContext"]["runAsUser"] == 65534


def test_without_grafana_no_policy_names_it_and_the_adapter_and_prometheus_keep_their_flows():
    """A peer that selects no pod allows nothing and reads as if it did (networkpolicy-peers-select-pods)."""
    without = flows(SPEC.model_copy(update={"grafana": False}))
    assert "grafana" not in json.dumps(without)
    assert "grafana" in json.dumps(flows())
    adapter, prometheus, alertmanager = (network.PODS[r] for r in ("adapter", "prometheus", "alertmanager"))
    assert _allowed(without, "Ingress", prometheus, adapter, 9090, "TCP") and _allowed(without, "Egress", adapter, prometheus, 9090, "TCP")
    assert _allowed(without, "Ingress", alertmanager, prometheus, 9093, "TCP")
