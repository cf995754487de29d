"""The real kube-score and Checkov beside the policy pack, over the pack's fixtures, its test cases' subjects and the
three stacks' synth output: for every check a rule declares in `covers`, each object's two verdicts must agree, or
the difference is exempted by the object's own annotation or explained in policies/crosswalk/agreement.yaml.

kube-score is built from the Go module proxy at the pin in tools/linters/go (tools/linters/build.py) and Checkov
installed in its own virtualenv (tools/charts/checkov.py), as test_real_charts.py builds helm and Checkov. kube-linter
cannot be obtained here (tools/linters/build.py says what was tried), so it is not compared. What was seen is written
to build/linters/agreement.json.
"""

from __future__ import annotations

import importlib
import json
from typing import Any

import pytest
import yaml
from policy_harness import FIXTURES, resource

from policies.rules import POLICIES
from tests.conftest import ROOT, STACKS
from tools.charts import checkov as checkov_install
from tools.e2e import build as e2e_build
from tools.linters import agreement, verdicts
from tools.linters import build as linter_build
from tools.offline.engine import Registration
from tools.offline.policy_runner import registrations_from_json

REPORT = ROOT / "build" / "linters" / "agreement.json"
CASE_MODULES = sorted(p.stem for p in (ROOT / "tests").glob("test_policies_*.py"))


def _registration(doc: dict[str, Any]) -> Registration:
    r = resource(doc)
    return Registration(type=r.type, name=r.name, urn=r.urn, parent=r.parent, custom=True, dependencies=[], inputs=r.props)


def fixture_groups() -> list[agreement.Group]:
    """Each policy fixture file, its documents together."""
    groups = []
    for path in sorted(FIXTURES.glob("*.yaml")):
        docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
        groups.append(agreement.Group(f"fixture.{path.stem}", "fixtures", tuple(_registration(d) for d in docs)))
    return groups


def case_groups() -> list[agreement.Group]:
    """The subject of every policy test case run with the pack's default config (the compliant and the violating
    objects the pack's own tests judge), each once."""
    groups, seen = [], set()
    for name in CASE_MODULES:
        for case in getattr(importlib.import_module(name), "CASES", []):
            docs = case.subject if isinstance(case.subject, list) else [case.subject]
            key = json.dumps(docs, sort_keys=True, default=str)
            if case.config or key in seen or not all(isinstance(d, dict) and ("kind" in d or "pulumiType" in d) for d in docs):
                continue
            seen.add(key)
            groups.append(agreement.Group(f"case.{case.policy}.{case.scenario}", "fixtures", tuple(_registration(d) for d in docs)))
    return groups


def synth_groups(synth) -> list[agreement.Group]:
    """Each stack's synth output, judged with that stack's pack config."""
    return [
        agreement.Group(f"synth.{stack}", "synth", tuple(registrations_from_json(synth(stack).out / "resources.json")), stack, ROOT / "policies" / "config" / f"{stack}.json")
        for stack in STACKS
    ]


def kubernetes_minor() -> str:
    """The Kubernetes release the project runs against (tools/e2e/go/kube), as kube-score's --kubernetes-version."""
    major, minor = e2e_build.required("kube")[e2e_build.KUBERNETES].lstrip("v").split(".")[:2]
    return f"v{major}.{minor}"


@pytest.fixture(scope="module")
def seen(tmp_path_factory, synth) -> dict[str, Any]:
    """Both linters and the pack over every group, once."""
    root = tmp_path_factory.mktemp("linters")
    groups = fixture_groups() + case_groups() + synth_groups(synth)
    objects = agreement.write(root, groups)
    kube_score = linter_build.build()
    found, refused = verdicts.kube_score(root, kube_score, kubernetes_minor())
    checkov_verdicts, checkov_version = verdicts.checkov(root, checkov_install.install())
    pack = agreement.pack_verdicts(groups, ROOT / "policies")
    return {
        "root": root,
        "groups": groups,
        "objects": objects,
        "verdicts": found + checkov_verdicts,
        "pack": pack,
        "refused": refused,
        "versions": {"kube-score": verdicts.kube_score_version(kube_score), "checkov": checkov_version, "pack": pack.pack},
    }


@pytest.fixture(scope="module")
def judged(seen):
    covers = agreement.covered(POLICIES)
    comparison = agreement.compare(seen["verdicts"], seen["objects"], seen["pack"], covers, agreement.covered(POLICIES, "partly"))
    judgement = agreement.judge(comparison.disagreements, seen["objects"], agreement.explanations())
    sources = {g.name: g.source for g in seen["groups"]}
    data = agreement.report(comparison, judgement, sources, {**seen["versions"], "kube-linter": "not run: " + linter_build.KUBE_LINTER_ABSENT})
    data["refused_by_kube_score"] = seen["refused"]
    data["covered_checks"] = {f"{linter} {check}": list(rules) for (linter, check), rules in covers.items()}
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    return covers, comparison, judgement, data


def test_the_linters_are_the_pinned_releases(seen):
    assert seen["versions"]["kube-score"] == linter_build.kube_score_version()
    pinned = next(line.split("==")[1].strip() for line in checkov_install.REQUIREMENTS.read_text().splitlines() if line.startswith("checkov=="))
    assert seen["versions"]["checkov"] == pinned


def test_both_linters_judged_every_group_with_a_workload(seen):
    # Every linter reads these three (kube-score scores no Job).
    workloads = {ref.group for ref in seen["objects"] if ref.kind in ("Deployment", "StatefulSet", "DaemonSet")}
    assert len(workloads) > 50, sorted(workloads)
    # kube-score refuses a file it cannot parse as the API would: only test cases made malformed on purpose, such as
    # the unparsable quantity, never a fixture or a stack's synth output.
    assert "case.container-limits-not-below-requests.not-a-quantity" in seen["refused"]
    assert all(group.startswith("case.") for group in seen["refused"]), seen["refused"]
    for linter in agreement.LINTERS_RUN:
        judged_groups = {v.object.group for v in seen["verdicts"] if v.linter == linter}
        expected = workloads - set(seen["refused"]) if linter == "kube-score" else workloads
        assert expected <= judged_groups, (linter, sorted(expected - judged_groups))
        assert any(not v.passed for v in seen["verdicts"] if v.linter == linter), f"{linter} failed nothing"


def test_every_linter_verdict_names_an_object_the_pack_judged(judged):
    _, comparison, _, _ = judged
    assert comparison.unmatched == []


def test_the_covered_checks_were_compared_on_fixtures_and_synth_output(judged):
    covers, comparison, _, data = judged
    assert covers, "no rule declares a kube-score or Checkov check in covers"
    for linter in agreement.LINTERS_RUN:
        for source in ("fixtures", "synth"):
            assert data["counts"].get(source, {}).get(linter, {}).get("compared", 0) > 0, (linter, source)
    # The violating cases must reach the comparison as violations both sides flag, not only as passes.
    for linter in agreement.LINTERS_RUN:
        agreed = {check for flagged_by, check, ref in comparison.both_failed if flagged_by == linter and ref.group.startswith("case.")}
        assert len(agreed) >= 5, (linter, sorted(agreed))


def test_every_disagreement_is_exempted_or_explained(judged):
    _, _, judgement, _ = judged
    lines = [f"{d.linter} {d.check} {d.object}: linter {d.linter_says}, pack {d.pack_says} ({', '.join(d.rules)})" for d in judgement.unexplained]
    assert lines == [], "unexplained disagreements (fix the rule or explain in policies/crosswalk/agreement.yaml):\n" + "\n".join(lines)
    assert judgement.stale == [], f"explanations that match no disagreement any more: {judgement.stale}"


# -- the comparison itself can fail ------------------------------------------------------------------------------------


def test_a_wrong_covers_claim_is_found_in_both_directions(seen):
    """Rules claimed to cover checks they do not: compliant-service's containers leave imagePullPolicy unset, which
    kube-score fails and run-as-non-root passes; the uid-zero case fails run-as-non-root while Checkov's privileged
    check passes it."""
    covers = {("kube-score", "container-image-pull-policy"): ("run-as-non-root",), ("checkov", "CKV_K8S_16"): ("run-as-non-root",)}
    comparison = agreement.compare(seen["verdicts"], seen["objects"], seen["pack"], covers)
    found = {(d.linter, str(d.object), d.linter_says, d.pack_says) for d in comparison.disagreements}
    assert ("kube-score", "fixture.compliant-service/Deployment/shop/hello", "failed", "passed") in found
    assert ("checkov", "case.run-as-non-root.uid-zero/Deployment/shop/hello", "passed", "failed") in found
    judgement = agreement.judge(comparison.disagreements, seen["objects"], [])
    assert len(judgement.unexplained) == len(comparison.disagreements) - len(judgement.exempted) > 0 and not judgement.explained


def test_an_explanation_covers_its_pattern_only_and_goes_stale_when_unused(seen):
    covers = {("kube-score", "container-image-pull-policy"): ("run-as-non-root",)}
    comparison = agreement.compare(seen["verdicts"], seen["objects"], seen["pack"], covers)
    documented = [
        agreement.Explanation("kube-score", "container-image-pull-policy", ("fixture.compliant-service/*",), "constructed", "failed"),
        agreement.Explanation("kube-score", "container-image-pull-policy", ("*",), "the other direction: matches nothing", "passed"),
    ]
    judgement = agreement.judge(comparison.disagreements, seen["objects"], documented)
    assert [str(d.object) for d, _ in judgement.explained] == ["fixture.compliant-service/Deployment/shop/hello"]
    assert all(not str(d.object).startswith("fixture.compliant-service/") for d in judgement.unexplained)
    assert judgement.stale == [documented[1]]


def test_an_exempted_object_is_told_apart_from_an_unexplained_one():
    ref = verdicts.ObjectRef("g", "DaemonSet", "ns", "agent")
    objects = {ref: agreement.PackObject("urn:a", {"policies.gosvc.dev/exempt-no-host-path": "reads /var/log"})}
    pack = agreement.PackVerdicts(failed=set(), enabled={"g": {"no-host-path", "no-privileged"}})
    covers = {("checkov", "CKV_K8S_27"): ("no-host-path",), ("checkov", "CKV_K8S_16"): ("no-privileged",)}
    found = [verdicts.Verdict("checkov", "CKV_K8S_27", ref, False), verdicts.Verdict("checkov", "CKV_K8S_16", ref, False), verdicts.Verdict("checkov", "CKV_K8S_16", ref, True)]
    comparison = agreement.compare(found, objects, pack, covers)
    assert [(d.check, d.linter_says, d.pack_says) for d in comparison.disagreements] == [("CKV_K8S_16", "failed", "passed"), ("CKV_K8S_27", "failed", "passed")]
    judgement = agreement.judge(comparison.disagreements, objects, [])
    assert [(d.check, reason) for d, reason in judgement.exempted] == [("CKV_K8S_27", "reads /var/log")]
    assert [d.check for d in judgement.unexplained] == ["CKV_K8S_16"]
    pack.enabled["g"].discard("no-privileged")
    assert [d.check for d in agreement.compare(found, objects, pack, covers).disagreements] == ["CKV_K8S_27"]


def test_a_rule_failing_for_another_check_it_covers_is_no_disagreement():
    """no-host-namespaces covers Checkov's hostPID and hostPort checks: an object with a hostPort fails the rule and the
    hostPort check, and passes the hostPID check without a disagreement; with the hostPort check uncovered it is one."""
    ref = verdicts.ObjectRef("g", "Deployment", "ns", "web")
    objects = {ref: agreement.PackObject("urn:w", {})}
    pack = agreement.PackVerdicts(failed={("g", "urn:w", "no-host-namespaces")}, enabled={"g": {"no-host-namespaces"}})
    found = [verdicts.Verdict("checkov", "CKV_K8S_17", ref, True), verdicts.Verdict("checkov", "CKV_K8S_26", ref, False)]
    both = {("checkov", "CKV_K8S_17"): ("no-host-namespaces",), ("checkov", "CKV_K8S_26"): ("no-host-namespaces",)}
    assert agreement.compare(found, objects, pack, both).disagreements == []
    only_pid = {("checkov", "CKV_K8S_17"): ("no-host-namespaces",)}
    assert [(d.check, d.linter_says, d.pack_says) for d in agreement.compare(found, objects, pack, only_pid).disagreements] == [("CKV_K8S_17", "passed", "failed")]


def test_a_check_the_rule_covers_in_part_accounts_for_its_finding_too():
    """rbac-no-escalation covers Checkov's bind check and, in part, its webhook check: a ClusterRole granting webhook
    patches fails the rule and the webhook check, and passes the bind check without a disagreement; with the partial
    claim left out it is one. A partial claim alone is never compared."""
    ref = verdicts.ObjectRef("g", "ClusterRole", "", "hooks")
    objects = {ref: agreement.PackObject("urn:r", {})}
    pack = agreement.PackVerdicts(failed={("g", "urn:r", "rbac-no-escalation")}, enabled={"g": {"rbac-no-escalation"}})
    found = [verdicts.Verdict("checkov", "CKV_K8S_157", ref, True), verdicts.Verdict("checkov", "CKV_K8S_155", ref, False)]
    covers = {("checkov", "CKV_K8S_157"): ("rbac-no-escalation",)}
    partly = {("checkov", "CKV_K8S_155"): ("rbac-no-escalation",)}
    comparison = agreement.compare(found, objects, pack, covers, partly)
    assert comparison.disagreements == [] and comparison.compared == [("checkov", "CKV_K8S_157", ref)]
    assert [(d.check, d.linter_says) for d in agreement.compare(found, objects, pack, covers).disagreements] == [("CKV_K8S_157", "passed")]
