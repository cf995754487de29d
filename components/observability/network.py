"""The monitoring namespace locked down: deny by default, then one NetworkPolicy per flow the stack really has.

Flows: Prometheus scrapes every namespace and the nodes, and the metrics ports of the stack's own
pods; Grafana and the adapter query Prometheus; Prometheus sends alerts to Alertmanager, whose
replicas gossip with each other; the API server calls the adapter (custom.metrics.k8s.io) and
the operator's admission webhook; the operator, Prometheus (service discovery), Grafana's
sidecar, kube-state-metrics, the adapter and the admission Jobs call the API server. Every pod
may resolve DNS. node-exporter runs with the host's network, which NetworkPolicies do not
govern, in a namespace of its own (see prometheus_stack.node_exporter_namespace).

Pods are selected by the labels the charts and the operator give them (below, with where each
comes from), so the policies follow the pinned chart versions.
"""

from __future__ import annotations

from components.k8s import meta
from components.k8s.network import API_SERVER_PORTS, DNS_EGRESS, tcp
from components.observability import prometheus_stack
from components.observability.config import PrometheusStackSpec

PODS = {
    # The Prometheus Operator labels the pods of every Prometheus and Alertmanager it runs.
    "prometheus": {"app.kubernetes.io/name": "prometheus"},
    "alertmanager": {"app.kubernetes.io/name": "alertmanager"},
    # The grafana, kube-state-metrics and prometheus-adapter charts' selector labels.
    "grafana": {"app.kubernetes.io/name": "grafana"},
    "kube_state_metrics": {"app.kubernetes.io/name": "kube-state-metrics"},
    "adapter": {"app.kubernetes.io/name": "prometheus-adapter"},
    # kube-prometheus-stack's operator Deployment: `app: <name>-operator`.
    "operator": {"app": f"{prometheus_stack.FULLNAME}-operator"},
}
ADAPTER_PORT = 6443
"""prometheus-adapter serves custom.metrics.k8s.io over HTTPS here (the chart's listenPort)."""
OPERATOR_WEBHOOK_PORT = 10250
"""The operator's HTTPS port for the admission webhooks (kube-prometheus-stack's tls.internalPort)."""
ALERTMANAGER_MESH_PORT = 9094
ANYWHERE = "0.0.0.0/0"


def _selector(role: str) -> dict:
    return {"matchLabels": dict(PODS[role])}


def _peer(role: str) -> dict:
    return {"podSelector": _selector(role)}


def _policy(spec: PrometheusStackSpec, instance: str, name: str, selector: dict, ingress: list[dict] | None = None, egress: list[dict] | None = None) -> dict:
    """Allows `ingress` to, and `egress` from, the pods `selector` matches; the default deny refuses the rest.

    Only the directions given are listed in policyTypes, so each policy adds to the others.
    """
    types, body = [], {}
    for direction, rules in (("ingress", ingress), ("egress", egress)):
        if rules is not None:
            types.append(direction.capitalize())
            if rules:  # an empty list allows nothing; the API server stores it as absent
                body[direction] = rules
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": meta.metadata(name, spec.namespace, meta.labels("monitoring", instance, "network")),
        "spec": {"podSelector": selector, "policyTypes": types, **body},
    }


def _api_server(spec: PrometheusStackSpec) -> dict:
    return {"to": [{"ipBlock": {"cidr": spec.api_server_cidr}}], "ports": tcp(*API_SERVER_PORTS)}


def build(spec: PrometheusStackSpec, instance: str) -> dict[str, dict]:
    """Every NetworkPolicy of the monitoring namespace, by role; Grafana is a peer only where it runs, so no rule
    allows traffic from pods that do not exist."""
    queriers = ["grafana", "adapter"] if spec.grafana else ["adapter"]
    alerters = ["prometheus", "grafana"] if spec.grafana else ["prometheus"]
    policies = {
        "default_deny": _policy(spec, instance, "default-deny", {}, ingress=[], egress=[]),
        "dns": _policy(spec, instance, "allow-dns", {}, egress=[DNS_EGRESS]),
        "api_server": _policy(spec, instance, "allow-api-server", {}, egress=[_api_server(spec)]),
        # Prometheus scrapes pods in every namespace and the nodes' kubelets (host network), on whatever port they expose.
        "prometheus_scrape": _policy(spec, instance, "prometheus-scrape", _selector("prometheus"), egress=[{"to": [{"namespaceSelector": {}}, {"ipBlock": {"cidr": ANYWHERE}}]}]),
        "metrics_from_prometheus": _policy(spec, instance, "metrics-from-prometheus", {}, ingress=[{"from": [_peer("prometheus")]}]),
        "prometheus_queries": _policy(
            spec, instance, "prometheus-queries", _selector("prometheus"),
            ingress=[{"from": [_peer(q) for q in queriers], "ports": tcp(prometheus_stack.PROMETHEUS_PORT)}],
        ),
        "query_prometheus": _policy(
            spec, instance, "query-prometheus", {"matchExpressions": [{"key": "app.kubernetes.io/name", "operator": "In", "values": [PODS[q]["app.kubernetes.io/name"] for q in queriers]}]},
            egress=[{"to": [_peer("prometheus")], "ports": tcp(prometheus_stack.PROMETHEUS_PORT)}],
        ),
        "grafana_alerts": _policy(spec, instance, "grafana-to-alertmanager", _selector("grafana"), egress=[{"to": [_peer("alertmanager")], "ports": tcp(prometheus_stack.ALERTMANAGER_PORT)}]),
        "alerts": _policy(
            spec, instance, "alertmanager", _selector("alertmanager"),
            ingress=[
                {"from": [_peer(a) for a in alerters], "ports": tcp(prometheus_stack.ALERTMANAGER_PORT)},
                {"from": [_peer("alertmanager")], "ports": [*tcp(ALERTMANAGER_MESH_PORT), {"port": ALERTMANAGER_MESH_PORT, "protocol": "UDP"}]},
            ],
            egress=[{"to": [_peer("alertmanager")], "ports": [*tcp(ALERTMANAGER_MESH_PORT), {"port": ALERTMANAGER_MESH_PORT, "protocol": "UDP"}]}],
        ),
        "send_alerts": _policy(spec, instance, "send-alerts", _selector("prometheus"), egress=[{"to": [_peer("alertmanager")], "ports": tcp(prometheus_stack.ALERTMANAGER_PORT)}]),
        # The API server's address is outside any selector: the aggregated API and the webhook accept it from anywhere on their port.
        "adapter_api": _policy(spec, instance, "adapter-from-api-server", _selector("adapter"), ingress=[{"from": [{"ipBlock": {"cidr": spec.api_server_cidr}}], "ports": tcp(ADAPTER_PORT)}]),
        "operator_webhook": _policy(spec, instance, "operator-webhook-from-api-server", _selector("operator"), ingress=[{"from": [{"ipBlock": {"cidr": spec.api_server_cidr}}], "ports": tcp(OPERATOR_WEBHOOK_PORT)}]),
    }
    if not spec.grafana:
        del policies["grafana_alerts"]
    if spec.node_exporter:
        policies["node_exporter_default_deny"] = {
            **_policy(spec, instance, "default-deny", {}, ingress=[], egress=[]),
            "metadata": meta.metadata("default-deny", prometheus_stack.node_exporter_namespace(spec), meta.labels("monitoring", instance, "network")),
        }
    return policies
