"""Runs the generated Kafka StatefulSet and topic Job as processes: real brokers, a real quorum, real clients.

    with KafkaPods(runtime, spec, workdir) as pods:
        pods.start_all(); pods.run_topic_job(); pods.describe_topic()

Each broker runs the generated `start.sh` (node id from its pod name, volume formatted once) with
the generated `server.properties`, through `overlay`; each process sees an /etc/hosts of its own
(a private mount namespace), in which the pods' cluster DNS names resolve to their loopback
addresses, so bootstrap servers, voters and advertised listeners stay exactly as generated.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

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
OLD_READINESS = {"tcpSocket": {"port": "client"}, "periodSeconds": 10, "failureThreshold": 3, "timeoutSeconds": 3}
"""The readiness probe gosvc generated before the in-sync gate: the client port only. Kept for the roll figures beside the gate."""
ISR_SAMPLER = Path(__file__).with_name("java") / "IsrSampler.java"


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
    voters: int
    startup: dict
    readiness: dict

    @classmethod
    def of(cls, spec: LoggingSpec, deployed_voters: int | None = None) -> "Generated":
        objects = kafka.build(PIPELINE, spec, deployed_voters)
        (broker,) = objects["stateful_set"]["spec"]["template"]["spec"]["containers"]
        (job,) = objects["topic_job"]["spec"]["template"]["spec"]["containers"]
        return cls(
            files=dict(objects["config"]["data"]),
            broker_command=list(broker["command"]),
            broker_env=list(broker["env"]),
            topic_command=list(job["command"]),
            topic_env=list(job["env"]),
            brokers=objects["stateful_set"]["spec"]["replicas"],
            voters=int(objects["stateful_set"]["metadata"]["annotations"][kafka.VOTERS_ANNOTATION]),
            startup=dict(broker["startupProbe"]),
            readiness=dict(broker["readinessProbe"]),
        )

    def with_property(self, key: str, value: str | None, replaces: str | None = None) -> "Generated":
        """A copy whose server.properties sets `key` (or drops `replaces`), to prove a broken setting fails."""
        lines = self.files[kafka.CONFIG_KEY].splitlines()
        if replaces is not None:
            lines = [line for line in lines if not line.startswith(f"{replaces}=")]
        if value is not None:
            lines = [line for line in lines if not line.startswith(f"{key}=")] + [f"{key}={value}"]
        return dataclasses.replace(self, files={**self.files, kafka.CONFIG_KEY: "\n".join(lines) + "\n"})


@dataclass
class ProduceResult:
    """What the producer reported record by record: the acknowledged values and the errors by exception class."""

    acked: list[str] = field(default_factory=list)
    errors: Counter = field(default_factory=Counter)
    messages: list[str] = field(default_factory=list)

    @classmethod
    def parse(cls, out: str) -> "ProduceResult":
        """VerifiableProducer's JSON lines: one per acknowledgement or error."""
        result = cls()
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


@dataclass(frozen=True)
class ProbeRun:
    """One run of the exec readiness probe: its answer, and what it cost the pod."""

    ok: bool
    seconds: float
    cpu_seconds: float
    max_rss_mib: float
    gate: bool
    """The run checked replication (started a JVM) rather than only the port, because the broker had not passed the gate."""
    output: str


def run_measured(argv: list[str], env: dict[str, str], timeout: float) -> tuple[int | None, str, float, float, float]:
    """Runs argv as the kubelet runs an exec probe, killed at `timeout`; returns (exit code or None on timeout,
    output, seconds, CPU seconds of it and every process it started, largest resident set in MiB)."""
    began = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, start_new_session=True)
    def kill() -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)

    timer = threading.Timer(timeout, kill)
    timer.start()
    out = proc.stdout.read().decode(errors="replace")
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    timed_out = not timer.is_alive() and proc.returncode < 0
    timer.cancel()
    proc.stdout.close()
    seconds = time.monotonic() - began
    return (None if timed_out else proc.returncode), out, seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


class ProducerLoad:
    """An acks=all VerifiableProducer sending `throughput` records/s in the background for a `with` block; its
    acknowledgements and errors are in `result` after the block, once the producer has flushed and closed."""

    SETTINGS = {"enable.idempotence": "true", "retries": "2147483647", "delivery.timeout.ms": "120000", "linger.ms": "5"}
    """A shipper's settings, as Filebeat's retry-until-acknowledged: a send fails only when Kafka refuses it for two minutes."""

    def __init__(self, pods: "KafkaPods", prefix: int, throughput: int) -> None:
        self.pods, self.prefix, self.throughput = pods, prefix, throughput
        self.out = pods.workdir / f"load-{prefix}.jsonl"
        self.result = ProduceResult()

    def __enter__(self) -> "ProducerLoad":
        config = self.pods.workdir / f"load-{self.prefix}.properties"
        config.write_text("".join(f"{k}={v}\n" for k, v in self.SETTINGS.items()))
        argv = [str(self.pods.bin / "kafka-verifiable-producer.sh"), "--bootstrap-server", self.pods.bootstrap, "--topic", self.pods.topic,
                "--max-messages", "-1", "--throughput", str(self.throughput), "--acks", "-1", "--value-prefix", str(self.prefix),
                "--producer.config", str(config)]
        with self.out.open("wb") as sink:
            self.proc = subprocess.Popen(in_namespace(self.pods.hosts, argv), stdout=sink, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, start_new_session=True)
        return self

    def __exit__(self, *_: object) -> None:
        os.killpg(self.proc.pid, signal.SIGTERM)  # its shutdown hook closes the producer, which waits for every send's answer
        try:
            self.proc.wait(150)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            raise KafkaError("the producer did not close within 150 s of SIGTERM")
        self.result = ProduceResult.parse(self.out.read_text(errors="replace"))


class IsrSampler:
    """The log topic's in-sync replicas every `interval` seconds, through Kafka's admin client (IsrSampler.java,
    one long-running JVM, so a sample costs a request rather than a JVM start)."""

    def __init__(self, pods: "KafkaPods", interval: float = 0.25) -> None:
        self.pods, self.interval = pods, interval
        self.samples: list[dict] = []

    def __enter__(self) -> "IsrSampler":
        java = f"{os.environ['JAVA_HOME']}/bin/java" if os.environ.get("JAVA_HOME") else "java"
        argv = [java, "-Xmx128m", "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn", "-cp", f"{self.pods.runtime.kafka_libs}/*", str(ISR_SAMPLER),
                self.pods.bootstrap, self.pods.topic, str(self.pods.spec.kafka.min_insync_replicas), str(int(self.interval * 1000))]
        self.proc = subprocess.Popen(in_namespace(self.pods.hosts, argv), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, text=True, start_new_session=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        deadline = time.monotonic() + 90
        while not any("partitions" in s for s in self.samples):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.__exit__()
                raise KafkaError(f"the ISR sampler gave no sample (exit {self.proc.returncode}); last: {self.samples[-1:]}")
            time.sleep(0.2)
        return self

    def _read(self) -> None:
        for line in self.proc.stdout:
            if line.startswith("{"):
                self.samples.append(json.loads(line))

    def __exit__(self, *_: object) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self._reader.join(10)

    def latest(self) -> dict:
        return next((s for s in reversed(self.samples) if "partitions" in s), {})

    def since(self, t_ms: int) -> list[dict]:
        return [s for s in self.samples if s["t"] >= t_ms]

    @staticmethod
    def summary(samples: list[dict]) -> dict:
        answered = [s for s in samples if "partitions" in s]
        return {
            "samples": len(samples),
            "under_min_isr": sum(1 for s in answered if s["under_min_isr"]),
            "under_replicated": sum(1 for s in answered if s["under_replicated"]),
            "offline": sum(1 for s in answered if s["offline"]),
            "most_partitions_under_min_isr": max((s["under_min_isr"] for s in answered), default=0),
            "errors": dict(Counter(s["error"] for s in samples if "error" in s)),
        }


class KafkaPods:
    """The StatefulSet's pods and its topic Job, on loopback."""

    def __init__(self, runtime: Runtime, spec: LoggingSpec, workdir: Path, generated: Generated | None = None, zones: dict[int, str] | None = None) -> None:
        self.runtime = runtime
        self.zones = dict(zones or {})
        """The zone of each pod's node, which the API server copies onto the pod as a label; none by default."""
        self.spec = spec
        self.generated = generated or Generated.of(spec)
        self.workdir = workdir.resolve()
        self.bin = overlay.write_kafka_scripts(self.workdir / "kafka-bin", runtime.kafka_libs)
        self.hosts = self.workdir / "hosts"
        self.net = overlay.free_net(kafka.CLIENT_PORT)
        self.hosts.write_text(overlay.hosts_file({kafka.pod_host(PIPELINE, spec, i): overlay.pod_address(self.net, i) for i in range(self.generated.brokers)}))
        self.processes: dict[int, Process] = {}
        self.probe_runs: list[ProbeRun] = []
        self._baseline: dict[int, int] = {}
        self.bootstrap = ",".join(kafka.bootstrap_servers(PIPELINE, spec))
        self.topic = spec.kafka.topic

    def __enter__(self) -> "KafkaPods":
        return self

    def update(self, spec: LoggingSpec, generated: Generated) -> None:
        """What a `pulumi up` of `spec` changes: the files pods get from their next start on, and the pod names
        (/etc/hosts is rewritten in place, so running processes resolve the new pods too). Starting and restarting
        the pods is the caller's, as the StatefulSet controller's is."""
        self.spec, self.generated = spec, generated
        names = {kafka.pod_host(PIPELINE, spec, i): overlay.pod_address(self.net, i) for i in range(max(generated.brokers, len(self.processes)))}
        with self.hosts.open("r+") as hosts:
            hosts.truncate(0)
            hosts.write(overlay.hosts_file(names))
        self.bootstrap = ",".join(kafka.bootstrap_servers(PIPELINE, spec))

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
        env = {**os.environ, **overlay.kafka_env(self.generated.broker_env, pod.logs, f"kafka-{ordinal}", self.address(ordinal), self._labels(ordinal))}
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

    # -- probes, as the kubelet runs them --------------------------------------------------------

    def address(self, ordinal: int) -> str:
        return overlay.pod_address(self.net, ordinal)

    def _labels(self, ordinal: int) -> dict[str, str]:
        return {kafka.ZONE_LABEL: self.zones[ordinal]} if ordinal in self.zones else {}

    def _port_open(self, ordinal: int, timeout: float) -> bool:
        try:
            with socket.create_connection((self.address(ordinal), kafka.CLIENT_PORT), timeout=timeout):
                return True
        except OSError:
            return False

    def startup(self, ordinal: int) -> bool:
        """The startup probe: a TCP connection to the client port."""
        return self._port_open(ordinal, self.generated.startup.get("timeoutSeconds", 1))

    def tcp_readiness(self, ordinal: int) -> bool:
        """The readiness probe before the gate (`OLD_READINESS`)."""
        return self._port_open(ordinal, OLD_READINESS["timeoutSeconds"])

    def readiness(self, ordinal: int) -> bool:
        """The generated readiness probe, its command run as written with the container's env; each run is kept in `probe_runs`."""
        pod = self.pod(ordinal)
        argv = overlay.command(self.generated.readiness["exec"]["command"], "probe", overlay.kafka_edits(pod, self.bin))
        env = {**os.environ, **overlay.kafka_env(self.generated.broker_env, pod.logs, f"kafka-{ordinal}", self.address(ordinal), self._labels(ordinal))}
        gate = not (pod.runtime / Path(kafka.IN_SYNC_MARKER).name).exists()
        code, out, seconds, cpu, rss = run_measured(in_namespace(self.hosts, argv), env, self.generated.readiness.get("timeoutSeconds", 1))
        self.probe_runs.append(ProbeRun(code == 0, round(seconds, 3), round(cpu, 3), round(rss, 1), gate, out.strip()[-300:]))
        return code == 0

    def wait_ready(self, ordinal: int, gated: bool = True, timeout: float = 600.0) -> float:
        """Seconds until the pod is Ready: the startup probe on its period, then the readiness probe (the generated one,
        or the TCP one when not `gated`) on its own, each run starting on the probe's period as the kubelet's ticker does."""
        readiness = (self.readiness, self.generated.readiness) if gated else (self.tcp_readiness, OLD_READINESS)
        began = time.monotonic()
        for probe, spec in ((self.startup, self.generated.startup), readiness):
            while True:
                tick = time.monotonic()
                if probe(ordinal):
                    break
                if ordinal not in self.processes or not self.processes[ordinal].alive:
                    raise KafkaError(f"kafka-{ordinal} exited while waiting to be Ready:\n{self.processes[ordinal].tail(40)}")
                if time.monotonic() - began > timeout:
                    raise KafkaError(f"kafka-{ordinal} not Ready after {timeout:.0f} s; last probe: {self.probe_runs[-1:]}")
                time.sleep(max(0.0, spec.get("periodSeconds", 10) - (time.monotonic() - tick)))
        return time.monotonic() - began

    # -- the StatefulSet controller --------------------------------------------------------------

    def roll(self, gated: bool = True, at_stop: Callable[[], dict] | None = None) -> list[dict]:
        """A rolling update: for each ordinal from the highest, the pod is stopped (SIGTERM, controlled shutdown) and
        started again, and the next waits until it is Ready. `at_stop` tells the state of the cluster as each stop begins."""
        steps = []
        for ordinal in reversed(range(self.generated.brokers)):
            state = at_stop() if at_stop else {}
            began = time.monotonic()
            self.stop(ordinal)
            stopped = time.monotonic() - began
            self.start(ordinal)
            ready = self.wait_ready(ordinal, gated)
            steps.append({"pod": f"kafka-{ordinal}", **state, "stop_seconds": round(stopped, 1), "ready_seconds": round(ready, 1)})
        return steps

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

    def describe_topic(self, topic: str | None = None) -> dict:
        """A topic (the log topic by default) as the brokers report it: partitions, replication factor, its configs, and each partition's ISR."""
        out = self.tool("kafka-topics.sh", "--bootstrap-server", self.bootstrap, "--describe", "--topic", topic or self.topic).stdout
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
        return ProduceResult.parse(out)

    def consume_all(self, idle_ms: int = 15000, group: str | None = None) -> list[str]:
        """Every record value in the topic, from the beginning, until none arrives for `idle_ms`; in consumer group
        `group` when given (it commits its offsets, as Logstash's group does, which creates the offsets topic)."""
        out = self.tool(
            "kafka-console-consumer.sh", "--bootstrap-server", self.bootstrap, "--topic", self.topic, "--from-beginning",
            "--timeout-ms", str(idle_ms), *(["--group", group] if group else []), timeout=300, check=False,
        )
        if "Processed a total of" not in out.stderr:
            raise KafkaError(f"the consumer failed:\n{out.stderr[-3000:]}")
        return [line for line in out.stdout.splitlines() if line]
