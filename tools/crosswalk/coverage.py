"""How much of each linter's default check set the pack covers, counted over the checks that apply to the project.

A check counts when it is on in the linter's default configuration and judges a kind the project emits (and, for a
check that judges only containers running one program, when the project runs it). Deliberate differences leave the
count; of the rest, a check some rule `covers` counts 1 and one a rule covers `partly` counts 0.5.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping

from tools.crosswalk.catalogue import ANY_KIND, Catalogue, Check, Difference
from tools.crosswalk.kinds import Emitted

GOAL = 0.95
"""Issue 26: the pack covers at least 95% of each linter's applicable default checks, deliberate differences excepted."""

COVERED, PARTLY, DIFFERENCE, NOT_APPLICABLE, OPTIONAL, GAP = "covered", "partly", "difference", "not applicable", "optional", "gap"


@dataclass(frozen=True)
class Claims:
    """Which rules declare each external check, per linter: check id -> rule names."""

    covers: dict[str, dict[str, tuple[str, ...]]]
    partly: dict[str, dict[str, tuple[str, ...]]]

    @classmethod
    def of(cls, rules: Iterable[object]) -> Claims:
        """From the rules' `covers`/`partly` (policies/rules/definition.py); rules without them claim nothing."""
        found: dict[str, dict[str, dict[str, list[str]]]] = {"covers": {}, "partly": {}}
        for rule in rules:
            for part, claims in found.items():
                for linter, ids in (getattr(rule, part, None) or {}).items():
                    for check_id in ids:
                        claims.setdefault(linter, {}).setdefault(check_id, []).append(str(getattr(rule, "name")))
        covers, partly = ({linter: {i: tuple(r) for i, r in ids.items()} for linter, ids in found[part].items()} for part in ("covers", "partly"))
        return cls(covers, partly)

    def rules(self, linter: str, check_id: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(rules that cover it, rules that cover it in part)."""
        return self.covers.get(linter, {}).get(check_id, ()), self.partly.get(linter, {}).get(check_id, ())


def applicable(check: Check, emitted: Emitted) -> bool:
    judged = ANY_KIND in check.kinds or bool(set(check.kinds) & emitted.kinds)
    return judged and (check.runs is None or emitted.runs(check.runs))


@dataclass(frozen=True)
class Row:
    """One check's place in the crosswalk."""

    check: Check
    status: str
    rules: tuple[str, ...] = ()
    reason: str = ""


@dataclass(frozen=True)
class Coverage:
    """One linter measured: every check's row, and the counts over its applicable default checks."""

    catalogue: Catalogue
    rows: tuple[Row, ...]
    applicable: int
    differences: int
    covered: int
    partly: int
    gaps: tuple[Check, ...] = field(default=())

    @property
    def measured(self) -> int:
        """Applicable default checks the pack is measured against: deliberate differences left out."""
        return self.applicable - self.differences

    @property
    def ratio(self) -> float:
        return (self.covered + 0.5 * self.partly) / self.measured if self.measured else 1.0


def measure(catalogue: Catalogue, claims: Claims, differences: Iterable[Difference], emitted: Emitted) -> Coverage:
    reasons: Mapping[str, str] = {d.id: d.reason for d in differences if d.linter == catalogue.linter}
    rows = []
    for check in catalogue.checks:
        full, part = claims.rules(catalogue.linter, check.id)
        if not applicable(check, emitted):
            rows.append(Row(check, NOT_APPLICABLE, (*full, *part)))
        elif check.id in reasons:
            rows.append(Row(check, DIFFERENCE, (), reasons[check.id]))
        elif full:
            rows.append(Row(check, COVERED, full))
        elif part:
            rows.append(Row(check, PARTLY, part))
        elif not check.default:
            rows.append(Row(check, OPTIONAL))
        else:
            rows.append(Row(check, GAP))
    counted = [r for r in rows if r.check.default and r.status != NOT_APPLICABLE]
    return Coverage(
        catalogue,
        tuple(rows),
        applicable=len(counted),
        differences=sum(r.status == DIFFERENCE for r in counted),
        covered=sum(r.status == COVERED for r in counted),
        partly=sum(r.status == PARTLY for r in counted),
        gaps=tuple(r.check for r in counted if r.status == GAP),
    )


def measure_all(catalogues: Mapping[str, Catalogue], rules: Iterable[object], differences: list[Difference], emitted: Emitted) -> dict[str, Coverage]:
    claims = Claims.of(rules)
    return {linter: measure(catalogue, claims, differences, emitted) for linter, catalogue in catalogues.items()}
