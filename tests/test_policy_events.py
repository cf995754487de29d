"""The real CLI's policy results as the three reports: a recorded `pulumi preview --event-log` of the real CLI
(tests/fixtures/policy_events/) converted, checked against the offline runner over the same resources, and
joined with the undecidable pairs the real pack process logs."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

from test_policy_reports import reports, sarif_errors
from tools.e2e import policy_events
from tools.offline import engine, policy_report
from tools.offline.policy_runner import PolicyPackProcess, PolicySetting

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "tests" / "fixtures" / "policy_events" / "preview.events.jsonl"
HELLO = "urn:pulumi:rec::gosvc::kubernetes:apps/v1:Deployment::hello"


def recorded() -> list[dict]:
    return policy_events.read_events(EVENTS)


def test_the_recorded_preview_becomes_the_three_reports(tmp_path):
    events = recorded()
    assert policy_events.main(["--events", str(EVENTS), "--stack", "rec", "--out", str(tmp_path)]) == 1  # mandatory ones
    data, sarif, markdown = reports(tmp_path)
    assert sarif_errors(sarif) == []
    policy = [e["policyEvent"] for e in events if "policyEvent" in e]
    assert len(data["violations"]) == len(policy) == len(sarif["runs"][0]["results"]) > 0
    assert f"#### Violations ({len(policy)})" in markdown
    assert sorted((v["policy"], v["urn"]) for v in data["violations"]) == sorted((p["policyName"], p.get("resourceUrn", "")) for p in policy)
    summaries = [e["policyAnalyzeSummaryEvent"] for e in events if "policyAnalyzeSummaryEvent" in e]
    stack = [e["policyAnalyzeStackSummaryEvent"] for e in events if "policyAnalyzeStackSummaryEvent" in e]
    assert data["summary"]["states"]["passed"] == sum(len(s.get("passed", [])) for s in summaries + stack)
    assert data["policyPack"] == "gosvc-policies@0.0.1"
    assert {"Deployment demo/hello", "Deployment demo/latest"} <= {l["fullyQualifiedName"] for r in sarif["runs"][0]["results"] for l in r["locations"][0]["logicalLocations"]}


def _registrations(events: list[dict]) -> list[engine.Registration]:
    regs = []
    for e in events:
        meta = (e.get("resourcePreEvent") or {}).get("metadata")
        if meta and meta["type"].startswith("kubernetes:") and meta["type"] != "pulumi:providers:kubernetes":
            regs.append(engine.Registration(type=meta["type"], name=meta["urn"].rsplit("::", 1)[-1], urn=meta["urn"], parent="", custom=True, dependencies=[], inputs=meta["new"]["inputs"]))
    return regs


def test_the_offline_runner_finds_what_the_real_cli_found_over_the_same_resources(tmp_path):
    """The offline runner stands in for the CLI: over the resources the CLI analyzed, the pack's policies that the
    recording ran are violated on the same resources (policies added since the recording are left out)."""
    events = recorded()
    cli = policy_events.report(events, stack="rec")
    ran = {p for s in events for key in ("policyAnalyzeSummaryEvent", "policyAnalyzeStackSummaryEvent") if key in s for p in s[key].get("passed", []) + s[key].get("failed", [])}
    with PolicyPackProcess(ROOT / "policies", stack="rec") as pack:
        pack.configure({"image-digest-pinned": PolicySetting("mandatory")}, stack="rec")
        offline = pack.evaluate(_registrations(events), stack="rec")
    assert {(v.policy, v.urn) for v in offline.violations if v.policy in ran} == {(v.policy, v.urn) for v in cli.violations}


def test_an_unknown_input_the_pack_logs_is_undecidable_in_the_real_engine_report(tmp_path, monkeypatch):
    """The engine passes no not-applicable reason on: the pack process logs its undecidable pairs to
    GOSVC_POLICY_UNDECIDED, and the conversion takes the pair out of `passed`."""
    log = tmp_path / "undecided.jsonl"
    monkeypatch.setenv("GOSVC_POLICY_UNDECIDED", str(log))
    hello = next(r for r in _registrations(recorded()) if r.urn == HELLO)
    hello = copy.deepcopy(hello)
    hello.inputs["spec"]["template"]["spec"]["containers"][0]["image"] = UNKNOWN_STRING_VALUE
    with PolicyPackProcess(ROOT / "policies", stack="rec") as pack:
        pack.configure({}, stack="rec")
        pack.evaluate([hello], stack="rec")
    records = policy_events.read_undecided(log)
    assert {"policy": "image-digest-pinned", "urn": HELLO, "reason": "container 'app': the image reference is unknown until `pulumi up` pushes it"} in records
    events = recorded()
    assert HELLO in [s["policyAnalyzeSummaryEvent"]["resourceUrn"] for s in events if "image-digest-pinned" in s.get("policyAnalyzeSummaryEvent", {}).get("passed", [])]
    found = policy_events.report(events, stack="rec", undecided=records)
    assert ("image-digest-pinned", HELLO) in {(u.policy, u.urn) for u in found.undecidable}
    assert HELLO not in found.passed.get("image-digest-pinned", [])
    assert ("image-digest-pinned", HELLO) not in found.violated_pairs()
    policy_report.write(found, tmp_path)
    data, sarif, markdown = reports(tmp_path)
    assert sarif_errors(sarif) == []
    assert {"policy": "image-digest-pinned", "urn": HELLO} in [{k: u[k] for k in ("policy", "urn")} for u in data["undecidable"]]
    assert "`image-digest-pinned` on Deployment demo/hello" in markdown
