"""The monitoring stack installed for real: `pulumi up` of dev with both Helm releases, from the genuine charts.

The real Kubernetes provider installs kube-prometheus-stack and prometheus-adapter from the genuine
packages (../shared/charts) served as a chart repository on loopback into the local control plane,
and the API server admits every object they create (this is how a Deployment strategy the chart
writes wrongly from a value was found). Then an ordinary upgrade of the release: Grafana's admin
Secret changes, so Helm patches its Deployment, which carries GOMEMLIMIT twice (the chart's, then
ours). kwok's nodes run no containers: pods are scheduled and reported ready, but Prometheus,
Grafana and the rest never start, and the operator never creates the Prometheus and Alertmanager
StatefulSets.
"""

from __future__ import annotations

import secrets

import kubernetes
import pytest

from components.observability import adapter, images, prometheus_stack
from stacks import config as stack_config
from tests.e2e.conftest import wait_for
from tools.e2e.overlay import GRAFANA_ADMIN_SECRET, e2e_config, monitoring_overlay

pytestmark = pytest.mark.e2e

INSTANCE = "monitoring"
"""The name __main__.py gives its PrometheusStack."""


ROTATED_ADMIN_SECRET = f"{GRAFANA_ADMIN_SECRET}-2"


def _prepare(api: kubernetes.client.ApiClient, config: dict) -> prometheus_stack.PrometheusStackSpec:
    """The namespaces, labelled as the component labels them, and Grafana's admin Secrets (the second for the upgrade),
    as a platform team has them."""
    spec = stack_config.load(config).monitoring.stack
    core = kubernetes.client.CoreV1Api(api)
    for namespace in prometheus_stack.namespaces(spec, INSTANCE).values():
        core.create_namespace(namespace)
    for name in (GRAFANA_ADMIN_SECRET, ROTATED_ADMIN_SECRET):
        core.create_namespaced_secret(
            spec.namespace,
            {"metadata": {"name": name}, "stringData": {prometheus_stack.GRAFANA_USER_KEY: "admin", prometheus_stack.GRAFANA_PASSWORD_KEY: secrets.token_urlsafe(24)}},
        )
    return spec


def _images(api: kubernetes.client.ApiClient, spec: prometheus_stack.PrometheusStackSpec) -> dict[str, list[str]]:
    """Each installed workload's images, and the Prometheus and Alertmanager images the operator would run."""
    apps = kubernetes.client.AppsV1Api(api)
    found: dict[str, list[str]] = {}
    for namespace in (spec.namespace, prometheus_stack.node_exporter_namespace(spec)):
        for kind, workloads in (("Deployment", apps.list_namespaced_deployment(namespace)), ("DaemonSet", apps.list_namespaced_daemon_set(namespace))):
            for w in workloads.items:
                found[f"{kind} {namespace}/{w.metadata.name}"] = sorted(c.image for c in [*(w.spec.template.spec.init_containers or []), *w.spec.template.spec.containers])
    custom = kubernetes.client.CustomObjectsApi(api)
    for plural, kind in (("prometheuses", "Prometheus"), ("alertmanagers", "Alertmanager")):
        for item in custom.list_namespaced_custom_object("monitoring.coreos.com", "v1", spec.namespace, plural)["items"]:
            found[f"{kind} {spec.namespace}/{item['metadata']['name']}"] = [item["spec"]["image"]]
    return found


def _grafana_env(deployment: kubernetes.client.V1Deployment, name: str) -> list[kubernetes.client.V1EnvVar]:
    container = next(c for c in deployment.spec.template.spec.containers if c.name == "grafana")
    return [e for e in container.env if e.name == name]


def test_up_installs_both_real_charts_and_a_second_up_changes_nothing(engine, cluster, chart_repository, report):
    config = e2e_config("dev", loggingEnabled=False, monitoringCreateNamespace=False)
    config.update(monitoring_overlay(config, chart_repository.url))
    spec = _prepare(cluster.api(), config)
    stack = engine.stack("dev-monitoring", config, pack_config="dev")
    apps = kubernetes.client.AppsV1Api(cluster.api())
    upgrade, upgraded, deployed_images = None, None, {}
    try:
        first = stack.up()
        second = stack.up() if first.succeeded else None
        deployments = {d.metadata.name: d for d in apps.list_namespaced_deployment(spec.namespace).items} if first.succeeded else {}
        daemonsets = [d.metadata.name for d in apps.list_namespaced_daemon_set(prometheus_stack.node_exporter_namespace(spec)).items] if first.succeeded else []
        if first.succeeded:
            deployed_images = _images(cluster.api(), spec)
            stack.write_config({**config, "gosvc:grafanaAdminSecret": ROTATED_ADMIN_SECRET})
            upgrade = stack.up()
            upgraded = apps.read_namespaced_deployment(prometheus_stack.GRAFANA_SERVICE, spec.namespace)
    finally:
        down = stack.destroy()
    report.data["stacks"]["dev-monitoring"] = {
        "up": {"succeeded": first.succeeded, "seconds": first.seconds, "summary": first.summary},
        "second_up": second and {"succeeded": second.succeeded, "changes": second.changes, "summary": second.summary},
        "upgrade_grafana_admin_secret": upgrade and {"succeeded": upgrade.succeeded, "seconds": upgrade.seconds, "summary": upgrade.summary},
        "destroy": {"succeeded": down.succeeded, "seconds": down.seconds},
        "deployments": sorted(deployments),
        "images": deployed_images,
        "chart_repository_requests": sorted(set(chart_repository.requested)),
    }
    assert first.succeeded, first.error[-4000:]
    assert not [v for v in first.violations if v.level == "mandatory"], [v.message for v in first.violations if v.level == "mandatory"]
    assert sorted(deployments) == sorted([f"{prometheus_stack.FULLNAME}-operator", f"{prometheus_stack.FULLNAME}-kube-state-metrics", prometheus_stack.GRAFANA_SERVICE, adapter.RELEASE_NAME])
    assert daemonsets == [f"{prometheus_stack.FULLNAME}-prometheus-node-exporter"]
    grafana = deployments[prometheus_stack.GRAFANA_SERVICE].spec.template.spec
    assert [v.secret.secret_name for v in grafana.volumes if v.secret and v.name == "admin"] == [GRAFANA_ADMIN_SECRET], "the handed-in Secret, as a file"
    assert all(c.security_context.run_as_user >= 10000 and c.security_context.read_only_root_filesystem for c in grafana.containers)
    assert second is not None and second.succeeded and second.changes == 0, second and second.summary
    # Every image installed is one the image table names, at the tag the pinned chart writes.
    references = {i.reference for i in images.IMAGES}
    assert deployed_images and all(ref in references for refs in deployed_images.values() for ref in refs), deployed_images
    # GOMEMLIMIT twice (the chart's whole limit, then ours) survives an upgrade that patches the Deployment for
    # another reason; a change of its own value would not (docs/observability.md, "The real monitoring charts").
    assert upgrade is not None and upgrade.succeeded, upgrade and upgrade.error[-3000:]
    assert [v.secret.secret_name for v in upgraded.spec.template.spec.volumes if v.secret and v.name == "admin"] == [ROTATED_ADMIN_SECRET]
    memlimits = _grafana_env(upgraded, "GOMEMLIMIT")
    assert [e.value_from.resource_field_ref.resource for e in memlimits[:1]] == ["limits.memory"]
    assert memlimits[-1].value == prometheus_stack.grafana_values(spec)["env"]["GOMEMLIMIT"] and len(memlimits) == 2
    assert down.succeeded, down.error[-3000:]
    registration = kubernetes.client.ApiregistrationV1Api(cluster.api())
    wait_for(
        "the adapter's APIService is gone, so API discovery works for the tests after this one",
        lambda: "v1beta1.custom.metrics.k8s.io" not in {a.metadata.name for a in registration.list_api_service().items},
    )
    core = kubernetes.client.CoreV1Api(cluster.api())
    core.delete_namespace(spec.namespace)
    core.delete_namespace(prometheus_stack.node_exporter_namespace(spec))
