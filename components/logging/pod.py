"""Building blocks every logging part shares: names and labels, security, PDBs, headless Services, PVCs.

Each part's module composes these into its own objects, so the security defaults, label
scheme and exemption annotations are written once.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from components.k8s import meta, security

"""Prefix of the annotation by which a workload opts out of one named policy, with the reason as its value."""


@dataclass(frozen=True)
class Part:
    """Where one part's objects live and how they are labelled.

    `app` is the app.kubernetes.io/name (kafka, elasticsearch, ...), `role` the
    app.kubernetes.io/component. Selectors include the role so a part's Jobs never join its
    Service, PDB or StatefulSet.
    """

    app: str
    instance: str
    namespace: str
    role: str
    version: str | None = None

    @property
    def labels(self) -> dict[str, str]:
        return meta.labels(self.app, self.instance, self.role, self.version)

    @property
    def selector(self) -> dict[str, str]:
        return {**meta.selector_labels(self.app, self.instance), "app.kubernetes.io/component": self.role}

    def metadata(self, name: str | None = None, annotations: dict[str, str] | None = None) -> dict:
        return meta.metadata(name or self.app, self.namespace, self.labels, annotations)

    def with_role(self, role: str) -> "Part":
        return Part(self.app, self.instance, self.namespace, role, self.version)

    def dns(self, service: str) -> str:
        """Cluster DNS name of a Service in this part's namespace."""
        return f"{service}.{self.namespace}.svc.cluster.local"



def checksum(*texts: str) -> str:
    """Hash of a part's config files for its pod template's `checksum/config` annotation: a config change rolls the pods."""
    return hashlib.sha256("\0".join(texts).encode()).hexdigest()[:16]


def pod_security(uid: int) -> dict:
    return security.pod_security_context(uid)


def container_security(uid: int) -> dict:
    return security.container_security_context(uid)


def service_account(part: Part, name: str | None = None, automount: bool = False) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": part.metadata(name),
        "automountServiceAccountToken": automount,
    }


def config_map(part: Part, name: str, data: dict[str, str]) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": part.metadata(name), "data": dict(data)}


def headless_service(part: Part, name: str, ports: list[dict]) -> dict:
    """Stable per-pod DNS names for a StatefulSet; not-ready pods are published so peers can find each other while forming a quorum."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": part.metadata(name),
        "spec": {
            "clusterIP": "None",
            "publishNotReadyAddresses": True,
            "selector": dict(part.selector),
            "ports": [dict(p) for p in ports],
        },
    }


def cluster_service(part: Part, name: str, ports: list[dict]) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": part.metadata(name),
        "spec": {"type": "ClusterIP", "selector": dict(part.selector), "ports": [dict(p) for p in ports]},
    }


def pod_disruption_budget(part: Part, name: str | None = None, stateful: bool = True) -> dict:
    """At most one pod down at a time. Stateful parts keep unhealthy pods until the budget allows,
    so a draining node cannot take a second replica of the same data away."""
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": part.metadata(name),
        "spec": {
            "maxUnavailable": 1,
            "unhealthyPodEvictionPolicy": "IfHealthyBudget" if stateful else "AlwaysAllow",
            "selector": {"matchLabels": dict(part.selector)},
        },
    }


def volume_claim(name: str, size: str, storage_class: str | None) -> dict:
    claim: dict[str, Any] = {
        "metadata": {"name": name},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}},
    }
    if storage_class:
        claim["spec"]["storageClassName"] = storage_class
    return claim


def empty_dir(name: str, size: str = "64Mi", memory: bool = False) -> dict:
    source: dict[str, Any] = {"sizeLimit": size}
    if memory:
        source["medium"] = "Memory"
    return {"name": name, "emptyDir": source}


def spread(part: Part, required: bool = False) -> dict:
    """Replicas of one part on different nodes: required for data that is replicated across
    nodes (a broker or data node sharing a node with its peer defeats the replication),
    preferred otherwise."""
    term = {"labelSelector": {"matchLabels": dict(part.selector)}, "topologyKey": "kubernetes.io/hostname"}
    if required:
        return {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term]}}
    return {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 100, "podAffinityTerm": term}]}}


def jvm_heap(mib: int) -> str:
    """Equal initial and maximum heap, so the JVM never resizes it under load."""
    return f"-Xms{mib}m -Xmx{mib}m"


def secret_env(name: str, secret: str, key: str) -> dict:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


def stateful_workload(
    part: Part,
    *,
    service_name: str,
    replicas: int,
    config_checksum: str,
    pod: dict[str, Any],
    claims: list[dict],
    annotations: dict[str, str] | None = None,
) -> dict:
    """A StatefulSet with what every stateful part shares: its own ServiceAccount without a token, parallel
    start (a KRaft quorum or Elasticsearch's initial masters must come up together; ordered start would wait
    on pod-0's readiness forever), retained volumes, and a config checksum that rolls pods when config changes.
    `pod` holds the part's own pod spec fields (containers, volumes, security context, grace period, ...)."""
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": part.metadata(annotations=annotations),
        "spec": {
            "serviceName": service_name,
            "replicas": replicas,
            "podManagementPolicy": "Parallel",
            "updateStrategy": {"type": "RollingUpdate"},
            "selector": {"matchLabels": dict(part.selector)},
            "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Retain"},
            "template": {
                "metadata": {"labels": dict(part.labels), "annotations": {"checksum/config": config_checksum}},
                "spec": {"serviceAccountName": part.app, "automountServiceAccountToken": False, "enableServiceLinks": False, **pod},
            },
            "volumeClaimTemplates": claims,
        },
    }
