"""The restricted security context every container gets unless a component has a documented reason, and the Pod Security namespaces."""

from __future__ import annotations

from components import defaults
from components.k8s import meta

RUNTIME_DEFAULT_SECCOMP = {"type": "RuntimeDefault"}


def pod_security_context(uid: int = defaults.NONROOT_UID) -> dict:
    return {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": uid,
        "fsGroup": uid,
        "seccompProfile": dict(RUNTIME_DEFAULT_SECCOMP),
    }


def container_security_context(uid: int = defaults.NONROOT_UID) -> dict:
    """Pod Security Standards 'restricted', plus a read-only root filesystem."""
    return {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": uid,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "privileged": False,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": dict(RUNTIME_DEFAULT_SECCOMP),
    }


def pod_security_labels(enforce: str = "restricted") -> dict[str, str]:
    """Pod Security Admission labels enforcing `enforce` and warning and auditing at 'restricted', so a namespace
    that must admit more still reports every pod the restricted standard would refuse."""
    return {
        f"pod-security.kubernetes.io/{mode}{suffix}": value
        for mode, level in (("enforce", enforce), ("audit", "restricted"), ("warn", "restricted"))
        for suffix, value in (("", level), ("-version", "latest"))
    }


def namespace(name: str, app: str, instance: str, enforce: str = "restricted") -> dict:
    """A Namespace of gosvc's own, labelled for the component that owns it and enforcing Pod Security `enforce`."""
    labels = {**meta.labels(app, instance, "namespace"), **pod_security_labels(enforce)}
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": meta.metadata(name, None, labels)}
