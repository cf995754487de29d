"""Writing fixes into resource props: through the SDK's secret-preserving proxies in `Remediate`, or plain dicts in tests.

A remediation mutates the props it was given and returns them; the proxies keep a value
that was secret secret when it is replaced, and unknown values (preview) are left alone.
"""

from __future__ import annotations

from collections.abc import Mapping as MappingABC, Sequence
from typing import Any, Iterator

from . import kube
from .props import UNKNOWN


def value(parent: Any, key: str) -> Any:
    """parent[key] through the SDK's proxies: UNKNOWN while the engine does not know it yet, None when absent or
    when `parent` is no mapping."""
    if not isinstance(parent, MappingABC):
        return None
    try:
        return parent[key] if key in parent else None
    except Exception:  # the SDK's UnknownValueError
        return UNKNOWN


def child(parent: Any, key: str) -> Any:
    """parent[key] when it is a mapping (an SDK proxy or a dict), else None."""
    found = value(parent, key)
    return found if isinstance(found, MappingABC) else None


def ensure(parent: Any, key: str) -> Any:
    """parent[key], created as {} when absent; None when it holds something else (an unknown value)."""
    found = child(parent, key)
    if found is not None:
        return found
    if key in parent and parent.get(key) is not None:
        return None
    parent[key] = {}
    return parent[key]


def _template_path(kind: str | None) -> tuple[str, ...]:
    """Where a workload of `kind` holds its pod template (a Pod is its own)."""
    return {"Pod": (), "CronJob": ("spec", "jobTemplate", "spec", "template")}.get(kind or "", ("spec", "template"))


def _at(props: Any, path: tuple[str, ...]) -> Any:
    node = props
    for key in path:
        node = child(node, key)
        if node is None:
            return None
    return node


def pod_spec(props: Any, kind: str | None) -> Any:
    """The writable pod spec of a workload's props, or None when it is missing or unknown."""
    return _at(props, (*_template_path(kind), "spec"))


def pod_metadata(props: Any, kind: str | None) -> Any:
    """The writable metadata of a workload's pod template (where pod annotations live), or None when missing or unknown."""
    return _at(props, (*_template_path(kind), "metadata"))


def containers_of(spec: Any) -> Iterator[Any]:
    """Every writable container (init, regular, ephemeral) of a pod spec."""
    for section in kube.CONTAINER_SECTIONS:
        try:
            found = spec[section]
        except Exception:
            continue
        if isinstance(found, Sequence) and not isinstance(found, str):
            for index in range(len(found)):
                if isinstance(found[index], MappingABC):
                    yield found[index]
