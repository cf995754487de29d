"""The cluster-side metric and label names the alerts and dashboards rely on, listed in one place.

kube-prometheus-stack scrapes cAdvisor through the kubelet (`container_*`) and runs
kube-state-metrics (`kube_*`). The names and labels below are the ones those exporters
publish (kube-state-metrics docs/*-metrics.md; cAdvisor docs/storage/prometheus.md); a
test holds every query the project emits to this list.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ClusterMetric:
    """A metric published by one of the stack's own exporters, with the labels it carries."""

    name: str
    source: str
    labels: frozenset[str]


def _metric(name: str, source: str, *labels: str) -> ClusterMetric:
    return ClusterMetric(name, source, frozenset(labels))


_POD_CONTAINER = ("namespace", "pod", "container")

CONTAINER_CPU_USAGE = _metric("container_cpu_usage_seconds_total", "cadvisor", *_POD_CONTAINER, "cpu", "id", "image", "name")
CONTAINER_MEMORY_WORKING_SET = _metric("container_memory_working_set_bytes", "cadvisor", *_POD_CONTAINER, "id", "image", "name")

POD_CONTAINER_RESTARTS = _metric("kube_pod_container_status_restarts_total", "kube-state-metrics", *_POD_CONTAINER, "uid")
POD_CONTAINER_REQUESTS = _metric("kube_pod_container_resource_requests", "kube-state-metrics", *_POD_CONTAINER, "uid", "node", "resource", "unit")
POD_CONTAINER_LIMITS = _metric("kube_pod_container_resource_limits", "kube-state-metrics", *_POD_CONTAINER, "uid", "node", "resource", "unit")

_HPA = ("namespace", "horizontalpodautoscaler")
HPA_CURRENT_REPLICAS = _metric("kube_horizontalpodautoscaler_status_current_replicas", "kube-state-metrics", *_HPA)
HPA_DESIRED_REPLICAS = _metric("kube_horizontalpodautoscaler_status_desired_replicas", "kube-state-metrics", *_HPA)
HPA_MIN_REPLICAS = _metric("kube_horizontalpodautoscaler_spec_min_replicas", "kube-state-metrics", *_HPA)
HPA_MAX_REPLICAS = _metric("kube_horizontalpodautoscaler_spec_max_replicas", "kube-state-metrics", *_HPA)

DEPLOYMENT_SPEC_REPLICAS = _metric("kube_deployment_spec_replicas", "kube-state-metrics", "namespace", "deployment")
DEPLOYMENT_AVAILABLE_REPLICAS = _metric("kube_deployment_status_replicas_available", "kube-state-metrics", "namespace", "deployment")

CLUSTER_METRICS: dict[str, ClusterMetric] = {
    m.name: m
    for m in (
        CONTAINER_CPU_USAGE,
        CONTAINER_MEMORY_WORKING_SET,
        POD_CONTAINER_RESTARTS,
        POD_CONTAINER_REQUESTS,
        POD_CONTAINER_LIMITS,
        HPA_CURRENT_REPLICAS,
        HPA_DESIRED_REPLICAS,
        HPA_MIN_REPLICAS,
        HPA_MAX_REPLICAS,
        DEPLOYMENT_SPEC_REPLICAS,
        DEPLOYMENT_AVAILABLE_REPLICAS,
    )
}

SCRAPE_TARGET_LABELS = frozenset({"job", "instance", "namespace", "service", "pod", "container", "endpoint"})
"""Labels Prometheus Operator attaches to every series scraped through a ServiceMonitor; the app does not export them."""
