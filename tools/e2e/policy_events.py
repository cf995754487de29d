"""The real Pulumi CLI's policy results as the same three reports the offline runner writes.

    PULUMI_DEBUG_COMMANDS=true GOSVC_POLICY_OUTCOMES=build/dev-preview/outcomes.jsonl \\
        pulumi preview --event-log build/dev-preview/events.jsonl --policy-pack <pack> ...
    python -m tools.e2e.policy_events --events build/dev-preview/events.jsonl --stack dev --out build/dev-preview

The input is the engine's event stream (`--event-log`, one JSON engine event per line, the stream the
Automation API reads too; `logged` turns an Automation API event back into that form), not `pulumi
preview --json`: that digest leaves every policy event out. From it: `policyEvent` -> violations,
`policyAnalyzeSummaryEvent` and `policyAnalyzeStackSummaryEvent` -> passed, `policyRemediationEvent` ->
remediations, `resourcePreEvent` -> the Kubernetes object names. The engine keeps no not-applicable
reason and the Automation API drops the summary events, so passed, undecidable and not-applicable pairs
come from the outcome record the pack writes (policies/rules/outcomes.py) when one is given; its
violated pairs must then be the events' (`Disagreement` otherwise).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Iterable

from pulumi import automation as auto

from policies.rules import outcomes
from tools.offline import policy_report
from tools.offline.policy_report import Report, Undecidable, Violation

LEVELS = {"warning": "advisory", "mandatory": "mandatory", "remediate": "remediate", "none": "disabled"}
"""The CLI's enforcement level words (apitype.PolicyEvent) -> the pack's."""


def _type_and_name(urn: str) -> tuple[str, str]:
    parts = urn.split("::")
    return (parts[2].split("$")[-1], parts[3]) if len(parts) >= 4 else ("", "")


def _object(inputs: Any, type_: str) -> str:
    if not type_.startswith("kubernetes:") or not isinstance(inputs, dict) or not isinstance(inputs.get("metadata"), dict):
        return ""
    name, namespace = inputs["metadata"].get("name"), inputs["metadata"].get("namespace")
    if not isinstance(name, str):
        return ""
    return f"{type_.rsplit(':', 1)[-1]} {namespace + '/' if isinstance(namespace, str) and namespace else ''}{name}"


class Disagreement(Exception):
    """The CLI's policy events and the pack's outcome record name different violated (policy, resource) pairs."""


def _is_stack(urn: str) -> bool:
    """Whether `urn` is the stack's own: the engine puts a stack policy's violation without a resource on it."""
    return urn == policy_report.STACK or _type_and_name(urn)[0] == "pulumi:pulumi:Stack"


def _agree(violations: list[Violation], unknown: set[tuple[str, str]], records: list[dict[str, str]]) -> None:
    """Raises Disagreement unless the record's violated pairs are the events' and every pair the SDK could not run is in it."""
    def pair(policy: str, urn: str) -> tuple[str, str]:
        return (policy, policy_report.STACK if _is_stack(urn) else urn)

    from_events = {pair(v.policy, v.urn) for v in violations}
    recorded = {pair(r["policy"], r["urn"]): r["state"] for r in records}
    from_record = {p for p, state in recorded.items() if state == outcomes.VIOLATED}
    problems = [f"violated per the CLI's events only: {sorted(from_events - from_record)}"] if from_events - from_record else []
    if from_record - from_events:
        problems.append(f"violated per the pack's record only: {sorted(from_record - from_events)}")
    unrecorded = sorted(p for p in map(lambda u: pair(*u), unknown) if recorded.get(p) not in (outcomes.UNDECIDABLE, outcomes.VIOLATED))
    if unrecorded:
        problems.append(f"not runnable during preview per the CLI's events, not undecidable in the record: {unrecorded}")
    if problems:
        raise Disagreement("; ".join(problems))


def report(events: Iterable[dict[str, Any]], *, stack: str, outcomes_record: Iterable[dict[str, str]] | None = None) -> Report:
    """A Report of what the CLI's events say; with the pack's outcome record, which must agree with them on the
    violations, passed, undecidable and not-applicable pairs come from the record instead of the summary events."""
    result = Report(stack, "")
    unknown: dict[tuple[str, str], str] = {}
    passed: list[tuple[str, str]] = []
    for event in events:
        if (pre := event.get("resourcePreEvent")) is not None:
            meta = pre.get("metadata", {})
            described = _object((meta.get("new") or {}).get("inputs"), meta.get("type", ""))
            if described:
                result.objects[meta["urn"]] = described
        elif (p := event.get("policyEvent")) is not None:
            result.pack = result.pack or f"{p['policyPackName']}@{p['policyPackVersion']}"
            urn = p.get("resourceUrn") or ""
            if policy_report.is_preview_unknown(p["message"]):
                unknown[(p["policyName"], urn)] = p["message"].strip()
                continue
            result.violations.append(
                Violation(p["policyName"], LEVELS.get(p["enforcementLevel"], p["enforcementLevel"]), p.get("severity") or _severity(p["policyName"]),
                          p["message"].strip(), urn, *_type_and_name(urn))
            )
        elif (s := event.get("policyAnalyzeSummaryEvent")) is not None:
            result.pack = result.pack or f"{s['policyPackName']}@{s['policyPackVersion']}"
            passed += [(name, s["resourceUrn"]) for name in s.get("passed") or []]
        elif (s := event.get("policyAnalyzeStackSummaryEvent")) is not None:
            passed += [(name, policy_report.STACK) for name in s.get("passed") or []]
        elif (r := event.get("policyRemediationEvent")) is not None:
            urn = r.get("resourceUrn", "")
            result.remediations.append({"policy": r["policyName"], "urn": urn, "resourceType": _type_and_name(urn)[0], "resourceName": _type_and_name(urn)[1]})
    undecidable = dict(unknown)
    if outcomes_record is not None:
        records = list(outcomes_record)
        _agree(result.violations, set(unknown), records)
        passed = [(r["policy"], r["urn"]) for r in records if r["state"] == outcomes.PASSED]
        undecidable.update({(r["policy"], r["urn"]): r["reason"] for r in records if r["state"] == outcomes.UNDECIDABLE and (r["policy"], r["urn"]) not in unknown})
        result.not_applicable = {r["policy"]: r["reason"] for r in records if r["state"] == outcomes.NOT_APPLICABLE}
    for (policy, urn), reason in sorted(undecidable.items()):
        result.undecidable.append(Undecidable(policy, urn, reason, *_type_and_name(urn)))
    for policy, urn in passed:
        if (policy, urn) not in undecidable:
            result.passed.setdefault(policy, []).append(urn)
    return result


def _severity(policy: str) -> str:
    """The policy's severity as the pack declares it: the Automation API's policy event carries none."""
    from policies.rules import BY_NAME

    found = getattr(BY_NAME.get(policy), "severity", None)
    return str(getattr(found, "value", found) or "unspecified").lower()


def logged(event: auto.EngineEvent) -> dict[str, Any] | None:
    """An Automation API event in the `--event-log` form `report` reads, for the resource and policy events; None for others."""
    if event.resource_pre_event is not None:
        meta = event.resource_pre_event.metadata
        return {"resourcePreEvent": {"metadata": {"urn": meta.urn, "type": meta.type, "new": {"inputs": dict(meta.new.inputs or {})} if meta.new else None}}}
    if event.policy_event is not None:
        p = event.policy_event
        return {"policyEvent": {"policyName": p.policy_name, "policyPackName": p.policy_pack_name, "policyPackVersion": p.policy_pack_version,
                                "enforcementLevel": p.enforcement_level, "message": p.message, "resourceUrn": p.resource_urn or ""}}
    return None


def read_events(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.e2e.policy_events", description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=Path, required=True, help="the CLI's --event-log file")
    parser.add_argument("--stack", required=True)
    parser.add_argument("--outcomes", type=Path, help=f"the pack's ${outcomes.ENV} file, default outcomes.jsonl beside the events (if there)")
    parser.add_argument("--out", type=Path, help="directory for the reports, default the events file's")
    parser.add_argument("--source", help="the repository file SARIF results are placed on, default stacks/Pulumi.<stack>.yaml")
    args = parser.parse_args(argv)
    record = outcomes.read(args.outcomes or args.events.parent / "outcomes.jsonl")
    if args.outcomes is not None and record is None:
        parser.error(f"no outcome record at {args.outcomes}")
    found = report(read_events(args.events), stack=args.stack, outcomes_record=record)
    for path in policy_report.write(found, args.out or args.events.parent, source=args.source):
        print(path)
    return 1 if found.mandatory else 0


if __name__ == "__main__":
    sys.exit(main())
