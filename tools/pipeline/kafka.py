"""Runs the generated Kafka StatefulSet and topic Job as processes: real brokers, a real quorum, real clients.

    with KafkaPods(runtime, spec, workdir) as pods:
        pods.start_all(); pods.run_topic_job(); pods.describe_topic()

Each broker runs the generated `start.sh` (node id from its pod name, volume formatted once) with
the generated `server.properties`, through `overlay`; each process sees an /etc/hosts of its own
(a private mount namespace), in which the pods' cluster DNS names resolve to their loopback
addresses, so bootstrap servers, voters and advertised listeners stay exactly as generated.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import jproperties

from components.logging import kafka
from components.logging.config import LoggingSpec
from tools.e2e.cluster import Process
from tools.pipeline import overlay
from tools.pipeline.build import Runtime

PIPELINE = "logging"
STARTED = "Kafka Server started"
"""What KafkaRaftServer logs once the node serves (its own message, not ours)."""
DUMP = "KafkaConfig values:"
"""Where the broker logs every setting it knows, with the value it runs with."""


class KafkaError(RuntimeError):
    """A broker, the topic Job or a client failed; the message quotes Kafka's own output."""


def in_namespace(hosts: Path, argv: list[str]) -> list[str]:
    """argv in a private mount namespace whose /etc/hosts is `hosts`.

    Making one needs root. As root (CI here) the program runs as root; otherwise (a GitHub
    runner) passwordless sudo makes the namespace and setpriv runs the program as this user again.
    """
    setup = ["unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-c", 'mount --bind "$0" /etc/hosts && exec "$@"', str(hosts)]
    if os.geteuid() == 0:
        return [*setup, *argv]
    return ["sudo", "-n", "--preserve-env", *setup, "setpriv", f"--reuid={os.getuid()}", f"--regid={os.getgid()}", "--init-groups", *argv]


def check_namespaces() -> None:
    """Raises with what is missing when this machine cannot give a process its own /etc/hosts."""
    probe = subprocess.run(in_namespace(Path("/etc/hosts"), ["true"]), capture_output=True, text=True)
    if probe.returncode != 0:
        raise KafkaError(
            "the pipeline tier runs each process with its own /etc/hosts (a private mount namespace), "
            f"which needs root or passwordless sudo: {probe.stderr.strip() or probe.returncode}"
        )


@dataclass(frozen=True)
class Generated:
    """What the synth writes for Kafka, as the pods would get it."""

    files: dict[str, str]
    broker_command: list[str]
    broker_env: list[dict]
    topic_command: list[str]
    topic_env: list[dict]
    brokers: int

    @classmethod
    def of(cls, spec: LoggingSpec) -> "Generated":
        objects = kafka.build(PIPELINE, spec)
        (broker,) = objects["stateful_set"]["spec"]["template"]["spec"]["containers"]
        (job,) = objects["topic_job"]["spec"]["template"]["spec"]["containers"]
        return cls(
            files=dict(objects["config"]["data"]),
            broker_command=list(broker["command"]),
            broker_env=list(broker["env"]),
            topic_command=list(job["command"]),
            topic_env=list(job["env"]),
            brokers=objects["stateful_set"]["spec"]["replicas"],
        )

    def with_property(self, key: str, value: str | None, replaces: str | None = None) -> "Generated":
        """A copy whose server.properties sets `key` (or drops `replaces`), to prove a broken setting fails."""
        lines = self.files[kafka.CONFIG_KEY].splitlines()
        if replaces is not None:
            lines = [line for line in lines if not line.startswith(f"{replaces}=")]
        if value is not None:
            lines = [line for line in lines if not line.startswith(f"{key}=")] + [f"{key}={value}"]
        return Generated({**self.files, kafka.CONFIG_KEY: "\n".join(lines) + "\n"}, self.broker_command, self.broker_env, self.topic_command, self.topic_env, self.brokers)


@dataclass
class ProduceResult:
    """What the producer reported record by record: the acknowledged values and the errors by exception class."""

    acked: list[str] = field(default_factory=list)
    errors: Counter = field(default_factory=Counter)
    messages: list[str] = field(default_factory=list)


class KafkaPods:
    """The StatefulSet's pods and its topic Job, on loopback."""

    def __init__(self, runtime: Runtime, spec: LoggingSpec, workdir: Path, generated: Generated | None = None) -> None:
        self.runtime = runtime
        self.spec = spec
        self.generated = generated or Generated.of(spec)
        self.workdir = workdir.resolve()
        self.bin = overlay.write_kafka_scripts(self.workdir / "kafka-bin", runtime.kafka_libs)
        self.hosts = self.workdir / "hosts"
        self.net = overlay.free_net(kafka.CLIENT_PORT)
        self.hosts.write_text(overlay.hosts_file({kafka.pod_host(PIPELINE, spec, i): overlay.pod_address(self.net, i) for i in range(self.generated.brokers)}))
        self.processes: dict[int, Process] = {}
        self._baseline: dict[int, int] = {}
        self.bootstrap = ",".join(kafka.bootstrap_servers(PIPELINE, spec))
        self.topic = spec.kafka.topic

    def __enter__(self) -> "KafkaPods":
        return self

    def __exit__(self, *_: object) -> None:
        self.stop_all()

    # -- brokers ---------------------------------------------------------------------------------

    def pod(self, ordinal: int) -> overlay.PodDirs:
        return overlay.PodDirs(self.workdir / f"kafka-{ordinal}").make()

    def log(self, ordinal: int) -> Path:
        return self.pod(ordinal).logs / "stdout.log"

    def start(self, ordinal: int) -> None:
        """Starts pod `ordinal` from the generated files (rewritten on every start, as a ConfigMap mount is)."""
        pod = self.pod(ordinal)
        edits = overlay.kafka_edits(pod, self.bin)
        for name, text in self.generated.files.items():
            (pod.config / name).write_text(overlay.apply(name, text, edits))
        command = overlay.command(self.generated.broker_command, "command", edits)
        env = {**os.environ, **overlay.kafka_env(self.generated.broker_env, pod.logs, f"kafka-{ordinal}", overlay.pod_address(self.net, ordinal))}
        self._baseline[ordinal] = self._started_count(ordinal)
        process = Process(f"kafka-{ordinal}", in_namespace(self.hosts, command), self.log(ordinal), env=env, stop_timeout=120.0)
        process.start()
        self.processes[ordinal] = process

    def wait_started(self, ordinal: int, timeout: float = 120.0) -> float:
        """Seconds until the broker logged that it serves; raises with its log when it exits or times out."""
        began = time.monotonic()
        process = self.processes[ordinal]
        while time.monotonic() - began < timeout:
            if self._started_count(ordinal) > self._baseline[ordinal]:
                return time.monotonic() - began
            if not process.alive:
                raise KafkaError(f"kafka-{ordinal} exited {process.popen.returncode} before serving:\n{process.tail(40)}")
            time.sleep(0.25)
        raise KafkaError(f"kafka-{ordinal} did not log {STARTED!r} within {timeout:.0f} s:\n{process.tail(40)}")

    def _started_count(self, ordinal: int) -> int:
        try:
            return self.log(ordinal).read_text(errors="replace").count(STARTED)
        except FileNotFoundError:
            return 0

    def start_all(self) -> dict[int, float]:
        """Starts every pod at once, as the StatefulSet's Parallel policy does, and waits for each to serve."""
        for ordinal in range(self.generated.brokers):
            self.start(ordinal)
        return {ordinal: round(self.wait_started(ordinal), 1) for ordinal in range(self.generated.brokers)}

    def restart(self, ordinal: int) -> float:
        self.stop(ordinal)
        self.start(ordinal)
        return self.wait_started(ordinal)

    def stop(self, ordinal: int) -> int | None:
        """SIGTERM, as the kubelet sends it: the broker shuts down in a controlled way. Returns its exit code."""
        process = self.processes.pop(ordinal, None)
        if process is None:
            return None
        process.stop()
        return process.popen.returncode if process.popen else None

    def stop_all(self, grace: float = 10.0) -> None:
        """Teardown: every pod at once, killed after `grace` seconds. Brokers that lost their quorum wait for a
        controller to confirm a controlled shutdown that cannot come; their data is discarded anyway."""
        for process in self.processes.values():
            if process.alive:
                os.killpg(process.popen.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for ordinal in list(self.processes):
            process = self.processes.pop(ordinal)
            process.stop_timeout = max(0.1, deadline - time.monotonic())
            process.stop()

    def known_settings(self, ordinal: int) -> dict[str, str]:
        """Every setting Kafka knows, as the broker logged them at its last start (`KafkaConfig values:`)."""
        text = self.log(ordinal).read_text(errors="replace")
        block = text[text.rindex(DUMP) + len(DUMP):] if DUMP in text else ""
        known = {}
        for line in block.split("\n")[1:]:
            if not line.startswith("\t"):
                break
            key, _, value = line.strip().partition(" = ")
            known[key] = value
        return known

    def effective_properties(self, ordinal: int) -> dict[str, str]:
        """The pod's server.properties as start.sh completed it (later lines win, as in java.util.Properties)."""
        props = jproperties.Properties()
        props.load((self.pod(ordinal).runtime / kafka.CONFIG_KEY).read_bytes(), "utf-8")
        return {key: value.data for key, value in props.items()}

    def config_problems(self, ordinal: int) -> list[str]:
        """Each generated property Kafka does not know, or runs with another value than generated.

        Kafka ignores a property it does not know without a word, so a misspelt key would only
        leave the real setting at its default; the broker's own list of settings catches it.
        """
        known = self.known_settings(ordinal)
        if not known:
            return [f"kafka-{ordinal} logged no {DUMP!r}: it did not start"]
        running = self.broker_config(ordinal)
        problems = []
        for key, value in self.effective_properties(ordinal).items():
            if key not in known:
                problems.append(f"server.properties sets {key}={value}, which Kafka {self.runtime.versions['kafka']} does not know: it is not among the {len(known)} settings kafka-{ordinal} logged as {DUMP!r}")
            elif running.get(key) != value:
                problems.append(f"server.properties sets {key}={value}, but kafka-{ordinal} runs with {key}={running.get(key)}")
        return problems

    def node_id(self, ordinal: int) -> str:
        """The node id the storage tool formatted into this pod's volume (meta.properties)."""
        meta = self.pod(ordinal).data / Path(kafka.LOG_DIRS).name / "meta.properties"
        values = dict(line.split("=", 1) for line in meta.read_text().splitlines() if "=" in line and not line.startswith("#"))
        return values["node.id"]

    # -- clients ---------------------------------------------------------------------------------

    def tool(self, script: str, *args: str, timeout: float = 120.0, check: bool = True, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        """One of the image's scripts, as a client in the tier's namespace."""
        argv = in_namespace(self.hosts, [str(self.bin / script), *args])
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})})
        if check and proc.returncode != 0:
            raise KafkaError(f"{script} {' '.join(args)} exited {proc.returncode}:\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}")
        return proc

    def run_topic_job(self, attempts: int = 10, pause: float = 3.0) -> int:
        """The Job's exact command (restartPolicy OnFailure: run again until it succeeds); returns the attempts it took."""
        pod = overlay.PodDirs(self.workdir / "topic-job").make()
        edits = overlay.topic_job_edits(self.bin)
        command = overlay.command(self.generated.topic_command, "topic-job", edits)
        env = {**os.environ, **overlay.kafka_env(self.generated.topic_env, pod.logs)}
        last = None
        for attempt in range(1, attempts + 1):
            last = subprocess.run(in_namespace(self.hosts, command), capture_output=True, text=True, timeout=300, env=env)
            if last.returncode == 0:
                return attempt
            time.sleep(pause)
        raise KafkaError(f"the topic Job failed {attempts} times; last output:\n{last.stdout[-3000:]}{last.stderr[-3000:]}")

    def describe_topic(self) -> dict:
        """The topic as the brokers report it: partitions, replication factor, its configs, and each partition's ISR."""
        out = self.tool("kafka-topics.sh", "--bootstrap-server", self.bootstrap, "--describe", "--topic", self.topic).stdout
        header, *rows = [line for line in out.splitlines() if line.strip()]
        fields = dict(re.findall(r"(\w+): ?(\S*)", header))
        configs = dict(item.split("=", 1) for item in fields.get("Configs", "").split(",") if "=" in item)
        partitions = {}
        for row in rows:
            values = dict(re.findall(r"(\w+): ?(\S*)", row))
            partitions[int(values["Partition"])] = {"leader": values["Leader"], "replicas": values["Replicas"], "isr": values["Isr"]}
        return {"partitions": int(fields["PartitionCount"]), "replication_factor": int(fields["ReplicationFactor"]), "configs": configs, "by_partition": partitions}

    def broker_config(self, ordinal: int) -> dict[str, str]:
        """Every config of broker `ordinal` with the value it runs with (`kafka-configs --describe --all`)."""
        out = self.tool("kafka-configs.sh", "--bootstrap-server", self.bootstrap, "--describe", "--entity-type", "brokers", "--entity-name", str(ordinal), "--all").stdout
        return {m.group(1): m.group(2) for m in re.finditer(r"^\s+([\w.]+)=(.*?) sensitive=", out, re.MULTILINE)}

    def produce(self, count: int, prefix: int, **settings: str) -> ProduceResult:
        """Sends `count` records with acks=all and reports each acknowledgement or error, as VerifiableProducer sees it."""
        props = self.workdir / f"producer-{prefix}.properties"
        props.write_text("".join(f"{k}={v}\n" for k, v in settings.items()))
        out = self.tool(
            "kafka-verifiable-producer.sh", "--bootstrap-server", self.bootstrap, "--topic", self.topic, "--max-messages", str(count),
            "--acks", "-1", "--value-prefix", str(prefix), "--producer.config", str(props), timeout=300,
        ).stdout
        result = ProduceResult()
        for line in out.splitlines():
            if not line.startswith("{"):
                continue
            event = json.loads(line)
            if event.get("name") == "producer_send_success":
                result.acked.append(event["value"])
            elif event.get("name") == "producer_send_error":
                result.errors[event["exception"].rsplit(".", 1)[-1]] += 1
                if len(result.messages) < 3:
                    result.messages.append(event.get("message", ""))
        return result

    def consume_all(self, idle_ms: int = 15000) -> list[str]:
        """Every record value in the topic, from the beginning, until none arrives for `idle_ms`."""
        out = self.tool(
            "kafka-console-consumer.sh", "--bootstrap-server", self.bootstrap, "--topic", self.topic, "--from-beginning",
            "--timeout-ms", str(idle_ms), timeout=300, check=False,
        )
        if "Processed a total of" not in out.stderr:
            raise KafkaError(f"the consumer failed:\n{out.stderr[-3000:]}")
        return [line for line in out.stdout.splitlines() if line]
