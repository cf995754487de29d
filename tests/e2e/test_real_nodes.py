"""The service for real: the Dockerfile GoImage generates, built by a real Docker engine and pushed to a registry on
loopback, then deployed by `pulumi up` by its digest onto a real kubelet node beside kwok's (tools/nodes).

The stack is dev's config with `gosvc:image` set to what was pushed, as a CI pipeline sets it, and a CPU limit of
100m per pod instead of dev's 500m: this machine's two cores cannot generate more requests than dev's two 500m pods
serve (about 9,000 per second, with next to no CPU throttling), so the limit is lowered until the load saturates
them; the memory limit and GOMEMLIMIT are dev's. The image reference names the stacks' own registry
(registry.example.com), which the node's containerd pulls from the loopback registry as from a mirror, so the pack's
registry allowlist holds as in any dev preview. While this module runs, the kwok nodes are cordoned: new pods can
land only on the real node. Every figure goes to build/e2e/report.json's `real_nodes`.
"""

from __future__ import annotations

import datetime
import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kubernetes
import pytest
from elftools.elf.elffile import ELFFile

from components import defaults
from components.config import quantity
from components.image import dockerfile
from tests.e2e import workloads
from tests.e2e.conftest import wait_for
from tools.e2e.overlay import e2e_config
from tools.nodes import image as node_image
from tools.nodes.node import RealNode, only_schedulable
from tools.size.measure import build_loadgen

pytestmark = pytest.mark.e2e

STACK = "dev"
NAMESPACE = "gosvc-dev-real"
NAME = "hello"
APP_CONTAINER = "app"
SELECTOR = f"app.kubernetes.io/name={NAME}"
GREET = "/api/v1/greet?name=real"
CPU_LIMIT = "100m"
SATURATING_RPS = 20000
"""More than this machine can generate (about 9,000 per second): as much load as there is."""
SATURATED_SHARE = 0.1
"""A pod counts as saturated when its CPU quota ran out in at least this share of the CFS periods under load."""


@dataclass
class Deployed:
    stack: Any
    config: dict[str, Any]
    up: Any
    destroyed: bool = False


@pytest.fixture(scope="module")
def section(report) -> dict[str, Any]:
    return report.data["real_nodes"]


@pytest.fixture(scope="module")
def spec():
    return node_image.stack_image(STACK)


@pytest.fixture(scope="module")
def built(docker_engine, image_registry, spec, section):
    image = node_image.build_and_push(docker_engine, image_registry, spec)
    section["image"] = image.record()
    return image


@pytest.fixture(scope="module", autouse=True)
def only_on_the_real_node(cluster, real_node):
    with only_schedulable(cluster, real_node.name):
        yield


@pytest.fixture(scope="module")
def loadgen(tmp_path_factory) -> Path:
    return build_loadgen(tmp_path_factory.mktemp("loadgen"))


@pytest.fixture(scope="module")
def deployed(engine, real_node, built, spec, section):
    config = e2e_config(STACK, image=f"{spec.repository}@{built.digest}", namespace=NAMESPACE, loggingEnabled=False, cpuLimit=CPU_LIMIT)
    stack = engine.stack(f"{STACK}-real", config, pack_config=STACK)
    up = stack.up()
    section["up"] = {"succeeded": up.succeeded, "seconds": up.seconds, "summary": up.summary}
    assert up.succeeded, up.error[-4000:]
    state = Deployed(stack, config, up)
    yield state
    if not state.destroyed:
        stack.destroy()




def _core(cluster) -> kubernetes.client.CoreV1Api:
    return kubernetes.client.CoreV1Api(cluster.api())


def _pods(cluster) -> list[Any]:
    return workloads.pods(cluster, NAMESPACE, SELECTOR)


def _container(pod: Any) -> Any:
    return next(c for c in pod.status.container_statuses or [] if c.name == APP_CONTAINER)


def _deployment(cluster) -> Any:
    return kubernetes.client.AppsV1Api(cluster.api()).read_namespaced_deployment(NAME, NAMESPACE)


def _rolled_out(cluster, replicas: int) -> bool:
    d = _deployment(cluster)
    s = d.status
    return s.observed_generation == d.metadata.generation and (s.updated_replicas or 0) == replicas and (s.available_replicas or 0) == replicas and (s.replicas or 0) == replicas




def _proc_status(pid: int) -> dict[str, str]:
    return dict(line.split(":\t", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":\t" in line)


def _cgroup_dir(pid: int, controller: str) -> Path:
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if controller in controllers.split(","):
            return Path("/sys/fs/cgroup") / controllers / path.lstrip("/")
    raise AssertionError(f"process {pid} is in no {controller} cgroup")


def _environ(pid: int) -> dict[str, str]:
    return dict(item.split("=", 1) for item in Path(f"/proc/{pid}/environ").read_bytes().decode().split("\0") if "=" in item)


def _app_pid(real_node: RealNode, pod: Any) -> int:
    return real_node.task_pid(_container(pod).container_id.split("://", 1)[1])


def _log_file(real_node: RealNode, pod: Any) -> Path:
    """The file the kubelet writes the app container's output to (its CRI log), the file Filebeat's input reads."""
    return real_node.workdir / "pods" / f"{pod.metadata.namespace}_{pod.metadata.name}_{pod.metadata.uid}" / APP_CONTAINER / "0.log"


def _json_lines(path: Path) -> list[dict[str, Any]]:
    """Each CRI log line's message (`<time> <stream> <F|P> <message>`), parsed as the JSON the service writes."""
    return [json.loads(line.split(" ", 3)[3]) for line in path.read_text().splitlines() if line.strip()]


def test_the_generated_dockerfile_builds_with_a_real_engine_into_a_small_static_image(built, spec, docker_engine, tmp_path):
    module = dockerfile.read_module(spec.context)
    assert built.go_version == dockerfile.builder_version(spec, module) == defaults.GO_PATCH_RELEASES[module.go_version.rsplit(".", 1)[0]]
    binary = node_image.extract_binary(docker_engine, f"{built.repository}:{built.tag}", tmp_path)
    with binary.open("rb") as f:
        elf = ELFFile(f)
        assert not [s for s in elf.iter_segments() if s["p_type"] == "PT_INTERP"], "static: no dynamic loader"
        assert elf.get_section_by_name(".symtab") is None and elf.get_section_by_name(".debug_info") is None, "stripped"
    info = docker_engine.inspect(f"{built.repository}:{built.tag}")
    assert info["Config"]["User"] == f"{defaults.NONROOT_UID}:{defaults.NONROOT_UID}" and info["Config"]["Entrypoint"] == [dockerfile.BINARY]
    assert [layer["created_by"] for layer in built.layers][0].startswith("COPY /out/app /app"), built.layers
    base = built.image_bytes - built.binary_bytes
    assert 0 < base < 4 * 1024 * 1024, f"the runtime base adds {base} bytes"
    assert built.compressed_bytes < built.image_bytes


@pytest.mark.parametrize("edit, rerun, reused", [
    ("go", {"COPY . .", "go build"}, {"COPY go.mod go.sum", "go mod download"}),
    ("go.mod", {"COPY go.mod go.sum", "go mod download", "COPY . .", "go build"}, set()),
])  # fmt: skip
def test_a_rebuild_reruns_only_the_steps_an_edit_reaches(edit, rerun, reused, docker_engine, spec, section):
    steps = node_image.rebuild_after(docker_engine, spec, edit)
    section.setdefault("layer_reuse", {})[edit] = [{"instruction": s.instruction[:80], "cached": s.cached} for s in steps]

    def matching(fragment: str) -> list[node_image.Step]:
        found = [s for s in steps if fragment in s.instruction]
        assert found, f"no step runs {fragment!r}: {steps}"
        return found

    for fragment in rerun:
        assert not any(s.cached for s in matching(fragment)), f"{edit} edit: {fragment} was reused"
    for fragment in reused:
        assert all(s.cached for s in matching(fragment)), f"{edit} edit: {fragment} ran again"


def test_up_returns_when_the_real_binary_answers_its_probes(deployed, cluster, real_node, section):
    wait_for("the HPA's minimum of pods available", lambda: _rolled_out(cluster, deployed.config["gosvc:hpaMinReplicas"]), timeout=120)
    pods = _pods(cluster)
    ready_seconds = []
    for pod in pods:
        ready = next(c for c in pod.status.conditions if c.type == "Ready")
        ready_seconds.append((ready.last_transition_time - pod.metadata.creation_timestamp).total_seconds())
    section["pods"] = {
        "count": len(pods),
        "nodes": sorted({p.spec.node_name for p in pods}),
        "seconds_to_ready": ready_seconds,
        "restarts": sum(_container(p).restart_count for p in pods),
        "image_ids": sorted({_container(p).image_id for p in pods}),
    }
    assert {p.spec.node_name for p in pods} == {real_node.name}
    assert all(workloads.ready(p) and _container(p).restart_count == 0 for p in pods)
    assert {_container(p).image_id.rsplit("@", 1)[-1] for p in pods} == {deployed.config["gosvc:image"].rsplit("@", 1)[-1]}, "the pushed digest runs"


def test_the_running_process_has_the_declared_security_context_and_limits(deployed, cluster, real_node, section):
    pod = _pods(cluster)[0]
    container = next(c for c in _deployment(cluster).spec.template.spec.containers if c.name == APP_CONTAINER)
    pid = _app_pid(real_node, pod)
    status = _proc_status(pid)
    memory = _cgroup_dir(pid, "memory")
    cpu = _cgroup_dir(pid, "cpu")
    root_mount = next(line.split() for line in Path(f"/proc/{pid}/mountinfo").read_text().splitlines() if line.split()[4] == "/")
    observed = {
        "uid": status["Uid"].split(),
        "gid": status["Gid"].split(),
        "groups": status["Groups"].split(),
        "cap_eff": status["CapEff"],
        "no_new_privs": status["NoNewPrivs"],
        "seccomp": status["Seccomp"],
        "root_mount_options": root_mount[5],
        "memory_limit_bytes": int((memory / "memory.limit_in_bytes").read_text()),
        "cfs_quota_us": int((cpu / "cpu.cfs_quota_us").read_text()),
        "cfs_period_us": int((cpu / "cpu.cfs_period_us").read_text()),
        "gomemlimit": _environ(pid).get("GOMEMLIMIT"),
    }
    section["security_context"] = observed
    uid = str(defaults.NONROOT_UID)
    assert observed["uid"] == [uid] * 4 and observed["gid"] == [uid] * 4 and observed["groups"] == [uid]
    assert observed["cap_eff"] == "0000000000000000" and observed["no_new_privs"] == "1" and observed["seccomp"] == "2"
    assert "ro" in observed["root_mount_options"].split(",")
    assert observed["memory_limit_bytes"] == int(quantity(container.resources.limits["memory"]))
    assert observed["cfs_quota_us"] == int(quantity(container.resources.limits["cpu"]) * observed["cfs_period_us"])
    assert observed["gomemlimit"] == next(e.value for e in container.env if e.name == "GOMEMLIMIT")


def _cpu_stat(pid: int) -> dict[str, int]:
    return {key: int(value) for key, value in (line.split() for line in (_cgroup_dir(pid, "cpu") / "cpu.stat").read_text().splitlines())}


def test_saturating_load_through_the_service_kills_nothing_at_the_memory_limit(deployed, cluster, real_node, loadgen, section):
    """More than the pods' CPU limits can serve, through the Service (kube-proxy's rules): the quota throttles them,
    and under the stack's memory limit and GOMEMLIMIT nothing is OOM-killed or restarted."""
    pods = _pods(cluster)
    before = {p.metadata.name: _cpu_stat(_app_pid(real_node, p)) for p in pods}
    result = workloads.load(loadgen, workloads.service_url(cluster, NAMESPACE, NAME, "http", GREET), rate=SATURATING_RPS, seconds=20)
    after = [_core(cluster).read_namespaced_pod(p.metadata.name, NAMESPACE) for p in pods]
    per_pod = []
    for pod in after:
        pid = _app_pid(real_node, pod)
        memory = _cgroup_dir(pid, "memory")
        oom = dict(line.split() for line in (memory / "memory.oom_control").read_text().splitlines())
        cpu = _cpu_stat(pid)
        per_pod.append({
            "pod": pod.metadata.name,
            "restarts": _container(pod).restart_count,
            "last_state": _container(pod).last_state.terminated and _container(pod).last_state.terminated.reason,
            "throttled_periods": cpu["nr_throttled"] - before[pod.metadata.name]["nr_throttled"],
            "periods": cpu["nr_periods"] - before[pod.metadata.name]["nr_periods"],
            "peak_rss_bytes": int(_proc_status(pid)["VmHWM"].split()[0]) * 1024,
            "cgroup_peak_bytes": int((memory / "memory.max_usage_in_bytes").read_text()),
            "limit_bytes": int((memory / "memory.limit_in_bytes").read_text()),
            "oom_kills": int(oom.get("oom_kill", 0)),
            "gomemlimit": _environ(pid)["GOMEMLIMIT"],
        })  # fmt: skip
    section["load"] = {"result": result, "pods": per_pod}
    assert result["requests"] > 10_000, result
    assert all(e["throttled_periods"] >= SATURATED_SHARE * e["periods"] for e in per_pod), "the load saturated every pod's CPU quota"
    for entry in per_pod:
        assert entry["restarts"] == 0 and entry["last_state"] is None and entry["oom_kills"] == 0, entry
        assert entry["cgroup_peak_bytes"] <= entry["limit_bytes"]


def test_a_new_digest_rolls_out_under_load_without_a_failed_request(deployed, cluster, docker_engine, image_registry, spec, loadgen, section):
    replicas = deployed.config["gosvc:hpaMinReplicas"]
    newer = node_image.build_and_push(docker_engine, image_registry, spec.model_copy(update={"tag": f"{spec.tag}-next"}))
    assert newer.digest != deployed.config["gosvc:image"].rsplit("@", 1)[-1], "a new version stamp makes a new image"
    outcome: dict[str, Any] = {}
    url = workloads.service_url(cluster, NAMESPACE, NAME, "http", GREET)
    load = threading.Thread(target=lambda: outcome.update(workloads.load(loadgen, url, rate=300, seconds=75)))
    load.start()
    time.sleep(5)
    deployed.config = {**deployed.config, "gosvc:image": f"{spec.repository}@{newer.digest}"}
    deployed.stack.write_config(deployed.config)
    started = time.monotonic()
    up = deployed.stack.up()
    wait_for("the new digest rolled out", lambda: _rolled_out(cluster, replicas) and all(_container(p).image_id.endswith(newer.digest) for p in _pods(cluster)), timeout=120)
    rollout_seconds = round(time.monotonic() - started, 1)
    load.join()
    section["rollout_under_load"] = {"up": {"succeeded": up.succeeded, "seconds": up.seconds, "summary": up.summary}, "rollout_seconds": rollout_seconds, "load": outcome, "new_digest": newer.digest}
    assert up.succeeded, up.error[-3000:]
    assert outcome["requests"] > 300 * 60 * 0.9, outcome
    assert outcome["failed"] == 0, outcome


def test_a_deleted_pod_sleeps_in_prestop_then_drains_and_exits_0_within_its_grace_period(deployed, cluster, real_node, section):
    pod = _pods(cluster)[0]
    log = _log_file(real_node, pod)
    grace = pod.spec.termination_grace_period_seconds
    deleted_at = datetime.datetime.now(datetime.timezone.utc)
    started = time.monotonic()
    _core(cluster).delete_namespaced_pod(pod.metadata.name, NAMESPACE)
    terminated, lines = None, []
    watch = kubernetes.watch.Watch()
    for event in watch.stream(_core(cluster).list_namespaced_pod, NAMESPACE, field_selector=f"metadata.name={pod.metadata.name}", timeout_seconds=grace + 30):
        state = next((c.state for c in event["object"].status.container_statuses or [] if c.name == APP_CONTAINER), None)
        if state is not None and state.terminated is not None and terminated is None:
            terminated, seconds = state.terminated, round(time.monotonic() - started, 2)
            lines = _json_lines(log)
        if event["type"] == "DELETED":
            watch.stop()
    assert terminated is not None, "the kubelet reported no terminated state"
    by_message = {line["msg"]: datetime.datetime.fromisoformat(line["time"]) for line in lines}
    signalled = (by_message["shutdown requested"] - deleted_at).total_seconds()
    section["pod_deletion"] = {
        "exit_code": terminated.exit_code,
        "reason": terminated.reason,
        "seconds_to_exit": seconds,
        "seconds_to_sigterm": round(signalled, 2),
        "grace_period_seconds": grace,
        "last_messages": [line["msg"] for line in lines[-4:]],
    }
    assert terminated.exit_code == 0 and seconds < grace
    assert signalled >= defaults.PRE_STOP_SLEEP_SECONDS - 0.5, "SIGTERM came only after the preStop sleep"
    assert "shutdown complete" in by_message


def test_the_pods_write_json_lines_to_the_files_the_kubelet_keeps_for_them(deployed, cluster, real_node, section):
    files = {p.metadata.name: _log_file(real_node, p) for p in _pods(cluster)}
    parsed = {name: _json_lines(path) for name, path in files.items()}
    section["logs"] = {name: {"file": str(path), "lines": len(parsed[name])} for name, path in files.items()}
    for name, lines in parsed.items():
        assert lines and {"time", "level", "msg"} <= set(lines[0]), name
        assert any(line["msg"] == "serving" for line in lines), name


def test_destroy_stops_every_pod_gracefully(deployed, cluster, section):
    names = {p.metadata.name for p in _pods(cluster)}
    exits: dict[str, int] = {}
    watching = threading.Event()

    def watch_exits() -> None:
        watch = kubernetes.watch.Watch()
        for event in watch.stream(_core(cluster).list_namespaced_pod, NAMESPACE, label_selector=SELECTOR, timeout_seconds=120):
            watching.set()
            pod = event["object"]
            state = next((c.state for c in pod.status.container_statuses or [] if c.name == APP_CONTAINER), None)
            if pod.metadata.name in names and state is not None and state.terminated is not None:
                exits[pod.metadata.name] = state.terminated.exit_code
            if set(exits) == names:
                watch.stop()

    watcher = threading.Thread(target=watch_exits)
    watcher.start()
    assert watching.wait(30), "the watch saw the pods"
    down = deployed.stack.destroy()
    deployed.destroyed = True
    watcher.join(timeout=150)
    section["destroy"] = {"succeeded": down.succeeded, "seconds": down.seconds, "exit_codes": exits}
    assert down.succeeded, down.error[-3000:]
    assert exits == {name: 0 for name in names}, exits
