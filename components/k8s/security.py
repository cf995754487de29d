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


EXEMPT_ANNOTATION = "policies.gosvc.dev/exempt-"
"""The policy pack's opt-out annotation: `policies.gosvc.dev/exempt-<policy>: <reason>` on a workload."""


def exemptions(reasons: dict[str, str]) -> dict[str, str]:
    """Annotations exempting a workload from named policies; every reason must be non-empty."""
    for policy, reason in reasons.items():
        if not reason.strip():
            raise ValueError(f"exemption from {policy!r} needs a reason")
    return {f"{EXEMPT_ANNOTATION}{policy}": reason for policy, reason in reasons.items()}
