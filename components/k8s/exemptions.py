"""The policy pack's opt-out annotation, defined once for the components that write it and the pack that reads it.

Standard library only: the pack imports this module in its own virtualenv, without the library's dependencies.
"""

from __future__ import annotations

EXEMPT_PREFIX = "policies.gosvc.dev/exempt-"
"""Annotation `policies.gosvc.dev/exempt-<policy>: <reason>` on a workload (or an RBAC object) opts it out of one policy."""


def exemptions(reasons: dict[str, str]) -> dict[str, str]:
    """Annotations exempting a workload from named policies; every reason must be non-empty."""
    for policy, reason in reasons.items():
        if not reason.strip():
            raise ValueError(f"exemption from {policy!r} needs a reason")
    return {f"{EXEMPT_PREFIX}{policy}": reason for policy, reason in reasons.items()}
