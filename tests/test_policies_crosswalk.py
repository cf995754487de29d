"""The crosswalk of issue 26: the linters' check lists as data, the rules' covers/partly, the deliberate differences,
the coverage per linter against the goal, and docs/policy-crosswalk.md as the data writes it."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
import yaml

from policies.rules import POLICIES
from policies.rules.definition import LINTERS
from tools.crosswalk import catalogue, coverage, docs, extract, kinds
from tools.crosswalk.catalogue import Catalogue, Check, Difference
from tools.crosswalk.coverage import COVERED, COVERED_BUT, DIFFERENCE, GAP, GOAL, NOT_APPLICABLE, OPTIONAL, PARTLY, Claims
from tools.crosswalk.kinds import STACKS, Emitted

CATALOGUES = catalogue.load_all()
DIFFERENCES = catalogue.differences()


@pytest.fixture(scope="module")
def emitted(rendered) -> Emitted:
    """What `python -m tools.crosswalk` measures (kinds.emitted), read from the session's synth of each stack with the charts."""
    return kinds.union(kinds.read(rendered(stack)[0]) for stack in STACKS)


@pytest.fixture(scope="module")
def measured(emitted):
    return coverage.measure_all(CATALOGUES, POLICIES, DIFFERENCES, emitted)


def _declared() -> list[tuple[str, str, str, str]]:
    """(rule, covers|partly, linter, check id) for every external check a rule declares."""
    return [
        (rule.name, part, linter, check_id)
        for rule in POLICIES
        for part in ("covers", "partly")
        for linter, ids in (getattr(rule, part, None) or {}).items()
        for check_id in ids
    ]


# -- the data ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("linter", LINTERS)
def test_catalogue_has_its_source_and_date(linter):
    cat = CATALOGUES[linter]
    assert cat.linter == linter and cat.version and cat.source and cat.date == catalogue.DATE
    assert cat.checks and all(c.id and c.name and c.kinds for c in cat.checks)
    assert any(c.default for c in cat.checks)


def test_every_declared_check_exists_in_that_linters_catalogue():
    unknown = [d for d in _declared() if d[3] not in CATALOGUES[d[2]].by_id()]
    assert not unknown, f"rules declare checks their linter's catalogue does not list: {unknown}"


def test_rules_declare_checks_once():
    seen: dict[tuple[str, str, str], int] = {}
    for rule, _part, linter, check_id in _declared():
        seen[(rule, linter, check_id)] = seen.get((rule, linter, check_id), 0) + 1
    assert [k for k, n in seen.items() if n > 1] == []


def test_no_check_is_both_claimed_and_a_deliberate_difference():
    differences = {(d.linter, d.id) for d in DIFFERENCES if not d.part}
    both = [d for d in _declared() if (d[2], d[3]) in differences]
    assert not both, f"rules claim checks the pack says it deliberately does not enforce: {both}"


def test_a_deliberate_part_belongs_to_a_check_some_rule_claims_in_part_and_none_in_full():
    declared = {(linter, check_id): set() for _r, _p, linter, check_id in _declared()}
    for _rule, part, linter, check_id in _declared():
        declared[(linter, check_id)].add(part)
    in_part = [d for d in DIFFERENCES if d.part]
    assert in_part
    for d in in_part:
        assert declared.get((d.linter, d.id)) == {"partly"}, f"{d.linter} {d.id}: a deliberate part needs a rule claiming the rest `partly`, and no full claim"


def test_every_difference_names_a_default_check_and_gives_a_reason():
    assert DIFFERENCES
    for d in DIFFERENCES:
        check = CATALOGUES[d.linter].by_id().get(d.id)
        assert check is not None, f"{d.linter} has no check {d.id}"
        assert check.default, f"{d.linter} {d.id} is optional; differences are about default checks"
        assert len(d.reason.split()) >= 8 and d.reason.endswith("."), f"{d.linter} {d.id}: give the reason in a sentence"
    assert len({(d.linter, d.id) for d in DIFFERENCES}) == len(DIFFERENCES)


def test_generated_catalogues_are_what_the_packages_say():
    """Checkov's list from its installed registry and kube-score's from its module source equal the committed files."""
    assert [_entry(c) for c in CATALOGUES["checkov"].checks] == extract.checkov_checks()
    assert [_entry(c) for c in CATALOGUES["kube-score"].checks] == extract.kube_score_checks(extract.kube_score_dir())


def _entry(check: Check) -> dict:
    entry = {"id": check.id, "name": check.name, "default": check.default, "kinds": list(check.kinds)}
    return {**entry, "runs": check.runs} if check.runs else entry


# -- what the project emits ------------------------------------------------------------------------------------------


def test_emitted_kinds_come_from_the_stacks_and_the_rendered_charts(emitted):
    assert {"Deployment", "HorizontalPodAutoscaler", "PodDisruptionBudget", "StatefulSet", "NetworkPolicy"} <= emitted.kinds
    # Only the genuine charts create these: kube-prometheus-stack's operator and node-exporter, prometheus-adapter.
    assert {"ClusterRole", "ClusterRoleBinding", "DaemonSet", "APIService", "ValidatingWebhookConfiguration"} <= emitted.kinds
    assert "Ingress" not in emitted.kinds and "PodSecurityPolicy" not in emitted.kinds
    assert any(image.endswith("/node-exporter") for image in emitted.images)
    assert not emitted.runs("kube-apiserver") and not emitted.runs("kubelet")


def test_read_finds_kinds_and_programs_in_a_synth_directory(tmp_path):
    (tmp_path / "k8s").mkdir()
    (tmp_path / "helm" / "r").mkdir(parents=True)
    pod = {"containers": [{"name": "a", "image": "reg.example/x/etcd:3.5@sha256:00", "command": ["etcd", "--auto-tls=true"]}]}
    (tmp_path / "k8s" / "cronjob-ns-c.yaml").write_text(yaml.safe_dump({"kind": "CronJob", "spec": {"jobTemplate": {"spec": {"template": {"spec": pod}}}}}))
    (tmp_path / "helm" / "r" / "role-ns-r.yaml").write_text(yaml.safe_dump({"kind": "Role"}))
    (tmp_path / "helm" / "r.yaml").write_text(yaml.safe_dump({"release": "r", "chart": "c"}))
    found = kinds.read(tmp_path)
    assert found.kinds == {"CronJob", "Role"}
    assert found.images == {"reg.example/x/etcd"}
    assert found.runs("etcd") and not found.runs("kubelet")


# -- the measure -----------------------------------------------------------------------------------------------------


@dataclass
class _Rule:
    name: str
    covers: dict = field(default_factory=dict)
    partly: dict = field(default_factory=dict)


def _small() -> Catalogue:
    workloads = ("Deployment", "StatefulSet")
    checks = (
        Check("lint", "full", "a full one", True, workloads),
        Check("lint", "half", "a partial one", True, workloads),
        Check("lint", "both", "claimed fully and in part", True, workloads),
        Check("lint", "ingress", "judges an unemitted kind", True, ("Ingress",)),
        Check("lint", "control-plane", "judges only kubelet containers", True, workloads, runs="kubelet"),
        Check("lint", "any", "judges any kind", True, ("*",)),
        Check("lint", "deliberate", "a deliberate difference", True, workloads),
        Check("lint", "but-part", "covered but a deliberate part", True, workloads),
        Check("lint", "missing", "nobody covers it", True, ("Service",)),
        Check("lint", "extra", "optional and covered", False, workloads),
        Check("lint", "unused", "optional, nobody covers it", False, workloads),
    )
    return Catalogue("lint", "1.0", "constructed", catalogue.DATE, checks)


def test_coverage_counts_applicable_default_checks_with_partly_as_half():
    rules = [
        _Rule("r1", covers={"lint": ["full", "both", "extra", "ingress"]}),
        _Rule("r2", partly={"lint": ["half", "both", "deliberate", "but-part"]}),
        _Rule("r3", covers={"other": ["missing"]}),
    ]
    emitted = Emitted(frozenset({"Deployment", "Service"}), frozenset(), frozenset())
    result = coverage.measure(_small(), Claims.of(rules), [Difference("lint", "deliberate", "why"), Difference("other", "missing", "x"), Difference("lint", "but-part", "the rest", part=True)], emitted)
    status = {row.check.id: row.status for row in result.rows}
    assert status == {
        "full": COVERED, "half": PARTLY, "both": COVERED, "ingress": NOT_APPLICABLE, "control-plane": NOT_APPLICABLE,
        "any": GAP, "deliberate": DIFFERENCE, "missing": GAP, "extra": COVERED, "unused": OPTIONAL, "but-part": COVERED_BUT,
    }  # fmt: skip
    assert (result.applicable, result.differences, result.covered, result.covered_but, result.partly) == (7, 1, 2, 1, 1)
    assert result.ratio == pytest.approx(3.5 / 6)
    assert [c.id for c in result.gaps] == ["any", "missing"]
    assert {row.check.id: row.rules for row in result.rows if row.rules}["both"] == ("r1",)


def test_a_check_becomes_applicable_when_its_program_runs():
    check = _small().by_id()["control-plane"]
    assert not coverage.applicable(check, Emitted(frozenset({"Deployment"}), frozenset(), frozenset({"etcd"})))
    assert coverage.applicable(check, Emitted(frozenset({"Deployment"}), frozenset(), frozenset({"kubelet"})))
    assert coverage.applicable(check, Emitted(frozenset({"Deployment"}), frozenset({"registry.k8s.io/kubelet"}), frozenset()))
    assert not coverage.applicable(check, Emitted(frozenset({"Service"}), frozenset(), frozenset({"kubelet"})))


def test_nothing_to_measure_is_full_coverage():
    empty = Catalogue("lint", "1", "none", catalogue.DATE, ())
    assert coverage.measure(empty, Claims.of([]), [], Emitted(frozenset(), frozenset(), frozenset())).ratio == 1.0


@pytest.mark.parametrize("linter", LINTERS)
def test_coverage_meets_the_goal(measured, linter):
    result = measured[linter]
    ratio, gaps = result.ratio, [c.id for c in result.gaps]
    assert ratio >= GOAL, f"{linter}: {ratio:.1%} of {result.measured} applicable default checks (goal {GOAL:.0%}); uncovered: {gaps}"


# -- the docs --------------------------------------------------------------------------------------------------------


def test_docs_are_what_the_data_writes(measured):
    assert docs.DOCS.read_text() == docs.render(measured), "run `venv/bin/python -m tools.crosswalk docs` and commit the result"
    policies = (catalogue.ROOT / "docs" / "policies.md").read_text()
    assert docs.table(measured) in policies, "docs/policies.md's coverage table: paste `python -m tools.crosswalk coverage`"


def test_docs_show_every_linter_and_every_applicable_default_check(measured):
    text = docs.render(measured)
    for linter, result in measured.items():
        assert f"## {docs.TITLES[linter]}" in text
        for row in result.rows:
            if row.check.default and row.status != NOT_APPLICABLE:
                assert f"| `{row.check.id}` |" in text
        for d in DIFFERENCES:
            if d.linter == linter:
                assert d.reason in text


def test_figures_are_rounded_down():
    assert (docs.percent(0.9499), docs.percent(0.95), docs.percent(2.5 / 5), docs.percent(1.0)) == ("94.9%", "95.0%", "50.0%", "100.0%")
