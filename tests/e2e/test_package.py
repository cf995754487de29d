"""gosvc as a Pulumi package under the real engine: the schema its provider serves, a YAML program
that uses it against the local cluster, a TypeScript SDK the CLI generates, and the token rename.

The YAML program and the SDK reach the components the way other languages do: through the
`gosvc` provider (provider/bin/pulumi-resource-gosvc, ambient on the engine's PATH).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from unittest import mock

import kubernetes
import pulumi
import pulumi_kubernetes as k8s
import pytest
from pulumi import automation as auto

from components import ServiceMonitoring, tokens
from components.observability import component as observability
from tests.conftest import ROOT
from tools.e2e import existing_secrets
from tools.e2e.engine import REPLACE_OPS
from tools.e2e.overlay import e2e_config

pytestmark = pytest.mark.e2e

HERE = Path(__file__).resolve().parent
YAML_PROGRAM = HERE / "yaml_program"
YAML_LOGGING = HERE / "yaml_logging"
TYPESCRIPT = HERE / "typescript"
YAML_NAMESPACE = "team-yaml"
NPM_TIMEOUT = 600


@pytest.fixture(scope="module")
def yaml_stack(engine):
    return engine.program_stack("dev", YAML_PROGRAM)


@pytest.fixture(scope="module")
def entry(report):
    return report.data.setdefault("yaml_program", {})


def test_the_provider_serves_the_committed_schema(engine, entry):
    """The CLI reads the schema from the running provider and from provider/schema.json; both bind to the same package."""
    served = engine.cli("package", "get-schema", str(ROOT / "provider" / "bin" / "pulumi-resource-gosvc"))
    committed = engine.cli("package", "get-schema", str(ROOT / "provider" / "schema.json"))
    assert served.returncode == 0, served.stderr
    assert committed.returncode == 0, committed.stderr
    served_schema, committed_schema = json.loads(served.stdout), json.loads(committed.stdout)
    entry["schema"] = {"served_equals_committed": served_schema == committed_schema, "resources": sorted(served_schema["resources"])}
    assert served_schema == committed_schema
    assert sorted(served_schema["resources"]) == sorted(f"gosvc:index:{n}" for n in ("GoImage", "GoService", "LoggingPipeline", "PrometheusStack", "ServiceMonitoring"))


def test_yaml_program_goes_up_under_the_policy_pack(engine, cluster, yaml_stack, entry):
    op = yaml_stack.up()
    entry.update(up="succeeded" if op.succeeded else "failed", up_seconds=op.seconds, created=op.summary.get("create", 0),
                 policy_violations=[v.to_json() for v in op.violations])
    assert op.succeeded, op.error[-4000:]
    assert not [v for v in op.violations if v.level == "mandatory"]
    outputs = {k: v.value for k, v in yaml_stack.stack.outputs().items()}
    entry["outputs"] = outputs
    assert outputs["namespace"] == YAML_NAMESPACE
    assert outputs["url"] == f"http://hello.{YAML_NAMESPACE}.svc.cluster.local"
    assert "GoServiceHpaMaxedOut" in outputs["alerts"]

    state = yaml_stack.stack.export_stack().deployment["resources"]
    (service,) = [r for r in state if r["type"] == tokens.GO_SERVICE]
    children = [r for r in state if r.get("parent") == service["urn"]]
    assert {r["type"] for r in children} >= {"kubernetes:apps/v1:Deployment", "kubernetes:autoscaling/v2:HorizontalPodAutoscaler", "kubernetes:networking.k8s.io/v1:NetworkPolicy"}
    (namespace,) = [r for r in state if r["type"] == "kubernetes:core/v1:Namespace"]
    assert all(namespace["urn"] in r.get("dependencies", []) for r in children), "the objects wait for the Namespace whose name they take"
    entry["resources"] = len([r for r in state if not r["type"].startswith("pulumi:")])

    apps = kubernetes.client.AppsV1Api(cluster.api())
    deployment = apps.read_namespaced_deployment("hello", YAML_NAMESPACE)
    env = {e.name: e.value for e in deployment.spec.template.spec.containers[0].env}
    assert env["GREETING_TEAM"] == YAML_NAMESPACE, "an Output env value reached the pod template"
    assert deployment.spec.template.spec.containers[0].resources.requests == {"cpu": "100m", "memory": "96Mi"}
    monitors = kubernetes.client.CustomObjectsApi(cluster.api()).list_namespaced_custom_object("monitoring.coreos.com", "v1", YAML_NAMESPACE, "servicemonitors")
    assert [m["spec"]["namespaceSelector"] for m in monitors["items"]] == [{"matchNames": [YAML_NAMESPACE]}]


def test_yaml_program_preview_right_after_up_shows_no_changes(yaml_stack, entry):
    op = yaml_stack.preview()
    entry["changes_after_up"] = op.changes
    assert op.succeeded, op.error[-4000:]
    assert op.changes == 0, op.changed_steps


def test_yaml_program_destroy_removes_everything(cluster, yaml_stack, entry):
    op = yaml_stack.destroy()
    entry["destroyed"] = op.succeeded
    assert op.succeeded, op.error[-4000:]
    assert [r for r in yaml_stack.stack.export_stack().deployment.get("resources", []) if not r["type"].startswith("pulumi:")] == []
    namespace = kubernetes.client.CoreV1Api(cluster.api()).list_namespace(field_selector=f"metadata.name={YAML_NAMESPACE}").items
    assert namespace == [] or namespace[0].status.phase == "Terminating"
    yaml_stack.remove()


def test_the_cli_generates_a_typescript_sdk_that_types_inputs_as_the_schema_says(engine, tmp_path, report):
    """`pulumi package gen-sdk` writes the Node.js SDK; tsc accepts a program passing Outputs where the schema allows them
    and refuses an Output for `replicas`, which the schema marks plain."""
    project = tmp_path / "typescript"
    shutil.copytree(TYPESCRIPT, project)
    generated = engine.cli("package", "gen-sdk", str(ROOT / "provider" / "schema.json"), "--language", "nodejs", "--out", str(project / "sdk"))
    assert generated.returncode == 0, generated.stdout + generated.stderr
    sdk = project / "sdk" / "nodejs"
    assert {"goService.ts", "serviceMonitoring.ts", "index.ts", "package.json"} <= {p.name for p in sdk.iterdir()}
    assert json.loads((sdk / "package.json").read_text())["name"] == "@pulumi/gosvc"

    npm = subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=project, capture_output=True, text=True, timeout=NPM_TIMEOUT)
    assert npm.returncode == 0, npm.stdout + npm.stderr
    tsc = project / "node_modules" / ".bin" / "tsc"
    accepted = subprocess.run([str(tsc), "-p", "tsconfig.json"], cwd=project, capture_output=True, text=True, timeout=NPM_TIMEOUT)
    refused = subprocess.run([str(tsc), "-p", "tsconfig.refused.json"], cwd=project, capture_output=True, text=True, timeout=NPM_TIMEOUT)
    report.data["typescript_sdk"] = {
        "generated_files": sorted(str(p.relative_to(sdk)) for p in sdk.rglob("*.ts")),
        "program_type_checks": accepted.returncode == 0,
        "output_for_plain_replicas": refused.stdout.strip(),
    }
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    assert refused.returncode != 0
    assert "replicas-output.ts" in refused.stdout and "TS2322" in refused.stdout and "not assignable to type 'number'" in refused.stdout


def test_a_stack_deployed_under_the_former_token_updates_without_replacing_anything(engine, cluster, report):
    """A release before the one-scheme change registered ServiceMonitoring as gosvc:observability:*; the alias carries its state over."""
    namespace = "team-alias"

    def release(former: bool):
        def program():
            ns = k8s.core.v1.Namespace("team", metadata={"name": namespace})
            args = {"service_name": "hello", "namespace": namespace}
            opts = pulumi.ResourceOptions(depends_on=[ns])
            if former:
                with mock.patch.object(observability, "SERVICE_TYPE", tokens.FORMER[tokens.SERVICE_MONITORING]), mock.patch.dict(tokens.FORMER, clear=True):
                    ServiceMonitoring("hello-monitoring", args, opts)
            else:
                ServiceMonitoring("hello-monitoring", args, opts)

        return program

    old = engine.stack("rename", {}, program=release(former=True))
    first = old.up(policy=False)
    assert first.succeeded, first.error[-4000:]
    assert tokens.FORMER[tokens.SERVICE_MONITORING] in {t for _, t, _ in first.steps}
    new = old
    new.program.program = release(former=False)  # the next release of the same program, on the same stack
    second = new.up(policy=False)
    report.data["token_rename"] = {"from": tokens.FORMER[tokens.SERVICE_MONITORING], "to": tokens.SERVICE_MONITORING,
                                   "steps": sorted({f"{op} {t}" for op, t, _ in second.steps}), "summary": second.summary}
    assert second.succeeded, second.error[-4000:]
    assert not [s for s in second.steps if s[0] in (*REPLACE_OPS, "create", "delete")], second.steps
    state_types = {r["type"] for r in new.stack.export_stack().deployment["resources"]}
    assert tokens.SERVICE_MONITORING in state_types and tokens.FORMER[tokens.SERVICE_MONITORING] not in state_types
    assert new.destroy().succeeded
    new.remove()


# -- the logging pipeline's change safety, from YAML ---------------------------------------------


def test_yaml_logging_pipeline_grows_volumes_and_refuses_to_shrink_them(engine, cluster, report):
    """Through the provider too, the component reads the stack's state: a larger Kafka volume is patched in
    place, a smaller one is refused with nothing changed."""
    existing_secrets.create(cluster.api(), e2e_config("dev", loggingNamespace="logging-yaml"))
    under = engine.program_stack("dev", YAML_LOGGING, pack_config="dev")
    entry = report.data.setdefault("yaml_logging", {})
    up = under.up()
    entry.update(up="succeeded" if up.succeeded else "failed", created=up.summary.get("create", 0))
    assert up.succeeded, up.error[-4000:]
    assert under.stack.outputs()["elasticPasswordSecret"].value == "byo-elastic"

    def apply(size: str):
        under.stack.set_config("gosvc-yaml-logging:kafkaStorage", auto.ConfigValue(size))
        return under.up()

    grown = apply("8Gi")
    grown_steps = grown.changed_steps
    claim = kubernetes.client.CoreV1Api(cluster.api()).read_namespaced_persistent_volume_claim("data-kafka-0", "logging-yaml")
    shrunk = apply("4Gi")
    shrunk_steps = shrunk.changed_steps
    entry.update(grown=grown_steps, claim_after_grow=claim.spec.resources.requests["storage"], shrink_refused=not shrunk.succeeded, shrink_steps=shrunk_steps)
    assert grown.succeeded, grown.error[-4000:]
    assert grown_steps == [("create", "kubernetes:core/v1:PersistentVolumeClaimPatch")]
    assert claim.spec.resources.requests["storage"] == "8Gi"
    assert not shrunk.succeeded and shrunk_steps == []
    assert "kafka.storage: invalid value '4Gi'" in shrunk.error and "cannot shrink" in shrunk.error
    apply("8Gi")
    destroyed = under.destroy()
    entry["destroyed"] = destroyed.succeeded
    assert destroyed.succeeded, destroyed.error[-4000:]
    under.remove()
