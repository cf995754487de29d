"""metrics-server for the e2e tier: the objects a cluster add-on install creates, as plain dicts.

The HPA's CPU metric comes from `metrics.k8s.io`, which every managed cluster serves through metrics-server
(an add-on of the cluster, not of a service), so gosvc's components do not install it; the tier installs it
the way those add-ons do: an aggregated API in kube-system, reading each kubelet's `/metrics/resource`.
"""

from __future__ import annotations

from typing import Any

from tools.loop import build

IMAGE = build.METRICS_SERVER

NAME = "metrics-server"
NAMESPACE = "kube-system"
PORT = 10250
RESOLUTION_SECONDS = 15
"""How often it scrapes the kubelets: its default, the HPA's sync period."""
API_GROUP = "metrics.k8s.io"
LABELS = {"app.kubernetes.io/name": NAME}


def _meta(name: str, namespace: str | None = NAMESPACE, **extra_labels: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": {**LABELS, **extra_labels}}
    if namespace:
        meta["namespace"] = namespace
    return meta


def _binding(kind: str, name: str, role_kind: str, role: str, namespace: str | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": kind,
        "metadata": _meta(name, namespace),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role},
        "subjects": [{"kind": "ServiceAccount", "name": NAME, "namespace": NAMESPACE}],
    }


def deployment(image: str, kubelet_insecure_tls: bool) -> dict[str, Any]:
    """One replica, restricted like the service: no token beyond the API's, read-only root, all capabilities dropped."""
    args = [
        "--cert-dir=/tmp",
        f"--secure-port={PORT}",
        "--kubelet-preferred-address-types=InternalIP",
        "--kubelet-use-node-status-port",
        f"--metric-resolution={RESOLUTION_SECONDS}s",
    ]
    if kubelet_insecure_tls:
        args.append("--kubelet-insecure-tls")
    probe = {"httpGet": {"path": "/readyz", "port": "https", "scheme": "HTTPS"}, "periodSeconds": 10, "failureThreshold": 3}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(NAME),
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": LABELS},
            "template": {
                "metadata": {"labels": LABELS},
                "spec": {
                    "serviceAccountName": NAME,
                    "priorityClassName": "system-cluster-critical",
                    "securityContext": {"runAsNonRoot": True, "runAsUser": 65532, "runAsGroup": 65532, "seccompProfile": {"type": "RuntimeDefault"}},
                    "containers": [
                        {
                            "name": NAME,
                            "image": image,
                            "args": args,
                            "ports": [{"name": "https", "containerPort": PORT, "protocol": "TCP"}],
                            "readinessProbe": {**probe, "initialDelaySeconds": 5},
                            "livenessProbe": probe,
                            "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}},
                            "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]}},
                            "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
                        }
                    ],
                    "volumes": [{"name": "tmp", "emptyDir": {}}],
                },
            },
        },
    }


def objects(image: str, kubelet_insecure_tls: bool = True) -> list[dict[str, Any]]:
    """Everything metrics-server needs, in the order to create it. `kubelet_insecure_tls`: the kubelets' serving
    certificates are self-signed (no CA signs them here), so it does not verify them."""
    rbac = "rbac.authorization.k8s.io/v1"
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(NAME)},
        {
            "apiVersion": rbac,
            "kind": "ClusterRole",
            "metadata": _meta(
                "system:aggregated-metrics-reader",
                None,
                **{f"rbac.authorization.k8s.io/aggregate-to-{role}": "true" for role in ("view", "edit", "admin")},
            ),
            "rules": [{"apiGroups": [API_GROUP], "resources": ["pods", "nodes"], "verbs": ["get", "list", "watch"]}],
        },
        {
            "apiVersion": rbac,
            "kind": "ClusterRole",
            "metadata": _meta(f"system:{NAME}", None),
            "rules": [
                {"apiGroups": [""], "resources": ["nodes/metrics"], "verbs": ["get"]},
                {"apiGroups": [""], "resources": ["pods", "nodes"], "verbs": ["get", "list", "watch"]},
            ],
        },
        _binding("RoleBinding", f"{NAME}-auth-reader", "Role", "extension-apiserver-authentication-reader", NAMESPACE),
        _binding("ClusterRoleBinding", f"{NAME}:system:auth-delegator", "ClusterRole", "system:auth-delegator"),
        _binding("ClusterRoleBinding", f"system:{NAME}", "ClusterRole", f"system:{NAME}"),
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": _meta(NAME),
            "spec": {"selector": LABELS, "ports": [{"name": "https", "port": 443, "targetPort": "https", "protocol": "TCP"}]},
        },
        deployment(image, kubelet_insecure_tls),
        {
            "apiVersion": "apiregistration.k8s.io/v1",
            "kind": "APIService",
            "metadata": _meta(f"v1beta1.{API_GROUP}", None),
            "spec": {
                "service": {"name": NAME, "namespace": NAMESPACE, "port": 443},
                "group": API_GROUP,
                "version": "v1beta1",
                "insecureSkipTLSVerify": True,  # its serving certificate is self-signed at start
                "groupPriorityMinimum": 100,
                "versionPriority": 100,
            },
        },
    ]
