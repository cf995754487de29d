"""The autoscaling loop seen turning on a real node: the service exposes request counts, Prometheus scrapes them,
prometheus-adapter serves `requests_per_second` on custom.metrics.k8s.io, and the HPA scales the Deployment out
and back in; then the CPU path through metrics-server does the same.

Everything runs as real containers on the tier's kubelet node (tools/nodes), from images built here (tools/loop) and
tagged with exactly the references the genuine charts render, pinned by the digests of those builds
(`overlay.loop_overlay`). The stack is dev's config (2-4 replicas, a target of 20 requests per second per pod, a CPU
request of 50m) with Grafana off and the two timings of `overlay.LOOP_TIMING` shortened; the HPA's sync period
(15 s), the ServiceMonitor's 30 s scrape interval and the adapter's 2 m rate window are as users get them.
metrics-server is installed by the tier (tools/loop/metrics_server.py): it is a cluster add-on, not part of a
service. Every figure goes to build/e2e/report.json's `autoscaling`.
"""

from __future__ import annotations

import json
import math
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import kubernetes
import pytest
from kubernetes.utils import parse_quantity
from prometheus_client.parser import text_string_to_metric_families

from components.observability import adapter, prometheus_stack
from tests.e2e import workloads
from tests.e2e.conftest import wait_for
from tools.e2e.overlay import LOOP_TIMING, committed_config, e2e_config, loop_overlay
from tools.loop import metrics_server
from tools.nodes import image as node_image
from tools.nodes.node import only_schedulable
from tools.size.measure import build_loadgen

pytestmark = pytest.mark.e2e

STACK = "dev"
NAMESPACE = "gosvc-dev-loop"
NAME = "hello"
SELECTOR = f"app.kubernetes.io/name={NAME}"
GREET = "/api/v1/greet?name=loop"
MONITORING = committed_config(STACK).get("gosvc:monitoringNamespace", "monitoring")
HPA_SYNC_SECONDS = 15
"""kube-controller-manager's --horizontal-pod-autoscaler-sync-period, left at its default by the tier."""
TOLERANCE = 0.25
"""How far the adapter's per-pod value may be from what the pod served and from an even share of the load: the rate
over 2 m of counters scraped every 30 s extrapolates the window's ends, and kube-proxy spreads connections at random."""
CPU_BOUND_RPS = 1500
"""Requests per second that keep each pod's CPU well above its 50m request (the pods serve about 9 per millicore)."""


@pytest.fixture(scope="module")
def section(report) -> dict[str, Any]:
    return report.data["autoscaling"]


@pytest.fixture(scope="module")
def loadgen(tmp_path_factory) -> Path:
    return build_loadgen(tmp_path_factory.mktemp("loadgen"))


@pytest.fixture(scope="module")
def on_the_real_node(cluster, real_node):
    with only_schedulable(cluster, real_node.name):
        yield real_node


@pytest.fixture(scope="module")
def cpu_metrics(cluster, on_the_real_node, loop_images, section):
    """metrics-server, from its image built here, serving metrics.k8s.io for the real node."""
    image = metrics_server.IMAGE
    objects = metrics_server.objects(f"{image}@{loop_images[image]}")
    started = time.monotonic()
    for obj in objects:
        kubernetes.utils.create_from_dict(cluster.api(), obj)
    registration = kubernetes.client.ApiregistrationV1Api(cluster.api())
    name = f"v1beta1.{metrics_server.API_GROUP}"

    def available() -> bool:
        conditions = registration.read_api_service(name).status.conditions or []
        return any(c.type == "Available" and c.status == "True" for c in conditions)

    wait_for("metrics-server's APIService is Available", available, timeout=180)
    section["metrics_server"] = {"image": image, "seconds_to_available": round(time.monotonic() - started, 1)}
    yield
    for obj in reversed(objects):
        resource = cluster.dynamic().resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
        resource.delete(name=obj["metadata"]["name"], namespace=obj["metadata"].get("namespace"))


@pytest.fixture(scope="module")
def deployed(engine, cluster, on_the_real_node, cpu_metrics, chart_repository, loop_images, docker_engine, image_registry, section):
    spec = node_image.stack_image(STACK)
    built = node_image.build_and_push(docker_engine, image_registry, spec)
    config = e2e_config(STACK, image=f"{spec.repository}@{built.digest}", namespace=NAMESPACE, loggingEnabled=False)
    config.update(loop_overlay(chart_repository.url, loop_images))
    section["overlay"] = {k: config[f"gosvc:{k}"] for k in ("grafanaEnabled", *LOOP_TIMING)}
    stack = engine.stack(f"{STACK}-loop", config, pack_config=STACK)
    try:
        up = stack.up()
        section["up"] = {"succeeded": up.succeeded, "seconds": up.seconds, "summary": up.summary}
        assert up.succeeded, up.error[-4000:]
        assert not [v for v in up.violations if v.level == "mandatory"], [v.message for v in up.violations]
        yield stack, config
    finally:
        down = stack.destroy()
        section["destroy"] = {"succeeded": down.succeeded, "seconds": down.seconds}
        registration = kubernetes.client.ApiregistrationV1Api(cluster.api())
        wait_for(
            "the adapter's APIService is gone, so API discovery works for the modules after this one",
            lambda: "v1beta1.custom.metrics.k8s.io" not in {a.metadata.name for a in registration.list_api_service().items},
            timeout=120,
        )


# -- reading the loop ----------------------------------------------------------------------------------------------


def _get_json(url: str, timeout: float = 10) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.load(response)


def _prometheus(cluster) -> str:
    return workloads.service_url(cluster, MONITORING, prometheus_stack.PROMETHEUS_SERVICE, "http-web")


def _query(cluster, promql: str) -> list[dict[str, Any]]:
    body = _get_json(f"{_prometheus(cluster)}/api/v1/query?{urllib.parse.urlencode({'query': promql})}")
    assert body["status"] == "success", body
    return body["data"]["result"]


def _raw(cluster, path: str) -> tuple[int, Any]:
    """GET `path` from the API server as `kubectl get --raw` does: the status and the parsed body."""
    api = cluster.api()
    method, url, headers, _, _ = api.param_serialize("GET", path, auth_settings=["BearerToken"])
    response = api.call_api(method, url, header_params=headers)
    response.read()
    return response.status, json.loads(response.data)


def _per_pod_rps(cluster) -> dict[str, float]:
    """requests_per_second per pod, as the HPA reads it from the adapter."""
    status, body = _raw(cluster, f"/apis/custom.metrics.k8s.io/v1beta1/namespaces/{NAMESPACE}/pods/*/{adapter.REQUESTS_PER_SECOND}")
    if status != 200:  # 404 until the first series exists
        return {}
    return {item["describedObject"]["name"]: float(parse_quantity(item["value"])) for item in body["items"]}


def _hpa(cluster) -> Any:
    return kubernetes.client.AutoscalingV2Api(cluster.api()).read_namespaced_horizontal_pod_autoscaler(NAME, NAMESPACE)


def _hpa_metrics(hpa: Any) -> dict[str, float]:
    """The HPA's current reading of each metric: CPU utilization in percent of the request, requests per second per pod."""
    found: dict[str, float] = {}
    for metric in hpa.status.current_metrics or []:
        if metric.type == "Resource" and metric.resource.current.average_utilization is not None:
            found["cpu_percent"] = metric.resource.current.average_utilization
        elif metric.type == "Pods":
            found["requests_per_second"] = float(parse_quantity(metric.pods.current.average_value))
    return found


def _ready_pods(cluster) -> list[Any]:
    return [p for p in workloads.pods(cluster, NAMESPACE, SELECTOR) if workloads.ready(p)]


def _ready_at(pod: Any) -> float:
    return next(c.last_transition_time for c in pod.status.conditions if c.type == "Ready").timestamp()


class Timeline:
    """Samples of the HPA, the pods and the adapter every few seconds while a phase runs, for the report."""

    def __init__(self, cluster, started: float) -> None:
        self.cluster = cluster
        self.started = started
        self.samples: list[dict[str, Any]] = []

    def sample(self) -> dict[str, Any]:
        hpa = _hpa(self.cluster)
        sample = {
            "t": round(time.time() - self.started, 1),
            "desired": hpa.status.desired_replicas,
            "current": hpa.status.current_replicas,
            "ready": len(_ready_pods(self.cluster)),
            "hpa_metrics": _hpa_metrics(hpa),
            "adapter_per_pod": {k: round(v, 1) for k, v in _per_pod_rps(self.cluster).items()},
        }
        self.samples.append(sample)
        return sample

    def until(self, what: str, done, timeout: float, every: float = 5.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            sample = self.sample()
            if done(sample):
                return sample
            if time.monotonic() > deadline:
                pytest.fail(f"{what}: not reached after {timeout:.0f} s; last samples {self.samples[-6:]}")
            time.sleep(every)


class Load:
    """A constant load through the Service in the background; a connection per request unless `keepalive`."""

    def __init__(self, loadgen: Path, url: str, rate: int, seconds: float, keepalive: bool = False) -> None:
        self.result: dict[str, Any] = {}
        self.started = time.time()
        self.thread = threading.Thread(target=lambda: self.result.update(workloads.load(loadgen, url, rate, seconds, keepalive)), daemon=True)
        self.thread.start()

    def wait(self) -> dict[str, Any]:
        self.thread.join()
        return self.result


def _target(config: dict[str, Any]) -> float:
    return float(config["gosvc:hpaRequestsPerSecond"])


# -- the loop ------------------------------------------------------------------------------------------------------


def test_prometheus_scrapes_every_service_pod_with_its_namespace_and_pod(deployed, cluster, section):
    started = time.monotonic()
    pods = {p.metadata.name for p in wait_for("the service's pods Ready", lambda: len(_ready_pods(cluster)) >= 2 and _ready_pods(cluster), timeout=180)}

    def targets() -> list[dict[str, Any]]:
        active = _get_json(f"{_prometheus(cluster)}/api/v1/targets?state=active")["data"]["activeTargets"]
        return [t for t in active if t["labels"].get("namespace") == NAMESPACE]

    up = wait_for("a target up for every service pod", lambda: (found := targets()) and {t["labels"].get("pod") for t in found if t["health"] == "up"} >= pods and found, timeout=240)
    series = wait_for("the request counter's series in Prometheus", lambda: _query(cluster, f'http_requests_total{{namespace="{NAMESPACE}"}}'), timeout=120)
    section["targets"] = {
        "seconds": round(time.monotonic() - started, 1),
        "pods": sorted(pods),
        "targets": [{"pod": t["labels"].get("pod"), "health": t["health"], "scrape_url": t["scrapeUrl"], "interval": t["scrapeInterval"]} for t in up],
        "series_labels": sorted({k for s in series for k in s["metric"]}),
    }
    assert all(t["health"] == "up" for t in up), up
    assert {s["metric"].get("pod") for s in series} >= pods and all(s["metric"].get("namespace") == NAMESPACE for s in series)


def _served(pod: Any) -> float:
    """The requests the pod has counted itself, read from its own metrics port (not through Prometheus)."""
    port = next(p.container_port for c in pod.spec.containers for p in c.ports or [] if p.name == "metrics")
    with urllib.request.urlopen(f"http://{pod.status.pod_ip}:{port}/metrics", timeout=10) as response:
        families = text_string_to_metric_families(response.read().decode())
        return sum(s.value for f in families if f.name == "http_requests" for s in f.samples if s.name == "http_requests_total")


def test_the_adapter_serves_each_pod_the_rate_it_is_loaded_with(deployed, cluster, loadgen, section):
    _, config = deployed
    pods = _ready_pods(cluster)
    rate = int(_target(config) * len(pods) * 0.6)  # below the target, so nothing scales while it is measured
    load = Load(loadgen, workloads.service_url(cluster, NAMESPACE, NAME, "http", GREET), rate, 170)
    time.sleep(20)
    before, at = {p.metadata.name: _served(p) for p in pods}, time.monotonic()
    time.sleep(130)  # the adapter's whole rate window of 2 m is under load, plus a scrape
    values = _per_pod_rps(cluster)
    served = {p.metadata.name: round((_served(p) - before[p.metadata.name]) / (time.monotonic() - at), 2) for p in pods}
    result = load.wait()
    expected = result["achieved_rps"] / len(pods)
    section["adapter"] = {"load": result, "pods": len(pods), "expected_per_pod": round(expected, 2), "per_pod": values, "served_per_pod": served, "tolerance": TOLERANCE}
    assert result["failed"] == 0, result
    assert set(values) == set(served), values
    for pod, value in values.items():
        assert abs(value - served[pod]) <= TOLERANCE * served[pod], f"{pod}: the adapter says {value}/s, the pod served {served[pod]}/s"
        assert abs(value - expected) <= TOLERANCE * expected, f"{pod}: {value}/s, but the Service spread {result['achieved_rps']:.1f}/s over {len(pods)} pods"


def test_three_times_the_target_scales_out_on_requests_per_second_and_the_per_pod_rate_falls(deployed, cluster, loadgen, section):
    _, config = deployed
    hpa = _hpa(cluster)
    before = sorted(p.metadata.name for p in _ready_pods(cluster))
    rate = int(3 * _target(config) * len(before))
    load = Load(loadgen, workloads.service_url(cluster, NAMESPACE, NAME, "http", GREET), rate, 240)
    timeline = Timeline(cluster, load.started)
    first = timeline.until("the HPA wants more pods", lambda s: (s["desired"] or 0) > len(before), timeout=240)
    maxed = timeline.until("every pod the HPA wants is Ready", lambda s: s["ready"] == s["desired"] == hpa.spec.max_replicas, timeout=180)
    new = [p for p in _ready_pods(cluster) if p.metadata.name not in before]
    first_new = min(new, key=_ready_at)
    startup = _ready_at(first_new) - first_new.metadata.creation_timestamp.timestamp()
    settled = timeline.until(
        "the per-pod rate falls toward the target",
        lambda s: len(s["adapter_per_pod"]) == hpa.spec.max_replicas and max(s["adapter_per_pod"].values()) < 0.75 * 3 * _target(config),
        timeout=150,
    )
    alert = _alert_fires(cluster, "GoServiceHpaMaxedOut", section)
    result = load.wait()
    section["scale_out_requests_per_second"] = {
        "load": result,
        "target_per_pod": _target(config),
        "replicas": {"before": len(before), "after": maxed["ready"], "max": hpa.spec.max_replicas},
        "seconds_to_desired_rise": first["t"],
        "seconds_to_first_new_pod_ready": round(_ready_at(first_new) - load.started, 1),
        "floor_seconds": {"hpa_sync_period": HPA_SYNC_SECONDS, "pod_start_up": round(startup, 1), "sum": round(HPA_SYNC_SECONDS + startup, 1)},
        "settled": settled,
        "timeline": timeline.samples,
    }
    assert result["failed"] == 0, result
    rps_ratio = first["hpa_metrics"].get("requests_per_second", 0) / _target(config)
    cpu_ratio = first["hpa_metrics"].get("cpu_percent", 0) / hpa.spec.metrics[0].resource.target.average_utilization
    assert rps_ratio > 1 + HPA_TOLERANCE, first
    # The HPA scales to the largest of its metrics' proposals; requests per second drove it when its proposal is the larger.
    assert _proposal(rps_ratio, len(before)) > _proposal(cpu_ratio, len(before)), f"requests per second, not CPU, drove it: {first}"
    assert alert["status"]["state"] == "active"


HPA_TOLERANCE = 0.1
"""kube-controller-manager's --horizontal-pod-autoscaler-tolerance, left at its default by the local control plane."""


def _proposal(ratio: float, replicas: int) -> int:
    """The replicas one metric proposes, as the HPA computes it: unchanged within the tolerance, else ratio x replicas rounded up."""
    return replicas if abs(ratio - 1) <= HPA_TOLERANCE else math.ceil(ratio * replicas)


def _alert_fires(cluster, name: str, section: dict[str, Any]) -> dict[str, Any]:
    """Waits for alert `name` of the service's namespace in Alertmanager (it came from the real Prometheus's rule)."""
    url = workloads.service_url(cluster, MONITORING, prometheus_stack.ALERTMANAGER_SERVICE, "http-web")
    started = time.monotonic()
    query = urllib.parse.urlencode({"filter": [f'alertname="{name}"', f'namespace="{NAMESPACE}"']}, doseq=True)
    found = wait_for(f"{name} in Alertmanager", lambda: _get_json(f"{url}/api/v2/alerts?{query}"), timeout=240)
    section["alert"] = {"name": name, "seconds_waited": round(time.monotonic() - started, 1), "labels": found[0]["labels"], "starts_at": found[0]["startsAt"], "state": found[0]["status"]["state"]}
    return found[0]


def test_without_load_the_hpa_scales_back_in(deployed, cluster, section):
    hpa = _hpa(cluster)
    started = time.time()
    timeline = Timeline(cluster, started)
    done = timeline.until("the HPA back at its minimum", lambda s: s["desired"] == hpa.spec.min_replicas and s["ready"] == hpa.spec.min_replicas, timeout=420, every=10)
    section["scale_in"] = {"seconds": done["t"], "stabilization_seconds": hpa.spec.behavior.scale_down.stabilization_window_seconds, "timeline": timeline.samples}


def test_every_rule_evaluates_in_the_real_prometheus(deployed, cluster, section):
    groups = _get_json(f"{_prometheus(cluster)}/api/v1/rules")["data"]["groups"]
    rules = [(g["file"], g["name"], r) for g in groups for r in g["rules"]]
    broken = [(g, r["name"], r.get("lastError")) for _, g, r in rules if r.get("health") != "ok"]
    ours = [r["name"] for _, g, r in rules if g.startswith(f"{NAMESPACE}.")]
    section["rules"] = {"groups": len(groups), "rules": len(rules), "service_rules": ours, "not_ok": broken}
    assert ours, "the service's PrometheusRule is loaded"
    assert not broken, broken


def test_cpu_bound_load_scales_out_through_metrics_server(deployed, cluster, loadgen, section):
    stack, config = deployed
    out_of_reach = {**config, "gosvc:hpaRequestsPerSecond": "100000"}
    stack.write_config(out_of_reach)
    up = stack.up()
    assert up.succeeded, up.error[-3000:]
    hpa = _hpa(cluster)
    before = len(_ready_pods(cluster))
    load = Load(loadgen, workloads.service_url(cluster, NAMESPACE, NAME, "http", GREET), CPU_BOUND_RPS, 150, keepalive=True)
    timeline = Timeline(cluster, load.started)
    target = hpa.spec.metrics[0].resource.target.average_utilization
    first = timeline.until("the HPA wants more pods on CPU", lambda s: (s["desired"] or 0) > before, timeout=200)
    grown = timeline.until("the new pods Ready", lambda s: s["ready"] == s["desired"] and s["ready"] > before, timeout=120)
    result = load.wait()
    section["scale_out_cpu"] = {
        "load": result,
        "rps_target": out_of_reach["gosvc:hpaRequestsPerSecond"],
        "cpu_target_percent": target,
        "replicas": {"before": before, "after": grown["ready"]},
        "seconds_to_desired_rise": first["t"],
        "seconds_to_new_pods_ready": grown["t"],
        "up_seconds": up.seconds,
        "timeline": timeline.samples,
    }
    assert first["hpa_metrics"].get("cpu_percent", 0) > target, first
    assert first["hpa_metrics"].get("requests_per_second", 0) < 100000
