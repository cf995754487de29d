"""LoggingSpec validation: single-field limits, the cross-part rules, the waste warnings, and stack-key error messages."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stacks import config as stack_config
from components.errors import ConfigError
from components.logging import durability
from components.logging.config import LoggingSpec, parse_logging, warnings

WHERE = "LoggingPipeline 'logging'"
DEV = {
    "kafka": {"brokers": 1, "replication_factor": 1, "min_insync_replicas": 1, "partitions": 2},
    "logstash": {"replicas": 1, "consumer_threads": 2, "queue_max_bytes": "512Mi", "queue_storage": "1Gi"},
    "elasticsearch": {"nodes": 1, "index_replicas": 0, "resources": {"memory_request": "2Gi", "cpu_request": "500m", "cpu_limit": None}},
}


def test_defaults_are_production_shaped_and_valid():
    spec = parse_logging({}, WHERE)
    assert (spec.kafka.brokers, spec.kafka.replication_factor, spec.kafka.min_insync_replicas) == (3, 3, 2)
    assert spec.elasticsearch.nodes == 3 and spec.elasticsearch.index_replicas >= 1
    assert spec.namespace == "logging"
    assert warnings(spec) == []


def test_dev_sizing_is_valid_and_heap_is_half_the_limit():
    spec = parse_logging(DEV, WHERE)
    assert spec.kafka.replication_factor == 1 and spec.kafka.min_insync_replicas == 1
    assert spec.elasticsearch.heap_mib == 1024


@pytest.mark.parametrize(
    ("raw", "key", "hint"),
    [
        ({"kafka": {"brokers": 1}}, "kafka.replication_factor", "kafka.brokers (1)"),
        ({"kafka": {"min_insync_replicas": 3}}, "kafka.min_insync_replicas", "below kafka.replication_factor (3)"),
        ({"kafka": {"replication_factor": 2, "min_insync_replicas": 2}}, "kafka.min_insync_replicas", "below"),
        ({"kafka": {"brokers": 1, "replication_factor": 1, "min_insync_replicas": 2}}, "kafka.min_insync_replicas", "1 is the only value"),
        ({"logstash": {"consumer_threads": 7}}, "logstash.consumer_threads", "kafka.partitions (6)"),
        ({"logstash": {"queue_max_bytes": "1900Mi"}}, "logstash.queue_max_bytes", "logstash.queue_storage (2Gi)"),
        ({"elasticsearch": {"nodes": 2, "index_replicas": 1}}, "elasticsearch.nodes", "odd number"),
        ({"elasticsearch": {"nodes": 4}}, "elasticsearch.nodes", "odd number"),
        ({"elasticsearch": {"heap": "4Gi"}}, "elasticsearch.heap", "below the memory limit (4Gi)"),
        ({"elasticsearch": {"heap": "5Gi"}}, "elasticsearch.heap", "below the memory limit"),
        ({"elasticsearch": {"nodes": 1}}, "elasticsearch.index_replicas", "elasticsearch.nodes - 1 (0)"),
        ({"kafka": {"resources": {"cpu_request": "2", "cpu_limit": "1"}}}, "kafka.resources.cpu_limit", "at least"),
    ],
)
def test_cross_part_rule_breaches_fail_naming_the_field(raw, key, hint):
    with pytest.raises(ConfigError) as err:
        parse_logging(raw, WHERE)
    assert err.value.key == f"{WHERE}: {key}"
    assert hint in err.value.allowed


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"kafka": {"brokers": 0}}, "kafka.brokers"),
        ({"kafka": {"topic": "logs with spaces"}}, "kafka.topic"),
        ({"kafka": {"storage": "lots"}}, "kafka.storage"),
        ({"filebeat": {"rate_limit": "fast"}}, "filebeat.rate_limit"),
        ({"filebeat": {"compression": "brotli"}}, "filebeat.compression"),
        ({"logstash": {"index_mode": "weekly"}}, "logstash.index_mode"),
        ({"kibana": {"ingress_namespaces": ["Not_A_Label"]}}, "kibana.ingress_namespaces"),
        ({"namespace": "kube-system"}, "namespace"),
        ({"api_server_cidr": "10.0.0.1/8"}, "api_server_cidr"),
        ({"kafka": {"partition": 3}}, "kafka.partition"),
    ],
)
def test_bad_single_values_fail_naming_the_field(raw, field):
    with pytest.raises(ConfigError) as err:
        parse_logging(raw, WHERE)
    assert err.value.key == f"{WHERE}: {field}"


def test_waste_is_a_warning_not_an_error():
    spec = parse_logging({"logstash": {"replicas": 3, "consumer_threads": 4}, "kafka": {"partitions": 6}}, WHERE)
    (found,) = warnings(spec)
    assert "12 consumers" in found and "6 consumer threads will sit idle" in found


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ({"filebeat": {"rate_limit": "5000/s"}}, "drops the events above the limit"),
        ({"kafka": {"brokers": 2, "replication_factor": 2, "min_insync_replicas": 1}}, "one KRaft controller"),
        ({"elasticsearch": {"index_replicas": 0}}, "losing one node loses"),
        ({"elasticsearch": {"heap": "3Gi"}}, "above half the memory limit"),
        ({"filebeat": {"bulk_max_size": 5000}}, "batches can never fill"),
    ],
)
def test_risky_or_wasteful_settings_warn(raw, fragment):
    assert any(fragment in w for w in warnings(parse_logging(raw, WHERE)))


def test_stack_config_reports_the_stack_keys_of_a_cross_part_rule():
    with pytest.raises(ConfigError) as err:
        stack_config.load({"gosvc:kafkaBrokers": "1"})
    assert err.value.key == "gosvc:kafkaReplicationFactor"
    assert "gosvc:kafkaBrokers (1)" in err.value.allowed


def test_stack_config_reports_the_stack_key_of_a_bad_value():
    with pytest.raises(ConfigError) as err:
        stack_config.load({"gosvc:logstashBatchSize": "0"})
    assert err.value.key == "gosvc:logstashBatchSize"
    with pytest.raises(ConfigError) as err:
        stack_config.load({"gosvc:elasticsearchMemory": "lots"})
    assert err.value.key == "gosvc:elasticsearchMemory"


def test_stack_config_empty_cpu_limit_means_none_and_memory_sets_the_limit():
    cfg = stack_config.load({"gosvc:filebeatCpuLimit": "", "gosvc:kafkaMemory": "3Gi"})
    assert cfg.logging.filebeat.resources.cpu_limit is None
    assert cfg.logging.kafka.resources.effective_memory_limit == "3Gi"


def test_the_on_off_switch_is_the_stacks_and_the_pipeline_refuses_it():
    """LoggingPipeline has no `enabled` arg (it would be ignored); gosvc:loggingEnabled is the stack section's own."""
    with pytest.raises(ConfigError) as err:
        parse_logging({"enabled": False}, "LoggingPipeline 'logs'")
    assert err.value.key == "LoggingPipeline 'logs': enabled" and "unknown key" in err.value.allowed
    off = stack_config.load({"gosvc:loggingEnabled": "false", "gosvc:kafkaPartitions": "9"}).logging
    assert off.enabled is False and off.kafka.partitions == 9
    assert parse_logging(off.model_dump(exclude={"enabled"}), "LoggingPipeline 'logs'") == LoggingSpec(**off.model_dump(exclude={"enabled"}))
    assert stack_config.load({}).logging.enabled is True


def test_every_logging_key_lands_on_a_spec_field():
    spec_fields = stack_config.LoggingConfig().model_dump()
    for key in stack_config.KEYS:
        if key.target[0] != "logging":
            continue
        node = spec_fields
        for part in key.target[1:]:
            assert part in node, f"{key.full_name} -> {'.'.join(key.target)}"
            node = node[part]


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_each_stack_file_validates_with_the_expected_durability(stack):
    from tools.offline.engine import stack_config as engine_stack_config
    from tests.conftest import ROOT

    cfg = stack_config.load(engine_stack_config(ROOT, stack))
    k, es = cfg.logging.kafka, cfg.logging.elasticsearch
    if stack == "dev":
        assert (k.brokers, k.replication_factor, k.min_insync_replicas, es.nodes) == (1, 1, 1, 1)
    else:
        assert (k.brokers, k.replication_factor, k.min_insync_replicas, es.nodes) == (3, 3, 2, 3)
        assert es.index_replicas >= 1
    assert cfg.logging.enabled is True
    assert warnings(cfg.logging) == []


@settings(max_examples=200, deadline=None)
@given(brokers=st.integers(1, 9), rf=st.integers(1, 9), isr=st.integers(1, 9))
def test_the_spec_refuses_kafka_durability_exactly_where_the_shared_rules_do(brokers, rf, isr):
    """LoggingSpec.check and the policy pack judge replication with the same functions (components/logging/durability.py)."""
    raw = {"kafka": {"brokers": brokers, "replication_factor": rf, "min_insync_replicas": isr, "partitions": 6}}
    expected = (
        "kafka.replication_factor"
        if durability.replication_problem(rf, brokers)
        else "kafka.min_insync_replicas"
        if durability.min_insync_problem(isr, rf)
        else None
    )
    try:
        parse_logging(raw, WHERE)
        refused = None
    except ConfigError as err:
        refused = err.key
    assert refused == (None if expected is None else f"{WHERE}: {expected}")
    assert (durability.min_insync_problem(isr, rf) is None) == (isr < rf or isr == rf == 1)
    assert (durability.replication_problem(rf, brokers) is None) == (rf <= brokers)


def test_the_shared_rules_say_why():
    assert "each replica needs its own broker" in durability.replication_problem(4, 3)
    assert "no write could ever be acknowledged" in durability.min_insync_problem(3, 2)
    assert "one broker down would stop acks=all writes" in durability.min_insync_problem(2, 2)
    assert durability.min_insync_problem(1, 1) is None and durability.min_insync_problem(2, 3) is None
    assert durability.unclean_election_problem(" False ") is None and "out-of-sync" in durability.unclean_election_problem("true")
