"""LoggingPipeline under Pulumi's mock engine, and the dev/prod synth output of the real program.

Covers the composition (parts as child components, ordering), the secrets (generated,
kept secret in state, referenced by secretKeyRef only), the security posture of every
container, kubernetes-validate --strict on the logging objects, and the no-loss settings
followed end to end through the synthesized files.
"""

import asyncio
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tools.offline.engine import SECRET, run
from components.errors import ConfigError
from components.logging import LoggingPipeline, durability
from policies.rules import EXEMPT_PREFIX as EXEMPT
from policies.rules.log_pipeline import kafka_properties, topic_settings

CLI = Path(sys.executable).parent / "kubernetes-validate"
WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet", "Job")
SECRETISH = re.compile(r"PASSWORD|SECRET|TOKEN|KEY", re.I)


def resolved(awaitable):
    """Awaits an already-settled Output property on a private loop, leaving Pulumi's own loop in place."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(awaitable)
    finally:
        loop.close()


def by_type(result, suffix):
    return [r for r in result.registrations if r.type.endswith(suffix)]


@pytest.fixture(scope="module")
def prod_run():
    box = {}

    def program():
        box["pipeline"] = LoggingPipeline("logging", {})

    result = run(program)
    return result, box["pipeline"]


def test_parts_are_child_components_of_the_pipeline(prod_run):
    result, _ = prod_run
    (pipeline,) = by_type(result, "gosvc:index:LoggingPipeline")
    parts = {r.type: r for r in result.registrations if r.parent == pipeline.urn and not r.custom}
    assert set(parts) == {f"gosvc:index:{p}" for p in ("Filebeat", "Kafka", "Logstash", "Elasticsearch", "Kibana", "LoggingNetworkPolicies")}
    assert all(p.parent == pipeline.urn for p in parts.values())
    part_urns = {p.urn for p in parts.values()}
    kube = [r for r in result.registrations if r.type.startswith("kubernetes:") and r.inputs.get("kind") != "Namespace"]
    assert kube and all(r.parent in part_urns for r in kube)
    namespaces = [r for r in result.registrations if r.inputs.get("kind") == "Namespace"]
    assert len(namespaces) == 2
    assert all(ns.urn in r.dependencies for r in kube for ns in namespaces), "every object waits for the namespaces"


def test_workloads_wait_for_what_they_need(prod_run):
    result, _ = prod_run
    urn = {r.name: r.urn for r in result.registrations}
    deps = {r.name: set(r.dependencies) for r in result.registrations}
    assert {urn["logging-kafka-topic-job"], urn["logging-elasticsearch-setup-job"]} <= deps["logging-logstash-stateful-set"]
    assert urn["logging-elasticsearch-setup-job"] in deps["logging-kibana-deployment"]
    assert urn["logging-kafka-topic-job"] in deps["logging-filebeat-daemon-set"]
    assert urn["logging-kafka-stateful-set"] in deps["logging-kafka-topic-job"]
    assert urn["logging-elasticsearch-stateful-set"] in deps["logging-elasticsearch-setup-job"]
    assert urn["logging-elasticsearch-certs-secret"] in deps["logging-elasticsearch-stateful-set"]


def test_passwords_are_generated_and_every_secret_is_secret_in_state(prod_run):
    result, pipeline = prod_run
    passwords = by_type(result, "random:index/randomPassword:RandomPassword")
    assert len(passwords) == 5 and all(p.inputs["length"] >= 32 and p.inputs["special"] is False for p in passwords)
    assert len(by_type(result, "tls:index/locallySignedCert:LocallySignedCert")) == 1
    secrets = [r for r in result.registrations if r.inputs.get("kind") == "Secret"]
    assert {s.inputs["metadata"]["name"] for s in secrets} >= {"elasticsearch-elastic", "kibana-elasticsearch", "logstash-elasticsearch", "elasticsearch-certs"}
    for s in secrets:
        assert "stringData" in s.secret_paths, s.name
        assert set(s.inputs["stringData"].values()) == {SECRET}, s.name
    assert resolved(pipeline.elastic_password.is_secret()) is True
    assert resolved(pipeline.kafka_topic.is_secret()) is False


def test_no_container_gets_a_secret_as_a_literal_value(prod_run):
    result, _ = prod_run
    refs, files = set(), set()
    for reg in result.registrations:
        if reg.inputs.get("kind") not in WORKLOADS:
            continue
        pod = reg.inputs["spec"]["template"]["spec"]
        for c in pod.get("initContainers", []) + pod["containers"]:
            for env in c.get("env", []):
                if env["name"].endswith("_FILE"):  # a path; the file must come from a Secret volume
                    mount = next(m for m in c["volumeMounts"] if env["value"].startswith(m["mountPath"] + "/"))
                    volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
                    files.add(volume["secret"]["secretName"])
                elif SECRETISH.search(env["name"]):
                    assert "value" not in env, f"{reg.name}/{c['name']}: {env['name']}"
                    refs.add(env["valueFrom"]["secretKeyRef"]["name"])
    assert refs == {"kibana-elasticsearch", "logstash-elasticsearch", "kibana-encryption-keys"}
    assert files == {"elasticsearch-elastic"}


def test_outputs_and_an_existing_namespace():
    def program():
        import pulumi

        pipeline = LoggingPipeline("logging", {"create_namespace": False, "namespace": "observability"})
        pulumi.export("es", pipeline.elasticsearch_url)
        pulumi.export("kafka", pipeline.kafka_bootstrap_servers)

    result = run(program)
    assert result.outputs["es"] == "https://elasticsearch.observability.svc.cluster.local:9200"
    assert result.outputs["kafka"].split(",")[0] == "kafka-0.kafka-headless.observability.svc.cluster.local:9092"
    assert [r for r in result.registrations if r.inputs.get("kind") == "Namespace"] == []
    namespaced = [r for r in result.registrations if r.type.startswith("kubernetes:") and "namespace" in r.inputs.get("metadata", {})]
    assert namespaced and {r.inputs["metadata"]["namespace"] for r in namespaced} == {"observability", "observability-filebeat"}


def test_bad_input_registers_nothing():
    seen = []

    def program():
        try:
            LoggingPipeline("logging", {"kafka": {"brokers": 1}})
        except ConfigError as err:
            seen.append(err)

    result = run(program)
    (err,) = seen
    assert err.key == "LoggingPipeline 'logging': kafka.replication_factor"
    assert result.registrations == []


def test_waste_is_logged_as_a_warning_on_the_component():
    box = {}

    def program():
        box["p"] = LoggingPipeline("logging", {"logstash": {"replicas": 4, "consumer_threads": 3}})

    run(program)
    assert any("sit idle" in w for w in box["p"].warnings)


# --- Synthesized stacks ------------------------------------------------------------------------


def logging_objects(synth, stack):
    return [o for o in synth(stack).objects() if (o.get("metadata") or {}).get("labels", {}).get("app.kubernetes.io/instance") == "logging"]


def logging_files(synth, stack):
    out = synth(stack).out / "k8s"
    return sorted(str(p) for p in out.glob("*.yaml") if "instance: logging" in p.read_text())


def one(objects, kind, name):
    (found,) = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    return found


@pytest.mark.parametrize("version", ["1.33.0", "1.37.0"])
@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_synthesized_logging_objects_pass_strict_validation(synth, stack, version):
    files = logging_files(synth, stack)
    assert len(files) >= 40
    proc = subprocess.run([str(CLI), "--strict", "-k", version, *files], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count(" passed for resource ") == len(files)


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_part_is_labelled_for_the_policies(synth, stack):
    objects = logging_objects(synth, stack)
    names = {o["metadata"]["labels"]["app.kubernetes.io/name"] for o in objects if o["kind"] in WORKLOADS}
    assert names == {"filebeat", "kafka", "logstash", "elasticsearch", "kibana"}
    assert all(o["metadata"]["labels"]["app.kubernetes.io/part-of"] == "gosvc" for o in objects)


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_no_loss_settings_hold_end_to_end(synth, stack):
    """Filebeat acks=all with a host registry -> Kafka RF/ISR on broker and topic -> Logstash persisted queue on a PVC -> ES replicas."""
    objects = logging_objects(synth, stack)
    prod = stack == "prod"
    # Filebeat: wait for every in-sync replica; offsets survive restarts on the node.
    fb_conf = yaml.safe_load(one(objects, "ConfigMap", "filebeat")["data"]["filebeat.yml"])
    assert fb_conf["output.kafka"]["required_acks"] == -1
    ds = one(objects, "DaemonSet", "filebeat")
    registry = [v for v in ds["spec"]["template"]["spec"]["volumes"] if v["name"] == "registry"][0]
    assert registry["hostPath"]["type"] == "DirectoryOrCreate"
    assert fb_conf["path.data"] in [m["mountPath"] for m in ds["spec"]["template"]["spec"]["containers"][0]["volumeMounts"] if m["name"] == "registry"]
    # Kafka: replication and ISR in server.properties and on the topic.
    # Read as the policy pack reads any program's Kafka, and judged by the rules the component and the pack share.
    props = kafka_properties(one(objects, "ConfigMap", "kafka")["data"]["server.properties"])
    rf, isr = int(props["default.replication.factor"]), int(props["min.insync.replicas"])
    assert (rf, isr) == ((3, 2) if prod else (1, 1))
    brokers = one(objects, "StatefulSet", "kafka")["spec"]["replicas"]
    problems = [
        durability.unclean_election_problem(props["unclean.leader.election.enable"]),
        durability.replication_problem(rf, brokers),
        durability.min_insync_problem(isr, rf),
        durability.min_insync_problem(int(props["transaction.state.log.min.isr"]), int(props["transaction.state.log.replication.factor"])),
    ]
    assert problems == [None] * len(problems)
    topic = topic_settings(" ".join(one(objects, "Job", "kafka-create-topic")["spec"]["template"]["spec"]["containers"][0]["command"]))
    assert topic == (rf, isr), "the topic is created with the brokers' defaults"
    # Logstash: persisted queue on each replica's claim.
    ls_data = one(objects, "ConfigMap", "logstash")["data"]
    assert yaml.safe_load(ls_data["logstash.yml"])["queue.type"] == "persisted"
    assert yaml.safe_load(ls_data["pipelines.yml"])[0]["queue.type"] == "persisted"
    ls = one(objects, "StatefulSet", "logstash")
    assert [c["metadata"]["name"] for c in ls["spec"]["volumeClaimTemplates"]] == ["data"]
    # Elasticsearch: replicas in prod, single node in dev.
    es_conf = yaml.safe_load(one(objects, "ConfigMap", "elasticsearch")["data"]["elasticsearch.yml"])
    setup = one(objects, "ConfigMap", "elasticsearch-setup")["data"]
    replicas = yaml.safe_load(setup["index-settings.json"])["template"]["settings"]["index"]["number_of_replicas"]
    if prod:
        assert one(objects, "StatefulSet", "elasticsearch")["spec"]["replicas"] == 3 and replicas >= 1
        bootstrap = yaml.safe_load(one(objects, "ConfigMap", "elasticsearch")["data"]["bootstrap.yml"])
        assert len(bootstrap["cluster.initial_master_nodes"]) == 3 and "cluster.initial_master_nodes" not in es_conf
    else:
        bootstrap = yaml.safe_load(one(objects, "ConfigMap", "elasticsearch")["data"]["bootstrap.yml"])
        assert bootstrap["cluster.initial_master_nodes"] == ["elasticsearch-0"] and "discovery.type" not in es_conf and replicas == 0


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_container_is_restricted_unless_its_workload_says_why(synth, stack):
    objects = logging_objects(synth, stack)
    for o in objects:
        if o["kind"] not in WORKLOADS:
            continue
        annotations = o["metadata"].get("annotations", {})
        exempt = {k[len(EXEMPT) :] for k, v in annotations.items() if k.startswith(EXEMPT) and v.strip()}
        pod = o["spec"]["template"]["spec"]
        assert pod["automountServiceAccountToken"] is False, o["metadata"]["name"]
        for c in pod.get("initContainers", []) + pod["containers"]:
            ctx, where = c["securityContext"], f"{o['metadata']['name']}/{c['name']}"
            assert ctx["readOnlyRootFilesystem"] is True and ctx["capabilities"]["drop"] == ["ALL"], where
            assert ctx["seccompProfile"] == {"type": "RuntimeDefault"}, where
            assert ctx.get("allowPrivilegeEscalation") is False or "no-privilege-escalation" in exempt, where
            assert ctx.get("privileged") is not True or "no-privileged" in exempt, where
            uid = ctx.get("runAsUser", pod["securityContext"].get("runAsUser"))
            assert (ctx.get("runAsNonRoot", pod["securityContext"].get("runAsNonRoot")) and uid >= 10000) or "run-as-non-root" in exempt, where
            assert c["resources"]["requests"]["memory"] and c["resources"]["limits"]["memory"], where
            assert ":" in c["image"] and not c["image"].endswith(":latest"), where
        if o["kind"] != "Job":
            main = pod["containers"][0]
            assert main["readinessProbe"] != main["livenessProbe"], o["metadata"]["name"]
        if any("hostPath" in v for v in pod.get("volumes", [])):
            assert "no-host-path" in exempt, o["metadata"]["name"]
    exempted = {o["metadata"]["name"] for o in objects if o["kind"] in WORKLOADS and any(k.startswith(EXEMPT) for k in o["metadata"].get("annotations", {}))}
    assert exempted <= {"filebeat", "elasticsearch-node-tuning"}


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_workload_has_a_pdb_and_a_network_policy(synth, stack):
    objects = logging_objects(synth, stack)
    pdbs = [o["spec"]["selector"]["matchLabels"] for o in objects if o["kind"] == "PodDisruptionBudget"]
    policies = [o["spec"]["podSelector"].get("matchLabels", {}) for o in objects if o["kind"] == "NetworkPolicy"]
    for o in objects:
        if o["kind"] not in WORKLOADS:
            continue
        labels = o["spec"]["template"]["metadata"]["labels"]
        selects = lambda sel: sel and all(labels.get(k) == v for k, v in sel.items())  # noqa: E731
        assert any(selects(p) for p in policies), o["metadata"]["name"]
        if o["kind"] in ("StatefulSet", "Deployment"):
            assert any(selects(p) for p in pdbs), o["metadata"]["name"]
            assert o["spec"]["selector"]["matchLabels"].items() <= labels.items()
