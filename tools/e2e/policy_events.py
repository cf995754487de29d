"""The real Pulumi CLI's policy results as the same three reports the offline runner writes.

    PULUMI_DEBUG_COMMANDS=true GOSVC_POLICY_UNDECIDED=build/dev-preview/undecided.jsonl \\
        pulumi preview --event-log build/dev-preview/events.jsonl --policy-pack <pack> ...
    python -m tools.e2e.policy_events --events build/dev-preview/events.jsonl --stack dev --out build/dev-preview

The input is the engine's event stream (`--event-log`, one JSON engine event per line, the stream the
Automation API reads too), not `pulumi preview --json`: that digest leaves every policy event out. From it:
`policyEvent` -> violations, `policyAnalyzeSummaryEvent` and `policyAnalyzeStackSummaryEvent` -> passed,
`policyRemediationEvent` -> remediations, `resourcePreEvent` -> the Kubernetes object names. The engine
keeps no not-applicable reason, so the undecidable pairs come from the file the pack appends them to
(policies/rules/definition.UNDECIDED_LOG), plus the SDK's own "can't run policy during preview" events.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Iterable

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


def report(events: Iterable[dict[str, Any]], *, stack: str, undecided: Iterable[dict[str, str]] = ()) -> Report:
    """A Report of what the CLI's events say, with the pack's own undecidable records."""
    result = Report(stack, "")
    undecidable: dict[tuple[str, str], str] = {(u["policy"], u["urn"]): u["reason"] for u in undecided}
    passed: list[tuple[str, str]] = []
    for event in events:
        if (pre := event.get("resourcePreEvent")) is not None:
            meta = pre.get("metadata", {})
            described = _object((meta.get("new") or {}).get("inputs"), meta.get("type", ""))
            if described:
                result.objects[meta["urn"]] = described
        elif (p := event.get("policyEvent")) is not None:
            result.pack = result.pack or f"{p['policyPackName']}@{p['policyPackVersion']}"
            urn = p.get("resourceUrn", "")
            if policy_report.is_preview_unknown(p["message"]):
                undecidable[(p["policyName"], urn)] = p["message"].strip()
                continue
            result.violations.append(
                Violation(p["policyName"], LEVELS.get(p["enforcementLevel"], p["enforcementLevel"]), p.get("severity") or "unspecified",
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
    for (policy, urn), reason in sorted(undecidable.items()):
        result.undecidable.append(Undecidable(policy, urn, reason, *_type_and_name(urn)))
    for policy, urn in passed:
        if (policy, urn) not in undecidable:
            result.passed.setdefault(policy, []).append(urn)
    return result


def read_events(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def read_undecided(path: Path | None) -> list[dict[str, str]]:
    if path is None or not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.e2e.policy_events", description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=Path, required=True, help="the CLI's --event-log file")
    parser.add_argument("--stack", required=True)
    parser.add_argument("--undecided", type=Path, help="the pack's GOSVC_POLICY_UNDECIDED file, default undecided.jsonl beside the events")
    parser.add_argument("--out", type=Path, help="directory for the reports, default the events file's")
    parser.add_argument("--source", help="the repository file SARIF results are placed on, default stacks/Pulumi.<stack>.yaml")
    args = parser.parse_args(argv)
    found = report(read_events(args.events), stack=args.stack, undecided=read_undecided(args.undecided or args.events.parent / "undecided.jsonl"))
    for path in policy_report.write(found, args.out or args.events.parent, source=args.source):
        print(path)
    return 1 if found.mandatory else 0


if __name__ == "__main__":
    sys.exit(main())
