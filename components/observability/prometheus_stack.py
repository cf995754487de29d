"""kube-prometheus-stack: its chart values, the monitoring Namespace and the Grafana admin Secret, as plain dicts.

Value keys follow the chart's values.yaml (prometheus-community/helm-charts,
charts/kube-prometheus-stack) and, under `grafana:`, the grafana subchart's.
"""

from __future__ import annotations

from typing import Any

from components.config import ResourcesSpec
from components.k8s import meta, resources, security
from components.observability import dashboard
from components.observability.config import PrometheusStackSpec

RELEASE_NAME = "kube-prometheus-stack"
FULLNAME = RELEASE_NAME
"""`fullnameOverride`, so the Services have these names whatever the release is called."""

PROMETHEUS_SERVICE = f"{FULLNAME}-prometheus"
PROMETHEUS_PORT = 9090
ALERTMANAGER_SERVICE = f"{FULLNAME}-alertmanager"
ALERTMANAGER_PORT = 9093
GRAFANA_SERVICE = f"{RELEASE_NAME}-grafana"  # the grafana subchart's fullname: <release>-grafana
GRAFANA_PORT = 80

GRAFANA_ADMIN_SECRET = "grafana-admin"
GRAFANA_ADMIN_USER = "admin"
GRAFANA_USER_KEY = "admin-user"
GRAFANA_PASSWORD_KEY = "admin-password"
"""The grafana chart reads the admin login from `admin.existingSecret` under these keys (its defaults)."""

DISCOVERED_KINDS = ("serviceMonitor", "podMonitor", "rule", "probe")
"""Monitor kinds Prometheus picks up from every namespace, whatever their labels."""

# Small but not starved; the stack's own workloads are not exposed to stack config, Prometheus is.
COMPONENT_RESOURCES = {
    "alertmanager": ResourcesSpec(cpu_request="10m", cpu_limit=None, memory_request="64Mi", memory_limit="128Mi"),
    "grafana": ResourcesSpec(cpu_request="50m", cpu_limit=None, memory_request="192Mi", memory_limit="512Mi"),
    "grafana_sidecar": ResourcesSpec(cpu_request="10m", cpu_limit=None, memory_request="64Mi", memory_limit="128Mi"),
    "operator": ResourcesSpec(cpu_request="50m", cpu_limit=None, memory_request="96Mi", memory_limit="256Mi"),
    "kube_state_metrics": ResourcesSpec(cpu_request="20m", cpu_limit=None, memory_request="64Mi", memory_limit="256Mi"),
    "node_exporter": ResourcesSpec(cpu_request="20m", cpu_limit=None, memory_request="32Mi", memory_limit="64Mi"),
    "admission_jobs": ResourcesSpec(cpu_request="10m", cpu_limit=None, memory_request="32Mi", memory_limit="64Mi"),
}

GRAFANA_UID = 472
"""The grafana image's user (and the chart's default); its writable paths are the chart's emptyDirs."""
NOBODY_UID = 65534
"""node-exporter's user in its chart: it reads /proc, /sys and the root filesystem, all world-readable, through read-only mounts."""


def prometheus_url(namespace: str) -> str:
    return f"http://{PROMETHEUS_SERVICE}.{namespace}.svc:{PROMETHEUS_PORT}"


def alertmanager_url(namespace: str) -> str:
    return f"http://{ALERTMANAGER_SERVICE}.{namespace}.svc:{ALERTMANAGER_PORT}"


def _requirements(name: str) -> dict:
    return resources.requirements(COMPONENT_RESOURCES[name])


def _volume_claim(size: str, storage_class: str | None) -> dict:
    spec: dict[str, Any] = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}}
    if storage_class:
        spec["storageClassName"] = storage_class
    return {"volumeClaimTemplate": {"spec": spec}}


def discovery_selectors() -> dict[str, Any]:
    """`<kind>SelectorNilUsesHelmValues: false` with empty selectors: every monitor and rule, any namespace, any labels."""
    values: dict[str, Any] = {}
    for kind in DISCOVERED_KINDS:
        values[f"{kind}SelectorNilUsesHelmValues"] = False
        values[f"{kind}Selector"] = {}
        values[f"{kind}NamespaceSelector"] = {}
    return values


def _spread(replicas: int) -> dict[str, Any]:
    """Soft anti-affinity between replicas (the operator's own setting) once there is more than one."""
    return {"podAntiAffinity": "soft"} if replicas > 1 else {}


def _pdb(replicas: int) -> dict[str, Any]:
    return {"enabled": replicas > 1, "minAvailable": 1}


def prometheus_values(spec: PrometheusStackSpec) -> dict[str, Any]:
    p = spec.prometheus
    prometheus_spec: dict[str, Any] = {
        **discovery_selectors(),
        "replicas": p.replicas,
        "retention": p.retention,
        "resources": resources.requirements(p.resources),
        **_spread(p.replicas),
    }
    if p.retention_size:
        prometheus_spec["retentionSize"] = p.retention_size
    if p.storage_size:
        prometheus_spec["storageSpec"] = _volume_claim(p.storage_size, spec.storage_class)
    return {"prometheusSpec": prometheus_spec, "podDisruptionBudget": _pdb(p.replicas)}


def alertmanager_values(spec: PrometheusStackSpec) -> dict[str, Any]:
    a = spec.alertmanager
    alertmanager_spec: dict[str, Any] = {"replicas": a.replicas, "resources": _requirements("alertmanager"), **_spread(a.replicas)}
    if a.storage_size:
        alertmanager_spec["storage"] = _volume_claim(a.storage_size, spec.storage_class)
    return {"alertmanagerSpec": alertmanager_spec, "podDisruptionBudget": _pdb(a.replicas)}


def grafana_values() -> dict[str, Any]:
    """Admin login from our Secret (never a value in the release), dashboards from labelled ConfigMaps anywhere."""
    return {
        "admin": {"existingSecret": GRAFANA_ADMIN_SECRET, "userKey": GRAFANA_USER_KEY, "passwordKey": GRAFANA_PASSWORD_KEY},
        "persistence": {"enabled": False},  # dashboards and datasources are provisioned, nothing to keep
        "resources": _requirements("grafana"),
        "securityContext": security.pod_security_context(GRAFANA_UID),
        # Read-only root: Grafana writes only under /var/lib/grafana and the sidecars under their folders, all emptyDirs of the chart.
        "containerSecurityContext": security.container_security_context(GRAFANA_UID),
        "testFramework": {"enabled": False},  # the grafana-test pod exists only for `helm test` and runs as root
        "sidecar": {
            "dashboards": {
                "enabled": True,
                "label": dashboard.SIDECAR_LABEL,
                "labelValue": dashboard.SIDECAR_LABEL_VALUE,
                "searchNamespace": "ALL",
                "resource": "configmap",  # dashboards come from ConfigMaps only; the sidecar need not read Secrets
            },
            "datasources": {"resource": "configmap"},
            "resources": _requirements("grafana_sidecar"),
            "securityContext": security.container_security_context(GRAFANA_UID),
        },
    }


def values(spec: PrometheusStackSpec) -> dict[str, Any]:
    """The chart values: discovery from all namespaces, retention, storage, resources, replicas."""
    return {
        "fullnameOverride": FULLNAME,
        "crds": {"enabled": True},
        "prometheus": prometheus_values(spec),
        "alertmanager": alertmanager_values(spec),
        "grafana": grafana_values(),
        "prometheusOperator": {
            "resources": _requirements("operator"),
            # The hook Jobs that create and patch the webhook certificate ship with no resources at all.
            "admissionWebhooks": {"patch": {"resources": _requirements("admission_jobs")}},
        },
        "kube-state-metrics": {"resources": _requirements("kube_state_metrics")},
        "nodeExporter": {"enabled": spec.node_exporter},
        "prometheus-node-exporter": node_exporter_values(spec),
    }


def node_exporter_values(spec: PrometheusStackSpec) -> dict[str, Any]:
    """node-exporter in its own namespace, as restricted as its job allows.

    hostNetwork and hostPID stay (the chart's defaults): it reports the node's network devices
    and processes, which a pod's own namespaces would hide. Everything else is dropped: no
    capabilities, no escalation, a read-only root, RuntimeDefault seccomp, user nobody.
    """
    container = security.container_security_context(NOBODY_UID)
    return {
        "namespaceOverride": node_exporter_namespace(spec),
        "resources": _requirements("node_exporter"),
        "securityContext": security.pod_security_context(NOBODY_UID),
        "containerSecurityContext": container,
    }


def node_exporter_namespace(spec: PrometheusStackSpec) -> str:
    """node-exporter's own namespace: only it needs the host, so only its namespace admits privileged pods."""
    return f"{spec.namespace}-node-exporter"


def _namespace(name: str, instance: str, enforce: str) -> dict:
    labels = {
        **meta.labels(name, instance, "namespace"),
        "pod-security.kubernetes.io/enforce": enforce,
        "pod-security.kubernetes.io/enforce-version": "latest",
        "pod-security.kubernetes.io/audit": "restricted",
        "pod-security.kubernetes.io/audit-version": "latest",
        "pod-security.kubernetes.io/warn": "restricted",
        "pod-security.kubernetes.io/warn-version": "latest",
    }
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": meta.metadata(name, None, labels)}


def namespaces(spec: PrometheusStackSpec, instance: str) -> dict[str, dict]:
    """The monitoring namespace enforces Pod Security 'baseline' (no host access, no privilege) and warns and
    audits at 'restricted'; node-exporter's own namespace enforces 'privileged', for it alone."""
    found = {"namespace": _namespace(spec.namespace, instance, "baseline")}
    if spec.node_exporter:
        found["node_exporter_namespace"] = _namespace(node_exporter_namespace(spec), instance, "privileged")
    return found


def grafana_admin_secret(spec: PrometheusStackSpec, instance: str, password: Any) -> dict:
    """The Secret Grafana reads its admin login from; `password` is a secret Output, placed as given."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": meta.metadata(GRAFANA_ADMIN_SECRET, spec.namespace, meta.labels("grafana", instance, "credentials")),
        "stringData": {GRAFANA_USER_KEY: GRAFANA_ADMIN_USER, GRAFANA_PASSWORD_KEY: password},
    }
