"""Logging durability policies over the pipeline's config files, Kafka StatefulSet and topic-creation Job."""

from __future__ import annotations

import pytest
from policy_harness import Case, edit, evaluate, load

PIPELINE = load("logging-pipeline")
FILEBEAT, KAFKA_CONFIG, LOGSTASH, KAFKA, TOPIC_JOB = PIPELINE
PROPS = KAFKA_CONFIG["data"]["server.properties"]
JOB_ARGS = "spec.template.spec.containers[0].args"
DEV = {"minReplicationFactor": 1, "minInsyncReplicas": 1}


def server_properties(text: str) -> dict:
    return edit(KAFKA_CONFIG, "data", {"server.properties": text})


def pipeline_with(*docs: dict) -> list[dict]:
    kinds = {(d["kind"], d["metadata"]["name"]) for d in docs}
    return [d for d in PIPELINE if (d["kind"], d["metadata"]["name"]) not in kinds] + list(docs)


def single_broker(props: str, rf: str = "1", isr: str = "min.insync.replicas=1") -> list[dict]:
    args = [a for a in TOPIC_JOB["spec"]["template"]["spec"]["containers"][0]["args"]]
    args[args.index("--replication-factor") + 1] = rf
    args[-1] = isr
    return pipeline_with(server_properties(props), edit(KAFKA, "spec.replicas", 1), edit(TOPIC_JOB, JOB_ARGS, args))


DEV_PROPS = "\n".join(
    ["default.replication.factor=1", "min.insync.replicas=1", "offsets.topic.replication.factor=1", "transaction.state.log.replication.factor=1", "transaction.state.log.min.isr=1"]
)

CASES = [
    Case("kafka-durability", "compliant", PIPELINE),
    Case("kafka-durability", "unclean-election", pipeline_with(server_properties(PROPS.replace("unclean.leader.election.enable=false", "unclean.leader.election.enable=true"))), ("enables unclean.leader.election",)),
    Case(
        "kafka-durability",
        "low-replication",
        pipeline_with(server_properties(PROPS.replace("default.replication.factor=3", "default.replication.factor=2").replace("min.insync.replicas=2", "min.insync.replicas=1"))),
        ("default.replication.factor is 2; it must be at least 3", "min.insync.replicas is 1; it must be at least 2"),
    ),
    Case(
        "kafka-durability",
        "isr-equal-to-rf",
        pipeline_with(server_properties(PROPS.replace("min.insync.replicas=2", "min.insync.replicas=3"))),
        ("min.insync.replicas 3 leaves no room below default.replication.factor 3",),
    ),
    Case(
        "kafka-durability",
        "kafka-defaults-when-unset",
        pipeline_with(server_properties("process.roles=broker,controller\n")),
        ("default.replication.factor is 1", "min.insync.replicas is 1"),
    ),
    Case("kafka-durability", "more-replicas-than-brokers", pipeline_with(edit(KAFKA, "spec.replicas", 2)), ("default.replication.factor is 3 but the stack runs 2 broker(s)", "offsets.topic", "transaction.state.log.replication.factor", "--replication-factor 3 but the stack runs 2 broker(s)")),
    Case("kafka-durability", "topic-job-low", pipeline_with(edit(TOPIC_JOB, JOB_ARGS, ["--create", "--topic", "logs", "--replication-factor", "1", "--config", "min.insync.replicas=1"])), ("--replication-factor 1; it must be at least 3", "min.insync.replicas=1; it must be at least 2")),
    Case("kafka-durability", "topic-job-in-a-shell-line", pipeline_with(edit(TOPIC_JOB, JOB_ARGS, ["-c", "kafka-topics.sh --create --topic logs --replication-factor=3 --config min.insync.replicas=3"])), ("min.insync.replicas=3 not below --replication-factor 3",)),
    Case("kafka-durability", "dev-single-broker-relaxed", single_broker(DEV_PROPS), (), DEV),
    Case("kafka-durability", "dev-single-broker-at-prod-thresholds", single_broker(DEV_PROPS), ("default.replication.factor is 1; it must be at least 3", "offsets.topic", "transaction.state.log.replication.factor is 1", "min.insync.replicas is 1", "transaction.state.log.min.isr is 1", "--replication-factor 1", "min.insync.replicas=1")),
    Case("kafka-durability", "dev-still-refuses-unclean-election", single_broker(DEV_PROPS + "\nunclean.leader.election.enable=true"), ("enables unclean.leader.election",), DEV),
    Case("filebeat-acks-all", "compliant", FILEBEAT),
    Case("logstash-persisted-queue", "compliant", LOGSTASH),
    Case("filebeat-acks-all", "default-acks", edit(FILEBEAT, "data", {"filebeat.yml": "output.kafka:\n  hosts: [kafka:9092]\n"}), ("leaves required_acks at its default 1",)),
    Case("filebeat-acks-all", "acks-one-flat-keys", edit(FILEBEAT, "data", {"filebeat.yml": "output.kafka.hosts: [kafka:9092]\noutput.kafka.required_acks: 1\n"}), ("sets required_acks 1",)),
    Case("filebeat-acks-all", "acks-as-string", edit(FILEBEAT, "data", {"filebeat.yml": "output:\n  kafka:\n    required_acks: '-1'\n"})),
    Case("filebeat-acks-all", "elasticsearch-output-has-no-acks", edit(FILEBEAT, "data", {"filebeat.yml": "output.elasticsearch:\n  hosts: [es:9200]\n"})),
    Case("filebeat-acks-all", "invalid-yaml", edit(FILEBEAT, "data", {"filebeat.yml": "output.kafka: [\n"}), ("not valid YAML",)),
    Case("logstash-persisted-queue", "flat-key", edit(LOGSTASH, "data", {"logstash.yml": "queue.type: persisted\n"})),
    Case("logstash-persisted-queue", "memory", edit(LOGSTASH, "data", {"logstash.yml": "queue.type: memory\n"}), ("sets queue.type 'memory'",)),
    Case("logstash-persisted-queue", "unset", edit(LOGSTASH, "data", {"logstash.yml": "pipeline.workers: 2\n"}), ("the default 'memory'",)),
    Case(
        "logstash-persisted-queue",
        "pipeline-overrides",
        edit(LOGSTASH, "data", {"logstash.yml": "queue.type: persisted\n", "pipelines.yml": "- pipeline.id: fast\n  queue.type: memory\n"}),
        ("pipeline 'fast' overrides queue.type with 'memory'",),
    ),
]


@pytest.mark.parametrize("case", [c.param() for c in CASES])
def test_logging_policy(case: Case):
    case.check()


def test_kafka_durability_is_not_applicable_without_kafka():
    outcome = evaluate("kafka-durability", load("compliant-service"))
    assert outcome.messages == [] and "runs no Kafka" in outcome.not_applicable


PACK_IMPORT = """
import importlib.abc, sys
blocked = set(sys.argv[1].split(","))


class NotInThePacksVirtualenv(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in blocked:
            raise ImportError(f"{name} is not in the policy pack's virtualenv")


sys.meta_path.insert(0, NotInThePacksVirtualenv())
sys.path[:0] = [sys.argv[2], sys.argv[3]]  # as policies/__main__.py sets it
import rules
from components.logging import durability

assert rules.log_pipeline.durability is durability
print(sorted(m for m in sys.modules if m.startswith("components")))
"""


def test_the_pack_loads_the_shared_rules_with_only_its_own_requirements():
    """The pack runs in a virtualenv of policies/requirements.txt; the library's other dependencies are not there."""
    import re
    import subprocess
    import sys
    import tomllib

    from tests.conftest import ROOT

    def names(requirements: list[str]) -> set[str]:
        return {re.split(r"[<>=\[; ]", r.strip(), maxsplit=1)[0].lower().replace("-", "_") for r in requirements if r.strip() and not r.startswith("#")}

    library = names(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"])
    pack = names((ROOT / "policies" / "requirements.txt").read_text().splitlines())
    blocked = library - pack - {"typing_extensions"}  # a dependency of pulumi itself
    assert {"pydantic", "pulumi_kubernetes", "pulumi_docker"} <= blocked
    proc = subprocess.run(
        [sys.executable, "-c", PACK_IMPORT, ",".join(sorted(blocked)), str(ROOT / "policies"), str(ROOT)], cwd=ROOT / "policies", capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip() == "['components', 'components.k8s', 'components.k8s.exemptions', 'components.lazy', 'components.logging', 'components.logging.durability']"
