"""What every NetworkPolicy of the library shares: how namespaces are selected, DNS, and where the API server is."""

from __future__ import annotations

from typing import Any

from components import inputs

NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
"""Set by the API server on every namespace, so a namespace can be selected by its name."""
DNS_PORTS = [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]
DNS_EGRESS = {
    "to": [{"namespaceSelector": {"matchLabels": {NAMESPACE_NAME_LABEL: "kube-system"}}, "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
    "ports": DNS_PORTS,
}
API_SERVER_PORTS = (443, 6443)
"""The API server is outside any pod selector; it listens on 443 (the Service) or 6443 (the endpoints)."""


def tcp(*ports: int | str) -> list[dict]:
    return [{"port": port, "protocol": "TCP"} for port in ports]


def distinct(names: list[str] | tuple[str, ...]) -> list[str]:
    """Namespace names sorted, each once: the order and the duplicates are the real names', never placeholders'."""
    return sorted({inputs.known(name, "a namespace the NetworkPolicy sorts and deduplicates") for name in names})


def namespace_peer(values: Any) -> dict:
    """A peer: every pod of the namespaces `values` lists, already `distinct` (an Output of them where the names are)."""
    return {"namespaceSelector": {"matchExpressions": [{"key": NAMESPACE_NAME_LABEL, "operator": "In", "values": values}]}}


def namespaces(*names: str) -> dict:
    """A peer: every pod of the named namespaces."""
    return namespace_peer(distinct(names))
