"""The chart tooling's own logic, offline: how the mirror assembles a chart with its dependencies, and how
Checkov's findings are held to the documented exceptions."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from tools.charts import checkov, mirror
from tools.e2e.build import BuildError

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "charts" / "gosvc-fixture"
REPO = "https://charts.example"


def _repository(tmp_path: Path, charts: dict[str, dict]) -> Path:
    """A fake chart repository checkout: charts/<name>/ copies of the fixture with the given Chart.yaml fields."""
    root = tmp_path / "repo"
    for name, fields in charts.items():
        shutil.copytree(FIXTURE, root / "charts" / name)
        meta = yaml.safe_load((root / "charts" / name / "Chart.yaml").read_text())
        (root / "charts" / name / "Chart.yaml").write_text(yaml.safe_dump({**meta, "name": name, **fields}))
    return root


@pytest.mark.parametrize("wanted,used,ok", [("1.2.3", "1.2.3", True), ("0.12.*", "0.12.8", True), ("v1.2.3", "1.2.3", True), ("12.11.2", "13.0.1", False), ("0.12.*", "0.13.0", False)])
def test_a_dependency_version_is_satisfied_as_the_charts_write_it(wanted, used, ok):
    assert mirror.satisfies(wanted, used) is ok


def test_a_chart_is_assembled_with_each_dependency_and_a_different_version_is_named(tmp_path, monkeypatch):
    monkeypatch.setitem(mirror.REPOSITORIES, REPO, "example.com/charts")
    deps = [{"name": "sub", "version": "1.0.0", "repository": REPO}, {"name": "other", "version": "2.0.0", "repository": REPO}]
    root = _repository(tmp_path, {"app": {"version": "3.1.0", "dependencies": deps}, "sub": {"version": "1.0.0"}, "other": {"version": "2.1.0"}})
    entry = mirror.assemble("app", "3.1.0", REPO, tmp_path / "work", lambda repo: ("example.com/charts@v0", root))
    assert [(d["name"], d["wanted"], d["used"]) for d in entry["dependencies"]] == [("sub", "1.0.0", "1.0.0"), ("other", "2.0.0", "2.1.0")]
    assert (tmp_path / "work" / "app" / "charts" / "sub" / "Chart.yaml").is_file()
    assert (tmp_path / "work" / "app" / "charts" / "other" / "templates" / "deployment.yaml").is_file()


def test_a_snapshot_without_the_pinned_version_is_refused(tmp_path, monkeypatch):
    monkeypatch.setitem(mirror.REPOSITORIES, REPO, "example.com/charts")
    root = _repository(tmp_path, {"app": {"version": "3.2.0"}})
    with pytest.raises(BuildError, match="holds version 3.2.0, not the pinned 3.1.0"):
        mirror.assemble("app", "3.1.0", REPO, tmp_path / "work", lambda repo: ("example.com/charts@v0", root))


def test_a_dependency_from_an_unknown_repository_is_refused(tmp_path, monkeypatch):
    monkeypatch.setitem(mirror.REPOSITORIES, REPO, "example.com/charts")
    root = _repository(tmp_path, {"app": {"version": "3.1.0", "dependencies": [{"name": "x", "version": "1", "repository": "https://elsewhere"}]}})
    with pytest.raises(BuildError, match="no source is known"):
        mirror.assemble("app", "3.1.0", REPO, tmp_path / "work", lambda repo: ("example.com/charts@v0", root))


def test_the_documented_exceptions_all_give_reasons_and_some_hold_for_some_stacks_only():
    prod, dev = checkov.documented("prod"), checkov.documented("dev")
    assert prod and all(reason.strip() for reason in prod.values())
    assert ("CKV_K8S_43", "Deployment.monitoring.kube-prometheus-stack-grafana") in set(dev) - set(prod), "digests are pinned in prod only"


def test_exceptions_without_a_reason_are_refused(tmp_path):
    path = tmp_path / "x.yaml"
    path.write_text(yaml.safe_dump([{"check": "CKV_K8S_11", "resources": ["Deployment.a.b"], "reason": " "}]))
    with pytest.raises(ValueError, match="gives no reason"):
        checkov.documented("prod", path)


def test_only_chart_findings_are_judged_and_stale_exceptions_are_named():
    findings = [
        checkov.Finding("CKV_K8S_11", "Deployment.a.b", "helm/r/deployment-a-b.yaml"),
        checkov.Finding("CKV_K8S_38", "Deployment.a.b", "helm/r/deployment-a-b.yaml"),
        checkov.Finding("CKV_K8S_23", "DaemonSet.c.d", "k8s/daemonset-c-d.yaml"),
    ]
    allowed = {("CKV_K8S_11", "Deployment.a.b"): "why", ("CKV_K8S_17", "DaemonSet.x.y"): "why"}
    unlisted, stale = checkov.judge(findings, allowed)
    assert unlisted == [findings[1]] and stale == [("CKV_K8S_17", "DaemonSet.x.y")]
