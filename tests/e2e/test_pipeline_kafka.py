"""The generated Kafka configs in real Kafka: the dev broker, the prod quorum and its durability, and broken settings.

The brokers are Kafka from Maven Central at the pinned version, started by the generated
start.sh with the generated server.properties (through tools/pipeline/overlay.py's loopback
edits); the topic is created by the topic Job's exact script. What they show goes to
report.json's `pipeline.kafka`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict

import pytest

from components.logging import kafka
from components.logging.config import LoggingSpec
from tests.conftest import ROOT
from tests.e2e.conftest import stack_spec, wait_for
from tools.pipeline import overlay
from tools.pipeline.kafka import PIPELINE, Generated, KafkaError, KafkaPods

pytestmark = pytest.mark.e2e


def expected_topic(spec: LoggingSpec) -> dict:
    k = spec.kafka
    return {
        "partitions": k.partitions,
        "replication_factor": k.replication_factor,
        "configs": {"min.insync.replicas": str(k.min_insync_replicas), "unclean.leader.election.enable": "false", "retention.ms": str(k.retention_hours * 3600 * 1000)},
    }


def kafka_report(report, stack: str) -> dict:
    return report.data["pipeline"].setdefault("kafka", {}).setdefault(stack, {})


@pytest.fixture(scope="module")
def dev(pipeline_runtime, tmp_path_factory, report):
    spec = stack_spec("dev")
    report.data["pipeline"]["overlay"] = [
        {"file": e.file, "why": e.why} for e in overlay.kafka_edits(overlay.PodDirs(ROOT / "build" / "pod"), ROOT / "build" / "bin")
    ] + [{"file": e.file, "why": e.why} for e in overlay.topic_job_edits(ROOT / "build" / "bin")]
    with KafkaPods(pipeline_runtime, spec, tmp_path_factory.mktemp("kafka-dev")) as pods:
        kafka_report(report, "dev")["started_seconds"] = pods.start_all()
        yield pods


def test_dev_broker_starts_from_the_generated_files_and_runs_every_setting_as_generated(dev, report):
    assert dev.generated.brokers == 1
    assert dev.node_id(0) == "0", "start.sh takes the node id from the pod name kafka-0"
    assert dev.config_problems(0) == []
    settings = dev.broker_config(0)
    entry = kafka_report(report, "dev")
    entry["settings_checked"] = sorted(dev.effective_properties(0))
    assert settings["controller.quorum.voters"] == kafka.quorum_voters(PIPELINE, dev.spec, dev.generated.voters)
    assert settings["advertised.listeners"] == f"PLAINTEXT://{kafka.pod_host(PIPELINE, dev.spec, 0)}:{kafka.CLIENT_PORT}"
    entry["known_settings"] = len(dev.known_settings(0))


def test_dev_topic_job_creates_the_topic_and_runs_again_unchanged(dev, report):
    attempts = dev.run_topic_job()
    first = dev.describe_topic()
    assert {k: first[k] for k in ("partitions", "replication_factor", "configs")} == expected_topic(dev.spec)
    again = dev.run_topic_job()
    assert dev.describe_topic() == first, "the Job is idempotent: a second run changes nothing"
    kafka_report(report, "dev").update(topic={k: first[k] for k in ("partitions", "replication_factor", "configs")}, job_attempts=[attempts, again])


def test_dev_broker_acknowledges_and_serves_every_record(dev, report):
    sent = dev.produce(200, 1)
    assert len(sent.acked) == 200 and not sent.errors
    read = Counter(dev.consume_all(idle_ms=5000))
    assert all(read[value] == 1 for value in sent.acked)
    kafka_report(report, "dev")["records"] = {"acked": len(sent.acked), "read": sum(read.values())}


def test_a_misspelt_property_fails_with_what_kafka_knows(pipeline_runtime, tmp_path, report):
    spec = stack_spec("dev")
    broken = Generated.of(spec).with_property("min.insync.replica", str(spec.kafka.min_insync_replicas), replaces="min.insync.replicas")
    with KafkaPods(pipeline_runtime, spec, tmp_path, broken) as pods:
        pods.start_all()
        problems = pods.config_problems(0)
    assert len(problems) == 1 and problems[0].startswith("server.properties sets min.insync.replica=1, which Kafka"), problems
    kafka_report(report, "broken")["misspelt"] = problems[0]


def test_a_wrong_voter_list_fails_with_kafkas_own_error(pipeline_runtime, tmp_path, report):
    spec = stack_spec("dev")
    broken = Generated.of(spec).with_property("controller.quorum.voters", f"1@{kafka.pod_host(PIPELINE, spec, 1)}:{kafka.CONTROLLER_PORT}")
    with KafkaPods(pipeline_runtime, spec, tmp_path, broken) as pods, pytest.raises(KafkaError) as failed:
        pods.start_all()
    assert "the node id 0 must be included in the set of voters" in str(failed.value)
    kafka_report(report, "broken")["voters"] = next(line for line in str(failed.value).splitlines() if "must be included" in line)


@pytest.fixture(scope="module")
def prod(pipeline_runtime, tmp_path_factory, report):
    with KafkaPods(pipeline_runtime, stack_spec("prod"), tmp_path_factory.mktemp("kafka-prod")) as pods:
        kafka_report(report, "prod")["started_seconds"] = pods.start_all()
        yield pods


def test_prod_quorum_forms_with_ordinal_node_ids_that_survive_a_restart(prod, report):
    assert prod.generated.brokers == 3
    assert [prod.node_id(i) for i in range(3)] == ["0", "1", "2"]
    for ordinal in range(3):
        assert prod.config_problems(ordinal) == [], f"kafka-{ordinal}"
    seconds = prod.restart(1)
    assert prod.node_id(1) == "1" and prod.config_problems(1) == []
    kafka_report(report, "prod")["restart_kafka_1_seconds"] = round(seconds, 1)


def _full_isr(pods: KafkaPods) -> bool:
    topic = pods.describe_topic()
    return all(len(p["isr"].split(",")) == pods.spec.kafka.replication_factor for p in topic["by_partition"].values())


def test_prod_topic_is_replicated_with_min_isr_and_no_unclean_election(prod, report):
    prod.run_topic_job()
    topic = prod.describe_topic()
    assert {k: topic[k] for k in ("partitions", "replication_factor", "configs")} == expected_topic(prod.spec)
    assert topic["replication_factor"] == 3 and topic["configs"]["min.insync.replicas"] == "2"
    wait_for("every partition has all three replicas in sync", lambda: _full_isr(prod), timeout=60)
    kafka_report(report, "prod")["topic"] = {k: topic[k] for k in ("partitions", "replication_factor", "configs")}


def test_prod_keeps_every_acknowledged_record_through_broker_loss(prod, report):
    """acks=all: one broker down still writes, two down refuses with NOT_ENOUGH_REPLICAS, and after
    both return every acknowledged record is read exactly once."""
    entry = kafka_report(report, "prod")
    all_up = prod.produce(100, 1)
    assert len(all_up.acked) == 100 and not all_up.errors
    prod.stop(2)
    one_down = prod.produce(100, 2)
    assert len(one_down.acked) == 100 and not one_down.errors
    prod.stop(1)
    # No retries: the broker's answer reaches the callback instead of a delivery timeout after retrying it.
    two_down = prod.produce(100, 3, retries="0", **{"request.timeout.ms": "10000", "delivery.timeout.ms": "20000"})
    assert not two_down.acked and two_down.errors == Counter({"NotEnoughReplicasException": 100}), asdict(two_down)
    for ordinal in (1, 2):
        prod.start(ordinal)
    for ordinal in (1, 2):
        prod.wait_started(ordinal)
    wait_for("the restarted brokers are back in sync", lambda: _full_isr(prod), timeout=120)
    read = Counter(prod.consume_all(idle_ms=8000))
    acked = all_up.acked + one_down.acked
    missing = [v for v in acked if read[v] == 0]
    twice = [v for v, n in read.items() if n > 1]
    assert not missing and not twice, {"missing": missing[:20], "read more than once": twice[:20]}
    entry["durability"] = {
        "all_up": {"acked": len(all_up.acked)},
        "one_broker_down": {"acked": len(one_down.acked), "errors": dict(one_down.errors)},
        "two_brokers_down": {"acked": len(two_down.acked), "errors": dict(two_down.errors), "message": two_down.messages[:1]},
        "after_restart": {"acknowledged": len(acked), "read": sum(read.values()), "missing": len(missing), "read_more_than_once": len(twice)},
    }
