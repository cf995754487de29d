"""The restricted security context every container gets unless a component has a documented reason."""

from __future__ import annotations

from components import defaults

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


def restricted_namespace_labels() -> dict[str, str]:
    """Pod Security Admission labels that enforce, audit and warn at 'restricted'."""
    return {
        f"pod-security.kubernetes.io/{mode}{suffix}": value
        for mode in ("enforce", "audit", "warn")
        for suffix, value in (("", "restricted"), ("-version", "latest"))
    }
