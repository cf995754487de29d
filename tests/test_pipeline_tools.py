"""The pipeline tier's tools without Kafka or Filebeat: the loopback overlay, the generated start script run in
bash against stand-in scripts, the registry reader, and where the pins come from. `make e2e` runs the software."""

from __future__ import annotations

import json
import re
import socket
import subprocess
from pathlib import Path

import pytest
import yaml

from stacks import config as stack_config
from components.logging import elasticsearch, kafka, versions
from tests.conftest import ROOT
from tools.pipeline import build, overlay
from tools.pipeline import elasticsearch as es_pods
from tools.pipeline import kafka as pods
from tools.pipeline.filebeat import FilebeatPod, container_line

STACKS = ("dev", "prod")


def spec_of(stack: str):
    return stack_config.load(yaml.safe_load((ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text())["config"]).logging


@pytest.mark.parametrize("stack", STACKS)
def test_overlay_changes_only_the_pod_paths_and_adds_the_bind_address(stack, tmp_path):
    generated = pods.Generated.of(spec_of(stack))
    pod = overlay.PodDirs(tmp_path / "kafka-0").make()
    edits = overlay.kafka_edits(pod, tmp_path / "bin")
    pod_paths = (kafka.CONFIG_DIR, kafka.RUNTIME_DIR, kafka.KAFKA_BIN, kafka.DATA_DIR)
    for name, text in generated.files.items():
        local = overlay.apply(name, text, edits)
        assert not [p for p in pod_paths if p in local], f"{name} still names a pod path"
        before, after = text.splitlines(), local.splitlines()
        removed = [line for line in before if line not in after]
        added = [line for line in after if line not in before]
        assert all(any(p in line for p in pod_paths) or "://:" in line for line in removed), "only pod paths and the bind address change"
        extra = [line for line in added if not any(str(d) in line for d in (pod.root, tmp_path / "bin"))]
        assert extra == [line for line in added if "://${POD_IP}:" in line], extra
        assert (name == kafka.START_KEY) == bool(extra), "the bind address is in start.sh only"
    props = overlay.apply(kafka.CONFIG_KEY, generated.files[kafka.CONFIG_KEY], edits)
    assert [line for line in props.splitlines() if line.startswith("log.dirs=")] == [f"log.dirs={pod.data}/kraft-combined-logs"]


def test_an_edit_that_no_longer_matches_the_generated_file_fails(tmp_path):
    edits = overlay.kafka_edits(overlay.PodDirs(tmp_path), tmp_path / "bin")
    with pytest.raises(overlay.OverlayError, match=r"server.properties: the overlay expects 'log.dirs=/var/lib/kafka/data/kraft-combined-logs'.*claim"):
        overlay.apply(kafka.CONFIG_KEY, "log.dirs=/data/kafka\n", edits)


def _stand_in(path: Path, body: str) -> None:
    path.write_text("#!/bin/bash\n" + body)
    path.chmod(0o755)


@pytest.mark.parametrize(("ordinal", "voters", "zone"), [(0, None, "zone-b"), (2, None, None), (2, 1, "zone-c")], ids=["voter-0", "voter-2-no-zone", "broker-only-2"])
def test_generated_start_script_gives_each_pod_its_node_id_role_listeners_rack_and_one_format(ordinal, voters, zone, tmp_path):
    """The generated start.sh, overlaid, in real bash; the Kafka scripts it calls are stand-ins that record their arguments."""
    spec = spec_of("prod")
    generated = pods.Generated.of(spec, voters)
    controller = ordinal < kafka.voter_count(spec, voters)
    pod = overlay.PodDirs(tmp_path / f"kafka-{ordinal}").make()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _stand_in(bin_dir / "kafka-storage.sh", f'echo "$@" >> {tmp_path}/storage.args\n')
    _stand_in(bin_dir / "kafka-server-start.sh", f'cp "$1" {tmp_path}/effective.properties\n')
    edits = overlay.kafka_edits(pod, bin_dir)
    for name, text in generated.files.items():
        (pod.config / name).write_text(overlay.apply(name, text, edits))
    env = overlay.kafka_env(generated.broker_env, pod.logs, f"kafka-{ordinal}", overlay.pod_address(42, ordinal), {kafka.ZONE_LABEL: zone} if zone else None)
    subprocess.run(["/bin/bash", str(pod.config / kafka.START_KEY)], env={"PATH": "/usr/bin:/bin", **env}, check=True)
    effective = (tmp_path / "effective.properties").read_text().splitlines()
    address = f"127.0.42.{ordinal + 1}"
    assert (effective.pop() == f"broker.rack={zone}") if zone else not [line for line in effective if line.startswith("broker.rack")]
    assert effective[-4:] == [
        f"node.id={ordinal}",
        f"process.roles={'broker,controller' if controller else 'broker'}",
        f"listeners=PLAINTEXT://{address}:{kafka.CLIENT_PORT}" + (f",CONTROLLER://{address}:{kafka.CONTROLLER_PORT}" if controller else ""),
        f"advertised.listeners=PLAINTEXT://{kafka.pod_host(pods.PIPELINE, spec, ordinal)}:{kafka.CLIENT_PORT}",
    ]
    (storage,) = (tmp_path / "storage.args").read_text().splitlines()
    assert storage == f"format --ignore-formatted --cluster-id {kafka.cluster_id(pods.PIPELINE, spec)} --config {pod.runtime}/server.properties"


def test_kafka_scripts_run_their_main_class_from_the_jars_with_the_pod_heap(tmp_path):
    java_home = tmp_path / "jdk"
    (java_home / "bin").mkdir(parents=True)
    _stand_in(java_home / "bin" / "java", 'printf "%s\\n" "$@"\n')
    bin_dir = overlay.write_kafka_scripts(tmp_path / "bin", tmp_path / "libs")
    for name, (main, _) in overlay.SCRIPTS.items():
        out = subprocess.run([str(bin_dir / name), "--describe", "x y"], env={"PATH": "/usr/bin:/bin", "JAVA_HOME": str(java_home), "KAFKA_HEAP_OPTS": "-Xms1g -Xmx1g"}, capture_output=True, text=True, check=True)
        argv = out.stdout.splitlines()
        assert argv[:2] == ["-Xms1g", "-Xmx1g"] and argv[-3:] == [main, "--describe", "x y"]
        assert argv[argv.index("-cp") + 1] == f"{tmp_path / 'libs'}/*"
    assert set(overlay.SCRIPTS) >= {Path(p).name for p in re.findall(rf"{kafka.KAFKA_BIN}/(\S+\.sh)", "".join(pods.Generated.of(spec_of("prod")).files.values()) + kafka.topic_script(pods.PIPELINE, spec_of("prod")))}


def test_property_overrides_for_the_broken_setting_tests():
    generated = pods.Generated.of(spec_of("dev"))
    misspelt = generated.with_property("min.insync.replica", "1", replaces="min.insync.replicas").files[kafka.CONFIG_KEY]
    assert "min.insync.replica=1" in misspelt.splitlines() and not any(line.startswith("min.insync.replicas=") for line in misspelt.splitlines())
    voters = generated.with_property("controller.quorum.voters", "1@x:9093").files[kafka.CONFIG_KEY]
    assert [line for line in voters.splitlines() if line.startswith("controller.quorum.voters=")] == ["controller.quorum.voters=1@x:9093"]
    assert generated.files[kafka.CONFIG_KEY] != misspelt, "the original is left alone"


def test_each_set_of_pods_gets_its_own_loopback_addresses():
    first = overlay.free_net(kafka.CLIENT_PORT)
    with socket.socket() as busy:
        busy.bind((overlay.pod_address(first + 1, 0), kafka.CLIENT_PORT))
        busy.listen()
        second = overlay.free_net(kafka.CLIENT_PORT)
    assert second not in (first, first + 1)
    hosts = overlay.hosts_file({"kafka-0.kafka-headless.logging.svc.cluster.local": overlay.pod_address(first, 0)})
    assert hosts.splitlines() == ["127.0.0.1 localhost", f"127.0.{first}.1 kafka-0.kafka-headless.logging.svc.cluster.local"]


def test_processes_get_their_hosts_file_as_root_or_through_sudo(monkeypatch):
    as_root = pods.in_namespace(Path("/h"), ["java", "-version"])
    assert as_root[:2] == ["unshare", "--mount"] and as_root[-3:] == ["/h", "java", "-version"]
    monkeypatch.setattr(pods.os, "geteuid", lambda: 1001)
    monkeypatch.setattr(pods.os, "getuid", lambda: 1001)
    monkeypatch.setattr(pods.os, "getgid", lambda: 121)
    as_user = pods.in_namespace(Path("/h"), ["java"])
    assert as_user[:3] == ["sudo", "-n", "--preserve-env"] and as_user[-5:] == ["setpriv", "--reuid=1001", "--regid=121", "--init-groups", "java"]


def _runtime(tmp_path: Path) -> build.Runtime:
    return build.Runtime(tmp_path / "runtime", {"versions": {"kafka": versions.KAFKA_VERSION, "filebeat": "7.17.29"}})


def test_filebeat_overlay_moves_paths_and_port_and_keeps_every_other_setting(tmp_path):
    beat = FilebeatPod(_runtime(tmp_path), spec_of("prod"), tmp_path / "fb", tmp_path / "hosts")
    written = yaml.safe_load(beat.config.read_text())
    changed = {key for key in written if written[key] != beat.generated[key]}
    assert changed == {"filebeat.inputs", "path.data", "http"} and len(beat.changes) == 3
    assert written["output.kafka"] == beat.generated["output.kafka"] and written["output.kafka"]["required_acks"] == -1
    (source,) = written["filebeat.inputs"]
    assert source["paths"] == [str(beat.logs / "containers" / "*.log")]
    assert {k: v for k, v in source.items() if k != "paths"} == {k: v for k, v in beat.generated["filebeat.inputs"][0].items() if k != "paths"}
    assert beat.config.stat().st_mode & 0o077 == 0, "Filebeat refuses a config others can read or write"
    assert beat.argv("test", "config")[1:5] == ["test", "config", "-c", str(beat.config)]
    with pytest.raises(overlay.OverlayError, match="expects the input to read"):
        overlay.filebeat_settings({**beat.generated, "filebeat.inputs": [{"paths": ["/logs/*.log"]}]}, tmp_path, tmp_path, 1)


def test_registry_reader_takes_the_checkpoint_then_the_update_log(tmp_path):
    beat = FilebeatPod(_runtime(tmp_path), spec_of("dev"), tmp_path / "fb", tmp_path / "hosts")
    store = beat.data / "registry" / "filebeat"
    store.mkdir(parents=True)
    checkpoint = store / "7.json"
    checkpoint.write_text(json.dumps([{"_key": "a", "cursor": {"offset": 10}, "meta": {"source": "/logs/a.log"}}, {"_key": "b", "cursor": {"offset": 5}, "meta": {"source": "/logs/b.log"}}]))
    (store / "active.dat").write_text(str(checkpoint))
    updates = [{"op": "set", "id": 8}, {"k": "a", "v": {"cursor": {"offset": 42}, "meta": {"source": "/logs/a.log"}}}, {"op": "remove", "id": 9}, {"k": "b"}]
    (store / "log.json").write_text("\n".join(json.dumps(u) for u in updates) + "\n")
    assert beat.registry() == {"/logs/a.log": 42}


def test_container_lines_are_what_containerd_writes():
    full, part = container_line('{"msg":"x"}'), container_line("half", stream="stderr", partial=True)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z stdout F \{\"msg\":\"x\"\}\n", full)
    assert part.split(" ")[1:3] == ["stderr", "P"]


def test_the_kafka_pin_is_the_images_and_filebeat_is_the_newest_the_proxy_serves():
    pom = (build.POM).read_text()
    assert "${kafka.version}" in pom and versions.KAFKA_VERSION not in pom, "one Kafka pin: components/logging/versions.py"
    pins = build.pinned_versions()
    assert pins["kafka"] == versions.KAFKA_VERSION and pins["filebeat_pinned_image"] == versions.ELASTIC_VERSION
    assert pins["filebeat"].startswith("7.17."), "the proxy serves beats up to 7.17.x; docs/logging.md states the gap to the image's version"


def test_a_new_kafka_pin_builds_a_new_runtime(monkeypatch):
    before = build.cache_key()
    monkeypatch.setattr(build.versions, "KAFKA_VERSION", "9.9.9")
    assert build.cache_key() != before


@pytest.mark.parametrize("current", [None, 2, 12])
def test_topic_job_script_creates_grows_and_configures_the_topic(current, tmp_path):
    """The topic Job's command, overlaid, in real bash; kafka-topics.sh reports `current` partitions (None: no topic yet)."""
    spec = spec_of("prod")
    generated = pods.Generated.of(spec)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    describe = f'echo "Topic: {spec.kafka.topic}\tTopicId: x\tPartitionCount: {current}\tReplicationFactor: 3\tConfigs: "' if current else "true"
    _stand_in(bin_dir / "kafka-topics.sh", f'echo "topics $*" >> {tmp_path}/calls\nif [[ " $* " == *" --describe "* ]]; then {describe}; fi\n')
    _stand_in(bin_dir / "kafka-configs.sh", f'echo "configs $*" >> {tmp_path}/calls\n')
    _stand_in(bin_dir / "kafka-broker-api-versions.sh", 'echo "k:9092 (id: 0 rack: null isFenced: false) -> ("\n')
    command = overlay.command(generated.topic_command, "topic-job", overlay.topic_job_edits(bin_dir))
    subprocess.run(command, env={"PATH": "/usr/bin:/bin"}, check=True)
    calls = [line.split(" ")[:2] + [("--alter" if "--alter" in line else "")] for line in (tmp_path / "calls").read_text().splitlines()]
    grows = current is None or current < spec.kafka.partitions
    # create, describe (partitions), [alter], describe (replica placement: nothing to spread here), list (offsets topic?)
    assert [c[1] for c in calls if c[0] == "topics"] == ["--bootstrap-server"] * (5 if grows else 4)
    assert ("--alter" in [c[2] for c in calls if c[0] == "topics"]) == grows
    cluster, topic = [line for line in (tmp_path / "calls").read_text().splitlines() if line.startswith("configs")]
    assert cluster.endswith("--entity-type brokers --entity-default --add-config min.insync.replicas=2")
    assert topic.endswith(f"--add-config min.insync.replicas=2,unclean.leader.election.enable=false,retention.ms={spec.kafka.retention_hours * 3600000}")


# -- Elasticsearch ------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_elasticsearch_overlay_moves_only_pod_paths_and_the_bind_address(stack, tmp_path):
    generated = es_pods.Generated.of(spec_of(stack))
    pod = overlay.EsPodDirs(tmp_path / "elasticsearch-0")
    edits = overlay.elasticsearch_edits(pod, tmp_path / "home", "127.0.42.1")
    for name, text in generated.files.items():
        local = overlay.apply(name, text, edits)
        assert elasticsearch.HOME not in local and "/mnt/" not in local, f"{name} still names a pod path"
    conf = yaml.safe_load(overlay.apply(elasticsearch.CONFIG_KEY, generated.files[elasticsearch.CONFIG_KEY], edits))
    original = yaml.safe_load(generated.files[elasticsearch.CONFIG_KEY])
    changed = {k for k in original if conf[k] != original[k]}
    assert changed == {"network.host", "path.data", "path.logs"}
    assert set(conf) - set(original) == {"cluster.routing.allocation.disk.threshold_enabled"}
    probe = overlay.command(generated.readiness["exec"]["command"], "probe", edits)
    assert probe == ["/bin/bash", f"{pod.config}/{elasticsearch.READY_KEY}"]
    old = overlay.apply("old-readiness", es_pods.OLD_READINESS, edits)
    assert "local=true" in old and "--connect-to 127.0.0.1:9200:127.0.42.1:9200" in old


def _copy(stack: str, tmp_path: Path, joined: bool) -> str:
    """The generated init container's script, overlaid, in real bash; returns the elasticsearch.yml it leaves the node."""
    generated = es_pods.Generated.of(spec_of(stack))
    pod = overlay.EsPodDirs(tmp_path / "elasticsearch-0")
    home = tmp_path / "home"
    (home / "config").mkdir(parents=True)
    (home / "config" / "jvm.options").write_text("-Xss1m\n")
    for mount in overlay.ES_MOUNTS:
        getattr(pod, mount).mkdir(parents=True)
    edits = overlay.elasticsearch_edits(pod, home, "127.0.42.1")
    for name, text in generated.files.items():
        (pod.configmap / name).write_text(overlay.apply(name, text, edits))
    if joined:
        (pod.data / elasticsearch.JOINED_FILE).touch()
    subprocess.run(overlay.command(generated.copy_command, "copy", edits), check=True, env={"PATH": "/usr/bin:/bin"})
    assert (pod.config / "jvm.options").read_text() == "-Xss1m\n" and (pod.config / elasticsearch.READY_KEY).is_file()
    return (pod.config / elasticsearch.CONFIG_KEY).read_text()


@pytest.mark.parametrize(
    ("stack", "joined", "bootstrap"),
    [("prod", False, ["elasticsearch-0", "elasticsearch-1", "elasticsearch-2"]), ("prod", True, None), ("dev", False, ["elasticsearch-0"]), ("dev", True, None)],
)
def test_only_a_volume_that_never_joined_a_cluster_gets_the_bootstrap_set(stack, joined, bootstrap, tmp_path):
    conf = yaml.safe_load(_copy(stack, tmp_path, joined))
    assert conf.get("cluster.initial_master_nodes") == bootstrap


def test_the_config_copy_fails_when_a_file_cannot_be_copied(tmp_path):
    generated = es_pods.Generated.of(spec_of("prod"))
    pod = overlay.EsPodDirs(tmp_path / "pod")
    pod.config.mkdir(parents=True)
    edits = overlay.elasticsearch_edits(pod, tmp_path / "no-home", "127.0.42.1")
    proc = subprocess.run(overlay.command(generated.copy_command, "copy", edits), capture_output=True, text=True)
    assert proc.returncode != 0 and "no-home/config/." in proc.stderr


def _ready(tmp_path: Path, stack: str, answers: dict[str, int]) -> tuple[list[int], list[str]]:
    """The generated readiness script, overlaid, run three times in real bash against a stand-in curl that fails
    (exit 22, as curl -f does on an HTTP error) for each path in `answers` the given number of times."""
    generated = es_pods.Generated.of(spec_of(stack))
    pod = overlay.EsPodDirs(tmp_path / "elasticsearch-0")
    for mount in overlay.ES_MOUNTS:
        getattr(pod, mount).mkdir(parents=True)
    (pod.secrets / "password").write_text("pw")
    script = pod.config / elasticsearch.READY_KEY
    script.write_text(overlay.apply(elasticsearch.READY_KEY, generated.files[elasticsearch.READY_KEY], overlay.elasticsearch_edits(pod, tmp_path, "127.0.42.1")))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    state = tmp_path / "fails"
    state.write_text(json.dumps(answers))
    _stand_in(bin_dir / "curl", f"""url="${{@: -1}}"; echo "$url" >> {tmp_path}/calls
exec python3 - "$url" <<'PY'
import json, sys
fails = json.load(open("{state}"))
for path, left in fails.items():
    if path in sys.argv[1] and left:
        fails[path] = left - 1
        json.dump(fails, open("{state}", "w"))
        sys.exit(22)
print('{{"nodes":{{"n1":{{"jvm":{{"start_time_in_millis":1700}}}}}}}}')
PY
""")
    codes = [subprocess.run(["/bin/bash", str(script)], env={"PATH": f"{bin_dir}:/usr/bin:/bin"}).returncode for _ in range(3)]
    return codes, (tmp_path / "calls").read_text().splitlines()


def test_readiness_needs_an_elected_master_and_gates_once_per_start_on_green(tmp_path):
    codes, calls = _ready(tmp_path, "prod", {"wait_for_status=green": 1})
    assert codes == [22, 0, 0], "not Ready until green once; then Ready on the master alone"
    assert all("local=true" not in c for c in calls)
    assert sum("wait_for_status=green" in c for c in calls) == 2, "the third run finds the gate passed for this JVM"
    assert (tmp_path / "elasticsearch-0" / "data" / elasticsearch.JOINED_FILE).exists()


def test_readiness_fails_without_a_master_and_marks_nothing(tmp_path):
    codes, calls = _ready(tmp_path, "prod", {"master_timeout": 3})
    assert codes == [22, 22, 22] and all("master_timeout" in c for c in calls)
    assert not (tmp_path / "elasticsearch-0" / "data" / elasticsearch.JOINED_FILE).exists(), "a node that never saw a master may still bootstrap"


def test_a_single_node_gates_on_yellow(tmp_path):
    codes, calls = _ready(tmp_path, "dev", {})
    assert codes == [0, 0, 0] and any("wait_for_status=yellow" in c for c in calls)


def test_elasticsearch_runs_on_the_newest_jdk_of_at_least_21(monkeypatch, tmp_path):
    for name, major in (("jdk-17", 17), ("jdk-25", 25), ("jdk-21", 21)):
        _stand_in_jdk(tmp_path / name, major)
    monkeypatch.setattr(build, "JVM_ROOT", tmp_path)
    monkeypatch.delenv(build.ES_JAVA_ENV, raising=False)
    assert build.elasticsearch_java() == tmp_path / "jdk-25"
    (tmp_path / "jdk-25" / "bin" / "java").unlink()
    (tmp_path / "jdk-21" / "bin" / "java").unlink()
    with pytest.raises(build.BuildError, match="needs a JDK 21 or later.*jdk-17"):
        build.elasticsearch_java()


def _stand_in_jdk(home: Path, major: int) -> None:
    (home / "bin").mkdir(parents=True)
    _stand_in(home / "bin" / "java", f'echo \'openjdk version "{major}.0.1" 2025-01-01\' >&2\n')
