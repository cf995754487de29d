"""A Kafka pipeline grown in place on real Kafka: dev's one broker to three, then to five.

Each growth is what `pulumi up` of the larger count does, with the files the component generates for a running
cluster (the quorum it was formed with kept): the StatefulSet controller starts the new pods, rolls the old ones
whose files changed, each waiting for the generated readiness probe, and the replaced topic Job runs its script,
which spreads the log topic and the consumer offsets over the brokers. What it shows goes to report.json's
`pipeline.growth`.
"""

from __future__ import annotations

import time
from collections import Counter

import pytest

from components.logging import kafka
from components.logging.config import LoggingSpec
from tests.e2e.conftest import stack_spec
from tools.pipeline.kafka import Generated, KafkaPods

pytestmark = pytest.mark.e2e

GROUP = "gosvc-logstash"
ZONES = {0: "zone-a", 1: "zone-b", 2: "zone-c", 3: "zone-a", 4: "zone-b"}
"""The zone of each pod's node, as the API server labels the pods."""


def _grown(spec: LoggingSpec, brokers: int) -> LoggingSpec:
    """The spec with `brokers` and the production durability a stack sets when it grows from one broker."""
    k = spec.kafka.model_copy(update={"brokers": brokers, "replication_factor": 3, "min_insync_replicas": 2})
    return spec.model_copy(update={"kafka": k})


def _placement(pods: KafkaPods, topic: str) -> dict:
    described = pods.describe_topic(topic)
    replicas = [p["replicas"].split(",") for p in described["by_partition"].values()]
    return {
        "partitions": described["partitions"],
        "replication_factor": described["replication_factor"],
        "brokers_holding_replicas": sorted({int(b) for r in replicas for b in r}),
        "replicas_per_broker": dict(sorted(Counter(int(b) for r in replicas for b in r).items())),
        "leaders_per_broker": dict(sorted(Counter(int(p["leader"]) for p in described["by_partition"].values()).items())),
        "min_isr": described["configs"].get("min.insync.replicas"),
        "partitions_with_two_replicas_in_one_zone": sum(1 for r in replicas if len({ZONES[int(b)] for b in r}) < len(r)),
    }


def _grow(pods: KafkaPods, spec: LoggingSpec) -> dict:
    """One `pulumi up` of `spec` on the running pods, paced as the StatefulSet controller and the Job run it."""
    before = dict(pods.generated.files)
    generated = Generated.of(spec, deployed_voters=pods.generated.voters)
    pods.update(spec, generated)
    began = time.monotonic()
    old = sorted(pods.processes)
    new = [i for i in range(generated.brokers) if i not in pods.processes]
    for ordinal in new:  # Parallel pod management: the new pods start at once
        pods.start(ordinal)
    ready = {f"kafka-{i}": round(pods.wait_ready(i), 1) for i in new}
    rolled = []
    if generated.files != before:  # the config checksum changed: the old pods roll, highest ordinal first
        for ordinal in reversed(old):
            pods.stop(ordinal)
            pods.start(ordinal)
            ready[f"kafka-{ordinal}"] = round(pods.wait_ready(ordinal), 1)
            rolled.append(f"kafka-{ordinal}")
    attempts = pods.run_topic_job(attempts=20)
    return {"new_pods": [f"kafka-{i}" for i in new], "rolled": rolled, "ready_seconds": ready, "job_attempts": attempts,
            "seconds": round(time.monotonic() - began, 1)}


@pytest.fixture(scope="module")
def grown(pipeline_runtime, tmp_path_factory, report):
    dev = stack_spec("dev")
    entry = report.data["pipeline"].setdefault("growth", {})
    with KafkaPods(pipeline_runtime, dev, tmp_path_factory.mktemp("kafka-growth"), zones=ZONES) as pods:
        pods.start_all()
        pods.run_topic_job()
        written = pods.produce(600, 1)
        assert len(written.acked) == 600 and not written.errors
        pods.consume_all(idle_ms=5000, group=GROUP)  # Logstash's group commits offsets: the offsets topic exists, with RF 1
        stages = {"1": {"topic": _placement(pods, dev.kafka.topic), "offsets": _placement(pods, kafka.OFFSETS_TOPIC)}}
        for brokers in (3, 5):
            spec = _grown(dev, brokers)
            step = _grow(pods, spec)
            more = pods.produce(300, brokers)
            step.update(
                topic=_placement(pods, spec.kafka.topic),
                offsets=_placement(pods, kafka.OFFSETS_TOPIC),
                voters=pods.broker_config(0)["controller.quorum.voters"].count("@"),
                acked_after={"acked": len(more.acked), "errors": dict(more.errors)},
                roles={f"kafka-{i}": pods.effective_properties(i)["process.roles"] for i in range(brokers)},
            )
            stages[str(brokers)] = step
            written.acked.extend(more.acked)
            assert len(more.acked) == 300 and not more.errors, more
        read = Counter(pods.consume_all(idle_ms=10000))
    stages["records"] = {"acked": len(written.acked), "read": sum(read.values()),
                         "lost": sum(1 for v in written.acked if read[v] == 0), "duplicated": sum(1 for v in written.acked if read[v] > 1)}
    entry.update(stages)
    return stages


def test_one_broker_grows_to_three_with_the_topic_and_offsets_spread_at_three_replicas(grown):
    assert grown["1"]["topic"]["replication_factor"] == 1 and grown["1"]["offsets"]["replication_factor"] == 1
    three = grown["3"]
    assert three["new_pods"] == ["kafka-1", "kafka-2"] and three["rolled"] == ["kafka-0"], "server.properties changed with the durability"
    for topic in ("topic", "offsets"):
        assert three[topic]["replication_factor"] == 3 and three[topic]["brokers_holding_replicas"] == [0, 1, 2], three[topic]
    assert three["topic"]["min_isr"] == "2" == three["offsets"]["min_isr"] and len(three["topic"]["leaders_per_broker"]) == 2, three
    assert three["topic"]["partitions_with_two_replicas_in_one_zone"] == 0 == three["offsets"]["partitions_with_two_replicas_in_one_zone"]
    assert three["voters"] == 1 and three["roles"] == {"kafka-0": "broker,controller", "kafka-1": "broker", "kafka-2": "broker"}


def test_three_brokers_grow_to_five_with_replicas_moved_onto_the_new_ones(grown):
    five = grown["5"]
    assert five["new_pods"] == ["kafka-3", "kafka-4"] and five["rolled"] == [], "nothing in the old pods' files changed"
    for topic in ("topic", "offsets"):
        assert five[topic]["brokers_holding_replicas"] == [0, 1, 2, 3, 4] and five[topic]["replication_factor"] == 3, five[topic]
    assert five["voters"] == 1


def test_every_record_written_before_and_between_the_growths_is_read_once(grown):
    records = grown["records"]
    assert records["acked"] == 1200 and records["lost"] == 0 and records["duplicated"] == 0, records
