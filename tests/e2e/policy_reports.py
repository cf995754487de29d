"""What every real-engine preview under the pack must leave: the three policy reports, agreeing with the CLI's events."""

from __future__ import annotations

import json
from typing import Any

from test_policy_reports import sarif_errors
from tools.e2e.engine import Operation
from tools.offline import policy_report


def assert_written(op: Operation, stack: str) -> dict[str, Any]:
    """The preview wrote policy-report.{json,sarif,md} for `stack`, the SARIF validates against the vendored schema,
    and the JSON's violated pairs are the CLI's policy events (the SDK's "can't run during preview" ones excepted).
    Returns the JSON report's state counts."""
    assert op.policy_report is not None and op.policy_report.name == stack, op.policy_report
    data = json.loads((op.policy_report / "policy-report.json").read_text())
    sarif = json.loads((op.policy_report / "policy-report.sarif").read_text())
    markdown = (op.policy_report / "policy-report.md").read_text()
    assert sarif_errors(sarif) == []
    events = {(v.policy, v.urn or "") for v in op.violations if not policy_report.is_preview_unknown(v.message)}
    assert {(v["policy"], v["urn"]) for v in data["violations"]} == events
    assert len(sarif["runs"][0]["results"]) == len(data["violations"])
    states = data["summary"]["states"]
    assert states["violated"] == len(events) and states["passed"] > 0, states
    assert f"on stack `{stack}`" in markdown
    if data["violations"]:
        assert f"#### Violations ({len(data['violations'])})" in markdown
    return states
