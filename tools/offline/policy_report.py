"""What one run of the policy pack found, rule by resource, and the three files it is written to.

Each (policy, resource) pair the pack evaluated is in one of three states: violated, passed, or
undecidable at preview (what the rule reads is unknown until `pulumi up`; the rules say so through
the SDK's not-applicable reason, see `policies/rules/definition.UNDECIDED_PREFIX`). Pairs a rule
does not concern at all (no Kafka in the stack) stay in `notApplicable`, outside the three.
`write` puts policy-report.json, policy-report.sarif and policy-report.md side by side.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tools.offline import markdown_report, sarif

STACK = ""
"""The `urn` of a stack policy's own outcome (it concerns the whole stack, not one resource)."""
PREVIEW_UNKNOWN = "during preview: "
"""What the policy SDK's own message says when a rule touched an unknown value and could not run."""


@dataclass
class Violation:
    policy: str
    level: str
    severity: str
    message: str
    urn: str
    resourceType: str  # noqa: N815 (JSON report field)
    resourceName: str  # noqa: N815

    @property
    def detail(self) -> str:
        """The message without the policy description the SDK puts on its first line."""
        return self.message.split("\n", 1)[1] if "\n" in self.message else self.message


@dataclass
class Undecidable:
    """A rule that could not decide about a resource before `up`: its inputs were unknown."""

    policy: str
    urn: str
    reason: str
    resourceType: str = ""  # noqa: N815
    resourceName: str = ""  # noqa: N815


@dataclass
class Report:
    stack: str
    pack: str
    violations: list[Violation] = field(default_factory=list)
    remediations: list[dict[str, str]] = field(default_factory=list)
    not_applicable: dict[str, str] = field(default_factory=dict)
    undecidable: list[Undecidable] = field(default_factory=list)
    passed: dict[str, list[str]] = field(default_factory=dict)
    """Policy name -> URNs of the resources it passed on (STACK for a stack policy that passed)."""
    objects: dict[str, str] = field(default_factory=dict)
    """URN -> 'Kind namespace/name' for the Kubernetes objects, so reports name them as kubectl does."""

    @property
    def mandatory(self) -> list[Violation]:
        return [v for v in self.violations if v.level == "mandatory"]

    def violated_pairs(self) -> set[tuple[str, str]]:
        return {(v.policy, v.urn) for v in self.violations}

    def states(self) -> dict[str, int]:
        """How many (policy, resource) pairs are in each state."""
        return {
            "violated": len(self.violated_pairs()),
            "passed": sum(len(urns) for urns in self.passed.values()),
            "undecidable": len({(u.policy, u.urn) for u in self.undecidable}),
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "policyPack": self.pack,
            "summary": {
                "mandatory": len(self.mandatory),
                "advisory": sum(v.level == "advisory" for v in self.violations),
                "remediated": len(self.remediations),
                "states": self.states(),
            },
            "violations": [asdict(v) for v in self.violations],
            "undecidable": [asdict(u) for u in self.undecidable],
            "passed": {policy: sorted(urns) for policy, urns in sorted(self.passed.items())},
            "remediations": self.remediations,
            "notApplicable": self.not_applicable,
        }


def is_preview_unknown(message: str) -> bool:
    """Whether a diagnostic is the SDK's "can't run policy ... during preview" about an unknown value, not a finding."""
    return message.startswith("can't run policy") and PREVIEW_UNKNOWN in message


def write(report: Report, out: Path, *, source: str | None = None) -> list[Path]:
    """Writes policy-report.json, .sarif and .md into `out`; `source` is the file SARIF locates results in."""
    out.mkdir(parents=True, exist_ok=True)
    files = {
        "policy-report.json": json.dumps(report.to_json(), indent=2, sort_keys=True) + "\n",
        "policy-report.sarif": json.dumps(sarif.log(report, source=source), indent=2) + "\n",
        "policy-report.md": markdown_report.summary(report),
    }
    for name, text in files.items():
        (out / name).write_text(text)
    return [out / name for name in files]
