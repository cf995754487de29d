"""The crosswalk data in policies/crosswalk/: each linter's check list and the pack's deliberate differences.

A linter's file has a header (linter, version, source, date) and one entry per check: `id`, `name` (the short
name the linter gives it), `default` (on in the linter's default configuration), `kinds` (the Kubernetes kinds it
judges; `*` for any) and, for checks that judge only containers running one program, `runs`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from policies.rules.definition import LINTERS

ROOT = Path(__file__).resolve().parents[2]
DIR = ROOT / "policies" / "crosswalk"
DIFFERENCES = DIR / "differences.yaml"
DATE = "2026-12-07"
ANY_KIND = "*"


@dataclass(frozen=True)
class Check:
    """One check of a linter, as facts."""

    linter: str
    id: str
    name: str
    default: bool
    kinds: tuple[str, ...]
    runs: str | None = None
    """The program whose containers alone it judges (Checkov's control-plane checks), None for any container."""


@dataclass(frozen=True)
class Catalogue:
    """A linter's check list with where the facts come from."""

    linter: str
    version: str
    source: str
    date: str
    checks: tuple[Check, ...]

    def by_id(self) -> dict[str, Check]:
        return {c.id: c for c in self.checks}


@dataclass(frozen=True)
class Difference:
    """A default check the pack deliberately does not enforce, and why."""

    linter: str
    id: str
    reason: str


def catalogue_path(linter: str) -> Path:
    return DIR / f"{linter}.yaml"


def load(linter: str, path: Path | None = None) -> Catalogue:
    data = yaml.safe_load((path or catalogue_path(linter)).read_text())
    if data.get("linter") != linter:
        raise ValueError(f"{path or catalogue_path(linter)} is the catalogue of {data.get('linter')!r}, not {linter!r}")
    checks = tuple(
        Check(linter, str(c["id"]), str(c["name"]), bool(c["default"]), tuple(c["kinds"]), c.get("runs")) for c in data["checks"]
    )
    if len({c.id for c in checks}) != len(checks):
        raise ValueError(f"the {linter} catalogue lists a check id twice")
    return Catalogue(linter, str(data["version"]), str(data["source"]), str(data["date"]), checks)


def load_all() -> dict[str, Catalogue]:
    return {linter: load(linter) for linter in LINTERS}


def differences(path: Path = DIFFERENCES) -> list[Difference]:
    return [Difference(str(d["linter"]), str(d["id"]), str(d.get("reason") or "").strip()) for d in yaml.safe_load(path.read_text())["differences"]]


def dump(path: Path, header: dict[str, Any], checks: list[dict[str, Any]]) -> Path:
    """Writes a catalogue: the header, then one flow-style line per check."""
    lines = [yaml.safe_dump(header, sort_keys=False, width=1000).rstrip(), "checks:"]
    for check in checks:
        lines.append("- " + yaml.safe_dump(check, sort_keys=False, default_flow_style=True, width=1000).strip())
    path.write_text("\n".join(lines) + "\n")
    return path
