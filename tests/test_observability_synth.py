"""The synthesized monitoring objects of each stack: CR structure, selectors that match the Service, pprof kept private."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from components.observability import charts, dashboard, prometheus_stack
from tests.conftest import ROOT, STACKS

MONITORING_API = "monitoring.coreos.com/v1"


def service_object(s, kind: str) -> dict:
    """The GoService's own object of `kind` (other components share the synth output): its namespace and name."""
    host = s.outputs()["url"].split("//", 1)[1].split(".")
    name, namespace = host[0], host[1]
    found = [o for o in s.kinds(kind) if o["metadata"].get("namespace") == namespace and o["metadata"]["name"].startswith(name)]
    assert len(found) == 1, f"{s.stack}: expected one {kind} of {namespace}/{name}, found {len(found)}"
    return found[0]


def releases(s) -> dict[str, dict]:
    return s.releases()


def admin_port(s) -> int:
    env = {e["name"]: e.get("value") for e in service_object(s, "Deployment")["spec"]["template"]["spec"]["containers"][0]["env"]}
    host, port = env["ADMIN_ADDR"].rsplit(":", 1)
    assert host == "127.0.0.1", "pprof must listen on loopback only"
    return int(port)


@pytest.mark.parametrize("stack", STACKS)
def test_service_monitor_selects_the_services_labels_and_metrics_port(synth, stack):
    s = synth(stack)
    service, monitor = service_object(s, "Service"), service_object(s, "ServiceMonitor")
    assert monitor["apiVersion"] == MONITORING_API
    ns = service["metadata"]["namespace"]
    assert monitor["metadata"]["namespace"] == ns
    match = monitor["spec"]["selector"]["matchLabels"]
    assert set(match) == {"app.kubernetes.io/name", "app.kubernetes.io/instance"}
    assert match.items() <= service["metadata"]["labels"].items(), "the ServiceMonitor would select no Service"
    assert match == service["spec"]["selector"]
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": [ns]}
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] == "metrics" and endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
    assert endpoint["path"] == "/metrics" and endpoint["interval"] == "30s" and endpoint["scrapeTimeout"] == "10s"


@pytest.mark.parametrize("stack", STACKS)
def test_prometheus_can_reach_the_metrics_port_through_the_network_policy(synth, stack):
    s = synth(stack)
    namespace = releases(s)["kube-prometheus-stack"]["namespace"]
    metrics_port = next(p["containerPort"] for p in service_object(s, "Deployment")["spec"]["template"]["spec"]["containers"][0]["ports"] if p["name"] == "metrics")
    rules = service_object(s, "NetworkPolicy")["spec"]["ingress"]
    allowed = [
        r for r in rules
        if {p["port"] for p in r["ports"]} == {metrics_port}
        and any(namespace in e["values"] for peer in r["from"] for e in peer["namespaceSelector"]["matchExpressions"])
    ]
    assert allowed, f"no ingress from {namespace} to port {metrics_port}"


@pytest.mark.parametrize("stack", STACKS)
def test_pprof_admin_port_is_never_in_the_service_nor_the_network_policy(synth, stack):
    s = synth(stack)
    port = admin_port(s)
    service_ports = {v for p in service_object(s, "Service")["spec"]["ports"] for v in (p["port"], p["targetPort"])}
    assert port not in service_ports and "admin" not in service_ports
    for policy in [service_object(s, "NetworkPolicy")]:
        for rule in policy["spec"].get("ingress", []):
            assert port not in {p["port"] for p in rule.get("ports", [])}, "the NetworkPolicy opens the pprof port"
    container = service_object(s, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    assert port not in {p["containerPort"] for p in container["ports"]}
    ns, name = service_object(s, "Deployment")["metadata"]["namespace"], service_object(s, "Deployment")["metadata"]["name"]
    assert s.outputs()["pprofPortForward"] == f"kubectl -n {ns} port-forward deploy/{name} {port}:{port}"


def test_the_docs_show_how_to_profile_a_live_pod():
    page = (ROOT / "docs" / "observability.md").read_text()
    section = page.split("\n## Profiling a live pod\n", 1)[1].split("\n## ", 1)[0]
    assert re.search(r"kubectl -n \S+ port-forward deploy/\S+ 6060:6060", section)
    assert "go tool pprof" in section and "http://localhost:6060/debug/pprof/" in section


@pytest.mark.parametrize("stack", STACKS)
def test_prometheus_rule_alerts_carry_severity_summary_and_a_runbook_that_exists(synth, stack):
    s = synth(stack)
    rule = service_object(s, "PrometheusRule")
    assert rule["apiVersion"] == MONITORING_API and rule["metadata"]["namespace"] == service_object(s, "Service")["metadata"]["namespace"]
    (group,) = rule["spec"]["groups"]
    readme = (ROOT / "README.md").read_text()
    anchors = {re.sub(r"[^a-z0-9-]", "", h.strip().lower().replace(" ", "-")) for h in re.findall(r"^#+ (.+)$", readme, re.M)}
    names = set()
    for alert in group["rules"]:
        names.add(alert["alert"])
        assert alert["labels"]["severity"] in ("critical", "warning")
        assert alert["annotations"]["summary"] and alert["annotations"]["description"]
        url = alert["annotations"]["runbook_url"]
        assert url.startswith("https://") and url.split("#", 1)[1] in anchors, f"no runbook heading for {url}"
    assert names == {"GoServiceHighErrorRatio", "GoServiceHighLatencyP99", "GoServicePodRestarting", "GoServiceMemoryNearLimit", "GoServiceHpaMaxedOut"}


def test_thresholds_come_from_stack_config(synth):
    exprs = {r["alert"]: r["expr"] for r in service_object(synth("prod"), "PrometheusRule")["spec"]["groups"][0]["rules"]}
    assert exprs["GoServiceHighLatencyP99"].endswith("> 0.3")  # gosvc:alertLatencyP99Seconds in Pulumi.prod.yaml
    assert exprs["GoServiceHighErrorRatio"].endswith("> 0.05")
    assert exprs["GoServiceMemoryNearLimit"].endswith("> 0.9")
    dev = {r["alert"]: r["expr"] for r in service_object(synth("dev"), "PrometheusRule")["spec"]["groups"][0]["rules"]}
    assert dev["GoServiceHighLatencyP99"].endswith("> 0.5")


@pytest.mark.parametrize("stack", STACKS)
def test_dashboard_config_map_has_the_sidecar_label_and_loads(synth, stack):
    s = synth(stack)
    cm = service_object(s, "ConfigMap")
    assert cm["metadata"]["name"].endswith("-dashboard")
    assert cm["metadata"]["labels"][dashboard.SIDECAR_LABEL] == "1"
    assert cm["metadata"]["namespace"] == service_object(s, "Service")["metadata"]["namespace"]
    (text,) = cm["data"].values()
    board = json.loads(text)
    assert len(board["uid"]) <= 40 and board["panels"]
    assert all(p["targets"] and all(t["expr"] and t["refId"] for t in p["targets"]) for p in board["panels"])
    release_values = releases(s)["kube-prometheus-stack"]["values"]["grafana"]["sidecar"]["dashboards"]
    assert (release_values["label"], release_values["labelValue"], release_values["searchNamespace"]) == (dashboard.SIDECAR_LABEL, "1", "ALL")


@pytest.mark.parametrize("stack", STACKS)
def test_releases_are_written_pinned_and_in_the_monitoring_namespace(synth, stack):
    s = synth(stack)
    rel = releases(s)
    assert set(rel) == {"kube-prometheus-stack", "prometheus-adapter"}
    assert {r["namespace"] for r in rel.values()} == {"monitoring"}
    assert {r["repository"] for r in rel.values()} == {charts.DEFAULT_REPOSITORY}
    assert not [p for p in (s.out / "k8s").glob("*.yaml") if "apiVersion" not in yaml.safe_load(p.read_text())], "k8s/ holds only objects"
    assert rel["kube-prometheus-stack"]["version"] == charts.KUBE_PROMETHEUS_STACK.version
    assert rel["prometheus-adapter"]["version"] == charts.PROMETHEUS_ADAPTER.version
    assert s.outputs()["prometheusUrl"] == prometheus_stack.prometheus_url("monitoring")
    assert s.outputs()["customMetrics"] == ["requests_per_second"]
    assert s.outputs()["grafanaService"] == "kube-prometheus-stack-grafana"


@pytest.mark.parametrize("stack", STACKS)
def test_grafana_admin_secret_is_masked_in_the_synth_output(synth, stack):
    s = synth(stack)
    (secret,) = [o for o in s.kinds("Secret") if o["metadata"]["namespace"] == "monitoring"]
    assert secret["metadata"]["name"] == prometheus_stack.GRAFANA_ADMIN_SECRET
    assert secret["stringData"] == {prometheus_stack.GRAFANA_USER_KEY: "<secret>", prometheus_stack.GRAFANA_PASSWORD_KEY: "<secret>"}
    (reg,) = [r for r in s.resources() if r["type"] == "kubernetes:core/v1:Secret" and r["inputs"]["metadata"]["namespace"] == "monitoring"]
    assert reg["secretPaths"] == ["stringData"]
    assert "<generated-by-random-at-pulumi-up>" not in "".join(p.read_text() for p in (s.out / "k8s").glob("*.yaml"))


@pytest.mark.parametrize("stack", STACKS)
def test_every_stack_hpa_asks_for_the_metric_the_adapter_rule_produces(synth, stack):
    s = synth(stack)
    (pods,) = [m for m in service_object(s, "HorizontalPodAutoscaler")["spec"]["metrics"] if m["type"] == "Pods"]
    (rule,) = releases(s)["prometheus-adapter"]["values"]["rules"]["custom"]
    assert pods["pods"]["metric"]["name"] == rule["name"]["as"]
    assert re.fullmatch(rule["name"]["matches"], rule["seriesQuery"].split("{", 1)[0])
    assert pods["pods"]["target"]["type"] == "AverageValue"


def test_dev_is_ephemeral_with_one_replica_of_each_part(synth):
    values = releases(synth("dev"))["kube-prometheus-stack"]["values"]
    prom = values["prometheus"]["prometheusSpec"]
    assert "storageSpec" not in prom and "storage" not in values["alertmanager"]["alertmanagerSpec"]
    assert prom["replicas"] == values["alertmanager"]["alertmanagerSpec"]["replicas"] == 1
    assert releases(synth("dev"))["prometheus-adapter"]["values"]["replicas"] == 1
    assert values["grafana"]["persistence"]["enabled"] is False


def test_prod_persists_and_keeps_fifteen_days_capped_below_the_volume(synth):
    values = releases(synth("prod"))["kube-prometheus-stack"]["values"]
    prom = values["prometheus"]["prometheusSpec"]
    assert prom["retention"] == "15d" and prom["retentionSize"] == "45GB"
    assert prom["storageSpec"]["volumeClaimTemplate"]["spec"]["resources"]["requests"]["storage"] == "50Gi"
    assert int(prom["retentionSize"][:-2]) < int(prom["storageSpec"]["volumeClaimTemplate"]["spec"]["resources"]["requests"]["storage"][:-2])
    assert prom["replicas"] == 2 and values["alertmanager"]["alertmanagerSpec"]["replicas"] == 3
    assert values["alertmanager"]["alertmanagerSpec"]["storage"]["volumeClaimTemplate"]["spec"]["resources"]["requests"]["storage"] == "1Gi"
    assert releases(synth("prod"))["prometheus-adapter"]["values"]["replicas"] == 2


@pytest.mark.parametrize("stack", STACKS)
def test_the_program_makes_monitors_and_rules_wait_for_the_crds_and_the_namespace(synth, stack):
    s = synth(stack)
    regs = s.resources()
    (kps,) = [r for r in regs if r["type"] == "kubernetes:helm.sh/v3:Release" and r["inputs"]["name"] == prometheus_stack.RELEASE_NAME]
    namespace = service_object(s, "Service")["metadata"]["namespace"]
    (ns,) = [r for r in regs if r["type"] == "kubernetes:core/v1:Namespace" and r["inputs"]["metadata"]["name"] == namespace]
    crs = [r for r in regs if r["type"].startswith("kubernetes:monitoring.coreos.com/v1:") and r["inputs"]["metadata"]["namespace"] == namespace]
    assert {r["inputs"]["kind"] for r in crs} == {"ServiceMonitor", "PrometheusRule"}
    for r in crs:
        assert kps["urn"] in r["dependencies"] and ns["urn"] in r["dependencies"], r["name"]
