"""PrometheusStack and ServiceMonitoring under Pulumi's mock engine: Release values, secrets, CRD ordering, outputs."""

from __future__ import annotations

import json

import pulumi
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from components import GoService, defaults
from components.config import quantity
from tools.offline.engine import PLACEHOLDERS, run
from components.errors import ConfigError
from components.observability import PrometheusStack, ServiceMonitoring, adapter, charts, prometheus_stack
from components.service.autoscaling import REQUESTS_PER_SECOND
from policies.rules.resources import go_size

IMAGE = "registry.example.com/team/api:1.2.3"
KPS = "kubernetes:helm.sh/v3:Release"


def of_type(result, suffix):
    return [r for r in result.registrations if r.type.endswith(suffix)]


def releases(result):
    return {r.inputs["chart"].rsplit("/", 1)[-1]: r for r in of_type(result, ":Release")}


def test_stack_registers_namespace_secret_password_and_two_pinned_releases_under_itself():
    result = run(lambda: PrometheusStack("mon", {}))
    (component,) = of_type(result, "gosvc:index:PrometheusStack")
    children = [r for r in result.registrations if r is not component]
    assert {r.type for r in children} == {
        "kubernetes:core/v1:Namespace",
        "kubernetes:core/v1:Secret",
        "kubernetes:networking.k8s.io/v1:NetworkPolicy",
        "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole",
        "random:index/randomPassword:RandomPassword",
        KPS,
    }
    assert all(r.parent == component.urn for r in children)
    rel = releases(result)
    assert set(rel) == {"kube-prometheus-stack", "prometheus-adapter"}
    kps, adapter_rel = rel["kube-prometheus-stack"], rel["prometheus-adapter"]
    assert kps.inputs["version"] == charts.KUBE_PROMETHEUS_STACK.version and kps.inputs["version"].startswith("88.")
    assert adapter_rel.inputs["version"] == charts.PROMETHEUS_ADAPTER.version
    assert kps.inputs["repositoryOpts"] == {"repo": "https://prometheus-community.github.io/helm-charts"}
    assert kps.inputs["namespace"] == adapter_rel.inputs["namespace"] == "monitoring"
    assert kps.inputs["name"] == "kube-prometheus-stack"
    namespaces = {r.inputs["metadata"]["name"]: r for r in of_type(result, "Namespace")}
    assert set(namespaces) == {"monitoring", "monitoring-node-exporter"}
    assert all(ns.urn in kps.dependencies for ns in namespaces.values()), "the release must wait for its namespaces"
    assert kps.urn in adapter_rel.dependencies, "the adapter needs the stack's Prometheus"


def test_release_values_pick_up_monitors_and_rules_from_every_namespace():
    result = run(lambda: PrometheusStack("mon", {}))
    spec = releases(result)["kube-prometheus-stack"].inputs["values"]["prometheus"]["prometheusSpec"]
    for kind in ("serviceMonitor", "podMonitor", "rule", "probe"):
        assert spec[f"{kind}SelectorNilUsesHelmValues"] is False, kind
        assert spec[f"{kind}Selector"] == {} and spec[f"{kind}NamespaceSelector"] == {}, kind


def test_retention_storage_and_resources_come_from_args():
    args = {
        "storage_class": "fast-ssd",
        "prometheus": {
            "replicas": 2,
            "retention": "15d",
            "retention_size": "45GB",
            "storage_size": "50Gi",
            "resources": {"cpu_request": "500m", "memory_request": "2Gi", "memory_limit": "4Gi"},
        },
        "alertmanager": {"replicas": 3, "storage_size": "1Gi"},
    }
    values = releases(run(lambda: PrometheusStack("mon", args)))["kube-prometheus-stack"].inputs["values"]
    prom = values["prometheus"]["prometheusSpec"]
    assert (prom["replicas"], prom["retention"], prom["retentionSize"]) == (2, "15d", "45GB")
    claim = prom["storageSpec"]["volumeClaimTemplate"]["spec"]
    assert claim == {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "50Gi"}}, "storageClassName": "fast-ssd"}
    assert prom["resources"] == {"requests": {"cpu": "500m", "memory": "2Gi"}, "limits": {"memory": "4Gi"}}
    assert prom["podAntiAffinity"] == "soft" and values["prometheus"]["podDisruptionBudget"]["enabled"] is True
    am = values["alertmanager"]
    assert am["alertmanagerSpec"]["replicas"] == 3
    assert am["alertmanagerSpec"]["storage"]["volumeClaimTemplate"]["spec"]["resources"]["requests"]["storage"] == "1Gi"


def test_defaults_are_small_and_ephemeral():
    values = releases(run(lambda: PrometheusStack("mon", {})))["kube-prometheus-stack"].inputs["values"]
    prom = values["prometheus"]["prometheusSpec"]
    assert prom["replicas"] == 1 and "storageSpec" not in prom and "retentionSize" not in prom
    assert prom["resources"] == {"requests": {"cpu": "200m", "memory": "512Mi"}, "limits": {"memory": "1Gi"}}
    assert values["alertmanager"]["alertmanagerSpec"]["replicas"] == 1 and "storage" not in values["alertmanager"]["alertmanagerSpec"]
    assert values["prometheus"]["podDisruptionBudget"]["enabled"] is False
    for name, part in [("grafana", values["grafana"]), ("operator", values["prometheusOperator"]), ("ksm", values["kube-state-metrics"])]:
        assert part["resources"]["requests"] and part["resources"]["limits"]["memory"], name


def test_grafana_gets_gomemlimit_below_its_limit_and_a_writable_tmp():
    """The grafana 12.x chart sets GOMEMLIMIT to the whole limit itself; the values add the entry that comes last."""
    grafana = releases(run(lambda: PrometheusStack("mon", {})))["kube-prometheus-stack"].inputs["values"]["grafana"]
    limit = quantity(grafana["resources"]["limits"]["memory"])
    assert go_size(grafana["env"]["GOMEMLIMIT"]) == pytest.approx(limit * defaults.GOMEMLIMIT_PERCENT / 100, rel=0.01)
    assert {"name": "tmp", "mountPath": "/tmp"} in grafana["extraEmptyDirMounts"]
    assert grafana["containerSecurityContext"]["readOnlyRootFilesystem"] is True


def test_grafana_and_adapter_pods_bound_their_emptydirs_with_ephemeral_storage_on_every_container():
    """The charts give their emptyDirs no sizeLimit; a limit on every container bounds the pod's disk instead."""
    values = {name: r.inputs["values"] for name, r in releases(run(lambda: PrometheusStack("mon", {}))).items()}
    grafana, adapter_values = values["kube-prometheus-stack"]["grafana"], values["prometheus-adapter"]
    for part in (grafana["resources"], grafana["sidecar"]["resources"], adapter_values["resources"]):
        assert part["requests"]["ephemeral-storage"] == part["limits"]["ephemeral-storage"]
        assert quantity(part["limits"]["ephemeral-storage"]) > 0
    assert grafana["resources"]["limits"]["memory"] == prometheus_stack.COMPONENT_RESOURCES["grafana"].effective_memory_limit


def test_grafana_password_is_generated_kept_secret_and_only_referenced_by_the_release():
    stacks = []
    result = run(lambda: stacks.append(PrometheusStack("mon", {})))
    (password,) = of_type(result, "randomPassword:RandomPassword")
    assert password.inputs["length"] >= 24
    (secret,) = of_type(result, "core/v1:Secret")
    assert secret.secret_paths == ["stringData"], "the password must be secret in Pulumi state"
    assert secret.inputs["stringData"] == {"admin-user": "<secret>", "admin-password": "<secret>"}
    assert secret.inputs["metadata"]["namespace"] == "monitoring"
    assert password.urn in secret.dependencies
    kps = releases(result)["kube-prometheus-stack"]
    admin = kps.inputs["values"]["grafana"]["admin"]
    assert admin == {"existingSecret": secret.inputs["metadata"]["name"], "userKey": "admin-user", "passwordKey": "admin-password"}
    assert secret.urn in kps.dependencies, "Grafana must not start before its admin Secret exists"
    everything = json.dumps([r.to_json() for r in result.registrations]) + json.dumps(result.outputs)
    assert PLACEHOLDERS["password"] not in everything, "the generated password leaked into inputs or outputs"
    assert "adminPassword" not in json.dumps(kps.inputs["values"])
    secrecy = {}
    run(lambda: pulumi.Output.from_input(PrometheusStack("mon2", {}).grafana_password.is_secret()).apply(lambda v: secrecy.setdefault("password", v)))
    assert secrecy == {"password": True}


def test_stack_outputs_name_prometheus_grafana_and_the_custom_metric():
    outputs = {}

    def program():
        stack = PrometheusStack("mon", {"namespace": "observability"})
        pulumi.Output.all(
            url=stack.prometheus_url, grafana=stack.grafana_service, metrics=stack.custom_metrics, pf=stack.grafana_port_forward, secret=stack.grafana_admin_secret
        ).apply(outputs.update)

    run(program)
    assert outputs["url"] == "http://kube-prometheus-stack-prometheus.observability.svc:9090"
    assert outputs["grafana"] == "kube-prometheus-stack-grafana"
    assert outputs["metrics"] == [REQUESTS_PER_SECOND]
    assert outputs["pf"] == "kubectl -n observability port-forward svc/kube-prometheus-stack-grafana 3000:80"
    assert outputs["secret"] == prometheus_stack.GRAFANA_ADMIN_SECRET


def test_adapter_points_at_the_stacks_prometheus_and_serves_the_hpa_metric():
    result = run(lambda: PrometheusStack("mon", {"namespace": "observability", "adapter_replicas": 2}))
    values = releases(result)["prometheus-adapter"].inputs["values"]
    assert values["prometheus"] == {"url": "http://kube-prometheus-stack-prometheus.observability.svc", "port": 9090, "path": ""}
    assert values["replicas"] == 2 and values["podDisruptionBudget"]["enabled"] is True
    assert values["rules"]["default"] is False and "resource" not in values["rules"], "metrics.k8s.io stays with metrics-server"
    (rule,) = values["rules"]["custom"]
    assert rule["name"]["as"] == REQUESTS_PER_SECOND
    assert adapter.metric_name(rule, "http_requests_total") == REQUESTS_PER_SECOND
    assert rule["resources"]["overrides"] == {"namespace": {"resource": "namespace"}, "pod": {"resource": "pod"}}
    assert "[2m]" in rule["metricsQuery"] and "by (<<.GroupBy>>)" in rule["metricsQuery"]
    assert values["securityContext"]["runAsNonRoot"] is True and values["securityContext"]["readOnlyRootFilesystem"] is True


def test_an_oci_mirror_is_used_as_the_chart_path():
    result = run(lambda: PrometheusStack("mon", {"helm_repository": "oci://mirror.example.com/charts/"}))
    kps = releases(result)["kube-prometheus-stack"]
    assert kps.inputs["chart"] == "oci://mirror.example.com/charts/kube-prometheus-stack"
    assert "repositoryOpts" not in kps.inputs


def test_without_node_exporter_the_namespace_enforces_baseline():
    result = run(lambda: PrometheusStack("mon", {"node_exporter": False}))
    (ns,) = of_type(result, "Namespace")
    labels = ns.inputs["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "baseline"
    assert labels["pod-security.kubernetes.io/warn"] == "restricted"
    assert releases(result)["kube-prometheus-stack"].inputs["values"]["nodeExporter"]["enabled"] is False


def test_monitors_and_rules_wait_for_the_stacks_crds_and_the_services_namespace():
    def program():
        service = GoService("api", {"image": IMAGE, "namespace": "team-api", "create_namespace": True})
        stack = PrometheusStack("mon", {})
        ServiceMonitoring(
            "api",
            {"service_name": "api", "namespace": "team-api"},
            opts=pulumi.ResourceOptions(depends_on=[service.resources["namespace"], stack.release]),
        )

    result = run(program)
    kps = releases(result)["kube-prometheus-stack"]
    (service_ns,) = [r for r in of_type(result, "core/v1:Namespace") if r.inputs["metadata"]["name"] == "team-api"]
    (monitor,) = of_type(result, "monitoring.coreos.com/v1:ServiceMonitor")
    (rule,) = of_type(result, "monitoring.coreos.com/v1:PrometheusRule")
    (board,) = [r for r in of_type(result, "core/v1:ConfigMap")]
    for child in (monitor, rule, board):
        assert kps.urn in child.dependencies, f"{child.name} would race the CRDs"
        assert service_ns.urn in child.dependencies, f"{child.name} would race its namespace"
    (component,) = of_type(result, "gosvc:index:ServiceMonitoring")
    assert monitor.parent == rule.parent == board.parent == component.urn


def test_service_monitoring_without_depends_on_has_no_dependencies_to_fake():
    result = run(lambda: ServiceMonitoring("api", {"service_name": "api"}))
    (monitor,) = of_type(result, ":ServiceMonitor")
    assert monitor.dependencies == []


def test_service_monitoring_outputs_and_optional_dashboard():
    outputs = {}

    def program():
        sm = ServiceMonitoring("api", {"service_name": "api", "hpa_enabled": False, "dashboard": False})
        pulumi.Output.all(alerts=sm.alerts, dashboard=sm.dashboard, monitor=sm.service_monitor).apply(outputs.update)

    result = run(program)
    assert not of_type(result, "core/v1:ConfigMap")
    assert outputs["dashboard"] == "" and outputs["monitor"] == "api"
    assert "GoServiceHpaMaxedOut" not in outputs["alerts"] and "GoServiceHighErrorRatio" in outputs["alerts"]


def test_the_hpa_asks_for_exactly_the_metric_the_adapter_produces():
    result = run(lambda: (GoService("api", {"image": IMAGE, "autoscaling": {"requests_per_second": "75"}}), PrometheusStack("mon", {})))
    (hpa,) = of_type(result, "HorizontalPodAutoscaler")
    metrics = hpa.inputs["spec"]["metrics"]
    assert metrics[0]["type"] == "Resource" and metrics[0]["resource"]["name"] == "cpu"
    (pods,) = [m for m in metrics if m["type"] == "Pods"]
    assert pods["pods"]["target"] == {"type": "AverageValue", "averageValue": "75"}
    (rule,) = releases(result)["prometheus-adapter"].inputs["values"]["rules"]["custom"]
    series = rule["seriesQuery"].split("{", 1)[0]
    assert pods["pods"]["metric"]["name"] == adapter.metric_name(rule, series)


@pytest.mark.parametrize(
    "component, args, message",
    [
        (PrometheusStack, {"prometheus": {"retention": "a week"}}, r"PrometheusStack 'bad': prometheus.retention: invalid value 'a week'; must be a Prometheus duration"),
        (PrometheusStack, {"helm_repository": "git@github.com:x/y"}, r"PrometheusStack 'bad': helm_repository: .*Helm repository URL"),
        (PrometheusStack, {"prometheus": {"resources": {"cpu_request": "2", "cpu_limit": "1"}}}, r"prometheus.resources.cpu_limit: invalid value '1'; must be at least prometheus.resources.cpu_request \(2\)"),
        (PrometheusStack, {"prometheus": {"replicas": pulumi.Output.from_input(2)}}, r"PrometheusStack 'bad': prometheus.replicas: .*not an Output"),
        (ServiceMonitoring, {}, r"ServiceMonitoring 'bad': service_name: .*required"),
        (ServiceMonitoring, {"service_name": "api", "scrape_interval": "15s", "scrape_timeout": "20s"}, r"scrape_timeout: invalid value '20s'; must be at most scrape_interval \(15s\)"),
        (ServiceMonitoring, {"service_name": "api", "alerts": {"error_ratio": 1.5}}, r"alerts.error_ratio: invalid value 1.5"),
    ],
)
def test_bad_args_name_the_field_and_register_nothing(component, args, message):
    def program():
        with pytest.raises(ConfigError, match=message):
            component("bad", args)

    result = run(program)
    assert result.registrations == []


@settings(max_examples=60, deadline=None)
@given(
    namespace=st.from_regex(r"\A[a-j][a-z0-9-]{0,50}[a-z0-9]\Z"),
    service=st.from_regex(r"\A[a-j][a-z0-9-]{0,40}[a-z0-9]\Z"),
    instance=st.one_of(st.none(), st.from_regex(r"\A[a-j][a-z0-9-]{0,20}[a-z0-9]\Z")),
    hpa=st.booleans(),
    error_ratio=st.sampled_from([0.001, 0.05, 0.25]),
)
def test_the_dashboard_encoded_once_per_shape_is_exactly_the_direct_encoding(namespace, service, instance, hpa, error_ratio):
    from components.observability import dashboard
    from components.observability.component import resolve_service_monitoring

    args = {"service_name": service, "namespace": namespace, "hpa_enabled": hpa, "alerts": {"error_ratio": error_ratio}}
    if instance:
        args["instance"] = instance
    spec = resolve_service_monitoring("m", args)[0]
    assert dashboard.dashboard_json(spec) == json.dumps(dashboard.dashboard(spec), indent=2, sort_keys=True) + "\n"


def test_an_existing_grafana_admin_secret_replaces_the_generated_password():
    seen = {}

    def program():
        PrometheusStack("mon", {"grafana_admin_secret": "byo-grafana"}).grafana_admin_secret.apply(lambda name: seen.update(secret=name))

    result = run(program)
    assert not of_type(result, "RandomPassword") and not of_type(result, ":Secret"), "nothing generated, nothing written"
    grafana = releases(result)["kube-prometheus-stack"].inputs["values"]["grafana"]
    assert grafana["admin"]["existingSecret"] == "byo-grafana"
    assert [m["secretName"] for m in grafana["extraSecretMounts"]] == ["byo-grafana"]
    assert seen == {"secret": "byo-grafana"}


def test_a_bad_grafana_admin_secret_name_is_refused_naming_the_key():
    with pytest.raises(ConfigError, match="grafana_admin_secret"):
        run(lambda: PrometheusStack("mon", {"grafana_admin_secret": "Not_A_Name"}), raise_errors=True)


def test_without_grafana_nothing_of_grafanas_is_registered_or_released():
    seen = {}

    def program():
        stack = PrometheusStack("mon", {"grafana": False})
        pulumi.Output.all(stack.grafana_service, stack.grafana_admin_secret, stack.grafana_port_forward).apply(lambda v: seen.update(outputs=v))

    result = run(program)
    assert not of_type(result, "RandomPassword") and not of_type(result, ":Secret") and not of_type(result, ":ClusterRole")
    values = releases(result)["kube-prometheus-stack"].inputs["values"]
    assert values["grafana"] == {"enabled": False}
    policies = {r.inputs["metadata"]["name"] for r in of_type(result, ":NetworkPolicy")}
    assert "grafana-to-alertmanager" not in policies and "alertmanager" in policies
    assert seen == {"outputs": ["", "", ""]}


def test_a_grafana_admin_secret_without_grafana_is_refused_naming_both_keys():
    with pytest.raises(ConfigError, match="grafana_admin_secret.*'byo'.*names Grafana's login Secret, but grafana is false"):
        run(lambda: PrometheusStack("mon", {"grafana": False, "grafana_admin_secret": "byo"}), raise_errors=True)
