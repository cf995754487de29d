"""Component args that are Outputs, under Pulumi's mock engine: known, unknown at preview, secret, and bad once known."""

import json

import pulumi
import pulumi_kubernetes as k8s
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pulumi.output import Unknown, _OutputData

from components import GoService, LoggingPipeline, PrometheusStack, ServiceMonitoring
from components.logging.component import resolve_logging_pipeline
from tools.offline.engine import SECRET, run
from components import inputs
from components.errors import ConfigError
from components.observability import component as observability
from components.observability import dashboard
from components.service import component as service
from components.service.component import resolve_go_service

IMAGE = "r.example.com/api:1.0"
PLACEHOLDER = "x--gosvc-output--"


def unknown() -> pulumi.Output:
    """An Output whose value the engine does not know yet, as a resource's output is during preview."""

    async def data() -> _OutputData:
        return _OutputData(resources=set(), value=None, is_known=False, is_secret=False)

    return pulumi.Output._from_data(data())


def kube(result) -> dict[str, dict]:
    return {r.inputs["kind"]: r for r in result.registrations if r.type.startswith("kubernetes:") and "kind" in r.inputs}


def texts(value) -> list[str]:
    """Every string in `value`, dict keys included (`Deferred.fill` does not reach keys)."""
    if isinstance(value, dict):
        return [t for k, v in value.items() for t in [k, *texts(v)]]
    if isinstance(value, list):
        return [t for v in value for t in texts(v)]
    return [value] if isinstance(value, str) else []


def no_placeholder_left(result) -> None:
    leaks = [(r.name, t) for r in result.registrations for t in texts(r.inputs) if PLACEHOLDER in t]
    assert not leaks, leaks
    assert PLACEHOLDER not in json.dumps(result.outputs)


def config_error(err: BaseException) -> ConfigError:
    """The ConfigError an apply raised, from the chain the SDK wraps it in."""
    while err is not None and not isinstance(err, ConfigError):
        err = err.__cause__
    assert err is not None, "no ConfigError in the chain"
    return err


def test_an_output_namespace_flows_into_every_object_and_waits_for_its_resource():
    def program():
        ns = k8s.core.v1.Namespace("team", metadata={"name": "team-a"})
        svc = GoService("api", {"image": IMAGE, "namespace": ns.metadata.name, "env": {"REGION": pulumi.Output.from_input("eu-1")}})
        pulumi.export("url", svc.url)
        pulumi.export("namespace", svc.namespace)

    result = run(program)
    (ns,) = [r for r in result.registrations if r.name == "team"]
    objects = {kind: r for kind, r in kube(result).items() if kind != "Namespace"}
    assert set(objects) >= {"Deployment", "Service", "ServiceAccount", "HorizontalPodAutoscaler", "PodDisruptionBudget", "NetworkPolicy"}
    for kind, registration in objects.items():
        assert registration.inputs["metadata"]["namespace"] == "team-a", kind
        assert ns.urn in registration.dependencies, f"{kind} must wait for the Namespace it runs in"
    env = {e["name"]: e.get("value") for e in objects["Deployment"].inputs["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["REGION"] == "eu-1"
    ingress_from = objects["NetworkPolicy"].inputs["spec"]["ingress"][0]["from"]
    assert "team-a" in json.dumps(ingress_from)
    assert result.outputs == {"url": "http://api.team-a.svc.cluster.local", "namespace": "team-a"}
    no_placeholder_left(result)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.from_regex(r"\A[a-j][a-z0-9-]{0,20}[a-z0-9]\Z"))
def test_an_output_registers_exactly_what_the_same_plain_value_does(namespace):
    plain = run(lambda: GoService("api", {"image": IMAGE, "namespace": namespace, "service_name": "api"}))
    deferred = run(
        lambda: GoService(
            "api",
            {"image": IMAGE, "namespace": pulumi.Output.from_input(namespace), "service_name": pulumi.Output.from_input("api")},
        )
    )
    def registered(result):
        return sorted(((r.type, r.name, json.dumps(r.inputs, sort_keys=True)) for r in result.registrations))

    assert registered(deferred) == registered(plain)


def test_an_unknown_namespace_at_preview_leaves_the_namespace_unknown_and_registers_everything():
    def program():
        GoService("api", {"image": IMAGE, "namespace": unknown()})

    result = run(program, preview=True)
    objects = kube(result)
    assert {"Deployment", "Service", "HorizontalPodAutoscaler", "NetworkPolicy"} <= set(objects)
    for kind, registration in objects.items():
        assert isinstance(registration.inputs["metadata"]["namespace"], Unknown), kind
        assert registration.inputs["metadata"]["name"] == "api", kind
    no_placeholder_left(result)


def test_a_secret_input_keeps_every_field_it_flows_into_secret():
    def program():
        GoService("api", {"image": IMAGE, "namespace": "team-a", "env": {"UPSTREAM": pulumi.Output.secret("https://10.0.0.7:8443")}})

    result = run(program)
    deployment = kube(result)["Deployment"]
    # The SDK marks the whole top-level property that holds a secret: the pod spec, here.
    assert deployment.secret_paths == ["spec"] and set(deployment.inputs["spec"].values()) == {SECRET}
    assert deployment.inputs["metadata"]["namespace"] == "team-a"
    assert "https://10.0.0.7:8443" not in json.dumps([r.inputs for r in result.registrations])
    assert all(not r.secret_paths for r in result.registrations if r is not deployment)


@pytest.mark.parametrize(
    ("field", "bad"),
    [("namespace", "kube-system"), ("namespace", "Team_A"), ("service_name", "API")],
)
def test_a_bad_output_fails_once_known_with_the_message_a_plain_bad_value_gets(field, bad):
    with pytest.raises(ConfigError) as plain:
        resolve_go_service("api", {"image": IMAGE, field: bad})
    with pytest.raises(ValueError) as deferred:
        run(lambda: GoService("api", {"image": IMAGE, field: pulumi.Output.from_input(bad)}))
    assert str(config_error(deferred.value)) == str(plain.value)


def test_a_bad_env_value_once_known_fails_like_a_plain_one():
    bad = {"image": IMAGE, "env": {"BAD NAME": "x"}}
    with pytest.raises(ConfigError) as plain:
        resolve_go_service("api", bad)
    with pytest.raises(ValueError) as deferred:
        run(lambda: GoService("api", {"image": IMAGE, "env": {"BAD NAME": pulumi.Output.from_input("x")}}))
    assert str(config_error(deferred.value)) == str(plain.value)


@pytest.mark.parametrize(
    "args",
    [
        {"replicas": pulumi.Output.from_input(3)},
        {"create_namespace": pulumi.Output.from_input(True)},
        {"autoscaling": {"min_replicas": pulumi.Output.from_input(3)}},
        {"env": pulumi.Output.from_input({"A": "b"})},
    ],
    ids=["replicas", "create_namespace", "autoscaling.min_replicas", "env as a whole"],
)
def test_fields_that_shape_what_is_registered_refuse_an_output(args):
    """A count, a switch or the env names decide which objects and entries exist: they must be plain."""
    with pytest.raises(ConfigError, match=r"GoService 'api': .*must be a plain value known when the program runs, not an Output"):
        resolve_go_service("api", {"image": IMAGE, **args})


def test_service_monitoring_takes_a_go_service_s_outputs():
    def program():
        ns = k8s.core.v1.Namespace("team", metadata={"name": "team-a"})
        svc = GoService("api", {"image": IMAGE, "namespace": ns.metadata.name})
        monitoring = ServiceMonitoring("api-monitoring", {"service_name": svc.service_name, "namespace": svc.namespace})
        pulumi.export("service_monitor", monitoring.service_monitor)

    result = run(program)
    monitor = next(r for r in result.registrations if r.name == "api-monitoring-service-monitor")
    assert monitor.inputs["metadata"] == {**monitor.inputs["metadata"], "name": "api", "namespace": "team-a"}
    assert monitor.inputs["spec"]["namespaceSelector"] == {"matchNames": ["team-a"]}
    rule = next(r for r in result.registrations if r.name == "api-monitoring-prometheus-rule")
    expressions = [r["expr"] for g in rule.inputs["spec"]["groups"] for r in g["rules"]]
    assert any('namespace="team-a"' in e for e in expressions), expressions
    dashboard = next(r for r in result.registrations if r.name == "api-monitoring-dashboard")
    assert "team-a" in json.dumps(dashboard.inputs["data"])
    assert result.outputs["service_monitor"] == "api"
    no_placeholder_left(result)


NAMESPACED = {
    "PrometheusStack": lambda namespace: PrometheusStack("monitoring", {"namespace": namespace}),
    "ServiceMonitoring": lambda namespace: ServiceMonitoring("api-monitoring", {"service_name": "api", "namespace": namespace}),
}


@pytest.mark.parametrize("component", sorted(NAMESPACED))
def test_every_component_registers_the_same_objects_for_an_output_namespace_as_for_a_plain_one(component):
    """Objects, chart values, config files and certificate names: everything the namespace reaches."""
    make = NAMESPACED[component]
    plain = run(lambda: make("obs-a"))
    deferred = run(lambda: make(pulumi.Output.from_input("obs-a")))

    def registered(result):
        return sorted((r.type, r.name, json.dumps(r.inputs, sort_keys=True)) for r in result.registrations)

    assert registered(deferred) == registered(plain)
    assert any("obs-a" in entry[2] for entry in registered(plain))
    no_placeholder_left(deferred)


@pytest.mark.parametrize("component", sorted(NAMESPACED))
def test_every_component_refuses_a_bad_output_namespace_with_the_plain_message(component):
    make = NAMESPACED[component]
    with pytest.raises(ConfigError) as plain:
        run_or_raise_config_error(lambda: make("Obs_A"))
    with pytest.raises(ValueError) as deferred:
        run(lambda: make(pulumi.Output.from_input("Obs_A")))
    assert str(config_error(deferred.value)) == str(plain.value)
    assert "namespace" in str(plain.value) and "Obs_A" in str(plain.value)


def run_or_raise_config_error(program):
    """Runs `program`; a plain bad arg raises ConfigError from the component's constructor, before anything registers."""
    result = run(program)
    if result.error is not None:
        raise result.error
    return result


def test_the_logging_pipeline_namespace_stays_plain():
    """It seeds the Kafka cluster id and the config checksums: a placeholder there would change them."""
    with pytest.raises(ConfigError, match=r"LoggingPipeline 'logging': namespace.*not an Output"):
        resolve_logging_pipeline("logging", {"namespace": pulumi.Output.from_input("logs")})
    with pytest.raises(ConfigError):
        run_or_raise_config_error(lambda: LoggingPipeline("logging", {"namespace": pulumi.Output.from_input("logs")}))


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    namespace=st.from_regex(r"\A[a-j][a-z0-9-]{20,60}[a-z0-9]\Z"),
    service=st.from_regex(r"\A[a-j][a-z0-9-]{10,30}[a-z0-9]\Z"),
)
def test_long_names_from_outputs_register_what_plain_ones_do(namespace, service):
    """The dashboard uid is the first 40 characters of namespace and name: it must come from the real values."""

    def monitoring(ns, svc):
        return run(lambda: ServiceMonitoring("m", {"service_name": svc, "namespace": ns}))

    def registered(result):
        return sorted((r.type, r.name, json.dumps(r.inputs, sort_keys=True)) for r in result.registrations)

    plain = monitoring(namespace, service)
    deferred = monitoring(pulumi.Output.from_input(namespace), pulumi.Output.from_input(service))
    assert registered(deferred) == registered(plain)
    no_placeholder_left(deferred)


def test_known_passes_a_plain_name_and_refuses_a_placeholder_naming_what_was_derived():
    assert inputs.known("team-a", "the uid") == "team-a"
    with pytest.raises(inputs.DerivedFromOutput, match=r"the uid is derived from an Output .*compute it with Deferred.derive"):
        inputs.known(f"gosvc-{PLACEHOLDER}0-api", "the uid")


def test_builders_that_truncate_sort_or_key_by_a_name_refuse_a_placeholder():
    """Each derivation that would silently work on the placeholder fails loudly instead."""
    placeholder = f"{PLACEHOLDER}0"
    go, _, _ = resolve_go_service("api", {"image": IMAGE, "namespace": placeholder})
    with pytest.raises(inputs.DerivedFromOutput, match="NetworkPolicy sorts"):
        service.build("api", go, IMAGE)
    monitoring, _ = observability.resolve_service_monitoring("m", {"service_name": "api", "namespace": placeholder})
    with pytest.raises(inputs.DerivedFromOutput, match="dashboard uid"):
        dashboard.dashboard_uid(monitoring)
    named, _ = observability.resolve_service_monitoring("m", {"service_name": placeholder})
    with pytest.raises(inputs.DerivedFromOutput, match="dashboard file name"):
        dashboard.data(named)


def with_outputs(args: dict, deferrable: tuple[str, ...]) -> dict:
    """`args` with every field `deferrable` allows (top-level keys, or a dict's values for 'key.*') as an Output."""
    result = dict(args)
    for field in deferrable:
        key, _, rest = field.partition(".")
        if key in result:
            value = result[key]
            result[key] = {k: pulumi.Output.from_input(v) for k, v in value.items()} if rest == "*" else pulumi.Output.from_input(value)
    return result


# Values that make every derivation differ between a placeholder and the real name: a namespace that sorts after
# the placeholders ('x--...') and is also listed where duplicates are dropped, names long enough to be truncated.
LONG_NAMESPACE = "zz-" + "team-" * 11 + "a"
EVERY_DEFERRABLE = {
    "GoService": (
        lambda args: GoService("api", args),
        {
            "image": IMAGE,
            "namespace": "zz-team",
            "service_name": "zz-api",
            "env": {"REGION": "eu-1", "UPSTREAM": "http://b.zz-team.svc"},
            "network": {"ingress_namespaces": ["ingress-nginx", "zz-team"], "monitoring_namespace": "zz-team"},
        },
        service.DEFERRABLE,
    ),
    "PrometheusStack": (lambda args: PrometheusStack("monitoring", args), {"namespace": "zz-monitoring"}, observability.STACK_DEFERRABLE),
    "ServiceMonitoring": (
        lambda args: ServiceMonitoring("m", args),
        {"service_name": "zz-" + "api-" * 8 + "a", "namespace": LONG_NAMESPACE, "instance": "zz-api"},
        observability.SERVICE_DEFERRABLE,
    ),
}


@pytest.mark.parametrize("component", sorted(EVERY_DEFERRABLE))
def test_outputs_in_every_deferrable_field_register_what_the_same_plain_values_do(component):
    """No builder computes on a placeholder: every object, name and derived value is that of the plain run."""
    make, args, deferrable = EVERY_DEFERRABLE[component]
    assert all(field.partition(".")[0] in args for field in deferrable), "every deferrable field is exercised"

    def registered(result):
        assert result.error is None, result.error
        return sorted((r.type, r.name, json.dumps(r.inputs, sort_keys=True), sorted(r.dependencies)) for r in result.registrations)

    plain = run(lambda: make(args))
    deferred = run(lambda: make(with_outputs(args, deferrable)))
    assert registered(deferred) == registered(plain)
    no_placeholder_left(deferred)


@pytest.mark.parametrize("component", sorted(EVERY_DEFERRABLE))
def test_a_component_s_spec_holds_the_real_values_never_a_placeholder(component):
    make, args, deferrable = EVERY_DEFERRABLE[component]

    def program(given):
        def export():
            made = make(given)
            pulumi.export("spec", made.spec.apply(lambda spec: spec.model_dump(mode="json")))

        return export

    plain = run(program(args))
    deferred = run(program(with_outputs(args, deferrable)))
    assert plain.error is None and deferred.error is None
    assert deferred.outputs["spec"] == plain.outputs["spec"]
    assert deferred.outputs["spec"]["namespace"] == args["namespace"]
    assert PLACEHOLDER not in json.dumps(deferred.outputs)
