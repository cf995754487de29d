"""PromQL for one GoService: the app's metric names, the selectors that pick its series, shared expressions.

Alerts and dashboard panels are built from these, so a renamed metric or label changes
in one place. App metrics are the ones `app/metrics.go` registers (promhttp's
`http_*`, the Go and process collectors); cluster metrics come from `cluster_metrics`.
"""

from __future__ import annotations

from dataclasses import dataclass

from components.observability import cluster_metrics as cm
from components.observability.config import ServiceMonitoringSpec
from components.service.workload import APP_CONTAINER

HTTP_REQUESTS = "http_requests_total"
HTTP_DURATION = "http_request_duration_seconds"
HTTP_DURATION_BUCKET = f"{HTTP_DURATION}_bucket"
GO_GOROUTINES = "go_goroutines"
GO_GC_DURATION = "go_gc_duration_seconds"
GO_HEAP_INUSE = "go_memstats_heap_inuse_bytes"
GO_MEMLIMIT = "go_gc_gomemlimit_bytes"
PROCESS_RESIDENT_MEMORY = "process_resident_memory_bytes"

RATE_WINDOW = "5m"
"""Window of rate() in alerts and panels: at least four scrapes at the default 30s interval."""

SERVER_ERROR_CODES = "5.."


def _matchers(pairs: list[tuple[str, str, str]]) -> str:
    return "{" + ", ".join(f'{label}{op}"{value}"' for label, op, value in pairs) + "}"


@dataclass(frozen=True)
class Selectors:
    """Label matchers for the service's own series and for the cluster's series about its pods."""

    namespace: str
    service: str

    @classmethod
    def of(cls, spec: ServiceMonitoringSpec) -> "Selectors":
        return cls(spec.namespace, spec.service_name)

    @property
    def pod_pattern(self) -> str:
        """Pods of the Deployment: `<name>-<pod-template-hash>-<suffix>`; PromQL regexes are fully anchored."""
        return f"{self.service}-[a-z0-9]+-[a-z0-9]+"

    def app(self, *extra: tuple[str, str, str]) -> str:
        """Series scraped from the service through its ServiceMonitor (target labels namespace and service)."""
        return _matchers([("namespace", "=", self.namespace), ("service", "=", self.service), *extra])

    def container(self, *extra: tuple[str, str, str]) -> str:
        """cAdvisor and kube-state-metrics series of the app container in the service's pods."""
        return _matchers([("namespace", "=", self.namespace), ("pod", "=~", self.pod_pattern), ("container", "=", APP_CONTAINER), *extra])

    def hpa(self) -> str:
        return _matchers([("namespace", "=", self.namespace), ("horizontalpodautoscaler", "=", self.service)])

    def deployment(self) -> str:
        return _matchers([("namespace", "=", self.namespace), ("deployment", "=", self.service)])


def request_rate(sel: Selectors, *extra: tuple[str, str, str]) -> str:
    return f"sum(rate({HTTP_REQUESTS}{sel.app(*extra)}[{RATE_WINDOW}]))"


def error_ratio(sel: Selectors) -> str:
    """Share of requests answered 5xx; no traffic gives no value rather than zero."""
    return f"{request_rate(sel, ('code', '=~', SERVER_ERROR_CODES))} / {request_rate(sel)}"


def latency_quantile(sel: Selectors, quantile: float) -> str:
    return f"histogram_quantile({quantile:g}, sum by (le) (rate({HTTP_DURATION_BUCKET}{sel.app()}[{RATE_WINDOW}])))"


def container_cpu(sel: Selectors) -> str:
    return f"sum by (pod) (rate({cm.CONTAINER_CPU_USAGE.name}{sel.container()}[{RATE_WINDOW}]))"


def container_resource(sel: Selectors, metric: cm.ClusterMetric, resource: str) -> str:
    """A container's request or limit for `resource` (cpu, memory), the largest over its pods."""
    return f"max({metric.name}{sel.container(('resource', '=', resource))})"


def memory_usage_ratio(sel: Selectors) -> str:
    """Each pod's working set over its memory limit (what the OOM killer compares)."""
    usage = f"max by (namespace, pod) ({cm.CONTAINER_MEMORY_WORKING_SET.name}{sel.container()})"
    limit = f"max by (namespace, pod) ({cm.POD_CONTAINER_LIMITS.name}{sel.container(('resource', '=', 'memory'))})"
    return f"{usage} / on (namespace, pod) {limit}"
