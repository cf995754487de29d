"""The real-engine tier's fixtures: the built tools, one local cluster and one engine per session, and the report.

Every test module here is marked `e2e` (`pytestmark`); `make test` deselects them and `make e2e` runs only them.
`build/e2e/report.json` is written when the session ends, whatever passed or failed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.logging.config import LoggingSpec
from stacks import config as stack_config
from tests.conftest import ROOT
from tools.e2e import build
from tools.e2e.cluster import LocalCluster
from tools.e2e.engine import RealEngine
from tools.pipeline import build as pipeline_build
from tools.pipeline import kafka as pipeline_kafka

OUT = ROOT / "build" / "e2e"


def stack_spec(stack: str) -> LoggingSpec:
    """The logging spec of a committed stack file, as `pulumi up` would build it."""
    spec = stack_config.load(yaml.safe_load((ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text())["config"]).logging
    assert spec is not None and spec.enabled, f"stack {stack} deploys no logging pipeline"
    return spec


def wait_for(what: str, check, timeout: float = 90.0):
    """Polls `check` until it returns something truthy, and returns that; fails the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not reached after {timeout:.0f} s")
        time.sleep(0.5)


class Report:
    """What `make e2e` saw, written to build/e2e/report.json."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {"tools": {}, "cluster": {}, "stacks": {}, "scenarios": [], "policy": {}, "config": {}, "placement": {}, "logging": {}, "upgrades": [], "pipeline": {}, "real_nodes": {}, "autoscaling": {}}

    def stack(self, name: str) -> dict[str, Any]:
        return self.data["stacks"].setdefault(name, {})

    def write(self) -> Path:
        OUT.mkdir(parents=True, exist_ok=True)
        path = OUT / "report.json"
        path.write_text(json.dumps(self.data, indent=2, sort_keys=True) + "\n")
        return path


@pytest.fixture(scope="session")
def report():
    collected = Report()
    try:
        yield collected
    finally:
        print(f"\ne2e report: {collected.write()}", file=sys.stderr)


@pytest.fixture(scope="session")
def toolset(report):
    tools = build.build()
    report.data["tools"] = {**tools.versions, "go": tools.manifest["go"], "build_seconds": tools.manifest["build_seconds"]}
    return tools


@pytest.fixture(scope="session")
def pipeline_runtime(report):
    """Kafka and Elasticsearch from Maven Central and Filebeat from the Go module proxy, for the pipeline tier (tests/e2e/test_pipeline_*)."""
    pipeline_kafka.check_namespaces()
    runtime = pipeline_build.build()
    report.data["pipeline"]["software"] = {**runtime.versions, "go": runtime.manifest["go"], "java": runtime.manifest["java"], "elasticsearch_java": runtime.manifest["elasticsearch_java"], "build_seconds": runtime.manifest["build_seconds"]}
    return runtime


@pytest.fixture(scope="session")
def node_tools(report):
    """The real-node tier's packages and binaries (tools/nodes/build.py)."""
    from tools.nodes import build as node_build

    tools = node_build.build()
    report.data["real_nodes"]["tools"] = {**tools.manifest["versions"], "build_seconds": tools.manifest["build_seconds"]}
    return tools


@pytest.fixture(scope="session")
def docker_engine(node_tools, report):
    """The tier's own Docker engine, with every stand-in base image the stacks' Dockerfiles name."""
    from tools.nodes import bases, image
    from tools.nodes.docker import DockerEngine, data_root

    go_versions = image.builder_versions([image.stack_image(stack) for stack in image.STACKS])
    with DockerEngine(data_root(), OUT / "nodes" / "logs" / "dockerd.log") as engine:
        started = time.monotonic()
        made = bases.ensure(engine, node_tools, go_versions, build.progress)
        report.data["real_nodes"]["bases"] = {"images": made, "seconds": round(time.monotonic() - started, 1)}
        yield engine


@pytest.fixture(scope="session")
def image_registry(node_tools):
    from tools.nodes.registry import LocalRegistry

    with LocalRegistry(node_tools.bin("registry"), OUT / "nodes" / "registry", OUT / "nodes" / "logs" / "registry.log") as registry:
        yield registry


@pytest.fixture(scope="session")
def loop_images(node_tools, docker_engine, image_registry, report) -> dict[str, str]:
    """The monitoring loop's images (tools/loop), built here and pushed to the loopback registry: reference -> digest."""
    from tools.loop import build as loop_build
    from tools.loop import images as loop

    tools = loop_build.build()
    started = time.monotonic()
    pinned = loop.ensure(docker_engine, image_registry, tools, build.progress)
    report.data["autoscaling"]["images"] = {"built": pinned, "tools": tools.manifest, "seconds": round(time.monotonic() - started, 1)}
    return pinned


REGISTRY_MIRRORED = "registry.example.com"
"""The stacks' own registry, which the real node pulls from the loopback registry."""


@pytest.fixture(scope="module")
def real_node(cluster, toolset, node_tools, docker_engine, image_registry, report):
    """A real kubelet node (tools/nodes) that pulls the stacks' registry and the monitoring charts' registries from the
    loopback registry, for one module: the other modules' pods (and DaemonSets, which ignore cordons) must land on
    kwok's nodes only. A module that runs pods on it cordons the kwok nodes while it runs (`only_schedulable`)."""
    from tools.loop import images as loop
    from tools.nodes.node import RealNode

    mirrors = (REGISTRY_MIRRORED, *loop.mirrors())
    with RealNode(cluster, toolset, node_tools, docker_engine, OUT / "nodes" / "node", image_registry.host, mirrors=mirrors) as node:
        report.data["real_nodes"]["node"] = node.describe()
        yield node


@pytest.fixture(scope="session")
def cluster(toolset, report):
    shutil.rmtree(OUT / "cluster", ignore_errors=True)
    with LocalCluster(toolset, OUT / "cluster") as running:
        report.data["cluster"] = running.describe()
        yield running


@pytest.fixture(scope="session")
def engine(toolset, cluster, report):
    real = RealEngine(toolset, cluster.kubeconfig, OUT / "engine", ROOT, policy_reports=OUT / "policy")
    report.data["tools"]["pulumi_cli_reports"] = real.version()
    return real


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory):
    """synthesized(name, config) -> the Kubernetes objects the offline synth writes for that stack config."""

    def run(name: str, config: dict[str, Any]) -> list[dict[str, Any]]:
        project = tmp_path_factory.mktemp(f"synth-{name}")
        (project / "stacks").mkdir()
        for file in ("Pulumi.yaml", "__main__.py"):
            shutil.copyfile(ROOT / file, project / file)
        (project / "stacks" / f"Pulumi.{name}.yaml").write_text(yaml.safe_dump({"config": config}))
        out = project / "out"
        proc = subprocess.run(
            [sys.executable, "-m", "tools.offline.synth", "--stack", name, "--out", str(out), "--project-dir", str(project)],
            cwd=ROOT, capture_output=True, text=True, timeout=600,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return [yaml.safe_load(p.read_text()) for p in sorted((out / "k8s").glob("*.yaml"))]

    return run


@pytest.fixture(scope="module")
def chart_repository(engine, chart_packages, report):
    """The genuine packages served as a chart repository on loopback (its `url`; `requested` says what was fetched), with
    the engine's pack process rendering releases from the same packages with the helm built here. The report records
    each package's version, sha256 and subcharts."""
    from tools.charts import build as chart_tools
    from tools.charts import packages
    from tools.charts.serve import ChartRepository

    report.data["charts"] = {"directory": str(chart_packages), "packages": [p.record() for p in packages.read(chart_packages)]}
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setitem(engine.env, "GOSVC_HELM", str(chart_tools.build()))
        monkeypatch.setitem(engine.env, "GOSVC_CHART_DIRS", str(chart_packages))
        with ChartRepository(chart_packages) as served:
            yield served
