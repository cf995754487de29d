"""Component args that may be Outputs: validated once known, then written into the built objects.

The specs are pure functions of plain values. An Output in a field that only flows into
manifests (a namespace, a service name, an env value) is replaced by a placeholder that passes
validation, the specs are built with it, and every string that holds a placeholder is
registered as an Output of the real value. That Output first re-runs the component's own
validation on the real args, so a bad value fails with the message a plain one gets; a value
unknown at preview leaves the fields it flows into unknown, and a secret one makes them secret.
Fields that decide what is registered (counts, switches) stay plain: `plain_args` refuses an
Output there.

A placeholder stands in only where a value is copied: a builder that hashes, truncates, sorts,
deduplicates or measures a name guards it with `known`, which refuses a placeholder, and the
component computes that piece with `Deferred.derive` from the real values.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Callable

import pulumi

from components.config import plain_args

_PREFIX = "x--gosvc-output--"
"""Starts every placeholder; a DNS label, so placeholders pass name and namespace validation."""


class DerivedFromOutput(Exception):
    """A builder computed on a placeholder: the result would be the placeholder's, not the real value's."""


def known(value: str, what: str) -> str:
    """`value`, which a builder is about to compute on; raises DerivedFromOutput when it holds a placeholder."""
    if _PREFIX in value:
        raise DerivedFromOutput(
            f"{what} is derived from an Output ({value!r} stands in for it); compute it with Deferred.derive from the real values"
        )
    return value


@dataclass(frozen=True)
class Deferred:
    """The Outputs a component was given, keyed by the placeholder standing in for each."""

    values: pulumi.Output[dict[str, str]] | None
    """Placeholder -> real value, resolved once every Output is known and the args validated."""
    checked: pulumi.Output[Any] | None = None
    """What the validation returned for the real args (the component's spec)."""

    def derive(self, build: Callable[[Any], Any], spec: Any) -> Any:
        """`build(spec)`, or, when that computes on a placeholder (`known` refuses it), `build` of the
        real spec as an Output: for values a placeholder cannot stand in, such as a truncated name."""
        try:
            return build(spec)
        except DerivedFromOutput:
            if self.checked is None:
                raise
            return self.checked.apply(build)

    def real(self, spec: Any) -> pulumi.Output[Any]:
        """The component's spec with the real values: `spec` itself when no Output was given, else
        the spec the validation returned once they are known. Never holds a placeholder."""
        return pulumi.Output.from_input(spec) if self.checked is None else self.checked

    def fill(self, value: Any) -> Any:
        """`value` (a dict, list or string from a spec) with every placeholder swapped for its Output."""
        if self.values is None:
            return value
        if isinstance(value, str):
            if _PREFIX not in value:
                return value
            return self.values.apply(lambda real: _substitute(value, real))
        if isinstance(value, dict):
            return {k: self.fill(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.fill(v) for v in value]
        return value


def _substitute(text: str, real: dict[str, str]) -> str:
    # Longest first, so placeholder 1 never rewrites the start of placeholder 10.
    for placeholder in sorted(real, key=len, reverse=True):
        text = text.replace(placeholder, real[placeholder])
    return text


def split(args: dict[str, Any] | None, where: str, deferrable: tuple[str, ...], check: Callable[[dict[str, Any]], object]) -> tuple[dict[str, Any], Deferred]:
    """Plain args with placeholders for the Outputs `deferrable` allows, and those Outputs.

    `deferrable` names top-level keys ("namespace") or the values of a dict ("env.*"). `check`
    is the component's validation of plain args; it runs on the real values once they are
    known and raises the same ConfigError a plain bad value would.
    """
    raw = dict(args or {})
    outputs: dict[str, tuple[tuple[str, ...], pulumi.Output[Any]]] = {}

    def stand_in(path: tuple[str, ...], output: pulumi.Output[Any]) -> str:
        placeholder = f"{_PREFIX}{len(outputs)}"
        outputs[placeholder] = (path, output)
        return placeholder

    for field in deferrable:
        key, _, rest = field.partition(".")
        value = raw.get(key)
        if rest == "*" and isinstance(value, dict):
            raw[key] = {k: stand_in((key, k), v) if isinstance(v, pulumi.Output) else v for k, v in value.items()}
        elif not rest and isinstance(value, pulumi.Output):
            raw[key] = stand_in((key,), value)
    plain = plain_args(raw, where)
    if not outputs:
        return plain, Deferred(None)

    placeholders = list(outputs)

    def known(values: list[Any]) -> tuple[dict[str, str], Any]:
        real = copy.deepcopy(plain)
        for placeholder, value in zip(placeholders, values):
            path = outputs[placeholder][0]
            target = real
            for part in path[:-1]:
                target = target[part]
            target[path[-1]] = value
        checked = check(real)
        return {placeholder: str(value) for placeholder, value in zip(placeholders, values)}, checked

    resolved = pulumi.Output.all(*[output for _, output in outputs.values()]).apply(known)
    return plain, Deferred(resolved.apply(lambda r: r[0]), resolved.apply(lambda r: r[1]))
