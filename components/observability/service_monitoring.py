"""The service-side monitoring objects of a GoService: ServiceMonitor, PrometheusRule, dashboard ConfigMap."""

from __future__ import annotations

from typing import Any

from components.k8s import meta
from components.observability import alerts, dashboard
from components.observability.config import ServiceMonitoringSpec

API_VERSION = "monitoring.coreos.com/v1"
METRICS_PORT_NAME = "metrics"
"""The name GoService gives its metrics port, in the Service and the container."""
METRICS_PATH = "/metrics"


def service_monitor(spec: ServiceMonitoringSpec) -> dict:
    """Scrapes the Service's metrics port by name, selecting it by the GoService's selector labels."""
    return {
        "apiVersion": API_VERSION,
        "kind": "ServiceMonitor",
        "metadata": meta.metadata(spec.service_name, spec.namespace, meta.labels(spec.service_name, spec.selector_instance, "monitoring")),
        "spec": {
            "selector": {"matchLabels": meta.selector_labels(spec.service_name, spec.selector_instance)},
            "namespaceSelector": {"matchNames": [spec.namespace]},
            "endpoints": [
                {
                    "port": METRICS_PORT_NAME,
                    "path": METRICS_PATH,
                    "scheme": "http",
                    "interval": spec.scrape_interval,
                    "scrapeTimeout": spec.scrape_timeout,
                }
            ],
        },
    }


def build(spec: ServiceMonitoringSpec, dashboard_data: Any = None) -> dict[str, dict]:
    """Every object, by role; the dashboard only when asked for. `dashboard_data` is `dashboard.data(spec)` computed by
    the caller from the real names (its uid truncates them), else it is computed here."""
    objects = {"service_monitor": service_monitor(spec), "prometheus_rule": alerts.prometheus_rule(spec)}
    if spec.dashboard:
        objects["dashboard"] = dashboard.config_map(spec, dashboard_data)
    return objects
