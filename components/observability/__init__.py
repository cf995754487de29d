"""Observability: the kube-prometheus-stack + prometheus-adapter install, and per-service monitoring.

Pure builders (chart values, ServiceMonitor, PrometheusRule, dashboard) live beside the components.
"""

from components.observability.component import (
    PrometheusStack,
    PrometheusStackArgs,
    ServiceMonitoring,
    ServiceMonitoringArgs,
)

__all__ = ["PrometheusStack", "PrometheusStackArgs", "ServiceMonitoring", "ServiceMonitoringArgs"]
