"""Resource properties as the rules read them: plain dicts and lists, engine numbers made whole, unknowns marked.

The engine sends properties as a protobuf Struct, so every number arrives as a float
(`replicas: 2.0`), and during preview some values are unknown sentinels that the SDK's
proxy raises on. `plain()` walks the SDK's proxies once at the edge of each rule, turning
integral floats back into ints and unknown values into the `UNKNOWN` marker, so a rule
never crashes on either and can decide for itself what an unknown value means (usually:
nothing to report yet; `pulumi up` checks again with the real value).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from pulumi_policy import Secret
from pulumi_policy.proxy import (
    UNKNOWN_ARCHIVE_VALUE,
    UNKNOWN_ARRAY_VALUE,
    UNKNOWN_ASSET_VALUE,
    UNKNOWN_BOOLEAN_VALUE,
    UNKNOWN_NUMBER_VALUE,
    UNKNOWN_OBJECT_VALUE,
    UNKNOWN_STRING_VALUE,
    UnknownValueError,
    _DictProxy,
    _ListProxy,
)

_SENTINELS = frozenset(
    {
        UNKNOWN_ARCHIVE_VALUE,
        UNKNOWN_ARRAY_VALUE,
        UNKNOWN_ASSET_VALUE,
        UNKNOWN_BOOLEAN_VALUE,
        UNKNOWN_NUMBER_VALUE,
        UNKNOWN_OBJECT_VALUE,
        UNKNOWN_STRING_VALUE,
    }
)


class _Unknown:
    """A value the engine does not know yet (preview); compares equal to nothing but itself."""

    _instance: _Unknown | None = None

    def __new__(cls) -> _Unknown:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "<unknown during preview>"

    def __bool__(self) -> bool:
        return False


UNKNOWN = _Unknown()


def is_unknown(value: Any) -> bool:
    return value is UNKNOWN


def plain(value: Any) -> Any:
    """A deep plain copy of SDK props: dicts, lists, ints for whole numbers, UNKNOWN for unknowns."""
    kind = type(value)
    if kind is str:
        return UNKNOWN if value in _SENTINELS else value
    if kind is dict:
        return {key: plain(item) for key, item in value.items()}
    if kind is list:
        return [plain(item) for item in value]
    if kind is _DictProxy or kind is _ListProxy:
        # The SDK's unknown-checking proxies hold the same values, unknown sentinels included, in
        # their target; reading it directly skips a raised and caught error per unknown and the
        # abstract-base-class checks per item, which made this copy a rule's costliest step.
        return plain(value["__target"])
    if isinstance(value, Secret):
        return plain(value.value)
    if isinstance(value, str):
        return UNKNOWN if value in _SENTINELS else value
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else value
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key in list(iter(value)):
            try:
                out[key] = plain(value[key])
            except UnknownValueError:
                out[key] = UNKNOWN
        return out
    if isinstance(value, Sequence) and not isinstance(value, (bytes, bytearray)):
        items: list[Any] = []
        for index in range(len(value)):
            try:
                items.append(plain(value[index]))
            except UnknownValueError:
                items.append(UNKNOWN)
        return items
    return value


def get(value: Any, *path: str | int, default: Any = None) -> Any:
    """The value at `path` in plain data; `default` when missing, UNKNOWN when any step is unknown."""
    for step in path:
        if value is UNKNOWN:
            return UNKNOWN
        if isinstance(step, int):
            if not isinstance(value, list) or not -len(value) <= step < len(value):
                return default
            value = value[step]
        else:
            if not isinstance(value, dict) or step not in value:
                return default
            value = value[step]
    return value


def mapping(value: Any) -> dict[str, Any]:
    """`value` if it is a dict, else an empty one (missing or unknown)."""
    return value if isinstance(value, dict) else {}


def items(value: Any) -> list[Any]:
    """`value` if it is a list, else an empty one (missing or unknown)."""
    return value if isinstance(value, list) else []


def whole_number(value: Any) -> int | None:
    """An integer from an int, an integral float or a numeric string; None otherwise (bools are not numbers)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return None


def quantity(value: Any) -> Decimal | None:
    """A Kubernetes quantity ('250m', '1Gi', 2.0) as a Decimal; None when missing, unknown or malformed."""
    if value is None or value is UNKNOWN or isinstance(value, bool):
        return None
    from kubernetes.utils.quantity import parse_quantity  # imported lazily: only resource rules need it

    try:
        return Decimal(parse_quantity(value))
    except (ValueError, TypeError, InvalidOperation):
        return None
