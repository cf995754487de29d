"""Stack config and component args: every bad input gets one ConfigError naming key, value and rule."""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stacks import config as stack_config
from components.errors import ConfigError
from components.image.config import parse_image
from components.service.component import resolve_go_service
from components.service.config import ServiceSpec, parse_service


def load(**values):
    return stack_config.load({f"gosvc:{k}": v for k, v in values.items()})


def test_defaults_validate_and_match_the_component_defaults():
    cfg = load()
    assert cfg.service.service_name == "hello"
    assert cfg.service.autoscaling.min_replicas == 2 and cfg.service.autoscaling.max_replicas == 4
    assert cfg.service.resources.memory_limit is None  # empty string means "equal to the request"
    assert cfg.image.tag == "0.1.0" and cfg.image.runtime == "distroless"


def test_values_arrive_as_strings_from_the_engine_and_are_typed():
    cfg = load(replicas="3", hpaEnabled="false", zoneSpread="true", ingressNamespaces='["ingress-nginx"]', memoryLimit="256Mi")
    assert cfg.service.replicas == 3
    assert cfg.service.autoscaling.enabled is False
    assert cfg.service.scheduling.zone_spread is True
    assert cfg.service.network.ingress_namespaces == ["ingress-nginx"]
    assert cfg.service.resources.effective_memory_limit == "256Mi"


def test_keys_of_other_namespaces_are_ignored():
    cfg = stack_config.load({"kubernetes:context": "kind-dev", "gosvc:replicas": "3"})
    assert cfg.service.replicas == 3


@pytest.mark.parametrize(
    "values, key, value_text, rule",
    [
        ({"replcas": "3"}, "gosvc:replcas", "'3'", "did you mean 'gosvc:replicas'"),
        ({"cpuRequest": "100 millicores"}, "gosvc:cpuRequest", "'100 millicores'", "not a Kubernetes quantity"),
        ({"memoryRequest": "12XB"}, "gosvc:memoryRequest", "'12XB'", "not a Kubernetes quantity"),
        ({"memoryRequest": "1E35"}, "gosvc:memoryRequest", "'1E35'", "at most 1E"),
        ({"elasticsearchMemory": "1E35"}, "gosvc:elasticsearchMemory", "'1E35'", "at most 1E"),
        ({"memoryRequest": "-5Mi"}, "gosvc:memoryRequest", "'-5Mi'", "positive"),
        ({"memoryRequest": "256Mi", "memoryLimit": "128Mi"}, "gosvc:memoryLimit", "'128Mi'", "at least gosvc:memoryRequest (256Mi)"),
        ({"cpuRequest": "2", "cpuLimit": "500m"}, "gosvc:cpuLimit", "'500m'", "at least gosvc:cpuRequest (2)"),
        ({"hpaMinReplicas": "5", "hpaMaxReplicas": "3"}, "gosvc:hpaMinReplicas", "5", "at most gosvc:hpaMaxReplicas (3)"),
        ({"replicas": "0"}, "gosvc:replicas", "0", "greater than or equal to 1"),
        ({"hpaCpuUtilization": "0"}, "gosvc:hpaCpuUtilization", "0", "greater than or equal to 1"),
        ({"hpaCpuUtilization": "150"}, "gosvc:hpaCpuUtilization", "150", "less than or equal to 100"),
        ({"imageTag": "latest"}, "gosvc:imageTag", "'latest'", "'latest' is not allowed"),
        ({"antiAffinity": "sometimes"}, "gosvc:antiAffinity", "'sometimes'", "'preferred' or 'required'"),
        ({"namespace": "default"}, "gosvc:namespace", "'default'", "not 'default'"),
        ({"replicas": "two"}, "gosvc:replicas", "'two'", "whole number"),
        ({"zoneSpread": "maybe"}, "gosvc:zoneSpread", "'maybe'", "true or false"),
        ({"ingressNamespaces": "ingress-nginx"}, "gosvc:ingressNamespaces", "'ingress-nginx'", "JSON array"),
        ({"ingressNamespaces": '["Bad_NS"]'}, "gosvc:ingressNamespaces", "'Bad_NS'", "DNS-1123 label"),
        ({"egress": '["10.0.0.0/33:5432"]'}, "gosvc:egress", "10.0.0.0/33:5432", "egress target"),
        ({"egress": '["payments"]'}, "gosvc:egress", "payments", "must look like"),
        ({"imagePlatform": "windows/amd64"}, "gosvc:imagePlatform", "'windows/amd64'", "Linux platform"),
        ({"goVersion": "go1.22"}, "gosvc:goVersion", "'go1.22'", "Go release"),
        ({"imageRuntime": "ubuntu"}, "gosvc:imageRuntime", "'ubuntu'", "'distroless', 'alpine' or 'scratch'"),
        ({"hpaRequestsPerSecond": "fast"}, "gosvc:hpaRequestsPerSecond", "'fast'", "not a Kubernetes quantity"),
        ({"memoryRequest": "8Mi"}, "gosvc:memoryLimit", "'8Mi'", "at least 16Mi"),
        ({"metricsPort": "8080"}, "gosvc:metricsPort", "8080", "three different ports"),
        ({"image": "registry.example.com/gosvc/hello"}, "gosvc:image", "'registry.example.com/gosvc/hello'", "no tag"),
        ({"image": "registry.example.com/gosvc/hello:latest"}, "gosvc:image", "hello:latest'", "mutable 'latest'"),
        ({"image": "registry.example.com/gosvc/Hello:1.0"}, "gosvc:image", "Hello:1.0'", "not an image reference"),
        ({"image": "registry.example.com/gosvc/hello@sha256:abc123"}, "gosvc:image", "@sha256:abc123'", "64 hex digits"),
        ({"image": "hello:1.0 "}, "gosvc:image", "'hello:1.0 '", "not an image reference"),
    ],
)
def test_bad_stack_value_names_key_value_and_rule(values, key, value_text, rule):
    with pytest.raises(ConfigError) as caught:
        load(**values)
    message = str(caught.value)
    assert message.startswith(f"{key}: invalid value"), message
    assert value_text in message, message
    assert rule in message, message
    assert caught.value.key == key


def test_component_args_errors_name_the_component_and_field():
    with pytest.raises(ConfigError, match=r"^GoService 'api': autoscaling.min_replicas: invalid value 6; must be at most autoscaling.max_replicas \(3\)"):
        resolve_go_service("api", {"image": "r.example.com/api:1.0", "autoscaling": {"min_replicas": 6, "max_replicas": 3}})
    with pytest.raises(ConfigError, match=r"GoService 'api': resources.cpu_requets: .*unknown key"):
        resolve_go_service("api", {"image": "r.example.com/api:1.0", "resources": {"cpu_requets": "1"}})
    with pytest.raises(ConfigError, match=r"GoService 'api': image: invalid value 'r.example.com/api:latest'.*mutable 'latest'"):
        resolve_go_service("api", {"image": "r.example.com/api:latest"})
    with pytest.raises(ConfigError, match=r"GoService 'api': image: invalid value 'r.example.com/api'.*no tag"):
        resolve_go_service("api", {"image": "r.example.com/api"})


def test_secretish_plain_env_is_refused_and_secret_env_must_reference_a_secret():
    with pytest.raises(ConfigError, match=r"DB_PASSWORD.*looks like a secret"):
        parse_service({"service_name": "api", "env": {"DB_PASSWORD": "hunter2"}}, "GoService 'api'")
    with pytest.raises(ConfigError, match=r"secret-name/key"):
        parse_service({"service_name": "api", "secret_env": {"DB_PASSWORD": "db"}}, "GoService 'api'")
    spec = parse_service({"service_name": "api", "secret_env": {"DB_PASSWORD": "db/password"}}, "GoService 'api'")
    assert spec.secret_env == {"DB_PASSWORD": "db/password"}


def test_outputs_are_refused_where_a_value_is_needed_now():
    import pulumi

    with pytest.raises(ConfigError, match=r"GoService 'api': replicas.*not an Output"):
        resolve_go_service("api", {"image": "r.example.com/api:1.0", "replicas": pulumi.Output.from_input(3)})


DIGEST = "sha256:" + "0123456789abcdef" * 4


@pytest.mark.parametrize(
    "reference",
    [
        f"registry.example.com/gosvc/hello@{DIGEST}",
        f"registry.example.com:5000/gosvc/hello:0.2.0@{DIGEST}",
        "registry.example.com/gosvc/hello:0.2.0",
        "localhost:5000/team__x/hello-world--svc:v1_2",
    ],
)
def test_prebuilt_image_accepts_tags_and_digests(reference):
    assert load(image=reference).prebuilt_image == reference


def test_no_prebuilt_image_unless_set():
    assert load().prebuilt_image is None
    assert load(image="").prebuilt_image is None


def test_image_spec_rejects_a_repository_with_a_tag():
    with pytest.raises(ConfigError, match=r"image: repository: invalid value 'r.example.com/api:1.0'"):
        parse_image({"context": "app", "repository": "r.example.com/api:1.0", "tag": "1.0"}, "image")


# Fuzzing: any input either validates or raises ConfigError, never another exception.

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**12), max_value=10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(["0", "1", "-1", "1e309", "NaN", "100m", "1Gi", "0.5", "latest", "true", "[]", '["a"]', "", "1e-30m", "9" * 400]),
)
_values = st.one_of(_scalars, st.lists(_scalars, max_size=3), st.dictionaries(st.text(max_size=5), _scalars, max_size=2))
_keys = st.one_of(st.sampled_from([k.name for k in stack_config.KEYS]), st.text(max_size=12))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(_keys, _values, max_size=6))
def test_fuzz_stack_config_validates_or_raises_config_error(values):
    raw = {f"gosvc:{k}": v for k, v in values.items()}
    try:
        cfg = stack_config.load(raw)
    except ConfigError as err:
        assert err.key and err.allowed, err
        return
    assert isinstance(cfg.service, ServiceSpec)
    cfg.service.check()  # a validated spec passes its own cross-field rules


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(sorted(ServiceSpec.model_fields)), _values, max_size=6))
def test_fuzz_component_args_validate_or_raise_config_error(args):
    try:
        resolve_go_service("fuzz", {"image": "r.example.com/fuzz:1.0", **args})
    except ConfigError as err:
        assert str(err).startswith("GoService 'fuzz'")


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from([k.name for k in stack_config.KEYS if k.type in ("string", "array")]),
        st.lists(st.text(max_size=8), max_size=3).map(json.dumps),
        max_size=3,
    )
)
def test_fuzz_json_text_in_any_key(values):
    try:
        stack_config.load({f"gosvc:{k}": v for k, v in values.items()})
    except ConfigError:
        pass
