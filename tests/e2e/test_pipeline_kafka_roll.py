"""A rolling restart of the prod brokers under acks=all load, on real Kafka, paced as the StatefulSet controller paces it.

Each broker is stopped (SIGTERM: a controlled shutdown) and started from the generated files; the controller moves to
the next once the restarted pod is Ready. The same cluster is rolled twice under the same load: once moving on when
the client port answers (the TCP readiness probe gosvc generated before), once with the generated readiness probe run
as written, which holds a restarted broker un-Ready until no partition is under-replicated. An admin client samples
the topic's in-sync replicas every 250 ms meanwhile. What they show goes to report.json's `pipeline.roll`.
"""

from __future__ import annotations

import statistics
import time
from collections import Counter

import pytest

from components.config import quantity
from components.logging import kafka
from components.logging.config import MIB
from tests.e2e.conftest import stack_spec, wait_for
from tools.pipeline.kafka import IsrSampler, KafkaPods, ProducerLoad

pytestmark = pytest.mark.e2e

THROUGHPUT = 500
"""Records per second the producer sends through each roll, acks=all."""


def _fully_replicated(sampler: IsrSampler) -> bool:
    latest = sampler.latest()
    return bool(latest) and latest["under_replicated"] == 0


def _roll(pods: KafkaPods, gated: bool, prefix: int) -> dict:
    with IsrSampler(pods) as sampler:
        wait_for("every partition fully replicated before the roll", lambda: _fully_replicated(sampler), timeout=120)
        began_ms = int(time.time() * 1000)
        began = time.monotonic()
        with ProducerLoad(pods, prefix, THROUGHPUT) as load:
            time.sleep(5)  # the load runs steadily before the first stop
            steps = pods.roll(gated, at_stop=lambda: {"under_replicated_at_stop": sampler.latest().get("under_replicated")})
            seconds = time.monotonic() - began
            time.sleep(5)
        wait_for("every partition fully replicated after the roll", lambda: _fully_replicated(sampler), timeout=120)
        samples = IsrSampler.summary(sampler.since(began_ms))
    return {"seconds": round(seconds, 1), "steps": steps, "isr": samples, "load": load.result}


@pytest.fixture(scope="module")
def rolled(pipeline_runtime, tmp_path_factory, report):
    spec = stack_spec("prod")
    with KafkaPods(pipeline_runtime, spec, tmp_path_factory.mktemp("kafka-roll")) as pods:
        pods.start_all()
        pods.run_topic_job()
        tcp = _roll(pods, gated=False, prefix=1)
        gated = _roll(pods, gated=True, prefix=2)
        for ordinal in range(pods.generated.brokers):
            for _ in range(3):  # the kubelet goes on probing a Ready pod
                assert pods.readiness(ordinal), pods.probe_runs[-1]
        read = Counter(pods.consume_all(idle_ms=10000))
        probe_runs = list(pods.probe_runs)
    results = {}
    for label, run in (("tcp_only", tcp), ("gated", gated)):
        acked = run["load"].acked
        results[label] = {
            "seconds": run["seconds"],
            "records_acknowledged": len(acked),
            "failed": sum(run["load"].errors.values()),
            "failed_by_error": dict(run["load"].errors),
            "lost": sum(1 for v in acked if read[v] == 0),
            "duplicated": sum(1 for v in acked if read[v] > 1),
            "samples": run["isr"]["samples"],
            "samples_under_min_isr": run["isr"]["under_min_isr"],
            "samples_under_replicated": run["isr"]["under_replicated"],
            "most_partitions_under_min_isr": run["isr"]["most_partitions_under_min_isr"],
            "sampler_errors": run["isr"]["errors"],
            "steps": run["steps"],
        }
    gate_runs = [r for r in probe_runs if r.gate]
    port_runs = [r for r in probe_runs if not r.gate]
    results["probe"] = {
        "gate_runs": len(gate_runs),
        "gate_runs_failed": sum(1 for r in gate_runs if not r.ok),
        "gate_seconds": {"median": round(statistics.median(r.seconds for r in gate_runs), 2), "max": max(r.seconds for r in gate_runs)},
        "gate_cpu_seconds": {"median": round(statistics.median(r.cpu_seconds for r in gate_runs), 2), "max": max(r.cpu_seconds for r in gate_runs)},
        "gate_max_rss_mib": max(r.max_rss_mib for r in gate_runs),
        # The container's memory limit minus the broker's heap is its off-heap and page cache room; the probe may take half.
        "affordable_mib": float(quantity(spec.kafka.resources.effective_memory_limit) / MIB - kafka.heap_mib(spec)) / 2,
        "port_runs": len(port_runs),
        "port_cpu_seconds_max": max((r.cpu_seconds for r in port_runs), default=None),
        "a_failed_gate_said": next((r.output for r in gate_runs if not r.ok and r.output), None),
    }
    results["producer"] = {"records_per_second": THROUGHPUT, "acks": "all", "client": "kafka-verifiable-producer", "settings": ProducerLoad.SETTINGS}
    report.data["pipeline"]["roll"] = results
    return results


def test_the_gated_roll_never_leaves_a_partition_under_min_isr(rolled):
    gated = rolled["gated"]
    assert gated["samples"] > 100 and not gated["sampler_errors"], gated
    assert gated["samples_under_min_isr"] == 0, gated
    assert [step["under_replicated_at_stop"] for step in gated["steps"]] == [0, 0, 0], "each stop waited for every partition in sync"


def test_the_gated_roll_loses_nothing_and_fails_no_send(rolled):
    for label in ("gated", "tcp_only"):
        run = rolled[label]
        assert run["records_acknowledged"] > THROUGHPUT * run["seconds"] * 0.5, (label, run)
        assert run["lost"] == 0 and run["duplicated"] == 0, (label, run)
    assert rolled["gated"]["failed"] == 0, rolled["gated"]["failed_by_error"]


def test_the_gate_costs_a_broker_little_and_runs_only_until_it_passes(rolled):
    probe = rolled["probe"]
    assert probe["gate_runs"] >= 3 and probe["gate_runs_failed"] < probe["gate_runs"], probe
    assert probe["gate_seconds"]["max"] < 20, "within the probe's timeoutSeconds"
    assert probe["gate_max_rss_mib"] < rolled["probe"]["affordable_mib"], "within half of what the broker's heap leaves in its container"
    assert probe["port_runs"] > 0 and probe["port_cpu_seconds_max"] < 0.2, "after the gate, no JVM"


def test_a_restarted_broker_stays_unready_while_a_partition_is_under_replicated(pipeline_runtime, tmp_path, report):
    """The gate's condition on the real brokers: with kafka-0 down, a restarted kafka-1 serves but is not Ready, and
    its probe says why; once kafka-0 is back and in sync, kafka-1 becomes Ready, and stays so on the port check."""
    with KafkaPods(pipeline_runtime, stack_spec("prod"), tmp_path) as pods:
        pods.start_all()
        pods.run_topic_job()
        pods.stop(0)
        pods.stop(1)
        pods.start(1)
        wait_for("kafka-1's client port", lambda: pods.startup(1), timeout=120)
        held = [pods.readiness(1) for _ in range(3)]
        said = pods.probe_runs[-1].output
        pods.start(0)
        seconds = pods.wait_ready(1)
        assert pods.probe_runs[-1].ok and pods.probe_runs[-1].gate
        assert pods.readiness(1) and not pods.probe_runs[-1].gate
    assert held == [False, False, False], pods.probe_runs
    assert "partition(s) under-replicated, first: " in said and "Topic: " in said, said
    report.data["pipeline"].setdefault("roll", {})["gate_held"] = {"while_kafka_0_down": said, "ready_seconds_after_kafka_0_back": round(seconds, 1)}
