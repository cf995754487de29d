"""The PrometheusRule of a GoService: the alerts a Go service owner expects, as a plain dict.

Every alert carries `severity`, a `summary`, a `description` and a `runbook_url` that
points at its runbook (the README's Runbooks section by default).
"""

from __future__ import annotations

from dataclasses import dataclass

from components.k8s import meta
from components.observability import cluster_metrics as cm
from components.observability import queries as q
from components.observability.config import ServiceMonitoringSpec

API_VERSION = "monitoring.coreos.com/v1"
RESTART_WINDOW = "15m"


@dataclass(frozen=True)
class Alert:
    """One alerting rule before rendering."""

    name: str
    expr: str
    for_: str
    severity: str
    summary: str
    description: str


def alerts(spec: ServiceMonitoringSpec) -> list[Alert]:
    """The service's alerts; the HPA alert only when an HPA runs."""
    sel = q.Selectors.of(spec)
    t = spec.alerts
    where = f"{spec.namespace}/{spec.service_name}"
    result = [
        Alert(
            "GoServiceHighErrorRatio",
            f"{q.error_ratio(sel)} > {t.error_ratio:g}",
            "5m",
            "critical",
            f"{where}: more than {t.error_ratio * 100:g}% of requests fail with 5xx",
            "{{ $value | humanizePercentage }} of requests were answered 5xx over the last " + q.RATE_WINDOW + ".",
        ),
        Alert(
            "GoServiceHighLatencyP99",
            f"{q.latency_quantile(sel, 0.99)} > {t.latency_p99_seconds:g}",
            "10m",
            "warning",
            f"{where}: p99 latency above {t.latency_p99_seconds:g}s",
            "The 99th percentile of request duration is {{ $value | humanizeDuration }}.",
        ),
        Alert(
            "GoServicePodRestarting",
            f"sum by (namespace, pod) (increase({cm.POD_CONTAINER_RESTARTS.name}{sel.container()}[{RESTART_WINDOW}])) >= {t.restarts}",
            "0s",
            "warning",
            f"{where}: a pod restarted {t.restarts} or more times in {RESTART_WINDOW}",
            "Pod {{ $labels.pod }} restarted {{ $value | humanize }} times in " + RESTART_WINDOW + " (crash, OOM kill or failed liveness probe).",
        ),
        Alert(
            "GoServiceMemoryNearLimit",
            f"{q.memory_usage_ratio(sel)} > {t.memory_percent / 100:g}",
            "10m",
            "warning",
            f"{where}: a pod's working set is above {t.memory_percent}% of its memory limit",
            "Pod {{ $labels.pod }} uses {{ $value | humanizePercentage }} of its memory limit; it is close to being OOM-killed.",
        ),
    ]
    if spec.hpa_enabled:
        current = f"max by (namespace, horizontalpodautoscaler) ({cm.HPA_CURRENT_REPLICAS.name}{sel.hpa()})"
        maximum = f"max by (namespace, horizontalpodautoscaler) ({cm.HPA_MAX_REPLICAS.name}{sel.hpa()})"
        result.append(
            Alert(
                "GoServiceHpaMaxedOut",
                f"{current} >= on (namespace, horizontalpodautoscaler) {maximum}",
                f"{t.hpa_maxed_minutes}m",
                "warning",
                f"{where}: the autoscaler has been at its maximum for {t.hpa_maxed_minutes}m",
                "The HPA runs {{ $value }} replicas, its maximum; load beyond this is not absorbed. Raise the maximum or find the hot path.",
            )
        )
    return result


def runbook_url(spec: ServiceMonitoringSpec, alert: str) -> str:
    return f"{spec.runbook_base_url}#{alert.lower()}"


def rule(spec: ServiceMonitoringSpec, alert: Alert) -> dict:
    rendered = {
        "alert": alert.name,
        "expr": alert.expr,
        "labels": {"severity": alert.severity, "namespace": spec.namespace, "service": spec.service_name},
        "annotations": {
            "summary": alert.summary,
            "description": alert.description,
            "runbook_url": runbook_url(spec, alert.name),
        },
    }
    if alert.for_ != "0s":
        rendered["for"] = alert.for_
    return rendered


def prometheus_rule(spec: ServiceMonitoringSpec) -> dict:
    """A PrometheusRule in the service's namespace; the stack's empty ruleSelector picks it up."""
    return {
        "apiVersion": API_VERSION,
        "kind": "PrometheusRule",
        "metadata": meta.metadata(
            spec.service_name,
            spec.namespace,
            meta.labels(spec.service_name, spec.selector_instance, "alerting"),
        ),
        "spec": {"groups": [{"name": f"{spec.namespace}.{spec.service_name}", "rules": [rule(spec, a) for a in alerts(spec)]}]},
    }
