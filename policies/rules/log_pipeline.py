"""Logging durability: Filebeat waits for every in-sync replica, Kafka keeps replicas in sync, Logstash persists its queue.

The settings are read from the config files the logging components ship in ConfigMaps
(`filebeat.yml`, `server.properties`, `logstash.yml`, `pipelines.yml`) and from the
topic-creation Job's arguments. Stacks without these components have nothing to check.
"""

from __future__ import annotations

import re
from typing import Any, Iterator, Mapping

import yaml
from jproperties import Properties
from pulumi_policy import Severity

from components.logging import durability

from .definition import Finding, NotApplicable, ResourceRule, Stack, StackRule, Subject
from .kube import containers
from .props import get, items, whole_number
from .relations import replica_range

FAMILY = "logging"
_MISSING = object()
KAFKA_DEFAULTS = {  # Kafka's own defaults for what server.properties leaves out
    "default.replication.factor": "1",
    "min.insync.replicas": "1",
    "unclean.leader.election.enable": "false",
    "offsets.topic.replication.factor": "3",
    "transaction.state.log.replication.factor": "3",
    "transaction.state.log.min.isr": "2",
}
REPLICATION_FACTORS = ("default.replication.factor", "offsets.topic.replication.factor", "transaction.state.log.replication.factor")
MIN_ISR = (("min.insync.replicas", "default.replication.factor"), ("transaction.state.log.min.isr", "transaction.state.log.replication.factor"))
_TOPIC_RF = re.compile(r"--replication-factor[= ](\d+)")
_TOPIC_ISR = re.compile(r"min\.insync\.replicas=(\d+)")


def flatten(doc: Any, prefix: str = "") -> dict[str, Any]:
    """Beats/Logstash settings as dotted keys, whether written nested (`queue: {type: x}`) or flat (`queue.type: x`)."""
    if not isinstance(doc, dict):
        return {prefix: doc} if prefix else {}
    flat: dict[str, Any] = {}
    for key, value in doc.items():
        flat.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def _section(flat: dict[str, Any], name: str) -> bool:
    return any(k == name or k.startswith(name + ".") for k in flat)


def _config_file(subject: Subject, key: str) -> str | None:
    if subject.kind != "ConfigMap":
        return None
    text = get(subject.props, "data", key)
    return text if isinstance(text, str) else None


def _yaml(text: str) -> tuple[Any, str | None]:
    try:
        return yaml.safe_load(text), None
    except yaml.YAMLError as err:
        return None, str(err).splitlines()[0]


def _filebeat_acks(subject: Subject, _: Mapping[str, Any]) -> Iterator[str]:
    text = _config_file(subject, "filebeat.yml")
    if text is None:
        return
    doc, error = _yaml(text)
    if error:
        yield f"filebeat.yml is not valid YAML ({error})"
        return
    flat = flatten(doc)
    if not _section(flat, "output.kafka") or flat.get("output.kafka.enabled") is False:
        return
    acks = flat.get("output.kafka.required_acks", _MISSING)
    if acks is _MISSING:
        yield "filebeat.yml's Kafka output leaves required_acks at its default 1 (leader only), so a broker failover loses events; set required_acks: -1"
    elif whole_number(acks) != -1:
        yield f"filebeat.yml's Kafka output sets required_acks {acks}; set -1 so every in-sync replica has an event before it is acknowledged"


def _logstash_queue(subject: Subject, _: Mapping[str, Any]) -> Iterator[str]:
    text = _config_file(subject, "logstash.yml")
    if text is not None:
        doc, error = _yaml(text)
        if error:
            yield f"logstash.yml is not valid YAML ({error})"
        else:
            kind = flatten(doc).get("queue.type", _MISSING)
            if kind != "persisted":
                shown = "the default 'memory'" if kind is _MISSING else repr(kind)
                yield f"logstash.yml sets queue.type {shown}; in-flight events are lost when Logstash restarts. Set queue.type: persisted"
    pipelines = _config_file(subject, "pipelines.yml")
    if pipelines is not None:
        doc, error = _yaml(pipelines)
        if error:
            yield f"pipelines.yml is not valid YAML ({error})"
            return
        for entry in doc if isinstance(doc, list) else []:
            flat = flatten(entry)
            kind = flat.get("queue.type", _MISSING)
            if kind is not _MISSING and kind != "persisted":
                yield f"pipelines.yml: pipeline '{flat.get('pipeline.id')}' overrides queue.type with {kind!r}; use persisted"


def kafka_properties(text: str) -> dict[str, str]:
    """server.properties as the broker reads it, with Kafka's own defaults for the durability keys it leaves out."""
    props = Properties()
    props.load(text, "utf-8")
    return {**KAFKA_DEFAULTS, **{k: v.strip() for k, v in props.properties.items()}}


def _brokers(stack: Stack) -> int | None:
    """Kafka brokers in the stack (app.kubernetes.io/name=kafka workloads' replicas), None when unknown."""
    total, known = 0, False
    for workload in stack.workloads(("StatefulSet", "Deployment")):
        if workload.labels.get("app.kubernetes.io/name") == "kafka":
            bounds = replica_range(stack, workload)
            if bounds is None:
                return None
            total, known = total + bounds[0], True
    return total if known else None


def _kafka_jobs(stack: Stack) -> list[tuple[Subject, Any, str]]:
    """Containers of Jobs whose command line creates or configures a topic's replication, with that command line."""
    jobs = [
        (job, c, " ".join(str(a) for a in items(c.spec.get("command")) + items(c.spec.get("args"))))
        for job in stack.kinds("Job")
        if job.template is not None
        for c in containers(job.template[1], ("containers",))
    ]
    return [(job, c, line) for job, c, line in jobs if "--replication-factor" in line or "min.insync.replicas" in line]


def topic_settings(line: str) -> tuple[int | None, int | None]:
    """The replication factor and min.insync.replicas a topic-creation command line gives (None where it gives none)."""
    rf_match, isr_match = _TOPIC_RF.search(line), _TOPIC_ISR.search(line)
    return (int(rf_match.group(1)) if rf_match else None, int(isr_match.group(1)) if isr_match else None)


def _server_properties_findings(subject: Subject, text: str, brokers: int | None, min_rf: int, min_isr: int) -> Iterator[Finding]:
    props = kafka_properties(text)
    where = f"{subject.describe()} server.properties"
    if durability.unclean_election_problem(props["unclean.leader.election.enable"]):
        yield Finding(f"{where} enables unclean.leader.election, which elects an out-of-sync replica and loses acknowledged events", subject.urn)
    for key in REPLICATION_FACTORS:
        value = whole_number(props[key])
        if value is None or value < min_rf:
            yield Finding(f"{where}: {key} is {props[key]}; it must be at least {min_rf}", subject.urn)
        elif brokers is not None and durability.replication_problem(value, brokers):
            yield Finding(f"{where}: {key} is {value} but the stack runs {brokers} broker(s), so topic creation fails", subject.urn)
    for isr_key, rf_key in MIN_ISR:
        isr, rf = whole_number(props[isr_key]), whole_number(props[rf_key])
        if isr is None or isr < min_isr:
            yield Finding(f"{where}: {isr_key} is {props[isr_key]}; it must be at least {min_isr}", subject.urn)
        elif rf is not None and durability.min_insync_problem(isr, rf):
            yield Finding(f"{where}: {isr_key} {isr} leaves no room below {rf_key} {rf}; one broker down would stop acks=all writes", subject.urn)


def _topic_job_findings(job: Subject, c: Any, line: str, brokers: int | None, min_rf: int, min_isr: int) -> Iterator[Finding]:
    rf, isr = topic_settings(line)
    where = f"{job.describe()} {c.label} creates a topic with"
    if rf is not None and rf < min_rf:
        yield Finding(f"{where} --replication-factor {rf}; it must be at least {min_rf}", job.urn)
    if rf is not None and brokers is not None and durability.replication_problem(rf, brokers):
        yield Finding(f"{where} --replication-factor {rf} but the stack runs {brokers} broker(s)", job.urn)
    if isr is not None:
        if isr < min_isr:
            yield Finding(f"{where} min.insync.replicas={isr}; it must be at least {min_isr}", job.urn)
        elif rf is not None and durability.min_insync_problem(isr, rf):
            yield Finding(f"{where} min.insync.replicas={isr} not below --replication-factor {rf}; one broker down would stop writes", job.urn)


def _kafka_durability(stack: Stack, settings: Mapping[str, Any]) -> Iterator[Finding]:
    min_rf = whole_number(settings.get("minReplicationFactor")) or 1
    min_isr = whole_number(settings.get("minInsyncReplicas")) or 1
    brokers = _brokers(stack)
    configs = [(s, _config_file(s, "server.properties")) for s in stack.kinds("ConfigMap")]
    configs = [(s, text) for s, text in configs if text is not None]
    jobs = _kafka_jobs(stack)
    if not configs and not jobs:
        raise NotApplicable("the stack runs no Kafka (no ConfigMap with server.properties, no topic-creation Job)")
    for subject, text in configs:
        yield from _server_properties_findings(subject, text, brokers, min_rf, min_isr)
    for job, c, line in jobs:
        yield from _topic_job_findings(job, c, line, brokers, min_rf, min_isr)


RULES = [
    StackRule(
        "kafka-durability",
        "Kafka replicates every topic, keeps at least two replicas in sync in prod, and never elects an out-of-sync leader.",
        severity=Severity.HIGH,
        family=FAMILY,
        check=_kafka_durability,
        params={
            "minReplicationFactor": {"type": "integer", "minimum": 1, "default": 3, "description": "Lowest replication factor for topics and internal topics."},
            "minInsyncReplicas": {"type": "integer", "minimum": 1, "default": 2, "description": "Lowest min.insync.replicas."},
        },
        remediation_steps="In server.properties set default.replication.factor, offsets.topic.replication.factor and "
        "transaction.state.log.replication.factor to 3, min.insync.replicas and transaction.state.log.min.isr to 2, and "
        "unclean.leader.election.enable=false; create topics with --replication-factor 3 --config min.insync.replicas=2 on "
        "at least three brokers. Stacks with fewer brokers lower the thresholds in their policy config.",
    ),
    ResourceRule(
        "filebeat-acks-all",
        "Filebeat's Kafka output waits for all in-sync replicas (required_acks: -1).",
        severity=Severity.HIGH,
        family=FAMILY,
        check=_filebeat_acks,
        remediation_steps="Set output.kafka.required_acks: -1 in filebeat.yml.",
    ),
    ResourceRule(
        "logstash-persisted-queue",
        "Logstash buffers events in a persisted queue, in logstash.yml and in every pipeline that overrides it.",
        severity=Severity.HIGH,
        family=FAMILY,
        check=_logstash_queue,
        remediation_steps="Set queue.type: persisted (and queue.max_bytes) in logstash.yml, keep path.queue on a persistent "
        "volume, and do not override queue.type in pipelines.yml.",
    ),
]
