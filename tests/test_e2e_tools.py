"""The real-engine tier's own logic, offline: pins, overlay, read-back comparison, event accounting, PKI, launcher."""

from __future__ import annotations

import json
import re
import runpy
import shutil
import signal
import subprocess

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from pulumi.automation import events

from stacks import config as stack_config
from tools.offline import engine
from tests.conftest import ROOT, STACKS
from components.logging import secrets as logging_secrets
from tools.e2e import build, cluster, existing_secrets, overlay, pki, readback
from tools.e2e.engine import Operation, Watchdog, cli_children, write_policy_launcher

# -- pins ----------------------------------------------------------------------------------------


def test_every_tool_is_pinned_in_a_go_mod():
    versions = build.pinned_versions()
    assert set(versions) == {"pulumi", "pulumi-yaml", "kubernetes", "etcd", "kwok", "pulumi-kubernetes", "pulumi-kubernetes-source", "prometheus-operator"}
    for name, version in versions.items():
        assert re.match(r"^v\d+\.\d+\.\d+", version), (name, version)
    # kube-prometheus-stack 88.x (pinned in components/observability/charts.py) runs operator 0.93
    assert versions["prometheus-operator"].startswith("v0.93.")


def test_kubernetes_staging_replaces_follow_the_kubernetes_version():
    """k8s.io/kubernetes builds only with each staging module at its own release: v1.X.Y <-> v0.X.Y."""
    parsed = build.required("kube")
    minor_patch = parsed[build.KUBERNETES].removeprefix("v1.")
    replaces = build.go_mod("kube")["Replace"]
    assert len(replaces) >= 25
    wrong = [r for r in replaces if r["Old"]["Path"].startswith("k8s.io/") and r["New"].get("Version") != f"v0.{minor_patch}"]
    assert wrong == []


def test_cache_key_changes_with_any_pin(tmp_path, monkeypatch):
    before = build.cache_key()
    copy = tmp_path / "go"
    shutil.copytree(build.GO_DIR, copy)
    monkeypatch.setattr(build, "GO_DIR", copy)
    assert build.cache_key() == before, "the key depends on the files' contents, not their location"
    mod = copy / "kube" / "go.mod"
    mod.write_text(mod.read_text().replace("sigs.k8s.io/kwok v0.8.0", "sigs.k8s.io/kwok v0.7.0"))
    assert build.cache_key() != before


def test_a_missing_tool_set_is_none_and_a_built_one_loads(tmp_path):
    assert build.load(tmp_path / "nothing") is None
    (tmp_path / "set").mkdir()
    (tmp_path / "set" / build.MANIFEST).write_text('{"versions": {"pulumi": "v3.274.1"}}')
    loaded = build.load(tmp_path / "set")
    assert loaded.versions == {"pulumi": "v3.274.1"} and loaded.bin("pulumi") == tmp_path / "set" / "bin" / "pulumi"


# -- the overlay: only what this machine cannot have -----------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_overlay_swaps_only_the_image_the_chart_and_what_logging_needs_here(stack):
    committed = overlay.committed_config(stack)
    config = overlay.e2e_config(stack)
    changed = {k for k in config if config.get(k) != committed.get(k)}
    logging = {f"gosvc:{k}" for k in ("loggingNamespace", "loggingCreateNamespace", "loggingStorageClass", *overlay.EXISTING_SECRETS)}
    if stack == "staging":
        assert changed == {"gosvc:image", "gosvc:prometheusStackEnabled", "gosvc:loggingEnabled"} and not config["gosvc:loggingEnabled"]
    elif committed.get("gosvc:loggingResolveDigests"):  # prod: digests pinned instead of looked up
        assert changed == {"gosvc:image", "gosvc:prometheusStackEnabled", "gosvc:loggingResolveDigests", "gosvc:loggingImageDigests"} | logging
    else:
        assert changed == {"gosvc:image", "gosvc:prometheusStackEnabled"} | logging
    spec = stack_config.load(config).logging
    if spec.enabled:
        assert set(spec.existing_secrets.model_dump().values()) == set(overlay.EXISTING_SECRETS.values()), "every credential is an existing Secret"
    image = config["gosvc:image"]
    if committed.get("gosvc:imagePush"):
        assert image == f"{committed['gosvc:imageRepository']}@{overlay.E2E_DIGEST}"
    else:
        assert image == f"{committed['gosvc:imageRepository']}:{committed['gosvc:imageTag']}"
    assert stack_config.load(config).prebuilt_image == image


@pytest.mark.parametrize("stack", STACKS)
def test_overlay_registers_nothing_this_machine_cannot_run(stack, monkeypatch):
    """No Docker build or registry lookup, no Helm chart, no random or tls provider: the real engine could not serve them."""
    monkeypatch.chdir(ROOT)
    values = {k: v if isinstance(v, str) else json.dumps(v) for k, v in overlay.e2e_config(stack).items()}
    result = engine.run(lambda: runpy.run_path(str(ROOT / "__main__.py")), config=values)
    types = {r.type for r in result.registrations}
    unavailable = {t for t in types if t.startswith(("docker:", "random:", "tls:", "kubernetes:helm.sh"))}
    assert unavailable == set()
    assert result.provider_calls() == [], "no provider function (registry digest lookups) may run"
    assert "kubernetes:apps/v1:Deployment" in types and "kubernetes:monitoring.coreos.com/v1:ServiceMonitor" in types
    without = engine.run(lambda: runpy.run_path(str(ROOT / "__main__.py")), config=engine.stack_config(ROOT, stack))
    assert {r.type for r in without.registrations} & {"docker:index/image:Image", "kubernetes:helm.sh/v3:Release"}, "the committed stack does build and install charts"


@pytest.mark.parametrize("stack", overlay.LOGGING_STACKS)
def test_existing_secrets_hold_the_keys_the_pipeline_reads_and_a_certificate_for_its_names(stack):
    from cryptography import x509

    spec = existing_secrets.logging_spec(overlay.e2e_config(stack))
    manifests = {m["metadata"]["name"]: m for m in existing_secrets.secret_manifests(spec)}
    for credential, keys in logging_secrets.REQUIRED_KEYS.items():
        secret = manifests[getattr(spec.existing_secrets, credential)]
        assert set(secret["stringData"]) == set(keys) and secret["metadata"]["namespace"] == spec.namespace
        assert all(len(v) >= 32 for v in secret["stringData"].values())
    tls = manifests[spec.existing_secrets.certificates]
    assert tls["type"] == "kubernetes.io/tls"
    cert = x509.load_pem_x509_certificate(tls["stringData"]["tls.crt"].encode())
    ca = x509.load_pem_x509_certificate(tls["stringData"]["ca.crt"].encode())
    cert.verify_directly_issued_by(ca)
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
    assert f"elasticsearch.{spec.namespace}.svc" in names and f"*.elasticsearch-headless.{spec.namespace}.svc.cluster.local" in names
    namespaces = {n["metadata"]["name"]: n["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] for n in existing_secrets.namespace_manifests(spec)}
    assert namespaces == {spec.namespace: "restricted", spec.collector_namespace: "privileged"}


def test_the_loop_overlay_pins_every_chart_image_it_runs_to_what_was_built_and_shortens_only_declared_timings():
    from components.observability import images
    from stacks import config as stack_config

    built = {i.reference: f"sha256:{n:064x}" for n, i in enumerate(images.IMAGES) if i.path[0] != "grafana"}
    config = {**overlay.e2e_config("dev"), **overlay.loop_overlay("http://127.0.0.1:1", built)}
    spec = stack_config.load(config).monitoring.stack
    assert spec.grafana is False and spec.resolve_digests is False
    assert images.configured(spec.image_digests) == {i.repository: built[i.reference] for i in images.IMAGES if i.reference in built}
    committed = overlay.committed_config("dev")
    changed = {k for k in config if config[k] != committed.get(k)} - set(overlay.e2e_config("dev")) - {"gosvc:prometheusStackEnabled", "gosvc:helmRepository", "gosvc:grafanaEnabled", "gosvc:monitoringResolveDigests", "gosvc:monitoringImageDigests"}
    assert changed == {f"gosvc:{k}" for k in overlay.LOOP_TIMING}
    assert stack_config.load(config).service.autoscaling.scale_down_stabilization_seconds == overlay.LOOP_TIMING["hpaScaleDownStabilizationSeconds"]
    missing = dict(built)
    missing.pop(images.IMAGES[0].reference)
    with pytest.raises(ValueError, match=images.IMAGES[0].reference):
        overlay.loop_overlay("http://127.0.0.1:1", missing)


def test_overlay_changes_are_stack_keys():
    config = overlay.e2e_config("dev", hpaMinReplicas=3, namespace="gosvc-x")
    assert config["gosvc:hpaMinReplicas"] == 3 and config["gosvc:namespace"] == "gosvc-x"


# -- reading back what the API server holds ------------------------------------------------------


def test_live_object_may_add_defaults_but_not_differ():
    expected = {"spec": {"replicas": 3, "template": {"spec": {"containers": [{"name": "app", "image": "r/a:1"}]}}}}
    live = {"spec": {"replicas": 3, "revisionHistoryLimit": 10, "template": {"spec": {"containers": [{"name": "app", "image": "r/a:1", "imagePullPolicy": "IfNotPresent"}], "dnsPolicy": "ClusterFirst"}}}}
    assert readback.differences(expected, live) == []
    live["spec"]["template"]["spec"]["containers"][0]["image"] = "r/a:2"
    assert readback.differences(expected, live) == [".spec.template.spec.containers[0].image: expected 'r/a:1', found 'r/a:2'"]
    del live["spec"]["replicas"]
    assert ".spec.replicas: missing (expected 3)" in readback.differences(expected, live)


def test_quantities_compare_by_amount_only_where_they_are_quantities():
    expected = {"resources": {"requests": {"cpu": "0.5", "memory": "1024Mi"}}, "version": "1.0"}
    assert readback.differences(expected, {"resources": {"requests": {"cpu": "500m", "memory": "1Gi"}}, "version": "1.0"}) == []
    assert readback.differences(expected, {"resources": {"requests": {"cpu": "600m", "memory": "1Gi"}}, "version": "1.0"}) != []
    assert readback.differences(expected, {"resources": {"requests": {"cpu": "500m", "memory": "1Gi"}}, "version": "1"}) == [".version: expected '1.0', found '1'"]


def test_lists_must_match_in_length_and_order():
    assert readback.differences({"args": ["a", "b"]}, {"args": ["a"]}) == [".args: expected 2 items, found ['a']"]
    assert readback.differences({"args": ["a", "b"]}, {"args": ["b", "a"]}) != []


# -- what the engine reported ----------------------------------------------------------------------


def _step(op: str, type_: str, name: str) -> events.EngineEvent:
    meta = events.StepEventMetadata(op=events.OpType(op), urn=f"urn:pulumi:s::gosvc::{type_}::{name}", type=type_, provider="")
    return events.EngineEvent(sequence=0, timestamp=0, resource_pre_event=events.ResourcePreEvent(meta))


def test_operation_counts_changes_and_names_replaced_types():
    op = Operation("up")
    for event in (
        _step("same", "kubernetes:core/v1:Service", "svc"),
        _step("update", "kubernetes:apps/v1:Deployment", "deploy"),
        _step("replace", "kubernetes:apps/v1:StatefulSet", "kafka"),
        _step("create-replacement", "kubernetes:apps/v1:StatefulSet", "kafka"),
    ):
        op.record(event)
    op.record(events.EngineEvent(sequence=1, timestamp=0, summary_event=events.SummaryEvent(False, 1, {events.OpType.SAME: 1, events.OpType.UPDATE: 1, events.OpType.REPLACE: 1}, {})))
    op.record(events.EngineEvent(sequence=2, timestamp=0, policy_event=events.PolicyEvent("msg\n", "", "image-digest-pinned", "gosvc", "0.1.0", "", "advisory", "urn:x")))
    assert op.changes == 2
    assert op.replaced_types == ["kubernetes:apps/v1:StatefulSet"]
    assert op.updated_types == ["kubernetes:apps/v1:Deployment"]
    assert [(v.policy, v.level, v.message) for v in op.violations] == [("image-digest-pinned", "advisory", "msg")]


def test_policy_launcher_runs_the_pack_in_its_directory_with_the_engine_address(tmp_path):
    fake_python = tmp_path / "python"
    fake_python.write_text('#!/bin/sh\necho "$(pwd) $*"\n')
    fake_python.chmod(0o755)
    pack = tmp_path / "pack"
    pack.mkdir()
    launcher = write_policy_launcher(tmp_path / "launcher", pack, str(fake_python))
    out = subprocess.run([str(launcher), "127.0.0.1:4242"], capture_output=True, text=True, check=True).stdout.strip()
    assert out == f"{pack} -u -m pulumi.policy 127.0.0.1:4242 ."


# -- the cluster's own pieces ------------------------------------------------------------------------


def test_fake_nodes_carry_hostname_zone_and_allocatable():
    node = cluster.node_manifest(cluster.NodeSpec("n1", "zone-x", cpu="2", memory="8Gi", pods="50"))
    assert node["metadata"]["labels"][cluster.HOSTNAME_LABEL] == "n1"
    assert node["metadata"]["labels"][cluster.ZONE_LABEL] == "zone-x"
    assert node["metadata"]["annotations"][cluster.FAKE_NODE_ANNOTATION[0]] == cluster.FAKE_NODE_ANNOTATION[1]
    assert node["status"]["allocatable"] == {"cpu": "2", "memory": "8Gi", "pods": "50", "ephemeral-storage": "100Gi"}
    assert {n.zone for n in cluster.DEFAULT_NODES} == {"zone-a", "zone-b", "zone-c"}


def test_pki_serving_cert_is_signed_by_the_ca_for_every_name_the_clients_use(tmp_path):
    made = pki.generate(tmp_path, "10.96.0.1")
    ca = x509.load_pem_x509_certificate(made.ca_cert.read_bytes())
    serving = x509.load_pem_x509_certificate(made.serving_cert.read_bytes())
    serving.verify_directly_issued_by(ca)
    sans = serving.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {str(ip) for ip in sans.get_values_for_type(x509.IPAddress)} == {"127.0.0.1", "10.96.0.1"}
    assert "kubernetes.default.svc" in sans.get_values_for_type(x509.DNSName)
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    assert isinstance(load_pem_private_key(made.service_account_key.read_bytes(), None), rsa.RSAPrivateKey)
    assert all(oct(p.stat().st_mode)[-3:] == "600" for p in tmp_path.iterdir())


def test_pki_front_proxy_client_is_signed_by_a_ca_of_its_own_under_the_name_the_api_server_allows(tmp_path):
    made = pki.generate(tmp_path, "10.96.0.1")
    proxy_ca = x509.load_pem_x509_certificate(made.front_proxy_ca.read_bytes())
    client = x509.load_pem_x509_certificate(made.front_proxy_client_cert.read_bytes())
    client.verify_directly_issued_by(proxy_ca)
    assert client.subject.get_attributes_for_oid(x509.oid.NameOID.COMMON_NAME)[0].value == pki.FRONT_PROXY_CLIENT
    assert x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH in client.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    cluster_ca = x509.load_pem_x509_certificate(made.ca_cert.read_bytes())
    assert proxy_ca.subject != cluster_ca.subject, "a client cert of the cluster's CA must not pass as the front proxy"


def test_watchdog_interrupts_a_stuck_cli_and_says_so(tmp_path):
    stuck = tmp_path / "pulumi"
    shutil.copyfile(shutil.which("sleep"), stuck)
    stuck.chmod(0o755)
    # Ctrl-C's default action, as the Go CLI installs it even where a shell started CI with SIGINT ignored
    process = subprocess.Popen([str(stuck), "60"], preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        assert cli_children(stuck) == [process.pid]
        op = Operation("up")
        with Watchdog(stuck, 0.2, op):
            returncode = process.wait(timeout=10)
        assert returncode == -signal.SIGINT and op.timed_out
    finally:
        process.kill()
    assert cli_children(stuck) == []
    quick = Operation("preview")
    with Watchdog(stuck, 5, quick):
        pass
    assert not quick.timed_out
