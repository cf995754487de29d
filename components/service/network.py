"""The Service, NetworkPolicy and Namespace of a GoService, as plain dicts."""

from __future__ import annotations

from typing import Any

from components import defaults
from components.k8s import security
from components.k8s.network import DNS_EGRESS, NAMESPACE_NAME_LABEL, distinct, namespace_peer, namespaces
from components.service.config import ServiceSpec
from components.service.workload import ServiceNames

def namespace(spec: ServiceSpec, names: ServiceNames) -> dict:
    return security.namespace(spec.namespace, spec.namespace, names.labels["app.kubernetes.io/instance"])


def service(spec: ServiceSpec, names: ServiceNames) -> dict:
    """ClusterIP with the public and metrics ports; the pprof admin port is deliberately absent."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": names.metadata(),
        "spec": {
            "type": "ClusterIP",
            "selector": dict(names.selector),
            "ports": [
                {"name": "http", "port": defaults.SERVICE_HTTP_PORT, "targetPort": "http", "protocol": "TCP"},
                {"name": "metrics", "port": spec.metrics_port, "targetPort": "metrics", "protocol": "TCP"},
            ],
        },
    }


def http_namespaces(spec: ServiceSpec) -> list[str]:
    """The namespaces allowed to reach the HTTP port: the service's own and the listed ones."""
    return distinct([spec.namespace, *spec.network.ingress_namespaces])


def network_policy(spec: ServiceSpec, names: ServiceNames, http_from: Any = None) -> dict:
    """Default deny, then: HTTP from allowed namespaces, metrics from monitoring, egress to DNS and listed targets.

    `http_from` is `http_namespaces(spec)` computed by the caller (from the real namespace, when it is an Output),
    else it is computed here."""
    egress = [DNS_EGRESS]
    for target in spec.network.egress_targets:
        peer = {"ipBlock": {"cidr": target.cidr}} if target.cidr else {"namespaceSelector": {"matchLabels": {NAMESPACE_NAME_LABEL: target.namespace}}}
        egress.append({"to": [peer], "ports": [{"port": target.port, "protocol": "TCP"}]})
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": names.metadata(),
        "spec": {
            "podSelector": {"matchLabels": dict(names.selector)},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [
                {
                    "from": [namespace_peer(http_namespaces(spec) if http_from is None else http_from)],
                    "ports": [{"port": spec.http_port, "protocol": "TCP"}],
                },
                {
                    "from": [namespaces(spec.network.monitoring_namespace)],
                    "ports": [{"port": spec.metrics_port, "protocol": "TCP"}],
                },
            ],
            "egress": egress,
        },
    }
