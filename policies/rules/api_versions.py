"""API versions: objects use a group/version the Kubernetes releases the project targets still serve.

`REMOVED` is the Kubernetes deprecation guide's table as data (kubernetes.io/docs/reference/using-api/
deprecation-guide/, read 2026-12-07): each removed group/version and kind, the minor release that stopped
serving it, and the version to migrate to. The API server of that release or later refuses the object.
"""

from __future__ import annotations

from typing import Any, Iterator, Mapping, NamedTuple

from pulumi_policy import Severity

from .definition import ResourceRule, Subject
from .props import UNKNOWN

FAMILY = "api-versions"


class Removed(NamedTuple):
    api_version: str
    kinds: tuple[str, ...]
    removed_in: tuple[int, int]
    replacement: str


REMOVED: tuple[Removed, ...] = (
    Removed("extensions/v1beta1", ("DaemonSet", "Deployment", "ReplicaSet"), (1, 16), "apps/v1"),
    Removed("extensions/v1beta1", ("NetworkPolicy",), (1, 16), "networking.k8s.io/v1"),
    Removed("extensions/v1beta1", ("PodSecurityPolicy",), (1, 16), "policy/v1beta1, itself removed in 1.25 (use Pod Security Admission)"),
    Removed("extensions/v1beta1", ("Ingress",), (1, 22), "networking.k8s.io/v1"),
    Removed("apps/v1beta1", ("Deployment", "StatefulSet", "ReplicaSet", "ControllerRevision"), (1, 16), "apps/v1"),
    Removed("apps/v1beta2", ("DaemonSet", "Deployment", "StatefulSet", "ReplicaSet", "ControllerRevision"), (1, 16), "apps/v1"),
    Removed("networking.k8s.io/v1beta1", ("Ingress", "IngressClass"), (1, 22), "networking.k8s.io/v1"),
    Removed("admissionregistration.k8s.io/v1beta1", ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"), (1, 22), "admissionregistration.k8s.io/v1"),
    Removed("apiextensions.k8s.io/v1beta1", ("CustomResourceDefinition",), (1, 22), "apiextensions.k8s.io/v1"),
    Removed("apiregistration.k8s.io/v1beta1", ("APIService",), (1, 22), "apiregistration.k8s.io/v1"),
    Removed("authentication.k8s.io/v1beta1", ("TokenReview",), (1, 22), "authentication.k8s.io/v1"),
    Removed("authorization.k8s.io/v1beta1", ("SubjectAccessReview", "LocalSubjectAccessReview", "SelfSubjectAccessReview"), (1, 22), "authorization.k8s.io/v1"),
    Removed("certificates.k8s.io/v1beta1", ("CertificateSigningRequest",), (1, 22), "certificates.k8s.io/v1"),
    Removed("coordination.k8s.io/v1beta1", ("Lease",), (1, 22), "coordination.k8s.io/v1"),
    Removed("rbac.authorization.k8s.io/v1beta1", ("ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"), (1, 22), "rbac.authorization.k8s.io/v1"),
    Removed("scheduling.k8s.io/v1beta1", ("PriorityClass",), (1, 22), "scheduling.k8s.io/v1"),
    Removed("storage.k8s.io/v1beta1", ("CSIDriver", "CSINode", "StorageClass", "VolumeAttachment"), (1, 22), "storage.k8s.io/v1"),
    Removed("batch/v1beta1", ("CronJob",), (1, 25), "batch/v1"),
    Removed("discovery.k8s.io/v1beta1", ("EndpointSlice",), (1, 25), "discovery.k8s.io/v1"),
    Removed("events.k8s.io/v1beta1", ("Event",), (1, 25), "events.k8s.io/v1"),
    Removed("autoscaling/v2beta1", ("HorizontalPodAutoscaler",), (1, 25), "autoscaling/v2"),
    Removed("policy/v1beta1", ("PodDisruptionBudget",), (1, 25), "policy/v1"),
    Removed("policy/v1beta1", ("PodSecurityPolicy",), (1, 25), "Pod Security Admission (no replacement API)"),
    Removed("node.k8s.io/v1beta1", ("RuntimeClass",), (1, 25), "node.k8s.io/v1"),
    Removed("autoscaling/v2beta2", ("HorizontalPodAutoscaler",), (1, 26), "autoscaling/v2"),
    Removed("flowcontrol.apiserver.k8s.io/v1beta1", ("FlowSchema", "PriorityLevelConfiguration"), (1, 26), "flowcontrol.apiserver.k8s.io/v1"),
    Removed("storage.k8s.io/v1beta1", ("CSIStorageCapacity",), (1, 27), "storage.k8s.io/v1"),
    Removed("flowcontrol.apiserver.k8s.io/v1beta2", ("FlowSchema", "PriorityLevelConfiguration"), (1, 29), "flowcontrol.apiserver.k8s.io/v1"),
    Removed("flowcontrol.apiserver.k8s.io/v1beta3", ("FlowSchema", "PriorityLevelConfiguration"), (1, 32), "flowcontrol.apiserver.k8s.io/v1"),
)
_BY_VERSION_AND_KIND = {(r.api_version, kind): r for r in REMOVED for kind in r.kinds}


def minor_version(text: Any) -> tuple[int, int] | None:
    """(1, 36) from '1.36', 'v1.36' or '1.36.1'; None for anything else."""
    if not isinstance(text, str):
        return None
    parts = text.strip().lstrip("v").split(".")
    if len(parts) < 2 or not parts[0].isdigit() or not parts[1].isdigit():
        return None
    return int(parts[0]), int(parts[1])


def api_version_of(subject: Subject) -> Any:
    """The object's apiVersion: declared in its props, else read from the type token ('kubernetes:apps/v1:Deployment')."""
    declared = subject.props.get("apiVersion")
    if declared is not None:
        return declared
    parts = subject.type.split(":")
    if len(parts) != 3 or "/" not in parts[1]:
        return None
    group, version = parts[1].split("/", 1)
    return version if group == "core" else f"{group}/{version}"


def _served(subject: Subject, settings: Mapping[str, Any]) -> Iterator[str]:
    if subject.kind is None or subject.kind is UNKNOWN:
        return
    removed = _BY_VERSION_AND_KIND.get((api_version_of(subject), subject.kind))
    target = minor_version(settings.get("kubernetesVersion")) or (1, 36)
    if removed is not None and removed.removed_in <= target:
        yield (
            f"uses {removed.api_version} {subject.kind}, which Kubernetes {removed.removed_in[0]}.{removed.removed_in[1]} "
            f"stopped serving (target {target[0]}.{target[1]}); use {removed.replacement}"
        )


RULES = [
    ResourceRule(
        "api-version-served",
        "Objects use API versions the targeted Kubernetes release still serves.",
        severity=Severity.HIGH,
        family=FAMILY,
        check=_served,
        params={
            "kubernetesVersion": {
                "type": "string",
                "pattern": r"^v?\d+\.\d+(\.\d+)?$",
                "default": "1.36",
                "description": "The newest Kubernetes release the stack must deploy to (the project supports 1.33 to 1.36).",
            }
        },
        # kube-score's stable-version list (score/stable/stable_version.go) is a subset of REMOVED, all removed by 1.25.
        covers={"kube-linter": ["no-extensions-v1beta"], "kube-score": ["stable-version"]},
        remediation_steps="Move the object to the API version the deprecation guide names (for a Helm chart, a chart version "
        "that renders it); the message says which.",
    ),
]
