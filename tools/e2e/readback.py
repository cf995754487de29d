"""Compares what the program synthesized with what the API server holds after `pulumi up`."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import kubernetes
from kubernetes.utils import parse_quantity

QUANTITY_PARENTS = frozenset({"requests", "limits", "sizeLimit", "averageValue", "capacity", "storage"})
"""Keys under which values are Kubernetes quantities, which the API server writes in canonical form ('0.5' -> '500m')."""


def _quantity(value: Any) -> Decimal | None:
    try:
        return parse_quantity(value) if isinstance(value, (str, int, float)) and not isinstance(value, bool) else None
    except (ValueError, ArithmeticError):
        return None


def differences(expected: Any, live: Any, path: str = "", quantity: bool = False) -> list[str]:
    """Where `live` lacks or contradicts what `expected` sets.

    The live object may add fields (server defaults, status, managed fields) but must hold every
    field the manifest sets, with the same value; quantities compare by amount.
    """
    if isinstance(expected, dict):
        if not isinstance(live, dict):
            return [f"{path or '.'}: expected an object, found {live!r}"]
        found: list[str] = []
        for key, value in expected.items():
            child = f"{path}.{key}"
            if key not in live:
                found.append(f"{child}: missing (expected {value!r})")
            else:
                found += differences(value, live[key], child, quantity or key in QUANTITY_PARENTS)
        return found
    if isinstance(expected, list):
        if not isinstance(live, list) or len(live) != len(expected):
            return [f"{path}: expected {len(expected)} items, found {live!r}"]
        return [d for i, (e, l) in enumerate(zip(expected, live)) for d in differences(e, l, f"{path}[{i}]", quantity)]
    if expected == live:
        return []
    if quantity and _quantity(expected) is not None and _quantity(expected) == _quantity(live):
        return []
    return [f"{path}: expected {expected!r}, found {live!r}"]


def read(client: kubernetes.dynamic.DynamicClient, manifest: dict[str, Any]) -> dict[str, Any] | None:
    """The live object a manifest describes, as a plain dict; None when the API server has no such object."""
    resource = client.resources.get(api_version=manifest["apiVersion"], kind=manifest["kind"])
    meta = manifest["metadata"]
    try:
        return resource.get(name=meta["name"], namespace=meta.get("namespace")).to_dict()
    except kubernetes.dynamic.exceptions.NotFoundError:
        return None
