"""The Grafana dashboard of a GoService, as JSON in a ConfigMap that Grafana's sidecar loads.

Panels: request rate, error ratio, latency quantiles, goroutines, GC pause, heap against
GOMEMLIMIT, CPU against request and limit, memory against limit, replicas against the
HPA bounds. Queries are plain PromQL (no Grafana macros) so a parser can check them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from components import inputs
from components.k8s import meta
from components.observability import cluster_metrics as cm
from components.observability import queries as q
from components.observability.config import ServiceMonitoringSpec

SIDECAR_LABEL = "grafana_dashboard"
SIDECAR_LABEL_VALUE = "1"
"""kube-prometheus-stack's Grafana sidecar loads ConfigMaps with this label from every namespace."""

SCHEMA_VERSION = 39
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
PANEL_WIDTH, PANEL_HEIGHT, COLUMNS = 12, 8, 2


@dataclass(frozen=True)
class Target:
    expr: str
    legend: str


@dataclass(frozen=True)
class Panel:
    title: str
    unit: str
    targets: tuple[Target, ...]
    description: str = ""


def panels(spec: ServiceMonitoringSpec) -> list[Panel]:
    sel = q.Selectors.of(spec)
    per_pod = "{{pod}}"
    result = [
        Panel("Request rate", "reqps", (Target(f"sum by (code) (rate({q.HTTP_REQUESTS}{sel.app()}[{q.RATE_WINDOW}]))", "{{code}}"),)),
        Panel("Error ratio (5xx)", "percentunit", (Target(q.error_ratio(sel), "5xx share"),), f"Alert threshold {spec.alerts.error_ratio:g}."),
        Panel(
            "Latency quantiles",
            "s",
            tuple(Target(q.latency_quantile(sel, quantile), f"p{int(quantile * 100)}") for quantile in (0.5, 0.9, 0.99)),
            f"p99 alert threshold {spec.alerts.latency_p99_seconds:g}s.",
        ),
        Panel("Goroutines", "short", (Target(f"sum by (pod) ({q.GO_GOROUTINES}{sel.app()})", per_pod),)),
        Panel(
            "GC pause",
            "s",
            (
                Target(f"max by (pod) ({q.GO_GC_DURATION}{sel.app(('quantile', '=', '1'))})", f"max {per_pod}"),
                Target(
                    f"sum by (pod) (rate({q.GO_GC_DURATION}_sum{sel.app()}[{q.RATE_WINDOW}])) / sum by (pod) (rate({q.GO_GC_DURATION}_count{sel.app()}[{q.RATE_WINDOW}]))",
                    f"mean {per_pod}",
                ),
            ),
        ),
        Panel(
            "Heap vs GOMEMLIMIT",
            "bytes",
            (
                Target(f"sum by (pod) ({q.GO_HEAP_INUSE}{sel.app()})", f"heap in use {per_pod}"),
                Target(f"sum by (pod) ({q.PROCESS_RESIDENT_MEMORY}{sel.app()})", f"resident {per_pod}"),
                Target(f"max({q.GO_MEMLIMIT}{sel.app()})", "GOMEMLIMIT"),
            ),
            "GOMEMLIMIT is set below the container limit; the GC works harder as the heap nears it.",
        ),
        Panel(
            "CPU vs request and limit",
            "short",
            (
                Target(q.container_cpu(sel), per_pod),
                Target(q.container_resource(sel, cm.POD_CONTAINER_REQUESTS, "cpu"), "request"),
                Target(q.container_resource(sel, cm.POD_CONTAINER_LIMITS, "cpu"), "limit"),
            ),
        ),
        Panel(
            "Memory vs limit",
            "bytes",
            (
                Target(f"max by (pod) ({cm.CONTAINER_MEMORY_WORKING_SET.name}{sel.container()})", f"working set {per_pod}"),
                Target(q.container_resource(sel, cm.POD_CONTAINER_REQUESTS, "memory"), "request"),
                Target(q.container_resource(sel, cm.POD_CONTAINER_LIMITS, "memory"), "limit"),
            ),
        ),
    ]
    replicas = [Target(f"max({cm.DEPLOYMENT_AVAILABLE_REPLICAS.name}{sel.deployment()})", "available")]
    if spec.hpa_enabled:
        replicas += [
            Target(f"max({cm.HPA_DESIRED_REPLICAS.name}{sel.hpa()})", "desired"),
            Target(f"max({cm.HPA_MIN_REPLICAS.name}{sel.hpa()})", "HPA min"),
            Target(f"max({cm.HPA_MAX_REPLICAS.name}{sel.hpa()})", "HPA max"),
        ]
    else:
        replicas.append(Target(f"max({cm.DEPLOYMENT_SPEC_REPLICAS.name}{sel.deployment()})", "desired"))
    result.append(Panel("Replicas vs HPA bounds" if spec.hpa_enabled else "Replicas", "short", tuple(replicas)))
    return result


def _panel_json(index: int, panel: Panel) -> dict:
    return {
        "id": index + 1,
        "type": "timeseries",
        "title": panel.title,
        "description": panel.description,
        "datasource": dict(DATASOURCE),
        "gridPos": {"x": (index % COLUMNS) * PANEL_WIDTH, "y": (index // COLUMNS) * PANEL_HEIGHT, "w": PANEL_WIDTH, "h": PANEL_HEIGHT},
        "fieldConfig": {"defaults": {"unit": panel.unit}, "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom"}, "tooltip": {"mode": "multi"}},
        "targets": [
            {"refId": chr(ord("A") + i), "datasource": dict(DATASOURCE), "expr": t.expr, "legendFormat": t.legend}
            for i, t in enumerate(panel.targets)
        ],
    }


def dashboard(spec: ServiceMonitoringSpec) -> dict:
    """The dashboard model; its uid is stable per namespace and service so re-imports update it in place."""
    return {
        "uid": dashboard_uid(spec),
        "title": f"Go service {spec.namespace}/{spec.service_name}",
        "tags": ["gosvc", "go"],
        "timezone": "utc",
        "schemaVersion": SCHEMA_VERSION,
        "editable": False,
        "refresh": "30s",
        "time": {"from": "now-3h", "to": "now"},
        "templating": {
            "list": [{"name": "datasource", "label": "Data source", "type": "datasource", "query": "prometheus", "current": {}, "hide": 0}]
        },
        "panels": [_panel_json(i, p) for i, p in enumerate(panels(spec))],
    }


def file_name(spec: ServiceMonitoringSpec) -> str:
    """The data key of the dashboard; a key, which `Deferred.fill` does not reach, so it needs the real name."""
    return f"{inputs.known(spec.service_name, 'the dashboard file name')}.json"


_NAMES = {"namespace": "x--gosvc-dashboard-namespace--", "service_name": "x--gosvc-dashboard-service--", "instance": "x--gosvc-dashboard-instance--"}
_UID = "x--gosvc-dashboard-uid--"
_TEXTS: dict[str, str] = {}
"""Dashboard JSON per shape (the spec with its names replaced by the placeholders above)."""


def dashboard_json(spec: ServiceMonitoringSpec) -> str:
    """`json.dumps(dashboard(spec), indent=2, sort_keys=True)` plus a newline, encoded once per shape.

    Services that differ only in their names share a shape; the indented encoder is pure
    Python, and encoding each service's 13 KB dashboard was the components' largest own cost
    at small N. Names are DNS labels, so they need no JSON escaping; the uid is the
    truncated one `dashboard` builds, so it is filled in whole.
    """
    updates = {field: placeholder for field, placeholder in _NAMES.items() if getattr(spec, field) is not None}
    shape = spec.model_copy(update=updates)
    key = shape.model_dump_json()
    text = _TEXTS.get(key)
    if text is None:
        model = {**dashboard(shape), "uid": _UID}
        text = _TEXTS.setdefault(key, json.dumps(model, indent=2, sort_keys=True) + "\n")
    for field, placeholder in updates.items():
        text = text.replace(placeholder, getattr(spec, field))
    return text.replace(_UID, dashboard_uid(spec))


def dashboard_uid(spec: ServiceMonitoringSpec) -> str:
    """Stable per namespace and service, so re-imports update the dashboard in place; Grafana allows 40 characters."""
    return inputs.known(f"gosvc-{spec.namespace}-{spec.service_name}", "the dashboard uid (truncated to 40 characters)")[:40]


def data(spec: ServiceMonitoringSpec) -> dict[str, str]:
    """The ConfigMap's data: the dashboard JSON under its file name."""
    return {file_name(spec): dashboard_json(spec)}


def config_map(spec: ServiceMonitoringSpec, data_: Any = None) -> dict:
    """The dashboard JSON under one data key, labelled for the Grafana sidecar; `data_` is `data(spec)` computed by
    the caller (from the real names, when they are Outputs), else it is computed here."""
    labels = {**meta.labels(spec.service_name, spec.selector_instance, "dashboard"), SIDECAR_LABEL: SIDECAR_LABEL_VALUE}
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": meta.metadata(f"{spec.service_name}-dashboard", spec.namespace, labels),
        "data": data(spec) if data_ is None else data_,
    }
