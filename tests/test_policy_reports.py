"""The three reports every pack run writes (policy-report.json, .sarif, .md) and the three states in them:
the bad program's violations appear in all three with the same counts, the SARIF validates against the
official SARIF 2.1.0 schema, and an input unknown until `up` is undecidable, never a violation."""

from __future__ import annotations

import copy
import hashlib
import io
import json
from pathlib import Path

import jsonschema
import pytest
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

import policy_harness as h
from policies.rules import BY_NAME
from policies.rules.definition import UNDECIDED_PREFIX
from test_policies_stacks import bad_program_run
from tools.offline import engine, policy_runner

pytest_plugins = ["policy_pack_plugin"]

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = ROOT / "tests" / "fixtures" / "sarif" / "sarif-2.1.0-rtm.5.json"
SCHEMA_SHA256 = "2d99159ae54a3eea97f81781cff48780548657c35949f4b7f25e99a2ba4de4f8"
"""As tests/fixtures/sarif/SOURCE.md records it from the npm package."""


def sarif_errors(log: dict) -> list[str]:
    schema = json.loads(SCHEMA.read_text())
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in jsonschema.Draft4Validator(schema).iter_errors(log)]


def reports(out: Path) -> tuple[dict, dict, str]:
    return (
        json.loads((out / "policy-report.json").read_text()),
        json.loads((out / "policy-report.sarif").read_text()),
        (out / "policy-report.md").read_text(),
    )


@pytest.fixture(scope="module")
def bad_reports(tmp_path_factory):
    out = tmp_path_factory.mktemp("bad")
    code = policy_runner.check(bad_program_run(), stack="bad", pack_dir=ROOT / "policies", out=out, stream=io.StringIO())
    assert code == 1, "the bad program has mandatory violations"
    return reports(out)


def test_the_vendored_schema_is_the_published_file():
    assert hashlib.sha256(SCHEMA.read_bytes()).hexdigest() == SCHEMA_SHA256
    assert "2.1.0" in json.loads(SCHEMA.read_text())["title"]


def test_the_schema_rejects_what_code_scanning_would():
    """The validation can fail: a log with a result missing its message, or an unknown level, is invalid."""
    bad = {"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "x"}}, "results": [{"ruleId": "r", "level": "fatal", "message": {"text": "m"}}, {"ruleId": "r"}]}]}
    errors = sarif_errors(bad)
    assert any("fatal" in e for e in errors) and any("message" in e for e in errors), errors


def test_the_bad_programs_violations_are_in_all_three_reports_with_the_same_counts(bad_reports):
    report, sarif, markdown = bad_reports
    assert sarif_errors(sarif) == []
    run = sarif["runs"][0]
    violations = report["violations"]
    assert violations and len(run["results"]) == len(violations)
    assert sorted((r["ruleId"], r["level"]) for r in run["results"]) == sorted((v["policy"], {"mandatory": "error", "advisory": "warning"}[v["level"]]) for v in violations)
    mandatory, advisory = report["summary"]["mandatory"], report["summary"]["advisory"]
    assert mandatory > 0 and mandatory + advisory == len(violations)
    states = report["summary"]["states"]
    assert states["violated"] == len({(v["policy"], v["urn"]) for v in violations})
    assert f"| violated | {states['violated']} | {mandatory} mandatory, {advisory} advisory violation(s) |" in markdown
    assert f"| passed | {states['passed']} |" in markdown
    assert f"#### Violations ({len(violations)})" in markdown
    # every policy that the bad program trips is a rule of the run, with its remediation and crosswalk
    rules = {r["id"]: r for r in run["tool"]["driver"]["rules"]}
    assert set(BY_NAME) == set(rules)
    for result in run["results"]:
        rule = rules[result["ruleId"]]
        assert run["tool"]["driver"]["rules"][result["ruleIndex"]]["id"] == result["ruleId"]
        assert rule["help"]["text"] == BY_NAME[result["ruleId"]].remediation_steps
        assert rule["properties"]["covers"] == {k: list(v) for k, v in getattr(BY_NAME[result["ruleId"]], "covers", {}).items()}
        location = result["locations"][0]
        assert location["physicalLocation"]["artifactLocation"]["uri"] == "stacks/Pulumi.bad.yaml"
        assert location["logicalLocations"][0]["fullyQualifiedName"] in {v["urn"] for v in violations} | {"stack bad"}
    # a Kubernetes object is located by kind, namespace and name too
    assert any(len(r["locations"][0]["logicalLocations"]) == 2 for r in run["results"])


def test_the_markdown_is_cut_short_past_its_limit(bad_reports):
    from tools.offline import markdown_report
    from tools.offline.policy_report import Report, Violation

    report = Report("bad", "p@1", [Violation("image-tag-pinned", "mandatory", "high", f"d\nmessage {i}", f"urn:{i}", "kubernetes:apps/v1:Deployment", f"d{i}") for i in range(120)])
    text = markdown_report.summary(report, limit=50)
    assert text.count("| mandatory | `image-tag-pinned` |") == 50
    assert "_… and 70 more, listed in policy-report.json._" in text
    long = Report("bad", "p@1", [Violation("image-tag-pinned", "mandatory", "high", "d\n" + "x" * 2000, f"urn:{i}", "t", f"d{i}") for i in range(60)])
    text = markdown_report.summary(long)
    assert len(text) <= markdown_report.MAX_CHARS and text.endswith("policy-report.json has everything._\n")


def _deployment_with_unknown_image() -> engine.Registration:
    doc = copy.deepcopy(h.one("compliant-service", "Deployment"))
    doc["spec"]["template"]["spec"]["containers"][0]["image"] = UNKNOWN_STRING_VALUE
    r = h.resource(doc, stack="preview")
    return engine.Registration(type=r.type, name=r.name, urn=r.urn, parent="", custom=True, dependencies=[], inputs=r.props)


def test_an_image_unknown_until_up_is_undecidable_not_a_violation(policy_pack, tmp_path):
    reg = _deployment_with_unknown_image()
    policy_pack.configure({"image-digest-pinned": policy_runner.PolicySetting("mandatory")}, stack="preview")
    report = policy_pack.evaluate([reg], stack="preview")
    undecided = {(u.policy, u.urn) for u in report.undecidable}
    assert {("image-digest-pinned", reg.urn), ("image-tag-pinned", reg.urn), ("image-registry-allowed", reg.urn)} <= undecided
    assert not [v for v in report.violations if v.policy.startswith("image-") and v.urn == reg.urn], policy_runner.render(report)
    assert reg.urn not in report.passed.get("image-digest-pinned", [])
    # the same object with a known, digest-less image is a violation again: the state follows the value
    known = copy.deepcopy(reg)
    known.inputs["spec"]["template"]["spec"]["containers"][0]["image"] = "registry.example.com/gosvc/hello:0.1.0"
    again = policy_pack.evaluate([known], stack="preview")
    assert ("image-digest-pinned", reg.urn) in {(v.policy, v.urn) for v in again.violations}
    assert not again.undecidable

    from tools.offline import policy_report

    policy_report.write(report, tmp_path)
    data, sarif, markdown = reports(tmp_path)
    assert sarif_errors(sarif) == []
    assert {(u["policy"], u["urn"]) for u in data["undecidable"]} == undecided
    notes = sarif["runs"][0]["invocations"][0]["toolExecutionNotifications"]
    assert {(n["associatedRule"]["id"], n["locations"][0]["logicalLocations"][0]["fullyQualifiedName"]) for n in notes} == undecided
    assert not [r for r in sarif["runs"][0]["results"] if r["ruleId"] == "image-digest-pinned"]
    assert f"#### Not decidable until `pulumi up` ({len(report.undecidable)})" in markdown
    assert "the image reference is unknown until `pulumi up` pushes it" in markdown


def test_a_stack_rule_reports_undecided_pairs_through_the_not_applicable_reason():
    """StackRule turns Undecided into one not-applicable reason carrying each (urn, reason) pair."""
    from pulumi_policy import Severity

    from policies.rules.definition import Finding, StackRule, Undecided, parse_undecided

    docs = [h.one("compliant-service", "Deployment")]
    urn = h.resource(docs[0]).urn
    rule = StackRule("t", "test", severity=Severity.LOW, remediation_steps="-", family="test",
                     check=lambda stack, _: [Undecided("replicas unknown", urn), Finding("bad", urn)])
    outcome = h.run(rule, h.stack_args(docs))
    assert outcome.messages == ["bad"]
    assert outcome.not_applicable.startswith(UNDECIDED_PREFIX)
    assert parse_undecided(outcome.not_applicable) == [{"urn": urn, "reason": "replicas unknown"}]


UNKNOWN_CASES = [
    # (policy, kind of the edited document, path set to an unknown value, kind whose URN is undecided)
    ("probes-configured", "Deployment", "spec.template.spec.containers[0].readinessProbe", "Deployment"),
    ("anti-affinity-or-spread", "Deployment", "spec.template.spec.affinity", "Deployment"),
    ("rolling-update-safe", "Deployment", "spec.strategy.rollingUpdate.maxUnavailable", "Deployment"),
    ("hpa-bounds", "HorizontalPodAutoscaler", "spec.metrics", "HorizontalPodAutoscaler"),
    ("metrics-scraped", "Service", "spec.ports", "Service"),
]


@pytest.mark.parametrize(("policy", "kind", "path", "on"), UNKNOWN_CASES, ids=[c[0] for c in UNKNOWN_CASES])
def test_an_unknown_input_leaves_the_rule_undecided(policy, kind, path, on):
    """The compliant service with one input unknown: that rule neither passes nor warns, it is undecidable on
    the resource, and says which input it waits for."""
    from policies.rules.definition import parse_undecided

    docs = h.load("compliant-service")
    assert h.evaluate(policy, docs if policy != "probes-configured" else h.one("compliant-service", "Deployment")).not_applicable is None
    docs = [h.edit(d, path, UNKNOWN_STRING_VALUE) if d.get("kind") == kind else d for d in docs]
    subject = docs if policy != "probes-configured" else next(d for d in docs if d.get("kind") == "Deployment")
    outcome = h.evaluate(policy, subject)
    assert outcome.messages == []
    pairs = parse_undecided(outcome.not_applicable or "")
    target = next(h.resource(d).urn for d in docs if d.get("kind") == on)
    assert pairs and {p["urn"] for p in pairs} == {target}
    assert all("unknown until `pulumi up`" in p["reason"] for p in pairs)
