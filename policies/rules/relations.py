"""How objects of a stack point at each other: HPA to workload, PDB and NetworkPolicy to pods, Service to pods."""

from __future__ import annotations

from typing import Any

from .definition import Stack, Subject, same_namespace
from .kube import map_selector_matches, selector_matches
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


OPERATOR_GROUP = "monitoring.coreos.com"
OPERATED_KINDS = ("Prometheus", "Alertmanager")


def operated_pod_labels(resource: Subject) -> list[dict[str, Any]] | None:
    """The labels of the pods Prometheus Operator runs for a Prometheus or Alertmanager resource, one set per
    shard; None for anything else, or while the labels are unknown.

    The operator's StatefulSets never reach the pack, so Services, PDBs and NetworkPolicies aimed at
    those pods are matched against the labels it sets (prometheus-operator 0.93, makeSelectorLabels
    and BuildPodMetadata) plus the resource's spec.podMetadata.labels.
    """
    if not _operated(resource):
        return None
    name = resource.object_name
    extra = get(resource.props, "spec", "podMetadata", "labels", default={})
    if not isinstance(name, str) or extra is UNKNOWN or any(v is UNKNOWN for v in mapping(extra).values()):
        return None
    base = {
        **{k: v for k, v in mapping(extra).items() if isinstance(v, str)},
        "app.kubernetes.io/managed-by": "prometheus-operator",
        "app.kubernetes.io/instance": name,
    }
    if resource.kind == "Alertmanager":
        return [{**base, "app.kubernetes.io/name": "alertmanager", "alertmanager": name}]
    shards = whole_number(get(resource.props, "spec", "shards")) or 1
    return [{**base, "app.kubernetes.io/name": "prometheus", "operator.prometheus.io/name": name, "prometheus": name, "operator.prometheus.io/shard": str(i)} for i in range(shards)]


def operated_pods(stack: Stack, namespace: Any) -> list[dict[str, Any] | None]:
    """Label sets of the operator-run pods that may be in `namespace` (None where they are unknown)."""
    found: list[dict[str, Any] | None] = []
    for resource in stack.kinds(*OPERATED_KINDS):
        if _operated(resource) and same_namespace(resource.namespace, namespace):
            labels = operated_pod_labels(resource)
            found.extend([None] if labels is None else labels)
    return found


def _operated(resource: Subject) -> bool:
    return resource.kind in OPERATED_KINDS and str(get(resource.props, "apiVersion") or "").startswith(OPERATOR_GROUP + "/")


def hpa_target(stack: Stack, hpa: Subject) -> Subject | None:
    """The workload an HPA's scaleTargetRef names in its namespace."""
    ref = mapping(get(hpa.props, "spec", "scaleTargetRef"))
    by_name = stack.memo("workloads_by_kind_and_name", lambda: _group(stack.workloads(), lambda w: (w.kind, w.object_name)))
    for workload in by_name.get((ref.get("kind"), ref.get("name")), []):
        if same_namespace(workload.namespace, hpa.namespace):
            return workload
    return None


def _group(subjects: list[Subject], key: Any) -> dict[Any, list[Subject]]:
    groups: dict[Any, list[Subject]] = {}
    for subject in subjects:
        try:
            groups.setdefault(key(subject), []).append(subject)
        except TypeError:  # an unhashable key (an unknown value inside a name) joins no group
            continue
    return groups


def _required_pairs(selector: Any, *, plain_map: bool) -> list[tuple[str, str]] | None:
    """The label pairs every pod the selector selects must carry; None when it names none or any part is unknown."""
    if selector is UNKNOWN:
        return None
    if not plain_map and get(selector, "matchLabels") is UNKNOWN:
        return None
    labels = mapping(selector) if plain_map else mapping(get(selector, "matchLabels"))
    if any(v is UNKNOWN for v in labels.values()):
        return None
    pairs = [(k, v) for k, v in labels.items() if isinstance(v, str)]
    return pairs or None


def candidates(stack: Stack, namespace: Any, selector: Any, *, plain_map: bool = False) -> list[Subject]:
    """The workloads `selector` may select in `namespace`, in stack order: a superset for the caller's exact match.

    Those whose pod labels carry every pair of its matchLabels (or of a Service's map), plus
    those whose labels or namespace are unknown during preview; found through an index built
    once per stack, so matching every selector against every workload stays linear.
    """

    def build() -> tuple[dict[Any, list[Subject]], dict[tuple[Any, str, str], list[Subject]], dict[Any, list[Subject]], dict[str, int]]:
        by_namespace: dict[Any, list[Subject]] = {}
        by_pair: dict[tuple[Any, str, str], list[Subject]] = {}
        unknown_labels: dict[Any, list[Subject]] = {}
        for workload in stack.workloads():
            space = _space(workload.namespace)
            by_namespace.setdefault(space, []).append(workload)
            if not labels_known(workload):
                unknown_labels.setdefault(space, []).append(workload)
                continue
            for key, value in pod_labels(workload).items():
                by_pair.setdefault((space, key, value), []).append(workload)
        order = {w.urn: i for i, w in enumerate(stack.workloads())}
        return by_namespace, by_pair, unknown_labels, order

    by_namespace, by_pair, unknown_labels, order = stack.memo("workload_label_index", build)
    space = _space(namespace)
    spaces = list(by_namespace) if space is UNKNOWN else [space, UNKNOWN]
    pairs = _required_pairs(selector, plain_map=plain_map)
    found: dict[str, Subject] = {}
    for space in spaces:
        if pairs is None:
            pool = by_namespace.get(space, [])
        else:
            pool = min((by_pair.get((space, k, v), []) for k, v in pairs), key=len) + unknown_labels.get(space, [])
        for workload in pool:
            if same_namespace(workload.namespace, namespace):
                found[workload.urn] = workload
    return sorted(found.values(), key=lambda w: order[w.urn])


def _space(namespace: Any) -> Any:
    """An index key for a namespace: itself when a string or unset, else the unknown marker (checked exactly later)."""
    return namespace if namespace is None or isinstance(namespace, str) else UNKNOWN


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


def _selected_by(stack: Stack, kind: str, selector_path: tuple[str, ...]) -> dict[str, list[Subject]]:
    """Workload URN -> the objects of `kind` whose selector selects its pods, resolved once per stack."""

    def build() -> dict[str, list[Subject]]:
        found: dict[str, list[Subject]] = {}
        for subject in stack.kinds(kind):
            selector = get(subject.props, *selector_path, default={})
            for workload in candidates(stack, subject.namespace, selector):
                if selects(selector, workload) is True:
                    found.setdefault(workload.urn, []).append(subject)
        return found

    return stack.memo(("selected_by", kind, selector_path), build)


def pdbs_for(stack: Stack, workload: Subject) -> list[Subject]:
    return list(_selected_by(stack, "PodDisruptionBudget", ("spec", "selector")).get(workload.urn, []))


def policy_types(netpol: Subject) -> set[str]:
    """The directions a NetworkPolicy isolates; without policyTypes, Ingress always and Egress when it has egress rules."""
    spec = mapping(get(netpol.props, "spec"))
    types = spec.get("policyTypes")
    if isinstance(types, list):
        return {t for t in types if isinstance(t, str)}
    return {"Ingress", *(["Egress"] if "egress" in spec else [])}


def network_policies_for(stack: Stack, workload: Subject) -> list[Subject]:
    return list(_selected_by(stack, "NetworkPolicy", ("spec", "podSelector")).get(workload.urn, []))


def may_select(stack: Stack, namespace: Any, selector: Any, *, plain_map: bool = False, external: frozenset[str] = frozenset()) -> bool:
    """Whether any pod in `namespace` is or might be selected: a workload's (labels unknown in preview, or
    installed by a chart the pack could not render), or one Prometheus Operator runs. In a namespace the
    cluster populates itself (`external`) the pods are not the stack's, so nothing is judged."""
    if namespace in stack.opaque_namespaces() or namespace in external:
        return True

    def matches(labels: dict[str, Any]) -> bool | None:
        return map_selector_matches(selector, labels) if plain_map else selector_matches(selector, labels)

    if any(labels is None or matches(labels) is not False for labels in operated_pods(stack, namespace)):
        return True
    return any(not labels_known(w) or matches(pod_labels(w)) is not False for w in candidates(stack, namespace, selector, plain_map=plain_map))
