"""How Kubernetes objects are read: kinds, pod templates, containers, selectors and image references.

Everything here takes the plain data of `props.plain()` and never raises on missing or
unknown values: a missing part reads as empty.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterator

from .props import UNKNOWN, get, items, mapping

WORKLOAD_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController", "Job", "CronJob", "Pod"})
RBAC_KINDS = frozenset({"Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"})
SCALABLE_KINDS = frozenset({"Deployment", "StatefulSet", "ReplicaSet"})
LONG_RUNNING_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController"})
CLUSTER_SCOPED_KINDS = frozenset(
    {
        "Namespace",
        "Node",
        "PersistentVolume",
        "StorageClass",
        "CSIDriver",
        "CSINode",
        "VolumeAttachment",
        "ClusterRole",
        "ClusterRoleBinding",
        "CustomResourceDefinition",
        "PriorityClass",
        "RuntimeClass",
        "IngressClass",
        "APIService",
        "MutatingWebhookConfiguration",
        "ValidatingWebhookConfiguration",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
        "CertificateSigningRequest",
        "FlowSchema",
        "PriorityLevelConfiguration",
    }
)
CONTAINER_SECTIONS = ("initContainers", "containers", "ephemeralContainers")


PULUMI_FIELD_MANAGER = "pulumi-kubernetes"
"""Prefix of the field manager the Kubernetes provider applies objects as (`pulumi-kubernetes-<hash>`)."""


def declared(props: dict[str, Any], *path: str) -> Any:
    """The value at `path` if the program declared it; None if only the API server filled it in.

    Against a real cluster, stack rules see each object as the API server returns it (after a
    dry-run apply in preview, after the apply in up), server defaults included: a Deployment
    the program left without `spec.replicas` reads `replicas: 1`. The fields the program sent
    are those Pulumi's field manager owns in `metadata.managedFields`; an object without
    managed fields (the offline runner's) holds only what the program declared.
    """
    value = get(props, *path)
    managed = [m for m in items(get(props, "metadata", "managedFields")) if isinstance(m, dict)]
    owned = [m.get("fieldsV1") for m in managed if str(m.get("manager", "")).startswith(PULUMI_FIELD_MANAGER)]
    if value is None or value is UNKNOWN or not owned:
        return value
    for fields in owned:
        for part in path:
            fields = fields.get(f"f:{part}") if isinstance(fields, dict) else None
        if fields is not None:
            return value
    return None


def is_kubernetes(resource_type: str) -> bool:
    """A Kubernetes object registered by pulumi-kubernetes (not its provider, not a Helm release)."""
    return resource_type.startswith("kubernetes:") and not resource_type.startswith("kubernetes:helm.sh/")


def kind_of(resource_type: str, props: dict[str, Any]) -> str | None:
    """The object's kind: from its props (typed classes and CustomResource carry it), else from the type token."""
    if not is_kubernetes(resource_type):
        return None
    kind = props.get("kind")
    if isinstance(kind, str):
        return kind
    token = resource_type.rsplit(":", 1)[-1]
    return None if token in ("CustomResource", "") else token


def metadata(props: dict[str, Any]) -> dict[str, Any]:
    return mapping(props.get("metadata"))


def labels_of(meta: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in mapping(meta.get("labels")).items() if isinstance(v, str)}


def annotations_of(meta: dict[str, Any]) -> dict[str, Any]:
    return mapping(meta.get("annotations"))


def pod_template(kind: str | None, props: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(pod metadata, pod spec) of a workload; None for other kinds and while the pod spec is unknown."""
    if kind == "Pod":
        meta, spec = props.get("metadata"), props.get("spec")
    elif kind in WORKLOAD_KINDS:
        template = get(props, "spec", "jobTemplate", "spec", "template") if kind == "CronJob" else get(props, "spec", "template")
        meta, spec = get(template, "metadata"), get(template, "spec")
    else:
        return None
    if spec is UNKNOWN:
        return None  # nothing to say about a pod spec the engine does not know yet
    return mapping(meta), mapping(spec)


@dataclass(frozen=True)
class Container:
    """One container of a pod spec and where it sits."""

    section: str
    index: int
    spec: dict[str, Any]

    @property
    def name(self) -> str:
        name = self.spec.get("name")
        return name if isinstance(name, str) else f"{self.section}[{self.index}]"

    @property
    def label(self) -> str:
        """How a message names it: 'container app' or 'init container sysctl'."""
        prefix = {"initContainers": "init container", "containers": "container", "ephemeralContainers": "ephemeral container"}
        return f"{prefix[self.section]} '{self.name}'"

    @property
    def security_context(self) -> dict[str, Any]:
        return mapping(self.spec.get("securityContext"))


def containers(pod_spec: dict[str, Any], sections: tuple[str, ...] = CONTAINER_SECTIONS) -> Iterator[Container]:
    for section in sections:
        for index, spec in enumerate(items(pod_spec.get(section))):
            if isinstance(spec, dict):
                yield Container(section, index, spec)


def effective(container: Container, pod_spec: dict[str, Any], key: str) -> Any:
    """A security setting as the kubelet applies it: the container's value, else the pod's."""
    own = container.security_context.get(key)
    if own is not None:
        return own
    return mapping(pod_spec.get("securityContext")).get(key)


def selector_matches(selector: Any, labels: dict[str, Any]) -> bool | None:
    """Whether a LabelSelector (matchLabels/matchExpressions) selects `labels`; None when it is unknown.

    An empty selector selects everything, as in a NetworkPolicy's `podSelector: {}`.
    """
    if selector is UNKNOWN:
        return None
    selector = mapping(selector)
    match_labels = mapping(selector.get("matchLabels"))
    if any(v is UNKNOWN for v in match_labels.values()):
        return None
    if any(labels.get(k) != v for k, v in match_labels.items()):
        return False
    for expr in items(selector.get("matchExpressions")):
        expr = mapping(expr)
        key, op, values = expr.get("key"), expr.get("operator"), items(expr.get("values"))
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def map_selector_matches(selector: Any, labels: dict[str, Any]) -> bool | None:
    """Whether a plain map selector (a Service's `spec.selector`) selects `labels`; None when unknown."""
    if selector is UNKNOWN:
        return None
    selector = mapping(selector)
    if any(v is UNKNOWN for v in selector.values()):
        return None
    return all(labels.get(k) == v for k, v in selector.items())


# An image reference: [registry/]path[:tag][@digest]. The registry is the first component when it
# has a dot or a port or is 'localhost' (the Docker convention).
_DIGEST = re.compile(r"@(?P<algo>[a-z0-9]+(?:[.+_-][a-z0-9]+)*):(?P<hex>.+)$")


@dataclass(frozen=True)
class ImageRef:
    """A parsed image reference, with Docker Hub's implicit registry and library/ namespace spelled out."""

    registry: str
    repository: str
    tag: str | None
    digest: str | None

    @property
    def name(self) -> str:
        return f"{self.registry}/{self.repository}"


def parse_image(ref: str) -> ImageRef:
    digest = None
    match = _DIGEST.search(ref)
    if match:
        digest = f"{match.group('algo')}:{match.group('hex')}"
        ref = ref[: match.start()]
    tag = None
    last_slash = ref.rfind("/")
    if ":" in ref[last_slash + 1 :]:
        ref, tag = ref.rsplit(":", 1)
    first, _, rest = ref.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        registry, path = first, rest
    else:
        registry, path = "docker.io", ref
    if registry == "docker.io" and "/" not in path:
        path = f"library/{path}"
    return ImageRef(registry, path, tag or None, digest)
