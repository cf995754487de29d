"""The `monitoring` stack section and the observability components' args: defaults, errors, fuzzing."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stacks import config as stack_config
from components.errors import ConfigError
from components.observability import config
from components.observability.component import resolve_prometheus_stack, resolve_service_monitoring


def load(**values):
    return stack_config.load({f"gosvc:{k}": v for k, v in values.items()})


def test_every_monitoring_key_lands_in_the_monitoring_section():
    keys = [k for k in stack_config.KEYS if k.target[0] == "monitoring"]
    assert len(keys) >= 20
    assert stack_config.SECTIONS["monitoring"].parse is config.parse_monitoring


def test_stack_defaults_equal_the_component_defaults():
    cfg = load().monitoring
    assert cfg.service_enabled and cfg.stack_enabled
    assert cfg.stack == resolve_prometheus_stack("x", {})[0], "a key default differs from the PrometheusStack default"
    assert cfg.service == config.MonitoringSettings(), "a key default differs from the ServiceMonitoring default"


def test_values_arrive_as_strings_and_are_typed():
    cfg = load(
        alertErrorRatio="0.02", alertRestarts="5", prometheusStackEnabled="false", prometheusStorageSize="50Gi",
        prometheusCpuLimit="2", monitoringStorageClass="fast-ssd", helmRepository="oci://harbor.local/charts",
    ).monitoring
    assert cfg.service.alerts.error_ratio == 0.02 and cfg.service.alerts.restarts == 5
    assert cfg.stack_enabled is False
    assert cfg.stack.prometheus.storage_size == "50Gi" and cfg.stack.prometheus.resources.cpu_limit == "2"
    assert cfg.stack.storage_class == "fast-ssd" and cfg.stack.helm_repository == "oci://harbor.local/charts"


def test_empty_prometheus_cpu_limit_means_none_and_memory_limit_is_kept():
    resources = load().monitoring.stack.prometheus.resources
    assert resources.cpu_limit is None and resources.effective_memory_limit == "1Gi"


@pytest.mark.parametrize(
    "values, key, value_text, rule",
    [
        ({"scrapeInterval": "30 seconds"}, "gosvc:scrapeInterval", "'30 seconds'", "Prometheus duration"),
        ({"scrapeInterval": "15s", "scrapeTimeout": "20s"}, "gosvc:scrapeTimeout", "'20s'", "at most gosvc:scrapeInterval (15s)"),
        ({"scrapeTimeout": "0s"}, "gosvc:scrapeTimeout", "'0s'", "longer than zero"),
        ({"alertErrorRatio": "5%"}, "gosvc:alertErrorRatio", "'5%'", "valid number"),
        ({"alertErrorRatio": "1.5"}, "gosvc:alertErrorRatio", "'1.5'", "less than 1"),
        ({"alertErrorRatio": "NaN"}, "gosvc:alertErrorRatio", "'NaN'", "finite number"),
        ({"alertLatencyP99Seconds": "0"}, "gosvc:alertLatencyP99Seconds", "'0'", "greater than 0"),
        ({"alertMemoryPercent": "120"}, "gosvc:alertMemoryPercent", "120", "less than or equal to 100"),
        ({"alertRunbookBaseUrl": "wiki/runbooks"}, "gosvc:alertRunbookBaseUrl", "'wiki/runbooks'", "http(s) URL"),
        ({"helmRepository": "prometheus-community"}, "gosvc:helmRepository", "'prometheus-community'", "oci://"),
        ({"prometheusRetention": "two weeks"}, "gosvc:prometheusRetention", "'two weeks'", "Prometheus duration"),
        ({"prometheusRetentionSize": "45Gi"}, "gosvc:prometheusRetentionSize", "'45Gi'", "'45GB'"),
        ({"prometheusStorageSize": "lots"}, "gosvc:prometheusStorageSize", "'lots'", "not a Kubernetes quantity"),
        ({"prometheusMemoryRequest": "2Gi"}, "gosvc:prometheusMemoryLimit", "'1Gi'", "at least gosvc:prometheusMemoryRequest (2Gi)"),
        ({"prometheusCpuRequest": "2", "prometheusCpuLimit": "1"}, "gosvc:prometheusCpuLimit", "'1'", "at least gosvc:prometheusCpuRequest (2)"),
        ({"prometheusReplicas": "0"}, "gosvc:prometheusReplicas", "0", "greater than or equal to 1"),
        ({"monitoringStorageClass": "Fast_SSD"}, "gosvc:monitoringStorageClass", "'Fast_SSD'", "StorageClass name"),
        ({"nodeExporterEnabled": "sometimes"}, "gosvc:nodeExporterEnabled", "'sometimes'", "true or false"),
    ],
)
def test_bad_monitoring_value_names_key_value_and_rule(values, key, value_text, rule):
    with pytest.raises(ConfigError) as caught:
        load(**values)
    message = str(caught.value)
    assert message.startswith(f"{key}: invalid value"), message
    assert value_text in message and rule in message, message
    assert caught.value.key == key


@pytest.mark.parametrize(
    "text, seconds",
    [("30s", 30), ("1m", 60), ("1h30m", 5400), ("15d", 1296000), ("2w", 1209600), ("500ms", 0.5)],
)
def test_prometheus_durations(text, seconds):
    assert config.duration_seconds(text) == seconds


@pytest.mark.parametrize("text", ["", "30", "1.5m", "m", "30s1m", "-1s", "1 m"])
def test_not_prometheus_durations(text):
    with pytest.raises(ValueError):
        config.duration_seconds(text)


_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(10**6), max_value=10**6), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20), st.sampled_from(["30s", "0s", "1Gi", "45GB", "oci://x/y", "https://x", "0.5", "nan", "1e309", ""]),
)
_values = st.one_of(_scalars, st.lists(_scalars, max_size=2), st.dictionaries(st.text(max_size=12), _scalars, max_size=3))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(sorted(config.PrometheusStackSpec.model_fields)), _values, max_size=5))
def test_fuzz_prometheus_stack_args_validate_or_raise_config_error(args):
    try:
        spec = resolve_prometheus_stack("fuzz", args)[0]
    except ConfigError as err:
        assert str(err).startswith("PrometheusStack 'fuzz'")
        return
    spec.check()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(sorted(config.ServiceMonitoringSpec.model_fields)), _values, max_size=5))
def test_fuzz_service_monitoring_args_validate_or_raise_config_error(args):
    try:
        spec = resolve_service_monitoring("fuzz", {"service_name": "api", **args})[0]
    except ConfigError as err:
        assert str(err).startswith("ServiceMonitoring 'fuzz'")
        return
    spec.check()


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from([k.name for k in stack_config.KEYS if k.target[0] == "monitoring"]), _values, max_size=6))
def test_fuzz_monitoring_stack_keys_validate_or_raise_config_error(values):
    try:
        cfg = stack_config.load({f"gosvc:{k}": v for k, v in values.items()})
    except ConfigError as err:
        assert err.key.startswith("gosvc:") and err.allowed, err
        return
    cfg.monitoring.service.check()
    cfg.monitoring.stack.check()
