"""Recommended `app.kubernetes.io/*` labels and object metadata."""

from __future__ import annotations

from components import defaults, inputs


def selector_labels(name: str, instance: str) -> dict[str, str]:
    """The stable subset used in selectors: it must never change for a live workload."""
    return {"app.kubernetes.io/name": name, "app.kubernetes.io/instance": instance}


def labels(name: str, instance: str, component: str, version: str | None = None) -> dict[str, str]:
    """The recommended labels; `version` is left out when unknown rather than guessed."""
    result = {
        **selector_labels(name, instance),
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/part-of": defaults.PART_OF,
        "app.kubernetes.io/managed-by": defaults.MANAGED_BY,
    }
    if version:
        result["app.kubernetes.io/version"] = inputs.known(version, "the version label (truncated to 63 characters)")[:63]
    return result


def metadata(name: str, namespace: str | None, labels_: dict[str, str], annotations: dict[str, str] | None = None) -> dict:
    meta: dict = {"name": name, "labels": dict(labels_)}
    if namespace is not None:
        meta["namespace"] = namespace
    if annotations:
        meta["annotations"] = dict(annotations)
    return meta
