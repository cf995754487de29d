"""Filebeat: a DaemonSet that tails every container log on its node and ships it to Kafka.

No-loss settings: the registry (read offsets) lives on a hostPath, so a restarted pod resumes
where it stopped; Filebeat only advances the registry after Kafka acknowledged the batch with
`required_acks: -1` (all in-sync replicas); round-robin partitioning with `reachable_only:
false` blocks rather than skipping a partition whose leader is away.
"""

from __future__ import annotations

import math

import yaml

from components.config import quantity
from components.k8s import resources
from components.logging import versions
from components.logging.config import LoggingSpec
from components.k8s.exemptions import exemptions
from components.logging.pod import Part, checksum, config_map

CONFIG_KEY = "filebeat.yml"
CONFIG_DIR = "/etc/filebeat"
DATA_DIR = "/usr/share/filebeat/data"
REGISTRY_HOST_PATH = "/var/lib/filebeat-data"
LOG_HOST_PATH = "/var/log"
CONTAINER_LOGS = "/var/log/containers/*.log"
MONITORING_PORT = 5066
SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
MAX_MESSAGE_BYTES = 1_000_000
"""Filebeat drops events above this; it stays below Kafka's default message.max.bytes (1048588)."""


def part(name: str, spec: LoggingSpec) -> Part:
    return Part("filebeat", name, spec.collector_namespace, "collector", versions.ELASTIC_VERSION)


def cluster_role_name(spec: LoggingSpec) -> str:
    """Cluster-scoped, so it carries the namespace to stay unique per pipeline."""
    return f"gosvc-{spec.namespace}-filebeat"


def settings(spec: LoggingSpec, kafka_hosts: list[str]) -> dict:
    """filebeat.yml as a dict: filestream input, Kubernetes metadata, JSON decoding, Kafka output."""
    fb = spec.filebeat
    processors: list[dict] = [
        {
            "add_kubernetes_metadata": {
                "host": "${NODE_NAME}",
                "matchers": [{"logs_path": {"logs_path": "/var/log/containers/"}}],
                # Owner lookups would need replicasets/jobs read access; the RBAC stays minimal instead.
                "add_resource_metadata": {"deployment": False, "cronjob": False},
            }
        },
        {
            # The Go service logs one JSON object per line (slog: time, level, msg, ...).
            "decode_json_fields": {
                "fields": ["message"],
                "target": "app",
                "max_depth": 2,
                "overwrite_keys": False,
                "add_error_key": True,
                "when": {"regexp": {"message": "^\\{"}},
            }
        },
    ]
    if fb.rate_limit:
        processors.append({"rate_limit": {"limit": fb.rate_limit}})
    conf: dict = {
        "filebeat.inputs": [
            {
                "type": "filestream",
                "id": "kubernetes-container-logs",
                "paths": [CONTAINER_LOGS],
                "prospector.scanner.symlinks": True,
                "parsers": [{"container": {"stream": "all", "format": "auto"}}],
                "processors": processors,
            }
        ],
        "filebeat.registry.flush": "1s",
        "path.data": DATA_DIR,
        "queue.mem": {"events": fb.queue_events, "flush.min_events": min(fb.bulk_max_size, fb.queue_events), "flush.timeout": "10s"},
        "output.kafka": {
            "hosts": list(kafka_hosts),
            "topic": spec.kafka.topic,
            "version": versions.FILEBEAT_KAFKA_PROTOCOL,
            "client_id": "filebeat",
            "required_acks": -1,
            "compression": fb.compression,
            "partition.round_robin": {"reachable_only": False},
            "bulk_max_size": fb.bulk_max_size,
            "max_message_bytes": MAX_MESSAGE_BYTES,
            "broker_timeout": "10s",
        },
        "http": {"enabled": True, "host": "0.0.0.0", "port": MONITORING_PORT},
        "logging": {"level": "info", "to_stderr": True, "json": True},
    }
    if fb.resources.cpu_limit is not None:
        # Go would otherwise size its scheduler to the node's cores and be throttled by the limit.
        conf["max_procs"] = max(1, math.ceil(quantity(fb.resources.cpu_limit)))
    return conf


def config_text(spec: LoggingSpec, kafka_hosts: list[str]) -> str:
    return yaml.safe_dump(settings(spec, kafka_hosts), sort_keys=False, width=1000)


def service_account(name: str, spec: LoggingSpec) -> dict:
    p = part(name, spec)
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": p.metadata(), "automountServiceAccountToken": False}


def cluster_role(name: str, spec: LoggingSpec) -> dict:
    """Read access to what add_kubernetes_metadata looks up: pods, namespaces, nodes."""
    p = part(name, spec)
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": cluster_role_name(spec), "labels": p.labels},
        "rules": [{"apiGroups": [""], "resources": ["pods", "namespaces", "nodes"], "verbs": ["get", "list", "watch"]}],
    }


def cluster_role_binding(name: str, spec: LoggingSpec) -> dict:
    p = part(name, spec)
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": cluster_role_name(spec), "labels": p.labels},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": cluster_role_name(spec)},
        "subjects": [{"kind": "ServiceAccount", "name": p.app, "namespace": p.namespace}],
    }


def role(name: str, spec: LoggingSpec) -> dict:
    """Leases in its own namespace only, for leader election."""
    p = part(name, spec)
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": p.metadata(),
        "rules": [{"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["get", "create", "update"]}],
    }


def role_binding(name: str, spec: LoggingSpec) -> dict:
    p = part(name, spec)
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": p.metadata(),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": p.app},
        "subjects": [{"kind": "ServiceAccount", "name": p.app, "namespace": p.namespace}],
    }


def _root_security(pod: bool) -> dict:
    """Root without any capability: enough to read root-owned 0640 log files as their owner."""
    ctx: dict = {"runAsUser": versions.FILEBEAT_UID, "runAsGroup": versions.FILEBEAT_UID, "runAsNonRoot": False, "seccompProfile": {"type": "RuntimeDefault"}}
    if not pod:
        ctx.update({"allowPrivilegeEscalation": False, "privileged": False, "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]}})
    return ctx


def _api_token_volume() -> dict:
    """The API token, mounted explicitly with a one-hour lifetime, instead of the automounted one."""
    return {
        "name": "kube-api-access",
        "projected": {
            "defaultMode": 0o444,
            "sources": [
                {"serviceAccountToken": {"path": "token", "expirationSeconds": 3600}},
                {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}},
            ],
        },
    }


EXEMPTIONS = {
    "no-host-path": f"reads container logs from the node's {LOG_HOST_PATH} (mounted read-only) and keeps its registry in "
    f"{REGISTRY_HOST_PATH} so a restart neither loses nor resends logs",
    "run-as-non-root": "containerd writes the logs under /var/log/pods as root:root mode 0640, readable only by UID 0; "
    "the container keeps no capabilities and cannot escalate",
}


def daemon_set(name: str, spec: LoggingSpec, config: str) -> dict:
    """One Filebeat per node, tolerating every taint, with read-only log mounts and a hostPath registry."""
    p = part(name, spec)
    container = {
        "name": "filebeat",
        "image": spec.image(versions.FILEBEAT_IMAGE),
        "imagePullPolicy": "IfNotPresent",
        "args": ["-c", f"{CONFIG_DIR}/{CONFIG_KEY}", "-e"],
        "env": [{"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}],
        "ports": [{"name": "monitoring", "containerPort": MONITORING_PORT, "protocol": "TCP"}],
        "resources": resources.requirements(spec.filebeat.resources),
        "securityContext": _root_security(pod=False),
        "readinessProbe": {"httpGet": {"path": "/", "port": "monitoring"}, "periodSeconds": 10, "timeoutSeconds": 2, "failureThreshold": 3},
        "livenessProbe": {"httpGet": {"path": "/stats", "port": "monitoring"}, "initialDelaySeconds": 10, "periodSeconds": 30, "timeoutSeconds": 5, "failureThreshold": 3},
        "volumeMounts": [
            {"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
            {"name": "varlog", "mountPath": LOG_HOST_PATH, "readOnly": True},
            {"name": "registry", "mountPath": DATA_DIR},
            {"name": "tmp", "mountPath": "/tmp"},
            {"name": "kube-api-access", "mountPath": SERVICE_ACCOUNT_DIR, "readOnly": True},
        ],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": p.metadata(annotations=exemptions(EXEMPTIONS)),
        "spec": {
            "selector": {"matchLabels": dict(p.selector)},
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}},
            "template": {
                "metadata": {"labels": dict(p.labels), "annotations": {"checksum/config": checksum(config)}},
                "spec": {
                    "serviceAccountName": p.app,
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "terminationGracePeriodSeconds": 30,
                    "tolerations": [{"operator": "Exists"}],
                    "securityContext": _root_security(pod=True),
                    "containers": [container],
                    "volumes": [
                        {"name": "config", "configMap": {"name": p.app, "defaultMode": 0o640}},
                        {"name": "varlog", "hostPath": {"path": LOG_HOST_PATH, "type": "Directory"}},
                        {"name": "registry", "hostPath": {"path": REGISTRY_HOST_PATH, "type": "DirectoryOrCreate"}},
                        {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}},
                        _api_token_volume(),
                    ],
                },
            },
        },
    }


def build(name: str, spec: LoggingSpec, kafka_hosts: list[str]) -> dict[str, dict]:
    """Every Filebeat object by role."""
    config = config_text(spec, kafka_hosts)
    return {
        "service_account": service_account(name, spec),
        "cluster_role": cluster_role(name, spec),
        "cluster_role_binding": cluster_role_binding(name, spec),
        "role": role(name, spec),
        "role_binding": role_binding(name, spec),
        "config": config_map(part(name, spec), "filebeat", {CONFIG_KEY: config}),
        "daemon_set": daemon_set(name, spec, config),
    }
