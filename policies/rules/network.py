"""Network exposure and observability: NetworkPolicies for every pod, Service types, Prometheus scraping of GoServices."""

from __future__ import annotations

from typing import Any, Iterator, Mapping

from pulumi_policy import Severity

from .definition import Finding, NotApplicable, ResourceRule, Stack, StackRule, Subject
from .kube import selector_matches
from .props import UNKNOWN, get, items, mapping
from .relations import labels_known, network_policies_for, policy_types

GO_SERVICE = "gosvc:index:GoService"
MONITORING_GROUP = "monitoring.coreos.com/"
FAMILY_NETWORK = "network"
FAMILY_OBSERVABILITY = "observability"


def _networkpolicy_per_workload(stack: Stack, _: Mapping[str, Any]) -> Iterator[Finding]:
    for workload in stack.workloads():
        if not labels_known(workload):
            continue
        covered: set[str] = set()
        for netpol in network_policies_for(stack, workload):
            covered |= policy_types(netpol)
        missing = [d for d in ("Ingress", "Egress") if d not in covered]
        if missing:
            yield Finding(
                f"{workload.describe()}: no NetworkPolicy in its namespace isolates its pods for {' and '.join(missing)}, "
                "so they accept or open any connection",
                workload.urn,
            )


def _service_type(subject: Subject, settings: Mapping[str, Any]) -> Iterator[str]:
    if subject.kind != "Service":
        return
    spec = mapping(subject.props.get("spec"))
    kind = spec.get("type", "ClusterIP")
    if kind == "NodePort":
        yield "is a NodePort Service, which opens a port on every node; use ClusterIP behind an Ingress or Gateway"
    elif kind == "LoadBalancer" and not settings.get("allowLoadBalancer"):
        yield "is a LoadBalancer Service, which is not allowed by this stack's policy config; use ClusterIP behind an Ingress or Gateway"
    if items(spec.get("externalIPs")):
        yield "sets externalIPs, which lets it capture traffic for any address (CVE-2020-8554); remove them"


def _monitor_selects(monitor: Subject, service: Subject, port_name: str) -> bool:
    spec = mapping(get(monitor.props, "spec"))
    namespaces = mapping(spec.get("namespaceSelector"))
    if namespaces.get("any") is True:
        in_scope = True
    elif "matchNames" in namespaces:
        in_scope = service.namespace in items(namespaces.get("matchNames"))
    else:
        in_scope = service.namespace == monitor.namespace
    return (
        in_scope
        and selector_matches(spec.get("selector", {}), service.labels) is True
        and any(get(e, "port") == port_name for e in items(spec.get("endpoints")))
    )


def _monitors_that_may_select(stack: Stack, service: Subject) -> list[Subject]:
    """The ServiceMonitors that may select `service`, in stack order: a superset for `_monitor_selects`.

    Each monitor is indexed under one pair of its selector's matchLabels (a service it selects
    carries them all); monitors without such a pair are always candidates. Built once per
    stack, so matching every service against every monitor stays linear.
    """

    def build() -> tuple[dict[tuple[str, str], list[Subject]], list[Subject], dict[str, int]]:
        by_pair: dict[tuple[str, str], list[Subject]] = {}
        always: list[Subject] = []
        monitors = stack.kinds("ServiceMonitor")
        for monitor in monitors:
            labels = mapping(get(monitor.props, "spec", "selector", "matchLabels"))
            pairs = sorted((k, v) for k, v in labels.items() if isinstance(v, str))
            if pairs and len(pairs) == len(labels):
                by_pair.setdefault(pairs[0], []).append(monitor)
            else:
                always.append(monitor)
        return by_pair, always, {m.urn: i for i, m in enumerate(monitors)}

    by_pair, always, order = stack.memo("service_monitor_index", build)
    found = {m.urn: m for m in always}
    for pair in service.labels.items():
        for monitor in by_pair.get(pair, []):
            found[monitor.urn] = monitor
    return sorted(found.values(), key=lambda m: order[m.urn])


def _prometheus_operator_present(stack: Stack) -> bool:
    """A Prometheus Operator object (ServiceMonitor, PrometheusRule, ...) or a Helm release of a Prometheus chart."""
    if any(r.type.startswith(f"kubernetes:{MONITORING_GROUP}") for r in stack.resources):
        return True  # found from the type token alone, without copying every resource's props
    for r in stack.resources:
        api = r.props.get("apiVersion")
        if r.kind and isinstance(api, str) and api.startswith(MONITORING_GROUP):
            return True
        chart = r.props.get("chart")
        if r.type.startswith("kubernetes:helm.sh/") and isinstance(chart, str) and "prometheus" in chart:
            return True
    return False


def _metrics_scraped(stack: Stack, settings: Mapping[str, Any]) -> Iterator[Finding]:
    services = [s for s in stack.kinds("Service") if s.within(GO_SERVICE)]
    if not services:
        raise NotApplicable("the stack has no GoService")
    if not _prometheus_operator_present(stack):
        raise NotApplicable("the stack runs no Prometheus Operator (no monitoring.coreos.com objects, no Prometheus chart)")
    port_name = settings.get("metricsPortName") or "metrics"
    for service in services:
        ports = items(get(service.props, "spec", "ports"))
        if UNKNOWN in ports:
            continue
        if not any(get(p, "name") == port_name for p in ports):
            yield Finding(f"{service.describe()} has no port named '{port_name}', so Prometheus cannot scrape the service's metrics", service.urn)
        elif not any(_monitor_selects(m, service, port_name) for m in _monitors_that_may_select(stack, service)):
            yield Finding(
                f"{service.describe()}: no ServiceMonitor selects its labels in namespace {service.namespace} and scrapes port "
                f"'{port_name}', so its metrics and alerts are missing",
                service.urn,
            )


RULES = [
    StackRule(
        "networkpolicy-per-workload",
        "Every workload's pods are isolated for ingress and egress by a NetworkPolicy.",
        severity=Severity.HIGH,
        family=FAMILY_NETWORK,
        covers={"kube-linter": ["non-isolated-pod"], "kube-score": ["pod-networkpolicy"], "polaris": ["missingNetworkPolicy"], "checkov": ["CKV2_K8S_6"]},
        check=_networkpolicy_per_workload,
        remediation_steps="Add a NetworkPolicy whose podSelector selects the pods, with policyTypes [Ingress, Egress] and only the "
        "peers and ports they need (DNS egress included).",
    ),
    ResourceRule(
        "service-type-allowed",
        "Services are not NodePort, are LoadBalancer only where the stack allows it, and set no externalIPs.",
        severity=Severity.HIGH,
        family=FAMILY_NETWORK,
        covers={"kube-linter": ["exposed-services"], "kube-score": ["service-type"]},
        check=_service_type,
        params={"allowLoadBalancer": {"type": "boolean", "default": False, "description": "Allow Services of type LoadBalancer."}},
        remediation_steps="Use a ClusterIP Service and expose it through the cluster's Ingress or Gateway.",
    ),
    StackRule(
        "metrics-scraped",
        "Every GoService's Service has a ServiceMonitor that selects it and scrapes its metrics port.",
        severity=Severity.MEDIUM,
        family=FAMILY_OBSERVABILITY,
        check=_metrics_scraped,
        params={"metricsPortName": {"type": "string", "minLength": 1, "default": "metrics", "description": "Name of the Service port Prometheus scrapes."}},
        remediation_steps="Create a monitoring.coreos.com/v1 ServiceMonitor with spec.selector.matchLabels set to the Service's "
        "selector labels, namespaceSelector.matchNames [<service namespace>] and endpoints [{port: metrics}]. Not applicable to "
        "stacks without the Prometheus Operator.",
    ),
]
