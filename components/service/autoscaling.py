"""The HorizontalPodAutoscaler (autoscaling/v2) for a GoService, as a plain dict."""

from __future__ import annotations

from components.service.config import ServiceSpec
from components.service.workload import ServiceNames

REQUESTS_PER_SECOND = "requests_per_second"
"""The per-pod custom metric the HPA asks for; the Prometheus adapter rule must produce exactly this name."""


def cpu_metric(utilization: int) -> dict:
    return {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": utilization}}}


def behavior(scale_down_stabilization_seconds: int) -> dict:
    """Scale up at once (double or +4 pods per 15 s); scale down slowly after a stable window."""
    return {
        "scaleUp": {
            "stabilizationWindowSeconds": 0,
            "selectPolicy": "Max",
            "policies": [
                {"type": "Percent", "value": 100, "periodSeconds": 15},
                {"type": "Pods", "value": 4, "periodSeconds": 15},
            ],
        },
        "scaleDown": {
            "stabilizationWindowSeconds": scale_down_stabilization_seconds,
            "selectPolicy": "Max",
            "policies": [{"type": "Percent", "value": 50, "periodSeconds": 60}],
        },
    }


def requests_per_second_metric(average_value: str) -> dict:
    """A Pods metric: scale so each pod serves about `average_value` requests per second."""
    return {
        "type": "Pods",
        "pods": {"metric": {"name": REQUESTS_PER_SECOND}, "target": {"type": "AverageValue", "averageValue": average_value}},
    }


def horizontal_pod_autoscaler(spec: ServiceSpec, names: ServiceNames) -> dict | None:
    """None when autoscaling is off; adds the requests-per-second Pods metric when a target is set."""
    scaling = spec.autoscaling
    if not scaling.enabled:
        return None
    extra_metrics = [requests_per_second_metric(scaling.requests_per_second)] if scaling.requests_per_second else []
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": names.metadata(),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": names.name},
            "minReplicas": scaling.min_replicas,
            "maxReplicas": scaling.max_replicas,
            "metrics": [cpu_metric(scaling.cpu_utilization), *extra_metrics],
            "behavior": behavior(scaling.scale_down_stabilization_seconds),
        },
    }
