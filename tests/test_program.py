"""The real __main__.py per stack, under the mock engine, and the offline synth's output."""

import runpy
import subprocess
import sys

import pytest
import yaml

from tools.offline import engine
from components.errors import ConfigError
from stacks.config import render_project_config
from tests.conftest import ROOT, STACKS


def deployment_pod(s):
    return s.one("Deployment", "hello")["spec"]["template"]["spec"]


def test_dev_is_small_soft_and_not_pushed(synth):
    s = synth("dev")
    deploy = s.one("Deployment", "hello")
    hpa = s.one("HorizontalPodAutoscaler", "hello")["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (2, 4)
    assert "replicas" not in deploy["spec"]
    assert "preferredDuringSchedulingIgnoredDuringExecution" in deployment_pod(s)["affinity"]["podAntiAffinity"]
    image = deployment_pod(s)["containers"][0]["image"]
    assert image == "registry.example.com/gosvc/hello:0.1.0-dev"  # built, not pushed: the tag reference
    (img,) = [r for r in s.resources() if r["type"] == "docker:index/image:Image"]
    assert img["inputs"]["skipPush"] is True


@pytest.mark.parametrize("stack", STACKS)
def test_gomaxprocs_is_left_to_the_go_runtime_the_image_builds_with(synth, stack):
    """app/go.mod says Go 1.26, which sizes GOMAXPROCS from the CPU limit itself; the env would switch that off."""
    (go_line,) = [line for line in (ROOT / "app" / "go.mod").read_text().splitlines() if line.startswith("go ")]
    assert tuple(int(p) for p in go_line.split()[1].split(".")[:2]) >= (1, 25)
    app = deployment_pod(synth(stack))["containers"][0]
    names = {e["name"] for e in app["env"]}
    assert "GOMEMLIMIT" in names and "GOMAXPROCS" not in names and "cpu" in app["resources"]["limits"]


def test_staging_runs_three(synth):
    hpa = synth("staging").one("HorizontalPodAutoscaler", "hello")["spec"]
    assert hpa["minReplicas"] == 3


def test_prod_is_hard_spread_and_digest_pinned(synth):
    s = synth("prod")
    pod = deployment_pod(s)
    (term,) = pod["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert term["topologyKey"] == "kubernetes.io/hostname"
    assert pod["topologySpreadConstraints"][0]["topologyKey"] == "topology.kubernetes.io/zone"
    hpa = s.one("HorizontalPodAutoscaler", "hello")["spec"]
    assert hpa["minReplicas"] >= 3 and hpa["maxReplicas"] == 20
    image = pod["containers"][0]["image"]
    assert image.startswith("registry.example.com/gosvc/hello@sha256:"), image
    assert s.outputs()["image"] == image


def integral_floats(value, path=""):
    """Paths of floats with no fraction: the engine's wire format leaking into a manifest."""
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in integral_floats(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in integral_floats(v, f"{path}[{i}]")]
    return [path] if isinstance(value, float) and value.is_integer() else []


@pytest.mark.parametrize("stack", STACKS)
def test_synth_layout_names_and_integers(synth, stack):
    s = synth(stack)
    kubernetes_files = list((s.out / "k8s").glob("*.yaml"))
    assert kubernetes_files
    assert sorted(p.name for p in (s.out / "helm").glob("*.yaml")) == ["kube-prometheus-stack.yaml", "prometheus-adapter.yaml"]
    assert [p.relative_to(s.out).as_posix() for p in (s.out / "images").rglob("*") if p.is_file()] == ["images/hello/Dockerfile"]
    for path in kubernetes_files:
        obj = yaml.safe_load(path.read_text())
        namespace = obj["metadata"].get("namespace", "cluster")
        assert path.name == f"{obj['kind'].lower()}-{namespace}-{obj['metadata']['name']}.yaml"
        assert list(obj)[:3] == ["apiVersion", "kind", "metadata"]
    for path in [*kubernetes_files, *(s.out / "helm").glob("*.yaml")]:
        assert integral_floats(yaml.safe_load(path.read_text())) == [], path.name
    deployment = s.one("Deployment", "hello")
    assert deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] == 35
    dockerfile = (s.out / "images" / "hello" / "Dockerfile").read_text()
    assert dockerfile.startswith("# syntax=docker/dockerfile:1")
    assert "resources ->" in s.stdout
    assert "sha256:<digest-known-after-push>" in s.stdout  # placeholders are listed, not hidden


def test_integral_float_check_can_fail():
    assert integral_floats({"spec": {"replicas": 3.0, "ratio": 0.5, "ports": [80, 443.0]}}) == [".spec.replicas", ".spec.ports[1]"]


def test_synth_is_deterministic(synth, tmp_path):
    first = synth("prod")
    out = tmp_path / "again"
    subprocess.run([sys.executable, "-m", "tools.offline.synth", "--stack", "prod", "--out", str(out)], cwd=ROOT, check=True, capture_output=True)
    for path in [*(first.out / "k8s").glob("*.yaml"), first.out / "resources.json", first.out / "outputs.json"]:
        assert (out / path.relative_to(first.out)).read_text() == path.read_text(), path.name


def test_bad_stack_config_exits_2_writes_nothing_and_registers_nothing(tmp_path):
    project = tmp_path / "project"
    (project / "stacks").mkdir(parents=True)
    for name in ("Pulumi.yaml", "__main__.py"):
        (project / name).write_text((ROOT / name).read_text())
    (project / "app").symlink_to(ROOT / "app")
    (project / "stacks" / "Pulumi.broken.yaml").write_text(yaml.safe_dump({"config": {"gosvc:hpaMinReplicas": 9, "gosvc:hpaMaxReplicas": 3}}))
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "tools.offline.synth", "--stack", "broken", "--out", str(out), "--project-dir", str(project)],
        cwd=ROOT, capture_output=True, text=True,
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "gosvc:hpaMinReplicas: invalid value 9; must be at most gosvc:hpaMaxReplicas (3)" in proc.stderr
    assert not out.exists()
    with pytest.raises(ConfigError):
        engine.run_project(project, "broken")


def test_program_validates_before_registering_anything(monkeypatch):
    monkeypatch.chdir(ROOT)
    config = engine.stack_config(ROOT, "dev")
    config["gosvc:imageTag"] = "latest"
    result = engine.run(lambda: runpy.run_path(str(ROOT / "__main__.py")), config=config, raise_errors=False)
    assert isinstance(result.error, ConfigError) and result.error.key == "gosvc:imageTag"
    assert result.registrations == []
    good = engine.run(lambda: runpy.run_path(str(ROOT / "__main__.py")), config=engine.stack_config(ROOT, "dev"))
    assert good.error is None and len(good.registrations) > 5  # the same run with valid config does register


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_prebuilt_image_is_deployed_as_given_and_nothing_is_built(monkeypatch, stack):
    monkeypatch.chdir(ROOT)
    reference = "registry.example.com/gosvc/hello:0.2.0@sha256:" + "5e" * 32
    config = {**engine.stack_config(ROOT, stack), "gosvc:image": reference}
    result = engine.run(lambda: runpy.run_path(str(ROOT / "__main__.py")), config=config)
    assert not [r for r in result.registrations if r.type.startswith("docker:") or r.type.endswith(":GoImage")]
    (deployment,) = [o for o in result.kubernetes_objects() if o["kind"] == "Deployment" and o["metadata"]["name"] == "hello"]
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == reference
    assert deployment["metadata"]["labels"]["app.kubernetes.io/version"] == "0.2.0"
    assert result.outputs["image"] == reference
    built = engine.run(lambda: runpy.run_path(str(ROOT / "__main__.py")), config=engine.stack_config(ROOT, stack))
    assert [r for r in built.registrations if r.type == "docker:index/image:Image"], "without gosvc:image the image is built"


def test_bad_prebuilt_image_registers_nothing(monkeypatch):
    monkeypatch.chdir(ROOT)
    config = {**engine.stack_config(ROOT, "dev"), "gosvc:image": "registry.example.com/gosvc/hello"}
    result = engine.run(lambda: runpy.run_path(str(ROOT / "__main__.py")), config=config, raise_errors=False)
    assert isinstance(result.error, ConfigError) and result.error.key == "gosvc:image"
    assert "has no tag" in str(result.error)
    assert result.registrations == []


def test_unknown_stack_is_a_clear_error(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "tools.offline.synth", "--stack", "nope", "--out", str(tmp_path / "o")], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 2 and "known stacks: dev, prod, staging" in proc.stderr


def test_pulumi_yaml_declares_every_key_as_the_code_does():
    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    assert project["name"] == "gosvc"
    assert project["runtime"] == {"name": "python", "options": {"toolchain": "pip", "virtualenv": "venv"}}
    assert project["stackConfigDir"] == "stacks"
    assert project["config"] == render_project_config()
    for key, decl in project["config"].items():
        assert decl["type"] in ("string", "integer", "boolean", "array") and decl["description"], key


@pytest.mark.parametrize("stack", STACKS)
def test_stack_files_only_use_declared_keys(stack):
    declared = set(yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["config"])
    used = set(yaml.safe_load((ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text())["config"])
    assert used <= declared, used - declared
