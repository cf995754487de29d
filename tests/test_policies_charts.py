"""Helm releases seen into: the pack renders a release's chart with the real helm and checks every object it creates.

The chart is tests/fixtures/charts/gosvc-fixture, which the project writes itself (a Deployment and a
Service; `hardened` switches the Deployment between chart-default and restricted). The genuine
monitoring charts are rendered and judged in tests/test_real_charts.py.
"""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
import yaml

from policies.rules import charts
from tests.conftest import ROOT
from tests.policy_harness import Case, evaluate
from tools.charts import build as chart_tools

FIXTURE_CHARTS = ROOT / "tests" / "fixtures" / "charts"
FIXTURE = yaml.safe_load((FIXTURE_CHARTS / "gosvc-fixture" / "Chart.yaml").read_text())
RESOURCE_RULES = ["run-as-non-root", "no-privilege-escalation", "drop-all-capabilities", "read-only-root-filesystem", "seccomp-runtime-default", "container-resources-required", "probes-configured"]


@pytest.fixture(scope="session")
def helm() -> str:
    return str(chart_tools.build())


@pytest.fixture
def local_charts(helm, monkeypatch):
    monkeypatch.setenv(charts.HELM_ENV, helm)
    monkeypatch.setenv(charts.CHART_DIRS_ENV, str(FIXTURE_CHARTS))


def release(values: dict | None = None, version: str = FIXTURE["version"], name: str = "web") -> dict:
    """A Release as pulumi-kubernetes registers it (the fixture's repository is never reached: the local copy wins)."""
    return {
        "pulumiType": charts.RELEASE_TYPE,
        "pulumiName": name,
        "name": name,
        "chart": FIXTURE["name"],
        "version": version,
        "namespace": "apps",
        "repositoryOpts": {"repo": "https://charts.invalid"},
        "values": values or {},
    }


CASES = [
    Case("helm-chart-rendered", "rendered-from-a-local-copy", release()),
    Case("helm-chart-rendered", "chart-version-nowhere", release(version="9.9.9"), ("the objects of Helm release 'web' were not checked by any policy",)),
]


@pytest.mark.parametrize("case", [c.param() for c in CASES])
def test_cases(case, local_charts):
    case.check()


def test_helm_renders_the_fixture_with_the_release_values_in_its_namespace(local_charts):
    rendering = charts.render({k: v for k, v in release({"replicas": 3, "hardened": True}).items() if k != "pulumiType"})
    assert rendering.error is None and rendering.source == str(FIXTURE_CHARTS / "gosvc-fixture")
    by_kind = {o["kind"]: o for o in rendering.objects}
    assert set(by_kind) == {"Deployment", "Service"}
    assert by_kind["Deployment"]["spec"]["replicas"] == 3
    assert {o["metadata"]["namespace"] for o in rendering.objects} == {"apps"}, "helm template names no namespace; the release's applies"
    assert by_kind["Deployment"]["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True


@pytest.mark.parametrize("rule", RESOURCE_RULES)
def test_every_resource_rule_checks_the_objects_a_release_renders(rule, local_charts):
    found = evaluate(rule, release({"hardened": False}))
    assert found.messages, f"{rule} saw nothing wrong in the chart-default Deployment"
    assert all(m.startswith("Deployment apps/web-web (rendered from Helm release 'web'): ") for m in found.messages), found.messages
    assert evaluate(rule, release({"hardened": True})).messages == []


def test_chart_workloads_are_exempted_through_values_and_the_exemption_is_reported(local_charts):
    reason = "the fixture's image needs root to bind port 80"
    values = {"hardened": False, "annotations": {"policies.gosvc.dev/exempt-run-as-non-root": reason}}
    assert evaluate("run-as-non-root", release({"hardened": False})).messages, "without the annotation it applies"
    assert evaluate("run-as-non-root", release(values)).messages == []
    notes = evaluate("policy-exemptions", release(values)).messages
    assert notes and all(n.startswith("Deployment apps/web-web (rendered from Helm release 'web'): exempt from 'run-as-non-root' because \"" + reason) for n in notes)
    assert evaluate("drop-all-capabilities", release(values)).messages, "only the named policy is waived"


def test_a_charts_service_account_may_mount_the_token_only_for_exempt_workloads(local_charts):
    """The fixture's ServiceAccount mounts the token and its Deployment has no pod-level switch, like the admission Jobs
    of kube-prometheus-stack: the account passes only when every workload using it is exempt with a reason."""
    rule = "service-account-token-not-automounted"
    plain = evaluate(rule, release({"hardened": True, "fixtureServiceAccount": True})).messages
    assert any(m.startswith("ServiceAccount apps/web-web (rendered from Helm release 'web'): the ServiceAccount does not set") for m in plain), plain
    exempt = {"hardened": True, "fixtureServiceAccount": True, "annotations": {f"policies.gosvc.dev/exempt-{rule}": "it calls the API"}}
    assert evaluate(rule, release(exempt)).messages == []
    no_reason = {**exempt, "annotations": {f"policies.gosvc.dev/exempt-{rule}": " "}}
    assert any("ServiceAccount apps/web-web" in m for m in evaluate(rule, release(no_reason)).messages)
    notes = evaluate("policy-exemptions", release(exempt)).messages
    assert notes and all(n.startswith("Deployment apps/web-web") for n in notes), "the account's copy of the chart's annotations is not noise"


def test_stack_rules_see_chart_objects_and_report_them_on_the_release(local_charts):
    found = evaluate("networkpolicy-per-workload", [release({"hardened": True})])
    assert [u.rsplit("::", 1)[-1] for u in found.urns] == ["web"], "reported on the Release, the only URN the engine knows"
    assert "(rendered from Helm release 'web')" in found.messages[0] and "web-web" in found.messages[0]


def test_a_release_that_cannot_be_rendered_is_reported_and_nothing_else_is_claimed(local_charts, monkeypatch):
    assert evaluate("helm-chart-rendered", release()).messages == []
    missing = release(version="9.9.9")
    (message,) = evaluate("helm-chart-rendered", missing).messages
    assert message.startswith("the objects of Helm release 'web' were not checked by any policy: `helm template` failed for https://charts.invalid (9.9.9)")
    assert evaluate("run-as-non-root", missing).messages == []
    monkeypatch.setenv(charts.HELM_ENV, "/nonexistent/helm")
    (message,) = evaluate("helm-chart-rendered", release()).messages
    assert message.endswith(f"no helm binary: set {charts.HELM_ENV} or put helm on PATH")


def test_synth_renders_releases_from_local_charts_and_the_offline_pack_checks_them(helm, tmp_path):
    """The real stacks' two releases, with the fixture standing in for each chart (renamed to its name and version)."""
    from components.observability import charts as pinned

    mirror = tmp_path / "charts"
    for chart in (pinned.KUBE_PROMETHEUS_STACK, pinned.PROMETHEUS_ADAPTER):
        shutil.copytree(FIXTURE_CHARTS / "gosvc-fixture", mirror / chart.name)
        meta = yaml.safe_load((mirror / chart.name / "Chart.yaml").read_text())
        (mirror / chart.name / "Chart.yaml").write_text(yaml.safe_dump({**meta, "name": chart.name, "version": chart.version}))
    out = tmp_path / "dev"
    cmd = [sys.executable, "-m", "tools.offline.synth", "--stack", "dev", "--out", str(out), "--charts", str(mirror), "--policy-pack", "policies", "--policy-pack-config", "policies/config/dev.json"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600, env={**__import__("os").environ, charts.HELM_ENV: helm})
    rendered = sorted(p.relative_to(out).as_posix() for p in (out / "helm").rglob("*.yaml"))
    assert rendered == [
        "helm/kube-prometheus-stack.yaml",
        "helm/kube-prometheus-stack/deployment-monitoring-kube-prometheus-stack-web.yaml",
        "helm/kube-prometheus-stack/service-monitoring-kube-prometheus-stack-web.yaml",
        "helm/prometheus-adapter.yaml",
        "helm/prometheus-adapter/deployment-monitoring-prometheus-adapter-web.yaml",
        "helm/prometheus-adapter/service-monitoring-prometheus-adapter-web.yaml",
    ], proc.stderr[-2000:]
    assert proc.returncode == 1, "the fixture's chart-default Deployment fails mandatory policies"
    assert "Deployment monitoring/prometheus-adapter-web (rendered from Helm release 'prometheus-adapter'): container 'web' does not set runAsNonRoot" in proc.stdout


def test_selectors_are_not_judged_in_a_namespace_an_unrendered_chart_installs_into(local_charts):
    """A NetworkPolicy for a chart's pods selects nothing the pack can see when the chart cannot be rendered."""
    netpol = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "chart-pods", "namespace": "apps"},
              "spec": {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "from-the-chart"}}, "policyTypes": ["Ingress"]}}
    assert evaluate("selectors-match", [netpol]).messages, "alone, it selects nothing"
    assert evaluate("selectors-match", [netpol, release(version="9.9.9")]).messages == [], "the unrendered chart might run those pods"
    assert evaluate("selectors-match", [netpol, release({"hardened": True})]).messages, "a rendered chart shows it does not"
