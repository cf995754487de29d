"""Rack awareness on real Kafka: each broker's `broker.rack` comes from its node's zone, and a partition's replicas
land in different zones.

Four brokers (three KRaft controllers and one broker only) on nodes in two zones, two per zone, as the API server
labels the pods from their nodes; the topic Job's exact script creates the topic with replication factor 2. Beside
it, the same brokers without zone labels (clusters whose API server does not copy them, before Kubernetes 1.35), to
show what the placement would be without racks. What they show goes to report.json's `pipeline.racks`.
"""

from __future__ import annotations

import pytest

from components.logging.config import LoggingSpec
from tests.e2e.conftest import stack_spec
from tools.pipeline.kafka import KafkaPods

pytestmark = pytest.mark.e2e

ZONES = {0: "zone-a", 1: "zone-a", 2: "zone-b", 3: "zone-b"}
"""Pods 0 and 1 on nodes in zone-a, 2 and 3 in zone-b: the placement where ignoring racks costs the most."""


def _spec() -> LoggingSpec:
    prod = stack_spec("prod")
    k = prod.kafka.model_copy(update={"brokers": 4, "replication_factor": 2, "min_insync_replicas": 1, "partitions": 12})
    return prod.model_copy(update={"kafka": k})


def _placement(pods: KafkaPods) -> dict:
    pods.run_topic_job()
    topic = pods.describe_topic()
    replicas = {p: [int(b) for b in row["replicas"].split(",")] for p, row in topic["by_partition"].items()}
    same_zone = sorted(p for p, r in replicas.items() if len({ZONES[b] for b in r}) < len(r))
    return {"replicas": {str(p): r for p, r in sorted(replicas.items())}, "partitions_within_one_zone": same_zone,
            "racks": {str(i): pods.broker_config(i).get("broker.rack") for i in range(pods.generated.brokers)}}


@pytest.fixture(scope="module")
def placements(pipeline_runtime, tmp_path_factory, report):
    found = {}
    for label, zones in (("with_zones", ZONES), ("without_zones", None)):
        with KafkaPods(pipeline_runtime, _spec(), tmp_path_factory.mktemp(f"kafka-racks-{label}"), zones=zones) as pods:
            pods.start_all()
            found[label] = _placement(pods)
            found[label]["roles"] = {str(i): pods.effective_properties(i)["process.roles"] for i in range(4)}
    report.data["pipeline"]["racks"] = {"zones": {str(k): v for k, v in ZONES.items()}, **found}
    return found


def test_each_broker_runs_with_its_nodes_zone_as_its_rack(placements):
    assert placements["with_zones"]["racks"] == {str(i): zone for i, zone in ZONES.items()}
    assert set(placements["without_zones"]["racks"].values()) <= {None, "", "null"}, placements["without_zones"]["racks"]
    assert placements["with_zones"]["roles"] == {"0": "broker,controller", "1": "broker,controller", "2": "broker,controller", "3": "broker"}


def test_every_partition_has_its_replicas_in_both_zones(placements):
    with_zones = placements["with_zones"]
    assert len(with_zones["replicas"]) == 12 and with_zones["partitions_within_one_zone"] == [], with_zones
