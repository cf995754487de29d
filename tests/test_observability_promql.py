"""Every PromQL expression the project emits parses with a real PromQL parser and asks only for series that exist.

Sources: the PrometheusRule, the dashboard ConfigMap and the prometheus-adapter rule of
each synthesized stack, plus the builders' HPA-less variant. Application metrics are
checked against the /metrics output of the real sample service, built from app/ and run
on loopback; cluster metrics against `cluster_metrics`, the one list of exporter names.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import threading
import urllib.error
import urllib.request

import promql_parser
import pytest
from prometheus_client.parser import text_string_to_metric_families

from components.observability import adapter, alerts, dashboard
from components.observability.cluster_metrics import CLUSTER_METRICS, SCRAPE_TARGET_LABELS
from components.observability.component import resolve_service_monitoring
from tests.conftest import ROOT, STACKS
from tests.test_observability_synth import service_object

APP_PREFIXES = ("http_", "go_", "process_")
STARTUP_LINES = 50
STARTUP_WAIT_SECONDS = 60  # a bound against hanging, not a timing assertion


# --- PromQL from the project's output -------------------------------------------------------


def synthesized_promql(s) -> list[tuple[str, str]]:
    """(where, expr) for every expression in one stack's synth output."""
    found = []
    for rule in service_object(s, "PrometheusRule")["spec"]["groups"][0]["rules"]:
        found.append((f"alert {rule['alert']}", rule["expr"]))
    cm = service_object(s, "ConfigMap")
    assert cm["metadata"]["labels"][dashboard.SIDECAR_LABEL] == "1"
    for text in cm["data"].values():
        for panel in json.loads(text)["panels"]:
            for target in panel["targets"]:
                found.append((f"panel {panel['title']}", target["expr"]))
    rel = s.releases()["prometheus-adapter"]
    for rule in rel["values"]["rules"]["custom"]:
        found.append(("adapter seriesQuery", rule["seriesQuery"]))
        filled = adapter.fill(rule["metricsQuery"], "http_requests_total", 'namespace="gosvc-prod",pod=~"hello-5d9c-x1|hello-5d9c-x2"', "pod")
        found.append(("adapter metricsQuery", filled))
    return found


def builder_promql(**overrides) -> list[tuple[str, str]]:
    spec = resolve_service_monitoring("t", {"service_name": "api", "namespace": "team", **overrides})[0]
    exprs = [(f"alert {a.name}", a.expr) for a in alerts.alerts(spec)]
    exprs += [(f"panel {p.title}", t.expr) for p in dashboard.panels(spec) for t in p.targets]
    return exprs


@pytest.fixture(scope="module")
def all_promql(synth) -> list[tuple[str, str]]:
    exprs = [e for stack in STACKS for e in synthesized_promql(synth(stack))]
    return exprs + builder_promql(hpa_enabled=False) + builder_promql(hpa_enabled=True)


# --- walking the parsed AST -------------------------------------------------------------------


def children(node):
    if isinstance(node, promql_parser.AggregateExpr):
        return [c for c in (node.expr, node.param) if c is not None]
    if isinstance(node, promql_parser.BinaryExpr):
        return [node.lhs, node.rhs]
    if isinstance(node, promql_parser.Call):
        return list(node.args)
    if isinstance(node, promql_parser.MatrixSelector):
        return [node.vector_selector]
    if isinstance(node, (promql_parser.ParenExpr, promql_parser.UnaryExpr, promql_parser.SubqueryExpr)):
        return [node.expr]
    return []


def walk(node):
    yield node
    for child in children(node):
        yield from walk(child)


def selectors(node) -> list:
    return [n for n in walk(node) if isinstance(n, promql_parser.VectorSelector)]


def label_uses(expr: str) -> set[tuple[str, str]]:
    """(metric, label) for every label a query matches on, groups by or joins on."""
    tree = promql_parser.parse(expr)
    uses = set()
    for node in walk(tree):
        if isinstance(node, promql_parser.VectorSelector):
            assert node.name, f"selector without a metric name in {expr}"
            uses |= {(node.name, m.name) for m in node.matchers.matchers}
        grouping: list[str] = []
        if isinstance(node, promql_parser.AggregateExpr) and node.modifier and node.modifier.type == promql_parser.AggModifierType.By:
            grouping = list(node.modifier.labels)
        if isinstance(node, promql_parser.BinaryExpr) and node.modifier and node.modifier.matching:
            if node.modifier.matching.type == promql_parser.LabelModifierType.Include:
                grouping = list(node.modifier.matching.labels)
        for sel in selectors(node) if grouping else []:
            uses |= {(sel.name, label) for label in grouping}
    return uses


def metric_names(expr: str) -> set[str]:
    return {s.name for s in selectors(promql_parser.parse(expr))}


# --- the real app's exposition ------------------------------------------------------------------


def _get(url: str, method: str = "GET") -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method=method), timeout=10) as resp:
            return resp.status
    except urllib.error.HTTPError as err:
        return err.code


@pytest.fixture(scope="module")
def app_exposition(tmp_path_factory) -> dict[str, set[str]]:
    """Sample name -> label names, scraped from the sample service after a few requests."""
    binary = tmp_path_factory.mktemp("app") / "app"
    subprocess.run(["go", "build", "-o", str(binary), "."], cwd=ROOT / "app", env={**os.environ, "CGO_ENABLED": "0"}, check=True, timeout=600)
    env = {**os.environ, "HTTP_ADDR": "127.0.0.1:0", "METRICS_ADDR": "127.0.0.1:0", "ADMIN_ADDR": "127.0.0.1:0", "LOG_LEVEL": "info"}
    proc = subprocess.Popen([str(binary)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: queue.Queue = queue.Queue()
    # A reader thread drains the app's log so it never blocks on a full pipe; None marks its end.
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout] + [lines.put(None)], daemon=True).start()
    try:
        serving = None
        for _ in range(STARTUP_LINES):
            try:
                line = lines.get(timeout=STARTUP_WAIT_SECONDS)
            except queue.Empty:
                break
            if line is None:
                break
            entry = json.loads(line)
            if entry.get("msg") == "serving":
                serving = entry
                break
        assert serving, f"the app did not report its listeners (exit code {proc.poll()})"
        http, metrics = serving["http_addr"], serving["metrics_addr"]
        assert _get(f"http://{http}/api/v1/greet?name=gopher") == 200
        assert _get(f"http://{http}/api/v1/greet", method="POST") == 405
        assert _get(f"http://{http}/api/v1/greet?name={'x' * 65}") == 400
        with urllib.request.urlopen(f"http://{metrics}/metrics", timeout=10) as resp:
            text = resp.read().decode()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    exposed: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            exposed.setdefault(sample.name, set()).update(sample.labels)
    return exposed


# --- tests ------------------------------------------------------------------------------------


def test_every_expression_parses_with_a_real_promql_parser(all_promql):
    assert len(all_promql) > 30
    for where, expr in all_promql:
        try:
            promql_parser.parse(expr)
        except ValueError as err:
            pytest.fail(f"{where}: {expr!r} does not parse: {err}")


def test_the_parser_is_a_real_check():
    with pytest.raises(ValueError):
        promql_parser.parse('sum(rate(http_requests_total{code=~"5.."}[5m])')
    with pytest.raises(ValueError):
        promql_parser.parse("sum(rate(<<.Series>>{<<.LabelMatchers>>}[2m])) by (<<.GroupBy>>)")  # unfilled template


def test_every_required_alert_and_panel_is_there(all_promql):
    wheres = {w for w, _ in all_promql}
    for alert in ("GoServiceHighErrorRatio", "GoServiceHighLatencyP99", "GoServicePodRestarting", "GoServiceHpaMaxedOut", "GoServiceMemoryNearLimit"):
        assert f"alert {alert}" in wheres
    for panel in ("Request rate", "Error ratio (5xx)", "Latency quantiles", "Goroutines", "GC pause", "Heap vs GOMEMLIMIT", "CPU vs request and limit", "Replicas vs HPA bounds"):
        assert f"panel {panel}" in wheres


def test_app_metrics_are_exported_by_the_real_service_with_the_labels_queried(all_promql, app_exposition):
    assert {"http_requests_total", "http_request_duration_seconds_bucket", "go_goroutines"} <= set(app_exposition)
    assert {"code", "method"} <= app_exposition["http_requests_total"]
    checked = set()
    for where, expr in all_promql:
        for metric, label in label_uses(expr):
            if not metric.startswith(APP_PREFIXES):
                continue
            assert metric in app_exposition, f"{where}: the app exports no {metric}"
            assert label in app_exposition[metric] | SCRAPE_TARGET_LABELS, f"{where}: {metric} has no label {label!r}"
            checked.add(metric)
        for metric in metric_names(expr):
            if metric.startswith(APP_PREFIXES):
                assert metric in app_exposition, f"{where}: the app exports no {metric}"
                checked.add(metric)
    assert {"http_requests_total", "http_request_duration_seconds_bucket", "go_goroutines", "go_gc_duration_seconds", "go_gc_gomemlimit_bytes"} <= checked


def test_cluster_metrics_come_from_the_one_list_with_their_labels(all_promql):
    used = set()
    for where, expr in all_promql:
        for metric in metric_names(expr):
            if metric.startswith(APP_PREFIXES):
                continue
            assert metric in CLUSTER_METRICS, f"{where}: {metric} is neither an app metric nor in cluster_metrics.CLUSTER_METRICS"
            used.add(metric)
        for metric, label in label_uses(expr):
            if metric in CLUSTER_METRICS:
                assert label in CLUSTER_METRICS[metric].labels, f"{where}: {metric} carries no label {label!r}"
    assert any(m.startswith("container_") for m in used) and any(m.startswith("kube_") for m in used)
    for metric in used:
        assert CLUSTER_METRICS[metric].source == ("cadvisor" if metric.startswith("container_") else "kube-state-metrics")


def test_the_label_check_catches_a_label_the_app_does_not_have(app_exposition):
    uses = label_uses('sum by (route) (rate(http_requests_total{namespace="a", handler="x"}[5m]))')
    missing = {label for metric, label in uses if label not in app_exposition[metric] | SCRAPE_TARGET_LABELS}
    assert missing == {"route", "handler"}


def test_the_adapter_query_filled_in_asks_per_pod_for_the_http_counter():
    (rule,) = adapter.rules()
    filled = adapter.fill(rule["metricsQuery"], "http_requests_total", 'namespace="ns",pod=~"a|b"', "pod")
    tree = promql_parser.parse(filled)
    assert isinstance(tree, promql_parser.AggregateExpr) and list(tree.modifier.labels) == ["pod"]
    assert metric_names(filled) == {"http_requests_total"}
    assert {label for _, label in label_uses(filled)} == {"namespace", "pod"}
    assert metric_names(rule["seriesQuery"]) == {"http_requests_total"}
