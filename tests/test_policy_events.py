"""The real CLI's policy results as the three reports: a recorded `pulumi preview --event-log` of the real CLI
(tests/fixtures/policy_events/) converted, checked against the offline runner over the same resources, and
joined with the outcome record the real pack process keeps (policies/rules/outcomes.py), which must agree."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

from test_policy_reports import reports, sarif_errors
from policies.rules import BY_NAME, outcomes
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
    ran = _ran(events)
    with PolicyPackProcess(ROOT / "policies", stack="rec") as pack:
        pack.configure({"image-digest-pinned": PolicySetting("mandatory")}, stack="rec")
        offline = pack.evaluate(_registrations(events), stack="rec")
    assert {(v.policy, v.urn) for v in offline.violations if v.policy in ran} == {(v.policy, v.urn) for v in cli.violations}


def _ran(events: list[dict]) -> set[str]:
    """The policies the recorded preview ran (its pack had fewer than today's)."""
    return {p for s in events for key in ("policyAnalyzeSummaryEvent", "policyAnalyzeStackSummaryEvent") if key in s for p in s[key].get("passed", []) + s[key].get("failed", [])}


def _record_of(registrations: list[engine.Registration], events: list[dict], log: Path, monkeypatch) -> list[dict]:
    """The outcome record the real pack process writes over `registrations`, configured as the recording was."""
    monkeypatch.setenv(outcomes.ENV, str(log))
    with PolicyPackProcess(ROOT / "policies", stack="rec") as pack:
        ran = _ran(events)
        pack.configure({"image-digest-pinned": PolicySetting("mandatory"), **{p.name: PolicySetting("disabled") for p in pack.info().policies if p.name not in ran}}, stack="rec")
        pack.evaluate(registrations, stack="rec")
    found = outcomes.read(log)
    assert found is not None, "the pack wrote no outcome record"
    return found


def test_the_pack_records_every_pair_it_evaluated_in_agreement_with_the_real_clis_events(tmp_path, monkeypatch):
    """The record the real pack process keeps over the recorded preview's resources names the very violations the
    real CLI reported, and with it the report has every pair of the policies it ran, summary events or not."""
    events = recorded()
    record = _record_of(_registrations(events), events, tmp_path / "outcomes.jsonl", monkeypatch)
    assert {r["state"] for r in record} <= set(outcomes.STATES)
    without_summaries = [e for e in events if "policyAnalyzeSummaryEvent" not in e and "policyAnalyzeStackSummaryEvent" not in e]
    found = policy_events.report(without_summaries, stack="rec", outcomes_record=record)  # what the Automation API sees
    assert found.violated_pairs() == {(e["policyEvent"]["policyName"], e["policyEvent"]["resourceUrn"]) for e in events if "policyEvent" in e}
    from_summaries = policy_events.report(events, stack="rec")
    stack_policies = {p for e in events if "policyAnalyzeStackSummaryEvent" in e for p in e["policyAnalyzeStackSummaryEvent"].get("passed", [])}
    for policy in stack_policies:
        assert found.passed[policy] == [policy_report.STACK]
    # The CLI's summaries count a resource a rule is not about as passed; the record keeps the two apart.
    urns = {r.urn for r in _registrations(events)}
    summarized = {(p, u) for p, found_on in from_summaries.passed.items() if p not in stack_policies for u in found_on if u in urns}
    assert summarized == {(r["policy"], r["urn"]) for r in record if r["state"] in (outcomes.PASSED, outcomes.NOT_APPLICABLE) and r["urn"] in urns}
    assert {(r["policy"], r["urn"]) for r in record if r["state"] == outcomes.VIOLATED} == found.violated_pairs()


def test_an_unknown_input_the_pack_records_is_undecidable_in_the_real_engine_report(tmp_path, monkeypatch):
    """The engine passes no not-applicable reason on: the pack records the undecidable pair, and the report takes it
    out of `passed` although the recorded summary event lists it there."""
    events = recorded()
    registrations = copy.deepcopy(_registrations(events))
    hello = next(r for r in registrations if r.urn == HELLO)
    hello.inputs["spec"]["template"]["spec"]["containers"][0]["image"] = UNKNOWN_STRING_VALUE
    record = _record_of(registrations, events, tmp_path / "outcomes.jsonl", monkeypatch)
    assert {"policy": "image-digest-pinned", "urn": HELLO, "state": "undecidable", "reason": "container 'app': the image reference is unknown until `pulumi up` pushes it"} in record
    assert HELLO in [s["policyAnalyzeSummaryEvent"]["resourceUrn"] for s in events if "image-digest-pinned" in s.get("policyAnalyzeSummaryEvent", {}).get("passed", [])]
    found = policy_events.report(events, stack="rec", outcomes_record=record)
    assert ("image-digest-pinned", HELLO) in {(u.policy, u.urn) for u in found.undecidable}
    assert HELLO not in found.passed.get("image-digest-pinned", [])
    assert ("image-digest-pinned", HELLO) not in found.violated_pairs()
    policy_report.write(found, tmp_path)
    data, sarif, markdown = reports(tmp_path)
    assert sarif_errors(sarif) == []
    assert {"policy": "image-digest-pinned", "urn": HELLO} in [{k: u[k] for k in ("policy", "urn")} for u in data["undecidable"]]
    assert "`image-digest-pinned` on Deployment demo/hello" in markdown


# -- joining the CLI's events with the pack's record -------------------------------------------------------------------

STACK_URN = "urn:pulumi:rec::gosvc::pulumi:pulumi:Stack::gosvc-rec"


def _event(policy: str, urn: str, message: str = "policy description\nwhat is wrong") -> dict:
    return {"policyEvent": {"policyName": policy, "policyPackName": "gosvc-policies", "policyPackVersion": "0.0.1", "enforcementLevel": "mandatory", "message": message, "resourceUrn": urn}}


def _outcome(policy: str, urn: str, state: str, reason: str | None = None) -> dict:
    return {"policy": policy, "urn": urn, "state": state, **({"reason": reason} if reason else {})}


def test_the_events_and_the_record_make_one_report_with_every_state():
    events = [_event("run-as-non-root", HELLO), _event("run-as-non-root", HELLO), _event("networkpolicy-per-workload", STACK_URN)]
    record = [
        _outcome("run-as-non-root", HELLO, outcomes.VIOLATED),
        _outcome("image-tag-pinned", HELLO, outcomes.PASSED),
        _outcome("image-digest-pinned", HELLO, outcomes.UNDECIDABLE, "image unknown"),
        _outcome("kafka-durability", outcomes.STACK, outcomes.NOT_APPLICABLE, "no Kafka"),
        _outcome("networkpolicy-per-workload", outcomes.STACK, outcomes.VIOLATED),
        _outcome("hpa-bounds", outcomes.STACK, outcomes.PASSED),
    ]
    found = policy_events.report(events, stack="rec", outcomes_record=record)
    assert found.violated_pairs() == {("run-as-non-root", HELLO), ("networkpolicy-per-workload", STACK_URN)}
    assert len(found.violations) == 3 and {v.detail for v in found.violations} == {"what is wrong"}
    assert found.passed == {"image-tag-pinned": [HELLO], "hpa-bounds": [outcomes.STACK]}
    assert [(u.policy, u.urn, u.reason) for u in found.undecidable] == [("image-digest-pinned", HELLO, "image unknown")]
    assert found.not_applicable == {"kafka-durability": "no Kafka"}
    assert found.states() == {"violated": 2, "passed": 2, "undecidable": 1}
    # The Automation API's policy events carry no severity: the report takes the pack's own.
    assert {(v.policy, v.severity) for v in found.violations} == {(p, BY_NAME[p].severity.value) for p in ("run-as-non-root", "networkpolicy-per-workload")}


@pytest.mark.parametrize(
    "events, record, says",
    [
        ([_event("run-as-non-root", HELLO)], [_outcome("run-as-non-root", HELLO, outcomes.PASSED)], "events only"),
        ([], [_outcome("run-as-non-root", HELLO, outcomes.VIOLATED)], "record only"),
        ([_event("run-as-non-root", HELLO)], [], "events only"),
        ([_event("hpa-bounds", STACK_URN)], [_outcome("hpa-bounds", HELLO, outcomes.VIOLATED)], "record only"),
        ([_event("image-tag-pinned", HELLO, "can't run policy 'image-tag-pinned' from policy pack 'p@v0.0.1' during preview: x")],
         [_outcome("image-tag-pinned", HELLO, outcomes.PASSED)], "not undecidable in the record"),
    ],
)
def test_a_disagreement_between_the_events_and_the_record_is_an_error(events, record, says):
    with pytest.raises(policy_events.Disagreement, match=says):
        policy_events.report(events, stack="rec", outcomes_record=record)


def test_the_sdks_own_unknown_is_undecidable_on_both_sides():
    message = "can't run policy 'image-tag-pinned' from policy pack 'p@v0.0.1' during preview: string value at .spec can't be known during preview"
    found = policy_events.report([_event("image-tag-pinned", HELLO, message)], stack="rec", outcomes_record=[_outcome("image-tag-pinned", HELLO, outcomes.UNDECIDABLE, "x")])
    assert [(u.policy, u.urn, u.reason) for u in found.undecidable] == [("image-tag-pinned", HELLO, message)]
    assert found.violations == []
