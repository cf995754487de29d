"""PrometheusStack and ServiceMonitoring: validate args, build the specs, register them."""

from typing import TypedDict

import pulumi
import pulumi_docker as docker
import pulumi_kubernetes as k8s
import pulumi_random as random
from typing_extensions import NotRequired

from components import inputs, tokens
from components.inputs import Deferred
from components.errors import ConfigError
from components.k8s.register import register
from components.observability import adapter, charts, dashboard, images, network, prometheus_stack, service_monitoring
from components.observability.config import (
    PrometheusStackSpec,
    ServiceMonitoringSpec,
    parse_prometheus_stack,
    parse_service_monitoring,
)
from components.args import ResourcesArgs

STACK_TYPE = tokens.PROMETHEUS_STACK
SERVICE_TYPE = tokens.SERVICE_MONITORING
GRAFANA_PASSWORD_LENGTH = 32
GRAFANA_LOCAL_PORT = 3000


class PrometheusArgs(TypedDict):
    """The Prometheus server."""

    replicas: NotRequired[int]
    """Replicas, default 1; more than one adds soft anti-affinity and a PodDisruptionBudget."""
    retention: NotRequired[str]
    """How long samples are kept (Prometheus duration), default '10d'."""
    retention_size: NotRequired[str]
    """Size cap on the TSDB such as '45GB'; unset for none. Keep it below the volume size."""
    storage_size: NotRequired[str]
    """PersistentVolumeClaim size such as '50Gi'; unset keeps data in an emptyDir (lost on restart)."""
    resources: NotRequired[ResourcesArgs]
    """Requests and limits, default 200m CPU, 512Mi memory, limit 1Gi, no CPU limit."""


class AlertmanagerArgs(TypedDict):
    """Alertmanager."""

    replicas: NotRequired[int]
    """Replicas, default 1; they form a cluster and deduplicate notifications."""
    storage_size: NotRequired[str]
    """PersistentVolumeClaim size for silences and notification state; unset for an emptyDir."""


class PrometheusStackArgs(TypedDict):
    """Arguments of PrometheusStack. `namespace` may be an Output; the rest shape the chart values and objects registered, so they are plain values."""

    namespace: NotRequired[pulumi.Input[str]]
    """Namespace of the stack, default 'monitoring' (the namespace GoService lets scrape its metrics port)."""
    create_namespace: NotRequired[bool]
    """Create the namespace with Pod Security labels (default true)."""
    helm_repository: NotRequired[str]
    """Chart repository, default https://prometheus-community.github.io/helm-charts (prometheus-community's); an https://
    or oci:// mirror for air-gapped clusters."""
    storage_class: NotRequired[str]
    """StorageClass of the Prometheus and Alertmanager volumes; unset for the cluster default."""
    prometheus: NotRequired[PrometheusArgs]
    """The Prometheus server."""
    alertmanager: NotRequired[AlertmanagerArgs]
    """Alertmanager."""
    adapter_replicas: NotRequired[int]
    """prometheus-adapter replicas, default 1."""
    node_exporter: NotRequired[bool]
    """Run node-exporter on every node (default true). It needs the host's network, PID namespace and paths, so it runs
    in a namespace of its own, `<namespace>-node-exporter`, which enforces Pod Security 'privileged'."""
    grafana: NotRequired[bool]
    """Run Grafana with the service dashboards (default true); false where the cluster has a Grafana of its own."""
    api_server_cidr: NotRequired[str]
    """Where the stack's pods may reach the Kubernetes API and where its calls to the adapter and the operator's
    webhook come from (TCP 443/6443), default 0.0.0.0/0 (anywhere); narrow it to the API server."""
    grafana_admin_secret: NotRequired[str]
    """An existing Secret in the namespace with keys 'admin-user' and 'admin-password' for Grafana's admin login; when
    unset, the password is generated (random.RandomPassword) into the Secret 'grafana-admin'."""
    image_digests: NotRequired[list[str]]
    """Digests pinning the charts' images, as '<repository>@sha256:<hex>' (repositories in components/observability/images.py)."""
    resolve_digests: NotRequired[bool]
    """Resolve every chart image not pinned by image_digests to its registry digest at deploy time (default false)."""


class AlertThresholdsArgs(TypedDict):
    """When the service's alerts fire."""

    error_ratio: NotRequired[float]
    """Share of 5xx responses over 5m that fires GoServiceHighErrorRatio, default 0.05."""
    latency_p99_seconds: NotRequired[float]
    """p99 latency in seconds that fires GoServiceHighLatencyP99, default 0.5."""
    restarts: NotRequired[int]
    """Container restarts within 15m that fire GoServicePodRestarting, default 3."""
    memory_percent: NotRequired[int]
    """Working set as percent of the memory limit that fires GoServiceMemoryNearLimit, default 90."""
    hpa_maxed_minutes: NotRequired[int]
    """Minutes at the HPA maximum before GoServiceHpaMaxedOut fires, default 15."""


class ServiceMonitoringArgs(TypedDict):
    """Arguments of ServiceMonitoring: which GoService, and how to scrape and alert on it.

    `service_name`, `namespace` and `instance` may be Outputs (a GoService's outputs, say); the
    rest decide what is registered and are plain values.
    """

    service_name: pulumi.Input[str]
    """The GoService's service_name (its Service, Deployment and HPA name)."""
    namespace: NotRequired[pulumi.Input[str]]
    """The GoService's namespace, default 'gosvc'."""
    instance: NotRequired[pulumi.Input[str]]
    """The GoService's component name (label app.kubernetes.io/instance), default service_name."""
    hpa_enabled: NotRequired[bool]
    """Whether the GoService runs an HPA (default true): adds the HPA alert and bounds on the dashboard."""
    scrape_interval: NotRequired[str]
    """Scrape interval, default '30s'."""
    scrape_timeout: NotRequired[str]
    """Scrape timeout, default '10s'; at most the interval."""
    alerts: NotRequired[AlertThresholdsArgs]
    """Alert thresholds."""
    runbook_base_url: NotRequired[str]
    """Page holding the runbooks, default https://github.com/gosvc/gosvc/blob/main/README.md (the README's Observability
    section); each alert links to '<url>#<alert name in lower case>'."""
    dashboard: NotRequired[bool]
    """Ship the Grafana dashboard ConfigMap (default true)."""


STACK_DEFERRABLE = ("namespace",)
"""PrometheusStack fields that may be Outputs: the namespace only flows into objects, chart values and URLs."""


def resolve_prometheus_stack(name: str, args: PrometheusStackArgs) -> tuple[PrometheusStackSpec, Deferred]:
    """Validates PrometheusStack args, with a placeholder for an Output namespace; raises ConfigError naming the field."""
    where = f"PrometheusStack '{name}'"
    plain, deferred = inputs.split(dict(args or {}), where, STACK_DEFERRABLE, lambda real: parse_prometheus_stack(real, where))
    return parse_prometheus_stack(plain, where), deferred


SERVICE_DEFERRABLE = ("service_name", "namespace", "instance")
"""ServiceMonitoring fields that may be Outputs: they only flow into the objects' names, selectors and queries."""


def resolve_service_monitoring(name: str, args: ServiceMonitoringArgs) -> tuple[ServiceMonitoringSpec, Deferred]:
    """Validates ServiceMonitoring args, with placeholders for the Outputs among them; raises ConfigError naming the field."""
    where = f"ServiceMonitoring '{name}'"
    if (args or {}).get("service_name") is None:
        raise ConfigError(f"{where}: service_name", None, "the name of the GoService to monitor is required")
    plain, deferred = inputs.split(dict(args), where, SERVICE_DEFERRABLE, lambda real: parse_service_monitoring(real, where))
    return parse_service_monitoring(plain, where), deferred


def chart_image_digests(spec: PrometheusStackSpec, opts: pulumi.ResourceOptions) -> dict[str, pulumi.Input[str]]:
    """Repository -> digest for every chart image to pin: the configured pins, then (with resolve_digests) each
    other image's tag resolved by the docker provider's getRegistryImage, so a moved tag shows up as a diff."""
    digests: dict[str, pulumi.Input[str]] = dict(images.configured(spec.image_digests))
    if spec.resolve_digests:
        invoke = pulumi.InvokeOptions(parent=opts.parent)
        for image in images.IMAGES:
            if image.repository not in digests:
                digests[image.repository] = docker.get_registry_image_output(name=image.reference, opts=invoke).sha256_digest
    return digests


class PrometheusStack(pulumi.ComponentResource):
    """kube-prometheus-stack and prometheus-adapter, installed with pinned Helm charts.

    Creates the monitoring Namespace, a generated Grafana admin password kept in a Secret
    (secret in Pulumi state, referenced by the chart, never a value or an output), the
    kube-prometheus-stack Release (Prometheus picks up ServiceMonitors, PodMonitors, Probes
    and PrometheusRules from every namespace) and the prometheus-adapter Release serving
    `requests_per_second` per pod. Pass `release` in `depends_on` of anything that needs the
    stack's CRDs. Inputs that may be Outputs: namespace; all others are plain.
    """

    namespace: pulumi.Output[str]
    """Namespace of the stack."""
    prometheus_url: pulumi.Output[str]
    """In-cluster URL of Prometheus."""
    alertmanager_url: pulumi.Output[str]
    """In-cluster URL of Alertmanager."""
    grafana_service: pulumi.Output[str]
    """Name of the Grafana Service; empty when Grafana is off."""
    grafana_admin_secret: pulumi.Output[str]
    """Name of the Secret holding the Grafana admin login (the name only); empty when Grafana is off."""
    grafana_port_forward: pulumi.Output[str]
    """The kubectl command that opens Grafana on localhost; empty when Grafana is off."""
    custom_metrics: pulumi.Output[list[str]]
    """Custom metrics the adapter serves to HPAs."""

    def __init__(self, name: str, args: PrometheusStackArgs, opts: pulumi.ResourceOptions | None = None):
        spec, deferred = resolve_prometheus_stack(name, args)
        super().__init__(STACK_TYPE, name, {}, tokens.options(STACK_TYPE, opts))
        self.spec: pulumi.Output[PrometheusStackSpec] = deferred.real(spec)
        """The validated args, with the real value of an Output namespace."""
        waits = self._create_namespaces(name, spec, deferred)
        self.network_policies = self._create_network_policies(name, spec, deferred, waits)
        self.grafana_password: pulumi.Output[str] | None = None
        """The generated admin password (secret in state); None when an existing Secret was handed in or Grafana is off."""
        grafana = self._create_grafana_access(name, spec, deferred, waits)
        self._create_releases(name, spec, deferred, [*waits, *grafana])
        self._export_outputs(spec, deferred)

    def _create_namespaces(self, name: str, spec: PrometheusStackSpec, deferred: Deferred) -> list[pulumi.Resource]:
        """The monitoring namespace and node-exporter's, when the stack creates them: what everything else waits for."""
        waits: list[pulumi.Resource] = []
        if spec.create_namespace:
            for role, obj in prometheus_stack.namespaces(spec, name).items():
                suffix = "ns" if role == "namespace" else role.replace("_", "-")
                waits.append(register(deferred.fill(obj), f"{name}-{suffix}", pulumi.ResourceOptions(parent=self)))
        return waits

    def _create_network_policies(self, name: str, spec: PrometheusStackSpec, deferred: Deferred, waits: list[pulumi.Resource]) -> dict[str, pulumi.CustomResource]:
        return {
            role: register(deferred.fill(obj), f"{name}-netpol-{role.replace('_', '-')}", pulumi.ResourceOptions(parent=self, depends_on=waits))
            for role, obj in network.build(spec, name).items()
        }

    def _create_grafana_access(self, name: str, spec: PrometheusStackSpec, deferred: Deferred, waits: list[pulumi.Resource]) -> list[pulumi.Resource]:
        """Grafana's dashboard-reader ClusterRole and, unless one was handed in, its generated admin Secret: what the
        kube-prometheus-stack release waits for besides the namespaces."""
        grafana: list[pulumi.Resource] = []
        if spec.grafana:
            role = prometheus_stack.grafana_cluster_role(spec, name)
            grafana.append(register(deferred.fill(role), f"{name}-grafana-dashboards-reader", pulumi.ResourceOptions(parent=self)))
        if spec.grafana and spec.grafana_admin_secret is None:
            password = random.RandomPassword(
                f"{name}-grafana-admin", length=GRAFANA_PASSWORD_LENGTH, special=False, opts=pulumi.ResourceOptions(parent=self)
            )
            self.grafana_password = pulumi.Output.secret(password.result)
            secret = register(
                deferred.fill(prometheus_stack.grafana_admin_secret(spec, name, self.grafana_password)),
                f"{name}-grafana-admin",
                pulumi.ResourceOptions(parent=self, depends_on=waits),
            )
            grafana.append(secret)
        return grafana

    def _create_releases(self, name: str, spec: PrometheusStackSpec, deferred: Deferred, after: list[pulumi.Resource]) -> None:
        """The kube-prometheus-stack release (after the namespaces and Grafana's access), then prometheus-adapter's
        (after it, for the CRDs)."""
        digests = chart_image_digests(spec, pulumi.ResourceOptions(parent=self))
        self.release = k8s.helm.v3.Release(
            f"{name}-kube-prometheus-stack",
            **deferred.fill(
                charts.KUBE_PROMETHEUS_STACK.release_args(
                    prometheus_stack.RELEASE_NAME,
                    spec.namespace,
                    spec.helm_repository,
                    images.pinned_values(images.KPS, prometheus_stack.values(spec), digests),
                )
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=after),
        )
        self.adapter_release = k8s.helm.v3.Release(
            f"{name}-prometheus-adapter",
            **deferred.fill(
                charts.PROMETHEUS_ADAPTER.release_args(
                    adapter.RELEASE_NAME, spec.namespace, spec.helm_repository, images.pinned_values(images.ADAPTER, adapter.values(spec), digests)
                )
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.release]),
        )

    def _export_outputs(self, spec: PrometheusStackSpec, deferred: Deferred) -> None:
        def output(value):
            return pulumi.Output.from_input(deferred.fill(value))

        self.namespace = output(spec.namespace)
        self.prometheus_url = output(prometheus_stack.prometheus_url(spec.namespace))
        self.alertmanager_url = output(prometheus_stack.alertmanager_url(spec.namespace))
        self.grafana_service = pulumi.Output.from_input(prometheus_stack.GRAFANA_SERVICE if spec.grafana else "")
        self.grafana_admin_secret = pulumi.Output.from_input(spec.admin_secret if spec.grafana else "")
        forward = f"kubectl -n {spec.namespace} port-forward svc/{prometheus_stack.GRAFANA_SERVICE} {GRAFANA_LOCAL_PORT}:{prometheus_stack.GRAFANA_PORT}"
        self.grafana_port_forward = output(forward if spec.grafana else "")
        self.custom_metrics = pulumi.Output.from_input(adapter.metric_names())
        self.register_outputs(
            {
                "namespace": self.namespace,
                "prometheus_url": self.prometheus_url,
                "alertmanager_url": self.alertmanager_url,
                "grafana_service": self.grafana_service,
                "grafana_admin_secret": self.grafana_admin_secret,
                "grafana_port_forward": self.grafana_port_forward,
                "custom_metrics": self.custom_metrics,
            }
        )


class ServiceMonitoring(pulumi.ComponentResource):
    """Monitoring for one GoService: a ServiceMonitor, a PrometheusRule and a Grafana dashboard.

    The ServiceMonitor scrapes the Service's `metrics` port at the configured interval; the
    rule alerts on 5xx ratio, p99 latency, restarts, memory near the limit and an HPA stuck
    at its maximum; the dashboard ConfigMap carries the Grafana sidecar label. Every child
    waits for what this component's `depends_on` names: pass the PrometheusStack's `release`
    (the CRDs) and the GoService (its namespace). Inputs that may be Outputs: serviceName,
    namespace and instance; all others are plain.
    """

    service_monitor: pulumi.Output[str]
    """Name of the ServiceMonitor."""
    prometheus_rule: pulumi.Output[str]
    """Name of the PrometheusRule."""
    alerts: pulumi.Output[list[str]]
    """Names of the alerts the rule defines."""
    dashboard: pulumi.Output[str]
    """Name of the dashboard ConfigMap, empty when there is none."""

    def __init__(self, name: str, args: ServiceMonitoringArgs, opts: pulumi.ResourceOptions | None = None):
        spec, deferred = resolve_service_monitoring(name, args)
        super().__init__(SERVICE_TYPE, name, {}, tokens.options(SERVICE_TYPE, opts))
        self.spec: pulumi.Output[ServiceMonitoringSpec] = deferred.real(spec)
        """The validated args, with the real values of any Outputs."""
        child = pulumi.ResourceOptions(parent=self, depends_on=opts.depends_on if opts else None)
        # The dashboard's uid truncates the names: built from the real spec, not substituted.
        objects = service_monitoring.build(spec, deferred.derive(dashboard.data, spec) if spec.dashboard else None)
        self.resources = {role: register(deferred.fill(obj), f"{name}-{role.replace('_', '-')}", child) for role, obj in objects.items()}

        rule = objects["prometheus_rule"]
        self.service_monitor = pulumi.Output.from_input(deferred.fill(objects["service_monitor"]["metadata"]["name"]))
        self.prometheus_rule = pulumi.Output.from_input(deferred.fill(rule["metadata"]["name"]))
        self.alerts = pulumi.Output.from_input([r["alert"] for g in rule["spec"]["groups"] for r in g["rules"]])
        self.dashboard = pulumi.Output.from_input(deferred.fill(objects["dashboard"]["metadata"]["name"]) if "dashboard" in objects else "")
        self.register_outputs(
            {
                "service_monitor": self.service_monitor,
                "prometheus_rule": self.prometheus_rule,
                "alerts": self.alerts,
                "dashboard": self.dashboard,
            }
        )
