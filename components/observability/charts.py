"""The Helm charts the monitoring stack installs, pinned here and nowhere else.

Both charts are published by prometheus-community (github.com/prometheus-community/helm-charts)
in one repository, so a single mirror URL serves both; an `oci://` mirror works too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

DEFAULT_REPOSITORY = "https://prometheus-community.github.io/helm-charts"

RELEASE_TIMEOUT_SECONDS = 900  # a first install pulls several images and waits for every pod to be ready
RELEASE_HISTORY = 5


@dataclass(frozen=True)
class Chart:
    """A chart name and its pinned version."""

    name: str
    version: str

    def reference(self, repository: str) -> dict[str, Any]:
        """Release arguments locating the chart: a classic repository URL, or a chart path under an OCI registry."""
        if repository.startswith("oci://"):
            return {"chart": f"{repository}/{self.name}", "version": self.version}
        return {"chart": self.name, "version": self.version, "repository_opts": {"repo": repository}}

    def release_args(self, release_name: str, namespace: str, repository: str, values: dict[str, Any]) -> dict[str, Any]:
        """Keyword arguments of `helm.v3.Release`: a fixed release name (so service names are known), the
        pinned chart, and a rollback of failed installs rather than a half-installed stack."""
        return {
            "name": release_name,
            "namespace": namespace,
            **self.reference(repository),
            "values": values,
            "cleanup_on_fail": True,
            "max_history": RELEASE_HISTORY,
            "timeout": RELEASE_TIMEOUT_SECONDS,
        }


KUBE_PROMETHEUS_STACK = Chart("kube-prometheus-stack", "88.5.3")
"""Prometheus Operator 0.93.1, Prometheus, Alertmanager, Grafana (its chart 12.11.1), kube-state-metrics, node-exporter."""

PROMETHEUS_ADAPTER = Chart("prometheus-adapter", "5.3.0")
"""Serves custom.metrics.k8s.io from Prometheus queries, for the HPA's requests_per_second metric."""
