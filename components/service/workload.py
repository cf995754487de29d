"""The Deployment, its ServiceAccount and PodDisruptionBudget, as plain dicts."""

from __future__ import annotations

from typing import Any

from components import defaults
from components.k8s import meta, resources, security
from components.service.config import InitContainerSpec, ServiceSpec

APP_CONTAINER = "app"
ANTI_AFFINITY_TOPOLOGY = "kubernetes.io/hostname"
ZONE_TOPOLOGY = "topology.kubernetes.io/zone"


class ServiceNames:
    """Deterministic object names and labels derived from the service name and component instance."""

    def __init__(self, spec: ServiceSpec, instance: str, version: str | None):
        self.name = spec.service_name
        self.namespace = spec.namespace
        self.selector = meta.selector_labels(spec.service_name, instance)
        self.labels = meta.labels(spec.service_name, instance, "server", version)

    def metadata(self, name: str | None = None) -> dict:
        return meta.metadata(name or self.name, self.namespace, self.labels)


def service_account(spec: ServiceSpec, names: ServiceNames) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": names.metadata(),
        "automountServiceAccountToken": False,
    }


def _probes(spec: ServiceSpec) -> dict:
    # Startup covers slow starts so liveness can stay strict; readiness drops out fast on shutdown.
    return {
        "startupProbe": {
            "httpGet": {"path": "/healthz", "port": "http"},
            "periodSeconds": 2,
            "failureThreshold": 30,
            "timeoutSeconds": 1,
        },
        "readinessProbe": {
            "httpGet": {"path": "/readyz", "port": "http"},
            "periodSeconds": 5,
            "failureThreshold": 2,
            "successThreshold": 1,
            "timeoutSeconds": 1,
        },
        "livenessProbe": {
            "httpGet": {"path": "/healthz", "port": "http"},
            "periodSeconds": 10,
            "failureThreshold": 3,
            "timeoutSeconds": 2,
        },
    }


def _app_env(spec: ServiceSpec) -> list[dict]:
    env = [
        {"name": "HTTP_ADDR", "value": f":{spec.http_port}"},
        {"name": "METRICS_ADDR", "value": f":{spec.metrics_port}"},
        {"name": "ADMIN_ADDR", "value": f"127.0.0.1:{spec.admin_port}"},
        {"name": "SHUTDOWN_TIMEOUT", "value": f"{spec.shutdown_timeout_seconds}s"},
        {"name": "LOG_LEVEL", "value": spec.log_level},
        *resources.go_runtime_env(APP_CONTAINER, spec.resources, spec.go_mem_limit_percent, spec.go_version),
    ]
    env += [{"name": k, "value": v} for k, v in sorted(spec.env.items())]
    for key, ref in sorted(spec.secret_env.items()):
        secret, _, item = ref.partition("/")
        env.append({"name": key, "valueFrom": {"secretKeyRef": {"name": secret, "key": item}}})
    return env


def _init_container(init: InitContainerSpec) -> dict:
    container: dict[str, Any] = {
        "name": init.name,
        "image": init.image,
        "resources": resources.requirements(init.resources),
        "securityContext": security.container_security_context(),
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}, {"name": "shared", "mountPath": "/shared"}],
    }
    if init.command:
        container["command"] = list(init.command)
    if init.args:
        container["args"] = list(init.args)
    return container


def _affinity(spec: ServiceSpec, names: ServiceNames) -> dict:
    """Hostname anti-affinity among the pods of one revision.

    `matchLabelKeys: [pod-template-hash]` keeps a rollout moving when every node already runs
    a pod: the surge pod of the new revision may share a node with an old one until that one
    goes. Without it, required anti-affinity with as many replicas as nodes and
    `maxUnavailable: 0` leaves the surge pod Pending and the rollout stuck (seen under `make e2e`).
    """
    term = {
        "labelSelector": {"matchLabels": dict(names.selector)},
        "matchLabelKeys": ["pod-template-hash"],
        "topologyKey": ANTI_AFFINITY_TOPOLOGY,
    }
    if spec.scheduling.anti_affinity == "required":
        return {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term]}}
    return {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 100, "podAffinityTerm": term}]}}


def pod_spec(spec: ServiceSpec, names: ServiceNames, image: Any) -> dict:
    """The pod template's spec; `image` may be a string or a Pulumi Output and is placed as given."""
    container = {
        "name": APP_CONTAINER,
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "ports": [
            {"name": "http", "containerPort": spec.http_port, "protocol": "TCP"},
            {"name": "metrics", "containerPort": spec.metrics_port, "protocol": "TCP"},
        ],
        "env": _app_env(spec),
        "resources": resources.requirements(spec.resources),
        "securityContext": security.container_security_context(),
        "lifecycle": {"preStop": {"sleep": {"seconds": spec.pre_stop_sleep_seconds}}} if spec.pre_stop_sleep_seconds else None,
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
        **_probes(spec),
    }
    volumes = [{"name": "tmp", "emptyDir": {"sizeLimit": defaults.TMP_SIZE_LIMIT}}]
    pod: dict[str, Any] = {
        "serviceAccountName": names.name,
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": security.pod_security_context(),
        "terminationGracePeriodSeconds": spec.termination_grace_seconds,
        "affinity": _affinity(spec, names),
        "containers": [{k: v for k, v in container.items() if v is not None}],
        "volumes": volumes,
    }
    if spec.init_containers:
        volumes.append({"name": "shared", "emptyDir": {"sizeLimit": defaults.TMP_SIZE_LIMIT}})
        container["volumeMounts"].append({"name": "shared", "mountPath": "/shared", "readOnly": True})
        pod["initContainers"] = [_init_container(c) for c in spec.init_containers]
    if spec.scheduling.zone_spread:
        pod["topologySpreadConstraints"] = [
            {
                "maxSkew": 1,
                "topologyKey": ZONE_TOPOLOGY,
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": {"matchLabels": dict(names.selector)},
                "matchLabelKeys": ["pod-template-hash"],
            }
        ]
    return pod


def deployment(spec: ServiceSpec, names: ServiceNames, image: Any) -> dict:
    """Rolls out with no capacity loss; leaves `replicas` to the HPA when one is on."""
    deploy_spec: dict[str, Any] = {
        "selector": {"matchLabels": dict(names.selector)},
        "revisionHistoryLimit": 5,
        "progressDeadlineSeconds": 600,
        "minReadySeconds": 5,
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": "25%"}},
        "template": {
            "metadata": {"labels": dict(names.labels)},
            "spec": pod_spec(spec, names, image),
        },
    }
    if not spec.autoscaling.enabled:
        deploy_spec["replicas"] = spec.replicas
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": names.metadata(), "spec": deploy_spec}


def pod_disruption_budget(spec: ServiceSpec, names: ServiceNames) -> dict | None:
    """One pod at a time may be evicted; None when only one replica can ever run."""
    if spec.max_replicas <= 1:
        return None
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": names.metadata(),
        "spec": {
            "maxUnavailable": 1,
            "unhealthyPodEvictionPolicy": "AlwaysAllow",
            "selector": {"matchLabels": dict(names.selector)},
        },
    }
