"""GoService and GoImage under Pulumi's mock engine: what they register, under which parent, with which outputs."""

import pulumi
import pytest

from components import GoImage, GoService
from tools.offline.engine import run
from components.errors import ConfigError
from tests.conftest import ROOT

IMAGE = "registry.example.com/team/api:1.2.3"


def by_type(result, suffix):
    return [r for r in result.registrations if r.type.endswith(suffix)]


def test_go_service_registers_every_child_under_itself():
    result = run(lambda: GoService("api", {"image": IMAGE, "namespace": "team-api", "create_namespace": True}))
    (component,) = by_type(result, "gosvc:index:GoService")
    children = [r for r in result.registrations if r is not component]
    assert {r.type for r in children} == {
        "kubernetes:core/v1:Namespace",
        "kubernetes:core/v1:ServiceAccount",
        "kubernetes:apps/v1:Deployment",
        "kubernetes:core/v1:Service",
        "kubernetes:policy/v1:PodDisruptionBudget",
        "kubernetes:autoscaling/v2:HorizontalPodAutoscaler",
        "kubernetes:networking.k8s.io/v1:NetworkPolicy",
    }
    assert all(r.parent == component.urn for r in children)
    (ns,) = by_type(result, "Namespace")
    namespaced = [r for r in children if r is not ns]
    assert all(ns.urn in r.dependencies for r in namespaced), "objects must wait for their namespace"


def test_go_service_under_hpa_sends_no_replicas_and_a_pdb():
    result = run(lambda: GoService("api", {"image": IMAGE, "autoscaling": {"min_replicas": 3, "max_replicas": 9}}))
    (deploy,) = by_type(result, "apps/v1:Deployment")
    assert "replicas" not in deploy.inputs["spec"]
    (hpa,) = by_type(result, "HorizontalPodAutoscaler")
    assert hpa.inputs["spec"]["minReplicas"] == 3 and hpa.inputs["spec"]["maxReplicas"] == 9
    assert hpa.inputs["spec"]["scaleTargetRef"]["name"] == deploy.inputs["metadata"]["name"]
    assert len(by_type(result, "PodDisruptionBudget")) == 1


def test_single_replica_service_has_no_pdb_and_fixed_replicas():
    result = run(lambda: GoService("api", {"image": IMAGE, "replicas": 1, "autoscaling": {"enabled": False}}))
    (deploy,) = by_type(result, "apps/v1:Deployment")
    assert deploy.inputs["spec"]["replicas"] == 1
    assert by_type(result, "PodDisruptionBudget") == [] and by_type(result, "HorizontalPodAutoscaler") == []


def test_go_service_accepts_an_output_image_and_places_it_in_the_pod():
    result = run(lambda: GoService("api", {"image": pulumi.Output.from_input("r.example.com/api@sha256:" + "a" * 64)}))
    (deploy,) = by_type(result, "apps/v1:Deployment")
    assert deploy.inputs["spec"]["template"]["spec"]["containers"][0]["image"] == "r.example.com/api@sha256:" + "a" * 64


def test_go_service_outputs():
    seen = {}

    def program():
        svc = GoService("api", {"image": IMAGE, "namespace": "team-api"})
        pulumi.Output.all(svc.url, svc.pprof_port_forward, svc.deployment_name).apply(lambda v: seen.update(zip(("url", "pprof", "name"), v)))

    run(program)
    assert seen == {
        "url": "http://api.team-api.svc.cluster.local",
        "pprof": "kubectl -n team-api port-forward deploy/api 6060:6060",
        "name": "api",
    }


def test_bad_args_register_nothing():
    result = run(lambda: GoService("api", {"image": IMAGE, "autoscaling": {"min_replicas": 5, "max_replicas": 2}}), raise_errors=False)
    assert isinstance(result.error, ConfigError) and "autoscaling.max_replicas" in str(result.error)
    assert result.registrations == []


def test_bad_args_leave_no_partial_component():
    def program():
        GoService("ok", {"image": IMAGE})
        GoService("api", {"image": IMAGE, "replicas": 0})

    result = run(program, raise_errors=False)
    assert isinstance(result.error, ConfigError) and "GoService 'api': replicas" in str(result.error)
    assert result.registrations, "the valid component before it did register"
    assert not [r for r in result.registrations if r.name.startswith("api")]


def test_go_image_generates_builds_and_exposes_the_dockerfile(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    context = str(ROOT / "app")
    result = run(lambda: GoImage("api", {"context": context, "repository": "r.example.com/api", "tag": "1.0.0", "push": True, "platform": "linux/arm64"}))
    (component,) = by_type(result, "gosvc:index:GoImage")
    (image,) = by_type(result, "docker:index/image:Image")
    assert image.parent == component.urn
    assert component.inputs["generated"] is True and component.inputs["runtime"] == "distroless"
    assert "go build -trimpath" in component.inputs["dockerfile"]
    assert image.inputs["imageName"] == "r.example.com/api:1.0.0"
    assert image.inputs["skipPush"] is False
    build = image.inputs["build"]
    assert build["platform"] == "linux/arm64" and build["context"] == context
    assert build["args"]["VERSION"] == "1.0.0"
    written = tmp_path / build["dockerfile"]
    assert written.read_text() == component.inputs["dockerfile"]
    assert "GOARCH=${TARGETARCH}" in written.read_text() and "ARG TARGETARCH=arm64" in written.read_text()


def test_go_image_ref_is_the_digest_when_pushed_and_the_tag_otherwise(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    refs = {}

    def program():
        for push in (True, False):
            img = GoImage(f"api-{push}", {"context": str(ROOT / "app"), "repository": "r.example.com/api", "tag": "1.0.0", "push": push})
            img.image_ref.apply(lambda ref, push=push: refs.__setitem__(push, ref))

    run(program)
    assert refs[False] == "r.example.com/api:1.0.0"
    assert refs[True].startswith("r.example.com/api@sha256:")


def test_go_image_with_your_own_dockerfile(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    own = tmp_path / "Dockerfile.custom"
    own.write_text("FROM scratch\n")
    result = run(lambda: GoImage("api", {"context": str(tmp_path), "repository": "r.example.com/api", "tag": "1.0.0", "dockerfile": str(own)}))
    (component,) = by_type(result, "GoImage")
    assert component.inputs["generated"] is False and component.inputs["dockerfile"] == "FROM scratch\n"
    (image,) = by_type(result, "docker:index/image:Image")
    assert image.inputs["build"]["dockerfile"] == str(own)


def test_go_image_bad_context_registers_nothing(tmp_path):
    with pytest.raises(ConfigError, match=r"GoImage 'api': context: .*go.mod"):
        run(lambda: GoImage("api", {"context": str(tmp_path), "repository": "r.example.com/api", "tag": "1.0.0"}))


def test_go_image_warns_when_the_context_has_no_dockerignore(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    context = tmp_path / "svc"
    context.mkdir()
    (context / "go.mod").write_text("module example.com/svc\n\ngo 1.24.0\n")
    args = {"context": str(context), "repository": "r.example.com/svc", "tag": "1.0.0"}
    result = run(lambda: GoImage("svc", args))
    (warning,) = [w for w in result.warnings() if ".dockerignore" in w]
    assert "GoImage 'svc'" in warning
    (context / ".dockerignore").write_text(".git\n")
    assert not [w for w in run(lambda: GoImage("svc", args)).warnings() if ".dockerignore" in w]


@pytest.mark.parametrize("anti_affinity, zone_spread", [("preferred", False), ("required", True)])
def test_registered_deployment_carries_scheduling_probes_and_security(anti_affinity, zone_spread):
    args = {"image": IMAGE, "scheduling": {"anti_affinity": anti_affinity, "zone_spread": zone_spread}}
    result = run(lambda: GoService("api", args))
    (deploy,) = by_type(result, "apps/v1:Deployment")
    pod = deploy.inputs["spec"]["template"]["spec"]
    anti = pod["affinity"]["podAntiAffinity"]
    if anti_affinity == "required":
        assert anti["requiredDuringSchedulingIgnoredDuringExecution"][0]["topologyKey"] == "kubernetes.io/hostname"
    else:
        assert anti["preferredDuringSchedulingIgnoredDuringExecution"][0]["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    assert ("topologySpreadConstraints" in pod) is zone_spread
    (app,) = pod["containers"]
    assert app["readinessProbe"]["httpGet"]["path"] != app["livenessProbe"]["httpGet"]["path"]
    assert app["securityContext"]["readOnlyRootFilesystem"] is True
    assert app["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    assert isinstance(pod["terminationGracePeriodSeconds"], int)  # the engine's floats are turned back into ints
