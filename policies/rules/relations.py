"""How objects of a stack point at each other: HPA to workload, PDB and NetworkPolicy to pods, Service to pods."""

from __future__ import annotations

from typing import Any

from .definition import Stack, Subject
from .kube import selector_matches
from .props import UNKNOWN, get, mapping, whole_number


def pod_labels(workload: Subject) -> dict[str, Any]:
    """The labels its pods carry (the pod template's)."""
    if workload.template is None:
        return {}
    return {k: v for k, v in mapping(workload.template[0].get("labels")).items() if isinstance(v, str)}


def labels_known(workload: Subject) -> bool:
    """False while any part of the path to its pod labels is unknown (preview), so no rule guesses about them."""
    path = ("spec", "jobTemplate", "spec", "template", "metadata", "labels") if workload.kind == "CronJob" else ("spec", "template", "metadata", "labels")
    if workload.kind == "Pod":
        path = ("metadata", "labels")
    node: Any = workload.props
    for step in path:
        node = node.get(step) if isinstance(node, dict) else None
        if node is UNKNOWN:
            return False
    return not any(v is UNKNOWN for v in mapping(node).values())


def hpa_target(stack: Stack, hpa: Subject) -> Subject | None:
    """The workload an HPA's scaleTargetRef names in its namespace."""
    ref = mapping(get(hpa.props, "spec", "scaleTargetRef"))
    for workload in stack.workloads():
        same_namespace = workload.namespace == hpa.namespace or UNKNOWN in (workload.namespace, hpa.namespace)
        if workload.kind == ref.get("kind") and workload.object_name == ref.get("name") and same_namespace:
            return workload
    return None


def hpas_for(stack: Stack, workload: Subject) -> list[Subject]:
    """The HPAs that target `workload`; every HPA's target is resolved once per stack."""
    targets = stack.memo("hpa_targets", lambda: [(h, hpa_target(stack, h)) for h in stack.kinds("HorizontalPodAutoscaler")])
    return [h for h, target in targets if target is workload]


def replica_range(stack: Stack, workload: Subject) -> tuple[int, int] | None:
    """(fewest, most) replicas the workload can run: the HPA's bounds, else spec.replicas (default 1); None if unknown."""
    hpas = hpas_for(stack, workload)
    if hpas:
        spec = mapping(get(hpas[0].props, "spec"))
        low, high = spec.get("minReplicas", 1), spec.get("maxReplicas")
        if low is UNKNOWN or high is UNKNOWN:
            return None
        low_n, high_n = whole_number(low), whole_number(high)
        low_n = 1 if low_n is None else low_n
        return low_n, high_n if high_n is not None else low_n
    replicas = get(workload.props, "spec", "replicas", default=1)
    count = whole_number(replicas)
    return None if count is None else (count, count)


def selects(selector: Any, workload: Subject) -> bool | None:
    """Whether a LabelSelector selects the workload's pods; None when the selector or the labels are unknown."""
    if not labels_known(workload):
        return None
    return selector_matches(selector, pod_labels(workload))


def pdbs_for(stack: Stack, workload: Subject) -> list[Subject]:
    return [
        p
        for p in stack.in_namespace(stack.kinds("PodDisruptionBudget"), workload.namespace)
        if selects(get(p.props, "spec", "selector", default={}), workload) is True
    ]


def policy_types(netpol: Subject) -> set[str]:
    """The directions a NetworkPolicy isolates; without policyTypes, Ingress always and Egress when it has egress rules."""
    spec = mapping(get(netpol.props, "spec"))
    types = spec.get("policyTypes")
    if isinstance(types, list):
        return {t for t in types if isinstance(t, str)}
    return {"Ingress", *(["Egress"] if "egress" in spec else [])}


def network_policies_for(stack: Stack, workload: Subject) -> list[Subject]:
    return [
        n
        for n in stack.in_namespace(stack.kinds("NetworkPolicy"), workload.namespace)
        if selects(get(n.props, "spec", "podSelector", default={}), workload) is True
    ]
