"""The loopback overlay: every change the pipeline tier makes to a generated file, and why.

The generated files expect pods: a ConfigMap mounted at a fixed path, emptyDirs and a claim,
the `apache/kafka` image's scripts under /opt/kafka/bin, one network namespace per pod, and the
cluster's DNS. Here they run as processes on one machine. Each `Edit` replaces text that must
be in the generated file (an edit that no longer matches fails, so the overlay cannot drift
silently), and says why. Everything else runs exactly as generated.
"""

from __future__ import annotations

import copy
import re
import shlex
import socket
from dataclasses import dataclass
from pathlib import Path

from components.logging import elasticsearch, filebeat, kafka

LOOPBACK_NETS = range(10, 250)
"""Pods get their own address; on loopback each broker binds 127.0.<net>.<ordinal + 1> (Linux routes all of 127/8
to lo), with a <net> of its own per set of pods, so two sets never share an address."""


class OverlayError(RuntimeError):
    """A generated file no longer holds what the overlay edits: the overlay needs review, not the test."""


@dataclass(frozen=True)
class Edit:
    file: str
    old: str
    new: str
    why: str


def apply(file: str, text: str, edits: list[Edit]) -> str:
    for edit in edits:
        if edit.file != file:
            continue
        if edit.old not in text:
            raise OverlayError(f"{file}: the overlay expects {edit.old!r} in the generated file ({edit.why})")
        text = text.replace(edit.old, edit.new)
    return text


def pod_address(net: int, ordinal: int) -> str:
    return f"127.0.{net}.{ordinal + 1}"


def free_net(port: int) -> int:
    """A loopback /24 on whose first address nothing listens on `port` (the first pod binds it first)."""
    for net in LOOPBACK_NETS:
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((pod_address(net, 0), port))
            except OSError:
                continue
        if net not in _taken:
            _taken.add(net)
            return net
    raise OverlayError(f"no loopback /24 in 127.0.{LOOPBACK_NETS.start}-{LOOPBACK_NETS.stop - 1}.0 has port {port} free")


_taken: set[int] = set()


def hosts_file(names: dict[str, str]) -> str:
    """/etc/hosts for the tier's mount namespace: cluster DNS names of the pods -> their loopback addresses."""
    lines = ["127.0.0.1 localhost"] + [f"{address} {name}" for name, address in sorted(names.items())]
    return "\n".join(lines) + "\n"


# -- Kafka --------------------------------------------------------------------------------------

SCRIPTS = {
    "kafka-storage.sh": ("kafka.tools.StorageTool", "tools"),
    "kafka-server-start.sh": ("kafka.Kafka", "server"),
    "kafka-topics.sh": ("org.apache.kafka.tools.TopicCommand", "tools"),
    "kafka-configs.sh": ("kafka.admin.ConfigCommand", "tools"),
    "kafka-reassign-partitions.sh": ("org.apache.kafka.tools.reassign.ReassignPartitionsCommand", "tools"),
    "kafka-broker-api-versions.sh": ("org.apache.kafka.tools.BrokerApiVersionsCommand", "tools"),
    "kafka-leader-election.sh": ("org.apache.kafka.tools.LeaderElectionCommand", "tools"),
    "kafka-verifiable-producer.sh": ("org.apache.kafka.tools.VerifiableProducer", "tools"),
    "kafka-console-consumer.sh": ("org.apache.kafka.tools.consumer.ConsoleConsumer", "tools"),
}
"""The `apache/kafka` image's scripts the generated files call (and two test clients), by the main class each runs.
Maven Central publishes the jars only; each script here runs its class as the image's `kafka-run-class.sh` does."""

IMAGE_JVM_OPTS = "-server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent -XX:MaxInlineLevel=15 -Djava.awt.headless=true"
"""kafka-run-class.sh's KAFKA_JVM_PERFORMANCE_OPTS when the environment sets none (the generated probe sets its own)."""

LOG4J = {
    # The broker logs INFO to stdout (its process log), like the image's log4j2.yaml; tools WARN to stderr.
    "server": "status = warn\nappender.out.type = Console\nappender.out.name = OUT\nappender.out.layout.type = PatternLayout\n"
    "appender.out.layout.pattern = [%d] %p %m (%c)%n\nrootLogger.level = info\nrootLogger.appenderRef.out.ref = OUT\n",
    "tools": "status = warn\nappender.err.type = Console\nappender.err.name = ERR\nappender.err.target = SYSTEM_ERR\n"
    "appender.err.layout.type = PatternLayout\nappender.err.layout.pattern = [%d] %p %m (%c)%n\nrootLogger.level = warn\nrootLogger.appenderRef.err.ref = ERR\n",
}


def write_kafka_scripts(bin_dir: Path, libs: Path) -> Path:
    """The image's /opt/kafka/bin as far as the generated files use it, running the Maven jars."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    for kind, text in LOG4J.items():
        (bin_dir / f"log4j2-{kind}.properties").write_text(text)
    for name, (main, kind) in SCRIPTS.items():
        script = bin_dir / name
        script.write_text(
            "#!/bin/bash\n"
            f"# Stands in for the apache/kafka image's {name}: runs {main} from the Maven Central jars.\n"
            f'exec "${{JAVA_HOME:+$JAVA_HOME/bin/}}java" ${{KAFKA_HEAP_OPTS:--Xmx256m}} ${{KAFKA_JVM_PERFORMANCE_OPTS:-{IMAGE_JVM_OPTS}}} ${{KAFKA_OPTS:-}} '
            f'-Dlog4j2.configurationFile={shlex.quote(str(bin_dir / f"log4j2-{kind}.properties"))} '
            f'-cp {shlex.quote(str(libs))}"/*" {main} "$@"\n'
        )
        script.chmod(0o755)
    return bin_dir


@dataclass(frozen=True)
class PodDirs:
    """Where one pod's mounts live on this machine."""

    root: Path

    @property
    def config(self) -> Path:
        return self.root / "config"

    @property
    def runtime(self) -> Path:
        return self.root / "runtime"

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    def make(self) -> "PodDirs":
        for path in (self.config, self.runtime, self.data, self.logs):
            path.mkdir(parents=True, exist_ok=True)
        return self


def kafka_edits(pod: PodDirs, bin_dir: Path) -> list[Edit]:
    return [
        Edit("command", f"{kafka.CONFIG_DIR}/", f"{pod.config}/", "the container runs start.sh from the ConfigMap's mount point"),
        Edit(kafka.START_KEY, f"{kafka.CONFIG_DIR}/", f"{pod.config}/", "the ConfigMap's mount point: the generated files are written to the pod's directory"),
        Edit(kafka.START_KEY, f'"{kafka.RUNTIME_DIR}/', f'"{pod.runtime}/', "the emptyDir that holds the per-pod copy of server.properties and the probe's mark"),
        Edit(kafka.START_KEY, f"{kafka.KAFKA_BIN}/", f"{bin_dir}/", "the image's /opt/kafka/bin: the scripts write_kafka_scripts wrote for the Maven jars"),
        Edit(kafka.START_KEY, "://:", "://${POD_IP}:", "a pod owns its network namespace and binds every address; on one loopback each broker binds its pod's address only"),
        Edit(kafka.CONFIG_KEY, f"log.dirs={kafka.LOG_DIRS}", f"log.dirs={pod.data}/{Path(kafka.LOG_DIRS).name}", "the claim's mount point"),
        Edit("probe", f"{kafka.CONFIG_DIR}/", f"{pod.config}/", "the kubelet runs ready.sh from the ConfigMap's mount point"),
        Edit(kafka.READY_KEY, f"{kafka.CONFIG_DIR}/", f"{pod.config}/", "the ConfigMap's mount point, where the probe's client settings are"),
        Edit(kafka.READY_KEY, f'"{kafka.RUNTIME_DIR}/', f'"{pod.runtime}/', "the emptyDir that holds the probe's mark"),
        Edit(kafka.READY_KEY, f"{kafka.KAFKA_BIN}/", f"{bin_dir}/", "the image's /opt/kafka/bin: the scripts write_kafka_scripts wrote for the Maven jars"),
    ]


def command(argv: list[str], file: str, edits: list[Edit]) -> list[str]:
    """A container's command with the edits for `file` applied (to the whole, so every edit must match)."""
    return shlex.split(apply(file, shlex.join(argv), edits))


def topic_job_edits(bin_dir: Path) -> list[Edit]:
    return [Edit("topic-job", f"{kafka.KAFKA_BIN}/", f"{bin_dir}/", "the image's /opt/kafka/bin: the scripts write_kafka_scripts wrote for the Maven jars")]


LABEL_REF = re.compile(r"^metadata\.labels\['([^']+)'\]$")


def _env_value(entry: dict, labels: dict[str, str]) -> str:
    """An env entry's value as the kubelet resolves it; of the downward API, only pod labels (a missing one is empty)."""
    if "value" in entry:
        return entry["value"]
    path = ((entry.get("valueFrom") or {}).get("fieldRef") or {}).get("fieldPath", "")
    found = LABEL_REF.match(path)
    if not found:
        raise OverlayError(f"env {entry['name']}: the tier resolves only literal values and pod labels, not {entry.get('valueFrom')}")
    return labels.get(found.group(1), "")


def kafka_env(env: list[dict], logs: Path, hostname: str | None = None, address: str | None = None, labels: dict[str, str] | None = None) -> dict[str, str]:
    """The container's env as the StatefulSet or Job sets it, plus what a pod gets from Kubernetes; `labels` are the
    pod's labels, including those the API server copied from its node (the zone)."""
    values = {e["name"]: _env_value(e, labels or {}) for e in env}
    if "LOG_DIR" in values:
        values["LOG_DIR"] = str(logs)  # the logs emptyDir
    if hostname:
        values["HOSTNAME"] = hostname  # the pod's name, which start.sh takes the node id from
    if address:
        values["POD_IP"] = address  # the pod's address, for the listeners edit above
    return values


# -- Filebeat -----------------------------------------------------------------------------------


def filebeat_settings(generated: dict, logs: Path, data: Path, port: int) -> tuple[dict, list[str]]:
    """filebeat.yml for this machine, and one reason per changed key."""
    conf = copy.deepcopy(generated)
    changed = []
    (source,) = conf["filebeat.inputs"]
    if source["paths"] != [filebeat.CONTAINER_LOGS]:
        raise OverlayError(f"filebeat.yml: the overlay expects the input to read {filebeat.CONTAINER_LOGS}, not {source['paths']}")
    source["paths"] = [str(logs / "containers" / "*.log")]
    changed.append(f"filebeat.inputs[0].paths: the node's {filebeat.CONTAINER_LOGS} -> {source['paths'][0]}")
    conf["path.data"] = str(data)
    changed.append(f"path.data: the registry hostPath mounted at {filebeat.DATA_DIR} -> {data}")
    conf["http"] = {**conf["http"], "host": "127.0.0.1", "port": port}
    changed.append("http.host/port: the pod's own address and port -> loopback and a free port")
    return conf, changed


# -- Elasticsearch ------------------------------------------------------------------------------


@dataclass(frozen=True)
class EsPodDirs:
    """Where one Elasticsearch pod's mounts live on this machine: its ConfigMap, emptyDirs, claim and Secrets."""

    root: Path

    def __getattr__(self, mount: str) -> Path:
        if mount not in ES_MOUNTS:
            raise AttributeError(mount)
        return self.root / mount


ES_MOUNTS = ("configmap", "config", "data", "logs", "tmp", "secrets")
"""configmap: /mnt/es-config; config: the writable config copy (with the certificates Secret at certs/); data: the
claim; logs and tmp: emptyDirs; secrets: the elastic password's Secret mount."""


def elasticsearch_edits(pod: EsPodDirs, home: Path, address: str) -> list[Edit]:
    es = elasticsearch
    here = f"{address}:{es.HTTP_PORT}"
    return [
        Edit(es.CONFIG_KEY, "network.host: 0.0.0.0", f"network.host: {address}", "a pod owns its network namespace; on one loopback each node binds its pod's address only"),
        Edit(es.CONFIG_KEY, f"path.data: {es.HOME}/data", f"path.data: {pod.data}", "the claim's mount point"),
        Edit(es.CONFIG_KEY, f"path.logs: {es.HOME}/logs", f"path.logs: {pod.logs}", "the logs emptyDir"),
        Edit(
            es.CONFIG_KEY,
            "action.destructive_requires_name: true",
            "action.destructive_requires_name: true\ncluster.routing.allocation.disk.threshold_enabled: false",
            "each pod has a volume of its own; here all share this machine's disk, whose use by everything else would trip "
            "the disk watermarks and stop shard allocation",
        ),
        Edit("copy", f"{es.HOME}/config/.", f"{home}/config/.", "the image's config directory: the distribution's"),
        Edit("copy", "/mnt/config/", f"{pod.config}/", "the config emptyDir's mount point in the init container"),
        Edit("copy", "/mnt/es-config/", f"{pod.configmap}/", "the ConfigMap's mount point in the init container"),
        Edit("copy", "/mnt/data/", f"{pod.data}/", "the claim's mount point in the init container"),
        Edit("probe", f"{es.HOME}/config/", f"{pod.config}/", "the config emptyDir, where the init container copied the probe"),
        *_probe_edits(es.READY_KEY, pod, here),
        Edit(es.READY_KEY, f"{es.HOME}/data/", f"{pod.data}/", "the claim's mount point"),
        Edit(es.READY_KEY, es.READY_SINCE, f"{pod.tmp}/{Path(es.READY_SINCE).name}", "the tmp emptyDir"),
        *_probe_edits("old-readiness", pod, here),
    ]


def _probe_edits(file: str, pod: EsPodDirs, here: str) -> list[Edit]:
    es = elasticsearch
    return [
        Edit(file, f"{es.HOME}/config/certs/", f"{pod.config}/certs/", "the certificates Secret's mount point"),
        Edit(file, f"{es.SECRETS_DIR}/elastic/", f"{pod.secrets}/", "the elastic password Secret's mount point"),
        Edit(file, "curl ", f"curl --connect-to 127.0.0.1:{es.HTTP_PORT}:{here} ", "127.0.0.1 in the pod is the node; here it is the pod's loopback address (the certificate still names 127.0.0.1)"),
    ]
