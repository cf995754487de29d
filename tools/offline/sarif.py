"""A policy report as a SARIF 2.1.0 log, the format GitHub code scanning takes.

Violations are `results` (mandatory -> error, advisory -> warning); every policy of the pack is a
rule in `tool.driver.rules` with its remediation as help and its family, severity and the
external linter checks it covers as properties. Undecidable pairs are notifications of the
invocation, not results: code scanning raises an alert for every result whatever its `kind`
(SARIF's `open` would be the exact word), and a value nobody can know before `up` is no alert.
Each location is logical (the resource URN, the Kubernetes object) and physical (the stack's
config file, line 1), since code scanning rejects a result without a physical location.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tools.offline.policy_report import Report

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
LEVELS = {"mandatory": "error", "advisory": "warning", "remediate": "error"}
SECURITY_SEVERITY = {"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "2.0"}
"""GitHub's `security-severity` scale (0-10) for the pack's severities: it ranks alerts by it."""
UNDECIDABLE = "undecidable-at-preview"


def _rule(policy: Any) -> dict[str, Any]:
    severity = getattr(policy.severity, "value", str(policy.severity or "")).lower() or "unspecified"
    level = getattr(policy.enforcement_level, "value", str(policy.enforcement_level))
    properties: dict[str, Any] = {"severity": severity, "family": (policy.tags or [""])[0], "tags": list(policy.tags or [])}
    properties["covers"] = {k: list(v) for k, v in getattr(policy, "covers", {}).items()}
    properties["partly"] = {k: list(v) for k, v in getattr(policy, "partly", {}).items()}
    if severity in SECURITY_SEVERITY:
        properties["security-severity"] = SECURITY_SEVERITY[severity]
    steps = policy.remediation_steps or policy.description
    return {
        "id": policy.name,
        "shortDescription": {"text": policy.description},
        "help": {"text": steps, "markdown": f"**Remediation:** {steps}"},
        "defaultConfiguration": {"level": LEVELS.get(level, "warning")},
        "properties": properties,
    }


def _location(report: Report, urn: str, resource_name: str, source: str) -> dict[str, Any]:
    logical = [{"fullyQualifiedName": urn or f"stack {report.stack}", "name": resource_name or report.stack, "kind": "resource"}]
    if urn in report.objects:
        logical.append({"fullyQualifiedName": report.objects[urn], "kind": "object"})
    return {
        "physicalLocation": {"artifactLocation": {"uri": source}, "region": {"startLine": 1}},
        "logicalLocations": logical,
    }


def log(report: Report, *, source: str | None = None) -> dict[str, Any]:
    """The SARIF log of `report`; `source` is the repository file results are placed on (the stack's config)."""
    from policies.rules import POLICIES

    where = source or f"stacks/Pulumi.{report.stack}.yaml"
    rules = [_rule(p) for p in POLICIES]
    index = {r["id"]: i for i, r in enumerate(rules)}
    name, _, version = report.pack.partition("@")
    results = []
    for v in report.violations:
        result: dict[str, Any] = {
            "ruleId": v.policy,
            "kind": "fail",
            "level": LEVELS.get(v.level, "warning"),
            "message": {"text": v.detail},
            "locations": [_location(report, v.urn, v.resourceName, where)],
            "partialFingerprints": {"policyResourceMessage/v1": hashlib.sha256(f"{v.policy}\0{v.urn}\0{v.detail}".encode()).hexdigest()},
            "properties": {"enforcementLevel": v.level, "severity": v.severity},
        }
        if v.policy in index:
            result["ruleIndex"] = index[v.policy]
        results.append(result)
    notifications = []
    for u in report.undecidable:
        note: dict[str, Any] = {
            "level": "note",
            "descriptor": {"id": UNDECIDABLE},
            "associatedRule": {"id": u.policy, **({"index": index[u.policy]} if u.policy in index else {})},
            "message": {"text": f"{u.policy}: not decidable at preview: {u.reason}"},
            "locations": [_location(report, u.urn, u.resourceName, where)],
        }
        notifications.append(note)
    driver: dict[str, Any] = {"name": name or report.pack, "rules": rules}
    if version:
        driver["version"] = version
    return {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {"driver": driver},
                "invocations": [{"executionSuccessful": True, "toolExecutionNotifications": notifications}],
                "results": results,
                "properties": {"stack": report.stack, "states": report.states(), "remediated": len(report.remediations)},
            }
        ],
    }
