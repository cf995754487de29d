"""The monitoring stack installed for real: `pulumi up` of dev with both Helm releases, from the real charts.

The real Kubernetes provider installs kube-prometheus-stack and prometheus-adapter from the chart
mirror served on loopback into the local control plane, and the API server admits every object they
create (this is how a Deployment strategy the chart writes wrongly from a value was found). kwok's
nodes run no containers: pods are scheduled and reported ready, but Prometheus, Grafana and the rest
never start, and the operator never creates the Prometheus and Alertmanager StatefulSets.
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


def _prepare(api: kubernetes.client.ApiClient, config: dict) -> prometheus_stack.PrometheusStackSpec:
    """The namespaces, labelled as the component labels them, and Grafana's admin Secret, as a platform team has them."""
    spec = stack_config.load(config).monitoring.stack
    core = kubernetes.client.CoreV1Api(api)
    for namespace in prometheus_stack.namespaces(spec, INSTANCE).values():
        core.create_namespace(namespace)
    core.create_namespaced_secret(
        spec.namespace,
        {
            "metadata": {"name": GRAFANA_ADMIN_SECRET},
            "stringData": {prometheus_stack.GRAFANA_USER_KEY: "admin", prometheus_stack.GRAFANA_PASSWORD_KEY: secrets.token_urlsafe(24)},
        },
    )
    return spec


def test_up_installs_both_real_charts_and_a_second_up_changes_nothing(engine, cluster, chart_repository, report):
    config = e2e_config("dev", loggingEnabled=False, monitoringCreateNamespace=False)
    config.update(monitoring_overlay(config, chart_repository.url))
    spec = _prepare(cluster.api(), config)
    stack = engine.stack("dev-monitoring", config, pack_config="dev")
    try:
        first = stack.up()
        second = stack.up() if first.succeeded else None
        apps = kubernetes.client.AppsV1Api(cluster.api())
        deployments = {d.metadata.name: d for d in apps.list_namespaced_deployment(spec.namespace).items} if first.succeeded else {}
        daemonsets = [d.metadata.name for d in apps.list_namespaced_daemon_set(prometheus_stack.node_exporter_namespace(spec)).items] if first.succeeded else []
    finally:
        down = stack.destroy()
    report.data["stacks"]["dev-monitoring"] = {
        "up": {"succeeded": first.succeeded, "seconds": first.seconds, "summary": first.summary},
        "second_up": second and {"succeeded": second.succeeded, "changes": second.changes, "summary": second.summary},
        "destroy": {"succeeded": down.succeeded, "seconds": down.seconds},
        "deployments": sorted(deployments),
        "chart_repository_requests": sorted(set(chart_repository.requested)),
    }
    assert first.succeeded, first.error[-4000:]
    assert not [v for v in first.violations if v.level == "mandatory"], [v.message for v in first.violations if v.level == "mandatory"]
    assert sorted(deployments) == sorted([f"{prometheus_stack.FULLNAME}-operator", f"{prometheus_stack.FULLNAME}-kube-state-metrics", prometheus_stack.GRAFANA_SERVICE, adapter.RELEASE_NAME])
    assert daemonsets == [f"{prometheus_stack.FULLNAME}-prometheus-node-exporter"]
    grafana = deployments[prometheus_stack.GRAFANA_SERVICE].spec.template.spec
    assert [v.secret.secret_name for v in grafana.volumes if v.secret and v.name == "admin"] == [GRAFANA_ADMIN_SECRET], "the handed-in Secret, as a file"
    assert all(c.security_context.run_as_user >= 10000 and c.security_context.read_only_root_filesystem for c in grafana.containers)
    for name, deployment in deployments.items():
        image_refs = [c.image for c in deployment.spec.template.spec.containers]
        assert all(any(ref.startswith(i.repository + ":") for i in images.IMAGES) for ref in image_refs), (name, image_refs)
    assert second is not None and second.succeeded and second.changes == 0, second and second.summary
    assert down.succeeded, down.error[-3000:]
    registration = kubernetes.client.ApiregistrationV1Api(cluster.api())
    wait_for(
        "the adapter's APIService is gone, so API discovery works for the tests after this one",
        lambda: "v1beta1.custom.metrics.k8s.io" not in {a.metadata.name for a in registration.list_api_service().items},
    )
    core = kubernetes.client.CoreV1Api(cluster.api())
    core.delete_namespace(spec.namespace)
    core.delete_namespace(prometheus_stack.node_exporter_namespace(spec))
