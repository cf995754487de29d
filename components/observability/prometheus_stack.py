"""kube-prometheus-stack: its chart values, the monitoring Namespace and the Grafana admin Secret, as plain dicts.

Value keys follow the chart's values.yaml (prometheus-community/helm-charts,
charts/kube-prometheus-stack) and, under `grafana:`, the grafana subchart's.
"""

from __future__ import annotations

from typing import Any

from components import defaults
from components.config import ResourcesSpec
from components.k8s import meta, resources, security
from components.k8s.exemptions import exemptions
from components.observability import dashboard
from components.observability.config import GENERATED_ADMIN_SECRET, PrometheusStackSpec

RELEASE_NAME = "kube-prometheus-stack"
FULLNAME = RELEASE_NAME
"""`fullnameOverride`, so the Services have these names whatever the release is called."""

PROMETHEUS_SERVICE = f"{FULLNAME}-prometheus"
PROMETHEUS_PORT = 9090
ALERTMANAGER_SERVICE = f"{FULLNAME}-alertmanager"
ALERTMANAGER_PORT = 9093
GRAFANA_SERVICE = f"{RELEASE_NAME}-grafana"  # the grafana subchart's fullname: <release>-grafana
GRAFANA_PORT = 80

GRAFANA_ADMIN_SECRET = GENERATED_ADMIN_SECRET
GRAFANA_ADMIN_USER = "admin"
GRAFANA_USER_KEY = "admin-user"
GRAFANA_PASSWORD_KEY = "admin-password"
"""The keys of the admin Secret; `admin.existingSecret` names it, so the chart makes no Secret of its own."""
GRAFANA_ADMIN_DIR = "/etc/grafana/admin"
"""Where the admin Secret is mounted: Grafana reads its login from the files (`$__file{...}` in its settings; the
distroless image has no /run.sh for the `__FILE` variables), so the password is in no environment variable."""

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

EPHEMERAL_STORAGE = {"grafana": "1Gi", "grafana_sidecar": "64Mi"}
"""Disk for Grafana's pod, whose chart gives its emptyDirs no sizeLimit: Grafana's SQLite database, search index and
/tmp; the sidecar's dashboard files. With a limit on every container the pod's emptyDirs are bounded by their sum."""

GRAFANA_UID = defaults.NONROOT_UID
"""Grafana and its sidecar run as any UID: they write only to emptyDirs, which fsGroup makes theirs.
Not the image's 472, which the pack refuses (UIDs below 10000 may be a node's users)."""
GRAFANA_TMP = {"name": "tmp", "mountPath": "/tmp"}
"""An emptyDir for Grafana's temporary files (plugin downloads, SQLite's temp files). The grafana 12.x chart makes
emptyDirs only for /var/lib/grafana, /var/lib/grafana-search and the sidecar's /tmp/dashboards; under the read-only
root, anything else Grafana writes would fail. It logs to the console only (the chart's `log.mode`), not /var/log."""
NOBODY_UID = 65534
"""node-exporter's user in its chart: it reads /proc, /sys and the root filesystem, all world-readable, through read-only mounts."""
JOB_UID = defaults.NONROOT_UID
"""The admission hook Jobs' user: the certgen image is static and runs as any UID; the chart's 2000 is below 10000."""
SIDECAR_HEALTH_PORT = 8080
"""Where Grafana's dashboard sidecar (k8s-sidecar) answers /healthz: 503 until its first sync, and again when it
has lost the API for a minute or a watcher died. Its default, set explicitly so the probes and the listener agree."""
DATASOURCES_DIR = "/etc/grafana/provisioning/datasources"
DATASOURCE_CONFIG_MAP = f"{FULLNAME}-grafana-datasource"
"""The datasource ConfigMap kube-prometheus-stack writes (Prometheus and Alertmanager); Grafana reads it as a mounted file."""
LIVENESS_FAILURES = 6
"""Liveness gives up after twice the readiness failures (3), so a slow pod leaves rotation long before it is restarted."""

OPERATOR_EXEMPTIONS = {
    "replicas-at-least-two": "Prometheus Operator has no leader election, so two replicas would reconcile the same objects "
    "against each other; while it restarts, Prometheus and Alertmanager keep running and only changes to them wait",
    "service-account-token-not-automounted": "it watches and writes monitoring.coreos.com resources, StatefulSets, Secrets "
    "and ConfigMaps through the API",
    # The chart's operator ClusterRole and binding take no annotations, so its RBAC is exempted through the operator's pod.
    "rbac-no-wildcards": "the operator owns every monitoring.coreos.com resource and the StatefulSets, Secrets and ConfigMaps "
    "it makes from them; kube-prometheus-stack 88.5.3 grants those with verbs ['*'] and no value narrows them",
    "rbac-no-secrets-access": "it writes the Prometheus and Alertmanager configuration Secrets, and reads the Secrets their "
    "resources name (TLS, basic auth), in every namespace it watches",
    "rbac-no-workload-creation": "it creates the StatefulSets that run Prometheus and Alertmanager, which is what an operator is for",
}
GRAFANA_EXEMPTIONS = {
    "replicas-at-least-two": "Grafana keeps sessions and user preferences in SQLite on its emptyDir; a second replica has "
    "its own file and would log users out at random. Two replicas need an external database, which this stack does not run",
    "service-account-token-not-automounted": "its dashboard sidecar lists and watches ConfigMaps labelled grafana_dashboard "
    "in every namespace through the API",
    "probes-configured": "the chart gives the dashboard sidecar no ports value, so its /healthz port (HEALTH_PORT, which these "
    "values set to the probes' port) cannot be declared",
    "env-names-unique": "the chart sets GOMEMLIMIT to the whole memory limit and no value turns that off; the values add a "
    "second GOMEMLIMIT below the limit, which the container gets because the last definition of a name wins",
}
KUBE_STATE_METRICS_EXEMPTIONS = {
    "replicas-at-least-two": "each replica exports every kube_* series, so a second would double them and every sum() over "
    "them; it scales by sharding, and a restart only leaves a gap between scrapes",
    "service-account-token-not-automounted": "it lists and watches every object it reports on through the API",
}
ADMISSION_JOB_EXEMPTIONS = {
    "service-account-token-not-automounted": "the hook Jobs create the webhook's certificate Secret and patch the webhook "
    "configurations through the API, once per install or upgrade",
    # Exempted through the Jobs' pods: the chart's hook Role, ClusterRole and bindings take no annotations.
    "rbac-no-secrets-access": "the hook Jobs create the webhook's certificate Secret and read it back, in the monitoring "
    "namespace only",
    "rbac-no-escalation": "the hook Jobs share one account, through which the patch Job writes the certificate's CA into "
    "the operator's two webhook configurations; the chart's ClusterRole names them by no resourceNames and no value adds them",
}
NODE_EXPORTER_EXEMPTIONS = {
    "no-host-namespaces": "node-exporter reports the node's network devices and processes, which a pod's own network and "
    "PID namespaces would hide; it binds only its metrics port",
    "no-host-path": "node-exporter reads the node's /proc, /sys and filesystems through read-only mounts, as nobody with no "
    "capabilities; that is what it measures",
}


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
    return {"enabled": replicas > 1, "minAvailable": 1, "unhealthyPodEvictionPolicy": "AlwaysAllow"}


SURGE_FIRST = {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}
"""Single-replica chart Deployments roll out by starting the new pod before stopping the old one."""


def http_probes(path: str, port: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """Readiness and liveness on one endpoint, liveness patient enough that readiness always trips first."""
    readiness = {"httpGet": {"path": path, "port": port}, "periodSeconds": 10, "failureThreshold": 3}
    return readiness, {**readiness, "failureThreshold": LIVENESS_FAILURES}


def prometheus_values(spec: PrometheusStackSpec) -> dict[str, Any]:
    p = spec.prometheus
    prometheus_spec: dict[str, Any] = {
        **discovery_selectors(),
        # Service discovery lists endpoints, pods and nodes through the API; the ServiceAccount itself mounts nothing.
        "automountServiceAccountToken": True,
        "replicas": p.replicas,
        "retention": p.retention,
        "resources": resources.requirements(p.resources),
        **_spread(p.replicas),
    }
    if p.retention_size:
        prometheus_spec["retentionSize"] = p.retention_size
    if p.storage_size:
        prometheus_spec["storageSpec"] = _volume_claim(p.storage_size, spec.storage_class)
    return {"prometheusSpec": prometheus_spec, "podDisruptionBudget": _pdb(p.replicas), "serviceAccount": {"automountServiceAccountToken": False}}


def alertmanager_values(spec: PrometheusStackSpec) -> dict[str, Any]:
    a = spec.alertmanager
    alertmanager_spec: dict[str, Any] = {
        "replicas": a.replicas,
        "resources": _requirements("alertmanager"),
        "automountServiceAccountToken": False,  # Alertmanager never calls the API
        **_spread(a.replicas),
    }
    if a.storage_size:
        alertmanager_spec["storage"] = _volume_claim(a.storage_size, spec.storage_class)
    return {"alertmanagerSpec": alertmanager_spec, "podDisruptionBudget": _pdb(a.replicas), "serviceAccount": {"automountServiceAccountToken": False}}


def grafana_cluster_role_name(spec: PrometheusStackSpec) -> str:
    return f"{spec.namespace}-grafana-dashboards-reader"


def grafana_cluster_role(spec: PrometheusStackSpec, instance: str) -> dict:
    """What Grafana's dashboard sidecar may do: read ConfigMaps, in every namespace (dashboards live beside their
    services). The chart's own role would also read every Secret, which nothing here needs."""
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": meta.metadata(grafana_cluster_role_name(spec), None, meta.labels("grafana", instance, "rbac")),
        "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "watch"]}],
    }


def grafana_values(spec: PrometheusStackSpec) -> dict[str, Any]:
    """Admin login from our Secret (never a value in the release), dashboards from labelled ConfigMaps anywhere.

    The datasources come from the chart's own ConfigMap mounted as a provisioning file, so only
    one sidecar runs (the dashboards'), and it reads ConfigMaps only, never Secrets.
    """
    sidecar_readiness, sidecar_liveness = http_probes("/healthz", SIDECAR_HEALTH_PORT)
    memory_limit = COMPONENT_RESOURCES["grafana"].effective_memory_limit
    return {
        "admin": {"existingSecret": spec.admin_secret, "userKey": GRAFANA_USER_KEY, "passwordKey": GRAFANA_PASSWORD_KEY},
        "env": {
            "GF_SECURITY_ADMIN_USER": f"$__file{{{GRAFANA_ADMIN_DIR}/{GRAFANA_USER_KEY}}}",
            "GF_SECURITY_ADMIN_PASSWORD": f"$__file{{{GRAFANA_ADMIN_DIR}/{GRAFANA_PASSWORD_KEY}}}",
            # The chart sets GOMEMLIMIT to the whole memory limit (a resourceFieldRef) whenever there is one, and no
            # value turns that off; this entry comes after it, and the last definition of a name is the one a
            # container gets. Helm's patch cannot change this value in a live Deployment (it lands on the chart's
            # entry): a new grafana memory limit needs the Deployment deleted before the upgrade (docs/observability.md).
            "GOMEMLIMIT": resources.gomemlimit(memory_limit, defaults.GOMEMLIMIT_PERCENT),
        },
        "extraSecretMounts": [
            {"name": "admin", "secretName": spec.admin_secret, "mountPath": GRAFANA_ADMIN_DIR, "readOnly": True, "defaultMode": 0o440},
        ],
        "persistence": {"enabled": False},  # dashboards and datasources are provisioned, nothing to keep
        "extraEmptyDirMounts": [GRAFANA_TMP],
        "resources": resources.with_ephemeral_storage(_requirements("grafana"), EPHEMERAL_STORAGE["grafana"]),
        "annotations": exemptions(GRAFANA_EXEMPTIONS),
        "deploymentStrategy": SURGE_FIRST,
        "serviceAccount": {"autoMount": False, "automountServiceAccountToken": False},
        "automountServiceAccountToken": True,  # for the sidecar; see GRAFANA_EXEMPTIONS
        "rbac": {"useExistingClusterRole": grafana_cluster_role_name(spec)},
        "securityContext": security.pod_security_context(GRAFANA_UID),
        # Read-only root: Grafana writes only to the chart's emptyDirs and GRAFANA_TMP, the sidecar only to its folder.
        "containerSecurityContext": security.container_security_context(GRAFANA_UID),
        "testFramework": {"enabled": False},  # the grafana-test pod exists only for `helm test` and runs as root
        "forceDeployDatasources": True,
        "extraConfigmapMounts": [
            {"name": "datasources", "mountPath": DATASOURCES_DIR, "configMap": DATASOURCE_CONFIG_MAP, "readOnly": True},
        ],
        "sidecar": {
            "dashboards": {
                "enabled": True,
                "label": dashboard.SIDECAR_LABEL,
                "labelValue": dashboard.SIDECAR_LABEL_VALUE,
                "searchNamespace": "ALL",
                "resource": "configmap",  # dashboards come from ConfigMaps only; the sidecar need not read Secrets
                "env": {"HEALTH_PORT": str(SIDECAR_HEALTH_PORT)},
                # Grafana's file provider picks changes up itself; a reload call would need the admin password in env.
                "skipReload": True,
            },
            "datasources": {"enabled": False},
            "readinessProbe": sidecar_readiness,
            "livenessProbe": sidecar_liveness,
            "resources": resources.with_ephemeral_storage(_requirements("grafana_sidecar"), EPHEMERAL_STORAGE["grafana_sidecar"]),
            "securityContext": security.container_security_context(GRAFANA_UID),
        },
    }


def operator_values() -> dict[str, Any]:
    """The operator and its admission hook Jobs: API tokens only in the pods that call the API, GOMEMLIMIT under the limit."""
    limit = COMPONENT_RESOURCES["operator"].effective_memory_limit
    return {
        "resources": _requirements("operator"),
        "env": {"GOMEMLIMIT": resources.gomemlimit(limit, defaults.GOMEMLIMIT_PERCENT)},
        "annotations": exemptions(OPERATOR_EXEMPTIONS),
        "strategy": SURGE_FIRST,
        "serviceAccount": {"automountServiceAccountToken": False},
        "automountServiceAccountToken": True,
        # The chart writes both probes on /healthz; only their thresholds are values.
        "livenessProbe": {"enabled": True, "failureThreshold": LIVENESS_FAILURES},
        "admissionWebhooks": {
            "annotations": exemptions(ADMISSION_JOB_EXEMPTIONS),
            "patch": {
                # The hook Jobs that create and patch the webhook certificate ship with no resources at all.
                "resources": _requirements("admission_jobs"),
                "annotations": exemptions(ADMISSION_JOB_EXEMPTIONS),
                "securityContext": security.pod_security_context(JOB_UID),
            },
        },
    }


def kube_state_metrics_values() -> dict[str, Any]:
    return {
        "resources": _requirements("kube_state_metrics"),
        # No kube_secret_* series (no rule or dashboard reads them): its ClusterRole then lists no Secrets cluster-wide.
        "collectorsExclude": ["secrets"],
        "annotations": exemptions(KUBE_STATE_METRICS_EXEMPTIONS),
        # The chart takes only the strategy's type; its default 25% stops no pod first at one replica.
        "serviceAccount": {"automountServiceAccountToken": False},
        "automountServiceAccountToken": True,
    }


def values(spec: PrometheusStackSpec) -> dict[str, Any]:
    """The chart values: discovery from all namespaces, retention, storage, resources, replicas."""
    return {
        "fullnameOverride": FULLNAME,
        "crds": {"enabled": True},
        "prometheus": prometheus_values(spec),
        "alertmanager": alertmanager_values(spec),
        "grafana": grafana_values(spec) if spec.grafana else {"enabled": False},
        "prometheusOperator": operator_values(),
        "kube-state-metrics": kube_state_metrics_values(),
        "nodeExporter": {"enabled": spec.node_exporter},
        "prometheus-node-exporter": node_exporter_values(spec),
    }


def node_exporter_values(spec: PrometheusStackSpec) -> dict[str, Any]:
    """node-exporter in its own namespace, as restricted as its job allows.

    hostNetwork and hostPID stay (the chart's defaults), and so do its read-only mounts of the
    node's /proc, /sys and root: it reports the node's devices, processes and filesystems, which
    a pod's own namespaces and files would hide. The exemptions carry those reasons. Everything
    else is dropped: no capabilities, no escalation, a read-only root, RuntimeDefault seccomp,
    user nobody.
    """
    container = security.container_security_context(NOBODY_UID)
    return {
        "namespaceOverride": node_exporter_namespace(spec),
        "resources": _requirements("node_exporter"),
        "daemonsetAnnotations": exemptions(NODE_EXPORTER_EXEMPTIONS),
        "securityContext": security.pod_security_context(NOBODY_UID),
        "containerSecurityContext": container,
        "livenessProbe": {"failureThreshold": LIVENESS_FAILURES},  # the chart writes both probes on /; thresholds are values
    }


def node_exporter_namespace(spec: PrometheusStackSpec) -> str:
    """node-exporter's own namespace: only it needs the host, so only its namespace admits privileged pods."""
    return f"{spec.namespace}-node-exporter"


def namespaces(spec: PrometheusStackSpec, instance: str) -> dict[str, dict]:
    """The monitoring namespace enforces Pod Security 'baseline' (no host access, no privilege) and warns and
    audits at 'restricted'; node-exporter's own namespace enforces 'privileged', for it alone."""
    found = {"namespace": security.namespace(spec.namespace, spec.namespace, instance, "baseline")}
    if spec.node_exporter:
        found["node_exporter_namespace"] = security.namespace(node_exporter_namespace(spec), node_exporter_namespace(spec), instance, "privileged")
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
