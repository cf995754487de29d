"""The genuine monitoring charts, rendered with each stack's values and checked by the policy pack.

The charts are the released packages (kube-prometheus-stack and prometheus-adapter at the pinned
versions, every subchart at the version its parent pins) that tools/charts/packages.py finds in
../shared/charts. The synth renders every release from them exactly as the pack does, and the pack
runs over the stack with the rendered objects, then Checkov. Nothing here is installed: the objects are
checked as `helm template` writes them (tests/e2e/test_real_charts_*.py install them). What was seen is
written to build/charts/report.json.
"""

from __future__ import annotations

import configparser
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.config import quantity
from components.observability import adapter, images, network, prometheus_stack
from policies.rules import charts
from policies.rules.definition import Subject
from policies.rules.relations import operated_pod_labels
from policies.rules.resources import go_size
from tests.conftest import ROOT, STACKS
from tools.charts import packages

MONITORING = "monitoring"
WORKLOAD_KINDS = {"Deployment", "DaemonSet", "StatefulSet", "Job"}
REPORT = ROOT / "build" / "charts" / "report.json"


@pytest.fixture(scope="session")
def report(chart_packages):
    """What the genuine charts showed, per stack, written to build/charts/report.json when the session ends."""
    data: dict[str, Any] = {"directory": str(chart_packages), "packages": [p.record() for p in packages.read(chart_packages)], "stacks": {}}
    try:
        yield data
    finally:
        REPORT.parent.mkdir(parents=True, exist_ok=True)
        REPORT.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def _objects(out: Path, release: str) -> list[dict[str, Any]]:
    return [yaml.safe_load(p.read_text()) for p in sorted((out / "helm" / release).glob("*.yaml"))]


def _pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    return obj["spec"]["template"]["spec"]


def _from_chart(violation: dict[str, Any]) -> bool:
    return "(rendered from Helm release " in violation["message"]


def test_the_packages_are_the_pinned_releases_with_every_subchart_as_its_parent_pins(chart_packages):
    found = {p.name: p for p in packages.read(chart_packages)}
    assert sorted((p.name, p.version) for p in found.values()) == sorted((c.name, c.version) for c in packages.PINNED)
    # What kube-prometheus-stack 88.5.3's Chart.yaml pins; read() has already held each to its constraint.
    assert found["kube-prometheus-stack"].subcharts == {
        "crds": "0.0.0", "grafana": "12.11.1", "kube-state-metrics": "8.4.0", "prometheus-node-exporter": "4.56.1", "prometheus-windows-exporter": "0.12.8",
    }  # fmt: skip


@pytest.mark.parametrize("stack", STACKS)
def test_the_pack_finds_nothing_mandatory_in_the_real_charts_and_every_exemption_has_a_reason(stack, rendered, report):
    out, policy = rendered(stack)
    kinds = {o["kind"] for release in ("kube-prometheus-stack", "prometheus-adapter") for o in _objects(out, release)}
    assert {"Deployment", "DaemonSet", "Job", "Prometheus", "Alertmanager", "APIService"} <= kinds, "both charts were rendered"
    mandatory = [v for v in policy["violations"] if v["level"] == "mandatory"]
    notes = [v["message"].split("\n", 1)[1] for v in policy["violations"] if v["policy"] == "policy-exemptions" and _from_chart(v)]
    report["stacks"][stack] = {
        "chart_objects": sum(len(_objects(out, r)) for r in ("kube-prometheus-stack", "prometheus-adapter")),
        "mandatory": [v["message"] for v in mandatory],
        "advisory_from_charts": sorted({(v["policy"], v["message"].split("\n", 1)[1][:160]) for v in policy["violations"] if v["level"] == "advisory" and _from_chart(v)}),
    }
    assert mandatory == [], "\n".join(v["message"] for v in mandatory)
    assert not [v for v in policy["violations"] if v["policy"] == "helm-chart-rendered"]
    assert notes and all('" because "' not in n and "because \"" in n for n in notes), notes
    assert not [n for n in notes if "gives no reason" in n or "waives nothing" in n or "no effect" in n], notes
    exempt = {n.split(" (rendered", 1)[0] for n in notes}
    assert exempt == {
        "DaemonSet monitoring-node-exporter/kube-prometheus-stack-prometheus-node-exporter",
        "Deployment monitoring/kube-prometheus-stack-grafana",
        "Deployment monitoring/kube-prometheus-stack-kube-state-metrics",
        "Deployment monitoring/kube-prometheus-stack-operator",
        "Job monitoring/kube-prometheus-stack-admission-create",
        "Job monitoring/kube-prometheus-stack-admission-patch",
        "Deployment monitoring/prometheus-adapter",
    }, "only the workloads the code names carry exemptions"


def test_every_chart_container_runs_restricted_with_resources(rendered):
    out, _ = rendered("prod")
    seen = 0
    for obj in [o for r in ("kube-prometheus-stack", "prometheus-adapter") for o in _objects(out, r) if o["kind"] in WORKLOAD_KINDS]:
        pod = _pod_spec(obj)
        for container in pod.get("initContainers", []) + pod["containers"]:
            seen += 1
            where = f"{obj['kind']} {obj['metadata']['name']} container {container['name']}"
            context = {**pod.get("securityContext", {}), **container.get("securityContext", {})}
            assert context.get("runAsNonRoot") is True and context.get("runAsUser", 0) >= 10000, where
            assert container["securityContext"].get("allowPrivilegeEscalation") is False, where
            assert container["securityContext"].get("readOnlyRootFilesystem") is True, where
            assert container["securityContext"]["capabilities"]["drop"] == ["ALL"], where
            assert context["seccompProfile"]["type"] == "RuntimeDefault", where
            assert container["resources"]["requests"]["memory"] and container["resources"]["limits"]["memory"], where
    assert seen >= 7


def test_api_tokens_are_mounted_only_where_the_workload_calls_the_api(rendered):
    out, _ = rendered("prod")
    objects = [o for r in ("kube-prometheus-stack", "prometheus-adapter") for o in _objects(out, r)]
    accounts = {(o["metadata"]["namespace"], o["metadata"]["name"]): o for o in objects if o["kind"] == "ServiceAccount"}
    mounting = set()
    for obj in objects:
        if obj["kind"] not in WORKLOAD_KINDS:
            continue
        pod = _pod_spec(obj)
        account = accounts.get((obj["metadata"]["namespace"], pod.get("serviceAccountName", "default")), {})
        if pod.get("automountServiceAccountToken", account.get("automountServiceAccountToken", True)):
            mounting.add(obj["metadata"]["name"])
            assert obj["metadata"]["annotations"]["policies.gosvc.dev/exempt-service-account-token-not-automounted"], obj["metadata"]["name"]
    assert mounting == {
        "kube-prometheus-stack-operator", "kube-prometheus-stack-grafana", "kube-prometheus-stack-kube-state-metrics",
        "kube-prometheus-stack-admission-create", "kube-prometheus-stack-admission-patch", "prometheus-adapter",
    }  # fmt: skip
    by_kind = {o["kind"]: o for o in objects}
    assert by_kind["Prometheus"]["spec"]["automountServiceAccountToken"] is True, "service discovery calls the API"
    assert by_kind["Alertmanager"]["spec"]["automountServiceAccountToken"] is False
    mounted_by_account = sorted(n for (_, n), a in accounts.items() if a.get("automountServiceAccountToken") is not False)
    assert mounted_by_account == ["kube-prometheus-stack-admission"], "only the hook Jobs' account, which has no pod-level switch"


def test_grafana_reads_configmaps_only_and_its_datasources_from_a_mounted_file(rendered):
    out, _ = rendered("dev")
    objects = _objects(out, "kube-prometheus-stack")
    grafana = next(o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"].endswith("-grafana"))
    pod = _pod_spec(grafana)
    assert [c["name"] for c in pod["containers"]] == ["grafana-sc-dashboard", "grafana"], "one sidecar: the dashboards'"
    assert not [o for o in objects if o["kind"] == "ClusterRole" and "grafana" in o["metadata"]["name"]], "the chart's own role (Secrets too) is gone"
    binding = next(o for o in objects if o["kind"] == "ClusterRoleBinding" and "grafana" in o["metadata"]["name"])
    role = prometheus_stack.grafana_cluster_role(prometheus_stack.PrometheusStackSpec(), "monitoring")
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    datasource = next(o for o in objects if o["kind"] == "ConfigMap" and o["metadata"]["name"] == prometheus_stack.DATASOURCE_CONFIG_MAP)
    sources = yaml.safe_load(next(iter(datasource["data"].values())))["datasources"]
    assert sources[0]["url"].startswith(f"http://{prometheus_stack.PROMETHEUS_SERVICE}.{MONITORING}:{prometheus_stack.PROMETHEUS_PORT}")
    mounts = {m["mountPath"]: m["name"] for c in pod["containers"] if c["name"] == "grafana" for m in c["volumeMounts"]}
    volume = next(v for v in pod["volumes"] if v["name"] == mounts[prometheus_stack.DATASOURCES_DIR])
    assert volume["configMap"]["name"] == prometheus_stack.DATASOURCE_CONFIG_MAP
    sidecar = pod["containers"][0]
    assert sidecar["readinessProbe"]["httpGet"]["port"] == sidecar["livenessProbe"]["httpGet"]["port"] == prometheus_stack.SIDECAR_HEALTH_PORT
    assert {"name": "HEALTH_PORT", "value": str(prometheus_stack.SIDECAR_HEALTH_PORT)} in sidecar["env"], "the sidecar listens where the probes ask"
    assert {"name": "RESOURCE", "value": "configmap"} in sidecar["env"]
    # The admin login is read from the mounted Secret: no env variable carries it, and the chart makes no Secret of its own.
    main = next(c for c in pod["containers"] if c["name"] == "grafana")
    assert not [e for c in pod["containers"] for e in c.get("env", []) if "secretKeyRef" in e.get("valueFrom", {})]
    admin = {e["name"]: e["value"] for e in main["env"] if e["name"].startswith("GF_SECURITY_ADMIN_")}
    assert admin == {
        "GF_SECURITY_ADMIN_USER": f"$__file{{{prometheus_stack.GRAFANA_ADMIN_DIR}/{prometheus_stack.GRAFANA_USER_KEY}}}",
        "GF_SECURITY_ADMIN_PASSWORD": f"$__file{{{prometheus_stack.GRAFANA_ADMIN_DIR}/{prometheus_stack.GRAFANA_PASSWORD_KEY}}}",
    }
    secret_volume = next(v for v in pod["volumes"] if v["name"] == mounts[prometheus_stack.GRAFANA_ADMIN_DIR])
    assert secret_volume["secret"]["secretName"] == prometheus_stack.GRAFANA_ADMIN_SECRET
    assert not [o for o in objects if o["kind"] == "Secret" and "grafana" in o["metadata"]["name"]]


def test_grafana_writes_only_to_emptydirs_and_gets_gomemlimit_below_its_limit(rendered):
    """What the grafana 12.x chart does not give: a writable /tmp, and a GOMEMLIMIT below the limit (its own is the
    whole limit). Every path the image writes to must be an emptyDir under the read-only root."""
    out, _ = rendered("prod")
    objects = _objects(out, "kube-prometheus-stack")
    grafana = next(o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == prometheus_stack.GRAFANA_SERVICE)
    pod = _pod_spec(grafana)
    main = next(c for c in pod["containers"] if c["name"] == "grafana")
    assert main["securityContext"]["readOnlyRootFilesystem"] is True
    memlimits = [e for e in main["env"] if e["name"] == "GOMEMLIMIT"]
    assert memlimits[0]["valueFrom"]["resourceFieldRef"]["resource"] == "limits.memory", "the chart's own entry, the whole limit"
    effective = memlimits[-1]["value"]  # the last definition of a name is what the container gets
    assert 0 < go_size(effective) < quantity(main["resources"]["limits"]["memory"])
    empty = {v["name"] for v in pod["volumes"] if "emptyDir" in v}
    writable = {m["mountPath"].rstrip("/") for m in main["volumeMounts"] if m["name"] in empty and not m.get("readOnly")}
    env = {e["name"]: e.get("value") for e in main["env"]}
    for path in (env["GF_PATHS_DATA"], env["GF_PATHS_PLUGINS"], env["GF_UNIFIED_STORAGE_INDEX_PATH"], "/tmp"):
        assert any(path.rstrip("/") == w or path.startswith(w + "/") for w in writable), f"{path} is not on an emptyDir: {sorted(writable)}"
    assert not any(env["GF_PATHS_LOGS"].startswith(w) for w in writable)
    config = next(o for o in objects if o["kind"] == "ConfigMap" and o["metadata"]["name"] == prometheus_stack.GRAFANA_SERVICE)
    ini = configparser.ConfigParser()
    ini.read_string(config["data"]["grafana.ini"])
    assert ini["log"]["mode"] == "console", "so nothing is written under GF_PATHS_LOGS"


def test_the_pack_renders_for_the_version_it_names_and_the_e2e_cluster_installs_the_same(chart_packages, tmp_path):
    """The pack passes --kube-version (any helm then renders alike); the genuine charts render the same objects for it
    and for the Kubernetes version the e2e tier's cluster runs, so what the pack judged is what that cluster gets."""
    from tools.charts import build as chart_tools
    from tools.e2e import build as e2e_build

    values = tmp_path / "values.json"
    values.write_text(json.dumps(prometheus_stack.values(prometheus_stack.PrometheusStackSpec())))
    cluster = e2e_build.pinned_versions()["kubernetes"].lstrip("v")
    rendered: dict[str, str] = {}
    for version in (charts.KUBE_VERSION, cluster):
        cmd = [str(chart_tools.build()), "template", "kps", str(chart_packages / packages.file_name(packages.PINNED[0])), "-n", MONITORING, "-f", str(values), "--kube-version", version]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-2000:]
        rendered[version] = proc.stdout
    assert charts.KUBE_VERSION != cluster and rendered[charts.KUBE_VERSION].count("\nkind: ") > 100
    assert rendered[charts.KUBE_VERSION] == rendered[cluster]


def test_the_image_table_is_what_the_pinned_charts_run(rendered):
    """dev pins no digest, so each chart writes its default tag: the tags images.py pins digests to must be those."""
    out, _ = rendered("dev")
    text = "\n".join(p.read_text() for release in ("kube-prometheus-stack", "prometheus-adapter") for p in (out / "helm" / release).glob("*.yaml"))
    for image in images.IMAGES:
        assert image.reference in text, f"{image.reference} is not what the chart renders"


def test_prod_runs_every_chart_image_by_digest(rendered):
    out, _ = rendered("prod")
    text = "\n".join(p.read_text() for release in ("kube-prometheus-stack", "prometheus-adapter") for p in (out / "helm" / release).glob("*.yaml"))
    for image in images.IMAGES:
        assert f"{image.reference}@sha256:" in text, image.reference


def test_the_network_policies_select_the_charts_real_pods_on_their_real_ports(rendered):
    out, _ = rendered("prod")
    objects = [o for r in ("kube-prometheus-stack", "prometheus-adapter") for o in _objects(out, r) if o["metadata"].get("namespace") == MONITORING]
    pods: list[dict[str, str]] = [_pod_spec_labels(o) for o in objects if o["kind"] in WORKLOAD_KINDS]
    for o in objects:
        if o["kind"] in ("Prometheus", "Alertmanager"):
            pods.extend(operated_pod_labels(Subject.of(f"kubernetes:monitoring.coreos.com/v1:{o['kind']}", o["metadata"]["name"], "urn:x", o, None)) or [])
    for role, selector in network.PODS.items():
        assert any(selector.items() <= labels.items() for labels in pods), f"{role}: {selector} matches no pod the charts run"
    ports = {(o["metadata"]["name"], p["containerPort"]) for o in objects if o["kind"] == "Deployment" for c in _pod_spec(o)["containers"] for p in c.get("ports", [])}
    assert (adapter.RELEASE_NAME, network.ADAPTER_PORT) in ports
    assert (f"{prometheus_stack.FULLNAME}-operator", network.OPERATOR_WEBHOOK_PORT) in ports


def _pod_spec_labels(obj: dict[str, Any]) -> dict[str, str]:
    return obj["spec"]["template"]["metadata"]["labels"]


@pytest.mark.parametrize("stack", STACKS)
def test_checkov_on_the_real_charts_leaves_only_the_documented_exceptions(stack, rendered, report):
    from tools.charts import checkov

    out, _ = rendered(stack)
    findings, summary = checkov.scan(out, checkov.install())
    unlisted, stale = checkov.judge(findings, checkov.documented(stack))
    on_charts = [f for f in findings if f.file.startswith("helm/")]
    report["stacks"].setdefault(stack, {})["checkov"] = {
        "version": summary.get("checkov_version"),
        "passed": summary["passed"],
        "failed": summary["failed"],
        "failed_on_charts": len(on_charts),
        "by_check_on_charts": {c: sum(1 for f in on_charts if f.check == c) for c in sorted({f.check for f in on_charts})},
    }
    assert on_charts, "checkov saw the charts"
    assert unlisted == [], "\n".join(f"{f.check} {f.resource} ({f.file})" for f in unlisted)
    assert stale == [], stale


@pytest.mark.parametrize("stack", STACKS)
def test_every_rendered_chart_object_passes_strict_schema_validation(stack, rendered):
    """kubernetes-validate --strict over the built-in kinds (the operator's kinds have no schema there; the
    real API server admits them in test_real_charts_up). It misses wrong enum values, which only the API server refuses."""
    out, _ = rendered(stack)
    files = sorted(str(p) for p in (out / "helm").glob("*/*.yaml"))
    proc = subprocess.run([str(Path(sys.executable).parent / "kubernetes-validate"), "--strict", *files], capture_output=True, text=True)
    assert proc.returncode == 0 and "ERROR" not in proc.stdout, proc.stdout[-3000:] + proc.stderr[-2000:]
    unknown = [line for line in proc.stdout.splitlines() if "Couldn't find schema for kind" in line]
    assert all("monitoring.coreos.com/" in line for line in unknown), unknown
    assert proc.stdout.count(" passed for resource ") + len(unknown) == len(files) and proc.stdout.count(" passed for resource ") > 50, proc.stdout[-2000:]


def test_the_charts_rbac_is_narrowed_or_exempted_through_the_pods_that_hold_it(rendered):
    """The RBAC rules do fire on the charts' roles (the pack would fail without the pods' exemptions), and every
    finding is held by workloads exempt with a reason; kube-state-metrics lists no Secrets at all."""
    from policies.rules import rbac
    from policies.rules.definition import Stack, exemption

    out, _ = rendered("prod")
    objects = [o for r in ("kube-prometheus-stack", "prometheus-adapter") for o in _objects(out, r)]
    ksm = next(o for o in objects if o["kind"] == "ClusterRole" and o["metadata"]["name"].endswith("-kube-state-metrics"))
    assert not [r for r in ksm["rules"] if "secrets" in r.get("resources", [])]
    stack = Stack([Subject.of(f"kubernetes:x/v1:{o['kind']}", o["metadata"]["name"], f"urn:chart:{i}", o, None) for i, o in enumerate(objects)])
    fired: dict[str, set[str]] = {}
    for rule in rbac.RULES:
        for finding in rule.check(stack, rule.settings()):
            assert finding.holders, finding.message
            holders = [stack.by_urn[u] for u in finding.holders]
            assert all(exemption(h, rule.name) for h in holders), finding.message
            fired.setdefault(rule.name, set()).update(h.describe() for h in holders)
    assert fired == {
        "rbac-no-wildcards": {"Deployment monitoring/kube-prometheus-stack-operator", "Deployment monitoring/prometheus-adapter"},
        "rbac-no-escalation": {"Job monitoring/kube-prometheus-stack-admission-create", "Job monitoring/kube-prometheus-stack-admission-patch"},
        "rbac-no-secrets-access": {
            "Deployment monitoring/kube-prometheus-stack-operator",
            "Job monitoring/kube-prometheus-stack-admission-create",
            "Job monitoring/kube-prometheus-stack-admission-patch",
        },
        "rbac-no-workload-creation": {"Deployment monitoring/kube-prometheus-stack-operator"},
    }
