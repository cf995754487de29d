"""Kafka in KRaft mode: a StatefulSet of combined broker/controller nodes, and the Job that creates the log topic.

Each pod takes its node id from its StatefulSet ordinal; the quorum voters are derived from
the replica count and the headless Service's stable names. The durability settings
(replication factor, min.insync.replicas, no unclean leader election) are written into
`server.properties` as broker defaults and set again on the topic itself. A restarted broker turns
Ready only once no partition is under-replicated (`readiness_script`), which paces a rolling update.
"""

from __future__ import annotations

import base64
import uuid

from components.k8s import resources
from components.logging import versions
from components.logging.config import LoggingSpec, default_heap_mib
from components.logging.pod import (
    Part,
    checksum,
    config_map,
    container_security,
    empty_dir,
    headless_service,
    jvm_heap,
    pod_disruption_budget,
    pod_security,
    service_account,
    spread,
    stateful_workload,
    volume_claim,
)

CLIENT_PORT = 9092
CONTROLLER_PORT = 9093
HEADLESS = "kafka-headless"
CONFIG_KEY = "server.properties"
START_KEY = "start.sh"
READY_KEY = "ready.sh"
PROBE_CLIENT_KEY = "probe-client.properties"
CONFIG_DIR = "/etc/kafka/gosvc"
RUNTIME_DIR = "/var/run/kafka"
DATA_DIR = "/var/lib/kafka/data"
LOG_DIRS = f"{DATA_DIR}/kraft-combined-logs"
"""A subdirectory, so a filesystem's lost+found at the volume root is never mistaken for a partition."""
KAFKA_BIN = "/opt/kafka/bin"
IN_SYNC_MARKER = f"{RUNTIME_DIR}/in-sync"
"""Written by the readiness probe once the cluster was fully replicated after this start; start.sh removes it."""
PROBE_JVM = {"KAFKA_HEAP_OPTS": "-Xms16m -Xmx64m", "KAFKA_JVM_PERFORMANCE_OPTS": "-XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:-UsePerfData -Xshare:auto"}
"""The probe's admin client JVM: a small heap (the container's KAFKA_HEAP_OPTS is the broker's), one GC thread and
the quick compiler only, since it runs for a second or two and its CPU comes out of the broker's."""
PROBE_CLIENT = {
    "request.timeout.ms": "4000",
    "default.api.timeout.ms": "8000",
    "socket.connection.setup.timeout.ms": "2000",
    "socket.connection.setup.timeout.max.ms": "3000",
}
"""The probe's admin client gives up before the probe's timeoutSeconds, so a slow answer fails the probe with a message."""
TOPIC_JOB = "kafka-create-topic"
VOTERS_ANNOTATION = "gosvc.dev/kafka-controllers"
"""On the StatefulSet: how many of its pods are KRaft voters, which later `pulumi up`s keep (see upgrades.py)."""
PARTITIONS_ANNOTATION = "gosvc.dev/kafka-partitions"
"""On the StatefulSet: the log topic's partition count, below which later `pulumi up`s refuse to go (see upgrades.py)."""
OFFSETS_TOPIC = "__consumer_offsets"
ZONE_LABEL = "topology.kubernetes.io/zone"


def part(name: str, spec: LoggingSpec) -> Part:
    return Part("kafka", name, spec.namespace, "broker", versions.KAFKA_VERSION)


def pod_host(name: str, spec: LoggingSpec, ordinal: int) -> str:
    return f"kafka-{ordinal}.{HEADLESS}.{spec.namespace}.svc.cluster.local"


def bootstrap_servers(name: str, spec: LoggingSpec) -> list[str]:
    """Every broker's client address; clients need only one to find the rest."""
    return [f"{pod_host(name, spec, i)}:{CLIENT_PORT}" for i in range(spec.kafka.brokers)]


def voter_count(spec: LoggingSpec, deployed: int | None = None) -> int:
    """How many of the pods (the lowest ordinals) are KRaft controllers as well as brokers: the count the running
    quorum was formed with, or, for a new cluster, three (one below three brokers). The voter set is static, so it
    never changes with the broker count: pods beyond it are brokers only, which lets the cluster grow and shrink."""
    if deployed is not None:
        return deployed
    return 3 if spec.kafka.brokers >= 3 else 1


def quorum_voters(name: str, spec: LoggingSpec, voters: int) -> str:
    """Static KRaft voters, `<ordinal>@<pod dns>:<controller port>` for the first `voters` pods."""
    return ",".join(f"{i}@{pod_host(name, spec, i)}:{CONTROLLER_PORT}" for i in range(voters))


def cluster_id(name: str, spec: LoggingSpec) -> str:
    """A stable KRaft cluster id (a base64url UUID) derived from the pipeline's name and namespace.

    It is not a secret, and deriving it keeps it the same on every `pulumi up`, which the
    formatted volumes require.
    """
    raw = uuid.uuid5(uuid.NAMESPACE_URL, f"gosvc://{spec.namespace}/{name}/kafka").bytes
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def server_properties(name: str, spec: LoggingSpec, voters: int) -> dict[str, str]:
    """The shared broker configuration; node.id, process.roles and the listeners are appended per pod at start."""
    k = spec.kafka
    return {
        "controller.quorum.voters": quorum_voters(name, spec, voters),
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "inter.broker.listener.name": "PLAINTEXT",
        "controller.listener.names": "CONTROLLER",
        "log.dirs": LOG_DIRS,
        "num.partitions": str(k.partitions),
        "default.replication.factor": str(k.replication_factor),
        "min.insync.replicas": str(k.min_insync_replicas),
        "unclean.leader.election.enable": "false",
        "offsets.topic.replication.factor": str(k.replication_factor),
        "transaction.state.log.replication.factor": str(k.replication_factor),
        "transaction.state.log.min.isr": str(k.min_insync_replicas),
        "auto.create.topics.enable": "false",
        "log.retention.hours": str(k.retention_hours),
        "group.initial.rebalance.delay.ms": "3000",
    }


def properties_text(props: dict[str, str]) -> str:
    lines = ["# Generated by gosvc (components/logging/kafka.py); node.id, process.roles and the listeners are added per pod."]
    lines += [f"{key}={value}" for key, value in props.items()]
    return "\n".join(lines) + "\n"


def start_script(name: str, spec: LoggingSpec, voters: int) -> str:
    """Writes this pod's config (node id from the ordinal; a controller too when the ordinal is below `voters`; its
    node's zone as `broker.rack`, so Kafka places a partition's replicas in different zones), formats its volume
    once, then runs the broker."""
    return f"""#!/bin/bash
set -euo pipefail
ordinal="${{HOSTNAME##*-}}"
conf="{RUNTIME_DIR}/{CONFIG_KEY}"
rm -f "{IN_SYNC_MARKER}"
cp "{CONFIG_DIR}/{CONFIG_KEY}" "$conf"
if [ "$ordinal" -lt {voters} ]; then
  roles="broker,controller"
  listeners="PLAINTEXT://:{CLIENT_PORT},CONTROLLER://:{CONTROLLER_PORT}"
else
  roles="broker"
  listeners="PLAINTEXT://:{CLIENT_PORT}"
fi
printf 'node.id=%s\\nprocess.roles=%s\\nlisteners=%s\\nadvertised.listeners=PLAINTEXT://%s.{HEADLESS}.{spec.namespace}.svc.cluster.local:{CLIENT_PORT}\\n' "$ordinal" "$roles" "$listeners" "$HOSTNAME" >> "$conf"
if [ -n "${{KAFKA_RACK:-}}" ]; then
  printf 'broker.rack=%s\\n' "$KAFKA_RACK" >> "$conf"
fi
{KAFKA_BIN}/kafka-storage.sh format --ignore-formatted --cluster-id "$CLUSTER_ID" --config "$conf"
exec {KAFKA_BIN}/kafka-server-start.sh "$conf"
"""


def readiness_script(name: str, spec: LoggingSpec) -> str:
    """The readiness probe. Once per start of the broker it is Ready only when no partition in the cluster is
    under-replicated, so the StatefulSet controller stops the next broker only when every partition has all its
    replicas in sync again (the condition Strimzi's roller checks): a broker's client port opens before its
    replicas have caught up, and a stop then would take a second replica out of every ISR. It asks the whole
    cluster, not only the partitions this broker hosts, because the next stop can hit any partition. The check
    starts a JVM (Kafka's admin client), so it runs only until it first passes; after that the probe is a TCP
    connection to the client port, made by bash itself."""
    jvm = " ".join(f'{key}="{value}"' for key, value in PROBE_JVM.items())
    return f"""#!/bin/bash
set -euo pipefail
host="$HOSTNAME.{HEADLESS}.{spec.namespace}.svc.cluster.local"
if [ -e "{IN_SYNC_MARKER}" ]; then
  exec 3<>"/dev/tcp/$host/{CLIENT_PORT}"
  exit 0
fi
lagging="$({jvm} {KAFKA_BIN}/kafka-topics.sh --bootstrap-server "$host:{CLIENT_PORT}" --command-config {CONFIG_DIR}/{PROBE_CLIENT_KEY} --describe --under-replicated-partitions)"
if [ -n "$lagging" ]; then
  echo "waiting for replicas to catch up after this broker's start: $(grep -c . <<<"$lagging") partition(s) under-replicated, first: $(head -n 1 <<<"$lagging")"
  exit 1
fi
: >"{IN_SYNC_MARKER}"
"""


def config_files(name: str, spec: LoggingSpec, voters: int) -> dict[str, str]:
    return {
        CONFIG_KEY: properties_text(server_properties(name, spec, voters)),
        START_KEY: start_script(name, spec, voters),
        READY_KEY: readiness_script(name, spec),
        PROBE_CLIENT_KEY: "".join(f"{key}={value}\n" for key, value in PROBE_CLIENT.items()),
    }


def heap_mib(spec: LoggingSpec) -> int:
    """Half the memory limit: the broker leans on the page cache for the other half."""
    return default_heap_mib(spec.kafka.resources)


def stateful_set(name: str, spec: LoggingSpec, files: dict[str, str], voters: int) -> dict:
    p = part(name, spec)
    k = spec.kafka
    container = {
        "name": "kafka",
        "image": spec.image(versions.KAFKA_IMAGE),
        "imagePullPolicy": "IfNotPresent",
        "command": ["/bin/bash", f"{CONFIG_DIR}/{START_KEY}"],
        "env": [
            {"name": "CLUSTER_ID", "value": cluster_id(name, spec)},
            {"name": "KAFKA_HEAP_OPTS", "value": jvm_heap(heap_mib(spec))},
            {"name": "LOG_DIR", "value": "/opt/kafka/logs"},
            # Copied from the node onto the pod at binding (PodTopologyLabels, on by default since Kubernetes 1.35).
            {"name": "KAFKA_RACK", "valueFrom": {"fieldRef": {"fieldPath": f"metadata.labels['{ZONE_LABEL}']"}}},
        ],
        "ports": [
            {"name": "client", "containerPort": CLIENT_PORT, "protocol": "TCP"},
            {"name": "controller", "containerPort": CONTROLLER_PORT, "protocol": "TCP"},
        ],
        "resources": resources.requirements(k.resources),
        "securityContext": container_security(versions.APP_UID),
        "startupProbe": {"tcpSocket": {"port": "client"}, "periodSeconds": 5, "failureThreshold": 60, "timeoutSeconds": 3},
        "readinessProbe": {"exec": {"command": ["/bin/bash", f"{CONFIG_DIR}/{READY_KEY}"]}, "periodSeconds": 5, "failureThreshold": 3, "timeoutSeconds": 20},
        # Every pod serves clients; only the voters listen on the controller port.
        "livenessProbe": {"tcpSocket": {"port": "client"}, "periodSeconds": 20, "failureThreshold": 3, "timeoutSeconds": 5},
        "volumeMounts": [
            {"name": "data", "mountPath": DATA_DIR},
            {"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
            {"name": "runtime", "mountPath": RUNTIME_DIR},
            {"name": "logs", "mountPath": "/opt/kafka/logs"},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }
    return stateful_workload(
        p,
        service_name=HEADLESS,
        replicas=k.brokers,
        config_checksum=checksum(*files.values()),
        pod={
            # Controlled shutdown moves partition leadership away before the broker stops.
            "terminationGracePeriodSeconds": 120,
            "securityContext": pod_security(versions.APP_UID),
            "affinity": spread(p, required=k.brokers > 1),
            "containers": [container],
            "volumes": [
                {"name": "config", "configMap": {"name": p.app, "defaultMode": 0o444}},
                empty_dir("runtime", "1Mi"),
                empty_dir("logs", "256Mi"),
                empty_dir("tmp", "64Mi"),
            ],
        },
        claims=[volume_claim("data", k.storage, spec.storage_class)],
        # On the StatefulSet's own metadata, which restarts no pod: what a later `pulumi up` must know of this cluster.
        annotations={VOTERS_ANNOTATION: str(voters), PARTITIONS_ANNOTATION: str(k.partitions)},
    )


def topic_job_args(name: str, spec: LoggingSpec) -> list[str]:
    """kafka-topics.sh arguments: the topic with its partitions, replication and durability settings."""
    k = spec.kafka
    return [
        "--bootstrap-server",
        ",".join(bootstrap_servers(name, spec)),
        "--create",
        "--if-not-exists",
        "--topic",
        k.topic,
        "--partitions",
        str(k.partitions),
        "--replication-factor",
        str(k.replication_factor),
        "--config",
        f"min.insync.replicas={k.min_insync_replicas}",
        "--config",
        "unclean.leader.election.enable=false",
        "--config",
        f"retention.ms={k.retention_hours * 3600 * 1000}",
    ]


SPREAD_PLAN = r"""
{ for (i = 1; i < NF; i++) { if ($i == "Partition:") p = $(i + 1); if ($i == "Replicas:") r = $(i + 1) } }
/Partition:/ {
  n = split(r, reps, ","); count++
  if (n != rf) need = 1
  for (j = 1; j <= n; j++) { b = reps[j] + 0; if (b >= brokers) need = 1; held[b]++ }
}
END {
  lo = -1; hi = 0
  for (b = 0; b < brokers; b++) { c = held[b] + 0; if (lo < 0 || c < lo) lo = c; if (c > hi) hi = c }
  if (hi - lo > 1) need = 1
  if (!need) exit
  given = split(order, listed, ",")
  for (b = 0; b < brokers; b++) ids[b] = given == brokers ? listed[b + 1] + 0 : b
  printf "{\"version\":1,\"partitions\":["
  for (q = 0; q < count; q++) {
    best = -1
    for (j = 0; j < rf; j++) { b = ids[(q * rf + j) % brokers]; if (best < 0 || led[b] + 0 < led[best] + 0) best = b }
    led[best]++
    printf "%s{\"topic\":\"%s\",\"partition\":%d,\"replicas\":[%d", (q ? "," : ""), topic, q, best
    for (j = 0; j < rf; j++) { b = ids[(q * rf + j) % brokers]; if (b != best) printf ",%d", b }
    printf "]}"
  }
  print "]}"
}"""
"""awk over `kafka-topics.sh --describe`: prints a reassignment plan when a partition has another replica count than
`rf`, a replica sits on a broker at or above `brokers`, or the brokers' replica counts differ by more than one (as
after a growth: Kafka never moves replicas by itself); prints nothing otherwise, so a spread topic is left alone.
The plan deals the replicas out round robin over `order` (the broker ids with their racks alternating; partition
p on positions p*rf .. p*rf+rf-1, mod `brokers`), which evens the counts and, with as many brokers per rack, puts a
partition's replicas in different racks; it lists first (the preferred leader) the replica that leads the fewest
partitions so far."""

RACK_ORDER = r"""
match($0, /\(id: [0-9]+ rack: [^ )]+/) {
  split(substr($0, RSTART + 1, RLENGTH - 1), f, " "); id = f[2] + 0; rack = f[4]
  if (rack == "null") plain = 1
  if (!(rack in seen)) { seen[rack] = 1; racks[++nracks] = rack }
  members[rack] = members[rack] " " id; if (id > top) top = id
}
END {
  if (plain || !nracks) { for (b = 0; b <= top; b++) out = out (b ? "," : "") b; print out; exit }
  for (k = 1; placed <= top; k++) for (r = 1; r <= nracks; r++) {
    n = split(substr(members[racks[r]], 2), list, " ")
    if (k <= n) { out = out (placed ? "," : "") list[k]; placed++ }
  }
  print out
}"""
"""awk over `kafka-broker-api-versions.sh`: the broker ids with their racks alternating (first of each rack, then
the second of each, ...), for SPREAD_PLAN; plain 0..n-1 when any broker has no rack."""


def topic_script(name: str, spec: LoggingSpec) -> str:
    """Creates the log topic, then brings an existing one to the configured partitions, replica placement and settings.

    Idempotent, so the Job can run again after every change: `--if-not-exists` leaves an existing
    topic alone, the partition count only ever grows (fewer is refused before deploy, see
    upgrades.check), the log topic and the consumer offsets are spread over every broker with the
    configured replication factor when they are not (after a growth: Kafka never moves replicas by
    itself) and waited for, and the durability and retention settings (the topic's, and the cluster's default
    min.insync.replicas) are set on every run.
    """
    k = spec.kafka
    servers = ",".join(bootstrap_servers(name, spec))
    create = " ".join(topic_job_args(name, spec))
    settings = f"min.insync.replicas={k.min_insync_replicas},unclean.leader.election.enable=false,retention.ms={k.retention_hours * 3600 * 1000}"
    return f"""set -euo pipefail
spread() {{
  plan="$({KAFKA_BIN}/kafka-topics.sh --bootstrap-server {servers} --describe --topic "$1" | awk -v topic="$1" -v brokers={k.brokers} -v rf={k.replication_factor} -v order="$order" '{SPREAD_PLAN}')"
  [ -n "$plan" ] || return 0
  echo "$plan" >"/tmp/spread-$1.json"
  echo "spreading $1 over {k.brokers} broker(s) with {k.replication_factor} replica(s) per partition"
  {KAFKA_BIN}/kafka-reassign-partitions.sh --bootstrap-server {servers} --reassignment-json-file "/tmp/spread-$1.json" --execute
  while :; do
    status="$({KAFKA_BIN}/kafka-reassign-partitions.sh --bootstrap-server {servers} --reassignment-json-file "/tmp/spread-$1.json" --verify)"
    grep -q "still in progress" <<<"$status" || break
    sleep 5
  done
  moved=1
}}
moved=0
{KAFKA_BIN}/kafka-topics.sh {create}
order="$({KAFKA_BIN}/kafka-broker-api-versions.sh --bootstrap-server {servers} | awk '{RACK_ORDER}')"
echo "brokers by rack: $order"
current="$({KAFKA_BIN}/kafka-topics.sh --bootstrap-server {servers} --describe --topic {k.topic} | awk '{{for (i = 1; i < NF; i++) if ($i == "PartitionCount:") {{print $(i + 1); exit}}}}')"
if [ "${{current:-0}}" -lt {k.partitions} ]; then
  {KAFKA_BIN}/kafka-topics.sh --bootstrap-server {servers} --alter --topic {k.topic} --partitions {k.partitions}
fi
spread {k.topic}
if {KAFKA_BIN}/kafka-topics.sh --bootstrap-server {servers} --list | grep -qx {OFFSETS_TOPIC}; then
  spread {OFFSETS_TOPIC}
fi
if [ "$moved" = 1 ]; then
  # Leadership stays where it was until the preferred replicas are elected (Kafka's own rebalance waits up to 5 min).
  {KAFKA_BIN}/kafka-leader-election.sh --bootstrap-server {servers} --election-type PREFERRED --all-topic-partitions || echo "preferred leader election left to Kafka's rebalance"
fi
# The storage tool records the formatting config's min.insync.replicas as the cluster's dynamic default, which
# outranks server.properties: a cluster formed with one broker would keep 1 for the offsets topic after a growth.
{KAFKA_BIN}/kafka-configs.sh --bootstrap-server {servers} --alter --entity-type brokers --entity-default --add-config min.insync.replicas={k.min_insync_replicas}
{KAFKA_BIN}/kafka-configs.sh --bootstrap-server {servers} --alter --entity-type topics --entity-name {k.topic} --add-config {settings}
"""


def topic_job(name: str, spec: LoggingSpec) -> dict:
    """Creates or updates the log topic once the brokers answer; retried with back-off until they do.

    Its pod template changes with the topic's settings, so a change replaces the Job (Jobs are
    run-once), which runs `topic_script` again against the existing topic.
    """
    p = part(name, spec).with_role("topic-setup")
    container = {
        "name": "create-topic",
        "image": spec.image(versions.KAFKA_IMAGE),
        "imagePullPolicy": "IfNotPresent",
        "command": ["/bin/bash", "-c", topic_script(name, spec)],
        "env": [{"name": "KAFKA_HEAP_OPTS", "value": jvm_heap(128)}, {"name": "LOG_DIR", "value": "/tmp/kafka-logs"}],
        "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "256Mi"}},
        "securityContext": container_security(versions.APP_UID),
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": p.metadata(TOPIC_JOB),
        "spec": {
            "backoffLimit": 20,
            "activeDeadlineSeconds": 1800,
            "template": {
                "metadata": {"labels": dict(p.labels)},
                "spec": {
                    "restartPolicy": "OnFailure",
                    "serviceAccountName": "kafka",
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "securityContext": pod_security(versions.APP_UID),
                    "containers": [container],
                    "volumes": [empty_dir("tmp", "64Mi")],
                },
            },
        },
    }


def build(name: str, spec: LoggingSpec, deployed_voters: int | None = None) -> dict[str, dict]:
    """Every Kafka object by role; `deployed_voters` is the running quorum's size (None for a new cluster)."""
    p = part(name, spec)
    voters = voter_count(spec, deployed_voters)
    files = config_files(name, spec, voters)
    return {
        "service_account": service_account(p),
        "config": config_map(p, p.app, files),
        "headless_service": headless_service(
            p,
            HEADLESS,
            [
                {"name": "client", "port": CLIENT_PORT, "targetPort": "client", "protocol": "TCP"},
                {"name": "controller", "port": CONTROLLER_PORT, "targetPort": "controller", "protocol": "TCP"},
            ],
        ),
        "stateful_set": stateful_set(name, spec, files, voters),
        "pod_disruption_budget": pod_disruption_budget(p),
        "topic_job": topic_job(name, spec),
    }
