"""A policy report as Markdown for a job summary or a pull-request comment: counts per state, the
violations, what only `pulumi up` can decide, and what the pack remediated; cut short past `limit` rows."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tools.offline.policy_report import Report

LIMIT = 50
"""Rows per table before the rest is left to policy-report.json (a comment must stay readable)."""
MAX_CHARS = 60_000
"""Under GitHub's 65,536-character limit for a comment body, leaving room for the comment's marker."""


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _resource(report: Report, urn: str, type_: str, name: str) -> str:
    if not urn:
        return "the stack"
    return report.objects.get(urn) or f"{type_.rsplit(':', 1)[-1]} {name}".strip() or urn


def _more(shown: int, total: int) -> list[str]:
    return ["", f"_… and {total - shown} more, listed in policy-report.json._"] if total > shown else []


def summary(report: Report, limit: int = LIMIT) -> str:
    """The Markdown summary of `report`."""
    states = report.states()
    advisory = len(report.violations) - len(report.mandatory)
    lines = [
        f"### Policy pack `{report.pack}` on stack `{report.stack}`",
        "",
        "| state | rule × resource | |",
        "|---|---:|---|",
        f"| violated | {states['violated']} | {len(report.mandatory)} mandatory, {advisory} advisory violation(s) |",
        f"| passed | {states['passed']} | |",
        f"| not decidable at preview | {states['undecidable']} | inputs unknown until `pulumi up`, which checks them again |",
        f"| remediated | {len(report.remediations)} | fixed by the pack before the check |",
    ]
    if report.violations:
        rows = sorted(report.violations, key=lambda v: (v.level != "mandatory", v.policy, v.urn))
        lines += ["", f"#### Violations ({len(rows)})", "", "| level | policy | resource | message |", "|---|---|---|---|"]
        lines += [f"| {v.level} | `{v.policy}` | {_cell(_resource(report, v.urn, v.resourceType, v.resourceName))} | {_cell(v.detail)} |" for v in rows[:limit]]
        lines += _more(min(limit, len(rows)), len(rows))
    if report.undecidable:
        rows = sorted(report.undecidable, key=lambda u: (u.policy, u.urn))
        lines += ["", f"#### Not decidable until `pulumi up` ({len(rows)})", ""]
        lines += [f"- `{u.policy}` on {_cell(_resource(report, u.urn, u.resourceType, u.resourceName))}: {_cell(u.reason)}" for u in rows[:limit]]
        lines += _more(min(limit, len(rows)), len(rows))
    if report.remediations:
        rows = report.remediations
        lines += ["", f"#### Remediated ({len(rows)})", ""]
        lines += [f"- `{r['policy']}` fixed {_cell(_resource(report, r['urn'], r['resourceType'], r['resourceName']))}" for r in rows[:limit]]
        lines += _more(min(limit, len(rows)), len(rows))
    text = "\n".join(lines) + "\n"
    if len(text) > MAX_CHARS:
        note = "\n_… cut short here to fit a pull-request comment; policy-report.json has everything._\n"
        text = text[: text.rfind("\n", 0, MAX_CHARS - len(note))] + note
    return text
