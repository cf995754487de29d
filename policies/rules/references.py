"""References between objects: a pod's ServiceAccount, a NetworkPolicy's peers, a Service's target ports, a
StatefulSet's governing Service.

Each names another object or port by name or labels; the API server accepts a reference to
nothing, and the failure shows only at run time (pods not created, traffic silently dropped).
Stack rules, since what is referred to lives in another object of the stack.
"""

from __future__ import annotations

import re
from typing import Any, Iterator, Mapping

from pulumi_policy import Severity

from .definition import Finding, Stack, StackRule, Subject, same_namespace
from .kube import containers, map_selector_matches
from .props import UNKNOWN, get, items, mapping, whole_number
from .relations import candidates, labels_known, may_select, operated_pods, pod_labels

FAMILY = "references"
DEFAULT_ACCOUNT = "default"
"""Created by the cluster in every namespace, so a pod may name it without the stack declaring it."""
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
"""The label the API server sets on every namespace to its name (Kubernetes 1.21+)."""
_PORT_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")


def _external(settings: Mapping[str, Any]) -> frozenset[str]:
    return frozenset(n for n in settings.get("externalNamespaces") or [] if isinstance(n, str))


_EXTERNAL_PARAM = {
    "externalNamespaces": {
        "type": "array",
        "items": {"type": "string"},
        "default": ["kube-system"],
        "description": "Namespaces whose pods the cluster runs itself (CoreDNS, the control plane); references into them are not judged.",
    }
}


def _by_name(stack: Stack, kind: str) -> dict[str, list[Subject]]:
    """The stack's objects of `kind` by name, built once per stack so a lookup per workload stays linear."""

    def build() -> dict[str, list[Subject]]:
        found: dict[str, list[Subject]] = {}
        for subject in stack.kinds(kind):
            found.setdefault(subject.object_name, []).append(subject)
        return found

    return stack.memo(("by_name", kind), build)


def _named(stack: Stack, kind: str, name: str, namespace: Any) -> list[Subject]:
    """The objects of `kind` called `name` that may be in `namespace`."""
    return [s for s in _by_name(stack, kind).get(name, []) if same_namespace(s.namespace, namespace)]


def _service_account_exists(stack: Stack, _: Mapping[str, Any]) -> Iterator[Finding]:
    for workload in stack.workloads():
        if workload.template is None:
            continue
        pod_spec = workload.template[1]
        name = pod_spec.get("serviceAccountName") or pod_spec.get("serviceAccount")
        if not isinstance(name, str) or name == DEFAULT_ACCOUNT or workload.namespace in stack.opaque_namespaces():
            continue
        if _named(stack, "ServiceAccount", name, workload.namespace):
            continue
        yield Finding(
            f"{workload.describe()} runs as ServiceAccount '{name}', which the stack does not create in its namespace, "
            "so the API server refuses its pods",
            workload.urn,
        )


def _peer_namespace(peer: Any, own: Any) -> Any:
    """The one namespace a NetworkPolicy peer's podSelector applies to, or None when it may be several (or unknown)."""
    namespaces = get(peer, "namespaceSelector")
    if namespaces is None:
        return own
    labels = mapping(get(namespaces, "matchLabels"))
    named = labels.get(NAMESPACE_NAME_LABEL)
    return named if isinstance(named, str) and not items(get(namespaces, "matchExpressions")) else None


def _networkpolicy_peers(stack: Stack, settings: Mapping[str, Any]) -> Iterator[Finding]:
    external = _external(settings)
    for netpol in stack.kinds("NetworkPolicy"):
        spec = mapping(get(netpol.props, "spec"))
        for direction, key in (("ingress", "from"), ("egress", "to")):
            for index, rule in enumerate(items(spec.get(direction))):
                for peer in items(get(rule, key)):
                    selector = get(peer, "podSelector")
                    if selector is None or selector is UNKNOWN or not mapping(selector):
                        continue  # no podSelector, or {} (every pod of the namespaces)
                    namespace = _peer_namespace(peer, netpol.namespace)
                    if namespace is None or namespace is UNKNOWN:
                        continue
                    if not may_select(stack, namespace, selector, external=external):
                        yield Finding(
                            f"{netpol.describe()}: {direction}[{index}] peer podSelector {selector} selects no pod of any workload "
                            f"in namespace {namespace}, so the rule allows no traffic",
                            netpol.urn,
                        )


def valid_port_name(name: str) -> bool:
    """An IANA service name as Kubernetes validates port names: at most 15 lowercase letters, digits and
    inner single hyphens, with at least one letter (RFC 6335 section 5.1)."""
    return len(name) <= 15 and bool(_PORT_NAME.match(name)) and "--" not in name and any(ch.isalpha() for ch in name)


def _container_ports(workload: Subject) -> tuple[set[str], set[int]] | None:
    """The names and numbers of the ports the workload's containers declare; None while unknown."""
    names: set[str] = set()
    numbers: set[int] = set()
    for c in containers(workload.template[1], ("containers",)) if workload.template else ():
        ports = c.spec.get("ports")
        if ports is UNKNOWN or UNKNOWN in items(ports):
            return None
        for port in items(ports):
            name, number = get(port, "name"), whole_number(get(port, "containerPort"))
            if isinstance(name, str):
                names.add(name)
            if number is not None:
                numbers.add(number)
    return names, numbers


def _service_target_ports(stack: Stack, _: Mapping[str, Any]) -> Iterator[Finding]:
    for workload in stack.workloads():
        for c in containers(workload.template[1], ("containers", "initContainers")) if workload.template else ():
            for port in items(c.spec.get("ports")):
                name = get(port, "name")
                if isinstance(name, str) and not valid_port_name(name):
                    yield Finding(f"{workload.describe()} {c.label}: port name '{name}' is not a valid IANA service name (at most 15 lowercase letters, digits and hyphens, one letter at least)", workload.urn)
    for service in stack.kinds("Service"):
        spec = mapping(get(service.props, "spec"))
        selector = spec.get("selector")
        ports = spec.get("ports")
        if spec.get("type") == "ExternalName" or ports is UNKNOWN:
            continue
        selected: list[Subject] | None = None
        if isinstance(selector, dict) and selector and not any(v is UNKNOWN for v in selector.values()):
            operated = [labels for labels in operated_pods(stack, service.namespace) if labels is None or map_selector_matches(selector, labels) is not False]
            pool = candidates(stack, service.namespace, selector, plain_map=True)
            if not operated and service.namespace not in stack.opaque_namespaces() and all(labels_known(w) for w in pool):
                selected = [w for w in pool if map_selector_matches(selector, pod_labels(w)) is True]
        for port in items(ports):
            target = get(port, "targetPort", default=get(port, "port"))
            if not isinstance(target, str) or whole_number(target) is not None:
                continue  # a number reaches the container whether or not it declares the port
            if not valid_port_name(target):
                yield Finding(f"{service.describe()}: targetPort '{target}' is not a valid IANA service name, so the API server rejects it", service.urn)
                continue
            if not selected:
                continue
            declared = [_container_ports(w) for w in selected]
            if None in declared:
                continue
            if not any(target in names for names, _numbers in declared if names is not None):
                who = ", ".join(w.describe() for w in selected)
                yield Finding(
                    f"{service.describe()}: targetPort '{target}' names no container port of the pods it selects ({who}), "
                    "so the Service has no endpoints for it",
                    service.urn,
                )


def _statefulset_service(stack: Stack, _: Mapping[str, Any]) -> Iterator[Finding]:
    for statefulset in stack.kinds("StatefulSet"):
        name = get(statefulset.props, "spec", "serviceName")
        if name is UNKNOWN or statefulset.namespace in stack.opaque_namespaces():
            continue
        if not isinstance(name, str) or not name:
            yield Finding(f"{statefulset.describe()} names no serviceName, so its pods get no stable DNS names", statefulset.urn)
            continue
        services = _named(stack, "Service", name, statefulset.namespace)
        if not services:
            yield Finding(f"{statefulset.describe()}: serviceName '{name}' names no Service in its namespace, so its pods get no stable DNS names", statefulset.urn)
        elif not any(get(s.props, "spec", "clusterIP") in ("None", UNKNOWN) for s in services):
            yield Finding(f"{statefulset.describe()}: Service '{name}' is not headless (clusterIP: None), so it publishes no per-pod DNS names", statefulset.urn)


RULES = [
    StackRule(
        "service-account-exists",
        "A pod's serviceAccountName names a ServiceAccount the stack creates in its namespace (or the namespace's 'default').",
        severity=Severity.HIGH,
        family=FAMILY,
        check=_service_account_exists,
        workload_exemptions=True,
        covers={"kube-linter": ["non-existent-service-account"]},
        remediation_steps="Create the ServiceAccount in the workload's namespace (GoService and the logging parts create one each), "
        "or point serviceAccountName at one that exists.",
    ),
    StackRule(
        "networkpolicy-peers-select-pods",
        "NetworkPolicy ingress and egress peers whose podSelector applies to a known namespace select some pod there.",
        severity=Severity.HIGH,
        family=FAMILY,
        check=_networkpolicy_peers,
        params=_EXTERNAL_PARAM,
        covers={"kube-linter": ["dangling-networkpolicypeer-podselector"]},
        remediation_steps="Make the peer's podSelector labels a subset of the target pods' labels, and its namespaceSelector name "
        f"their namespace ({NAMESPACE_NAME_LABEL}).",
    ),
    StackRule(
        "service-target-ports-exist",
        "Port names are valid IANA service names, and a Service's named targetPort is a container port of the pods it selects.",
        severity=Severity.HIGH,
        family=FAMILY,
        check=_service_target_ports,
        covers={"kube-linter": ["invalid-target-ports"]},
        remediation_steps="Name container ports with at most 15 lowercase letters, digits and hyphens, and use those names as the "
        "Service's targetPort (GoService names them http and metrics).",
    ),
    StackRule(
        "statefulset-service-exists",
        "A StatefulSet's serviceName names a headless Service in its namespace.",
        severity=Severity.MEDIUM,
        family=FAMILY,
        check=_statefulset_service,
        workload_exemptions=True,
        covers={"kube-score": ["statefulset-has-servicename"]},
        remediation_steps="Create a Service with clusterIP: None selecting the StatefulSet's pods and set spec.serviceName to its "
        "name (the logging parts use headless_service).",
    ),
]
