"""prometheus-adapter: its chart values and the rule that serves `requests_per_second` to the HPA.

Value keys follow the chart's values.yaml (prometheus-community/helm-charts,
charts/prometheus-adapter); the rule format is prometheus-adapter's config walkthrough
(docs/config-walkthrough.md): discover series, map labels to resources, name, query.
"""

from __future__ import annotations

import re
from typing import Any

from components.config import ResourcesSpec
from components.k8s import resources, security
from components.k8s.exemptions import exemptions
from components.observability import prometheus_stack, queries
from components.observability.config import PrometheusStackSpec
from components.service.autoscaling import REQUESTS_PER_SECOND

RATE_WINDOW = "2m"
ADAPTER_UID = 10001  # the image is static and runs as any non-root UID; 10001 is also the chart's default
RESOURCES = ResourcesSpec(cpu_request="50m", cpu_limit=None, memory_request="128Mi", memory_limit="256Mi")
EPHEMERAL_STORAGE = "64Mi"
"""The adapter writes only its self-signed serving certificate to the chart's /tmp emptyDir, which has no sizeLimit."""
RELEASE_NAME = "prometheus-adapter"
POD_SELECTOR = {"app.kubernetes.io/name": "prometheus-adapter", "app.kubernetes.io/instance": RELEASE_NAME}
"""The chart's selector labels (k8s-prometheus-adapter.selectorLabels) for a release of this name."""
EXEMPTIONS = {
    "service-account-token-not-automounted": "it serves custom.metrics.k8s.io as an aggregated API: it checks the API "
    "server's calls and looks up pods and namespaces through the API",
    # The chart puts its customAnnotations on every object it renders, the Deployment too, so its RBAC is exempted here.
    "rbac-no-wildcards": "prometheus-adapter 5.3.0 writes verbs ['*'] on custom.metrics.k8s.io, the API the adapter itself "
    "serves, and binds it to the adapter's account; only the resource list is a value",
}


def requests_per_second_rule() -> dict[str, Any]:
    """`http_requests_total` per pod as `requests_per_second`: the name comes from the HPA's own constant."""
    return {
        "seriesQuery": f'{queries.HTTP_REQUESTS}{{namespace!="", pod!=""}}',
        "resources": {"overrides": {"namespace": {"resource": "namespace"}, "pod": {"resource": "pod"}}},
        "name": {"matches": f"^{queries.HTTP_REQUESTS}$", "as": REQUESTS_PER_SECOND},
        "metricsQuery": f"sum(rate(<<.Series>>{{<<.LabelMatchers>>}}[{RATE_WINDOW}])) by (<<.GroupBy>>)",
    }


def rules() -> list[dict[str, Any]]:
    return [requests_per_second_rule()]


def metric_name(rule: dict[str, Any], series: str) -> str:
    """The custom metric name a rule gives `series`, as the adapter derives it (regex `matches`, template `as`)."""
    return re.sub(rule["name"]["matches"], rule["name"]["as"].replace("${1}", r"\1"), series)


def metric_names() -> list[str]:
    return [rule["name"]["as"] for rule in rules()]


def fill(metrics_query: str, series: str, label_matchers: str, group_by: str) -> str:
    """A metricsQuery with its template placeholders filled in, the way the adapter does per request."""
    return metrics_query.replace("<<.Series>>", series).replace("<<.LabelMatchers>>", label_matchers).replace("<<.GroupBy>>", group_by)


def values(spec: PrometheusStackSpec) -> dict[str, Any]:
    """Points the adapter at the stack's Prometheus and serves only our custom rules.

    `rules.resource` stays empty so the adapter does not claim metrics.k8s.io, which
    metrics-server serves for the HPA's CPU target.
    """
    return {
        "prometheus": {
            "url": f"http://{prometheus_stack.PROMETHEUS_SERVICE}.{spec.namespace}.svc",
            "port": prometheus_stack.PROMETHEUS_PORT,
            "path": "",
        },
        "replicas": spec.adapter_replicas,
        "metricsRelistInterval": "1m",
        "rules": {"default": False, "custom": rules(), "external": []},
        "resources": resources.with_ephemeral_storage(resources.requirements(RESOURCES), EPHEMERAL_STORAGE),
        "podSecurityContext": {"fsGroup": ADAPTER_UID, "seccompProfile": dict(security.RUNTIME_DEFAULT_SECCOMP)},
        "securityContext": security.container_security_context(ADAPTER_UID),
        "podDisruptionBudget": {"enabled": spec.adapter_replicas > 1, "maxUnavailable": 1, "unhealthyPodEvictionPolicy": "AlwaysAllow"},
        "topologySpreadConstraints": [
            {"maxSkew": 1, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "ScheduleAnyway", "labelSelector": {"matchLabels": POD_SELECTOR}},
        ],
        # Served by Kubernetes' API server library: /readyz fails while it cannot serve, /livez only when it is stuck.
        # Helm merges these into the chart's probes, which keep their port, scheme and timings.
        "readinessProbe": {"httpGet": {"path": "/readyz"}},
        "livenessProbe": {"httpGet": {"path": "/livez"}, "failureThreshold": prometheus_stack.LIVENESS_FAILURES},
        "strategy": prometheus_stack.SURGE_FIRST,
        "serviceAccount": {"automountServiceAccountToken": False},
        "automountServiceAccountToken": True,
        "deploymentAnnotations": exemptions(EXEMPTIONS),
    }
