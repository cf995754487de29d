"""The GoService ComponentResource: validates its args, builds the specs, registers them."""

from typing import Any, TypedDict

import pulumi
from typing_extensions import NotRequired

from components import inputs, tokens
from components.args import ResourcesArgs
from components.errors import ConfigError
from components.image.config import check_image_reference
from components.inputs import Deferred
from components.k8s.register import register
from components.service import autoscaling, network, workload
from components.service.config import ServiceSpec, parse_service

TYPE = tokens.GO_SERVICE


class AutoscalingArgs(TypedDict):
    """HorizontalPodAutoscaler settings."""

    enabled: NotRequired[bool]
    """Run an HPA (default true); the Deployment then leaves replicas to it."""
    min_replicas: NotRequired[int]
    """Minimum replicas, default 2."""
    max_replicas: NotRequired[int]
    """Maximum replicas, default 4."""
    cpu_utilization: NotRequired[int]
    """Target average CPU utilization in percent of the request (1-100), default 70."""
    scale_down_stabilization_seconds: NotRequired[int]
    """Seconds of lower load before scaling down, default 300."""
    requests_per_second: NotRequired[str]
    """Per-pod requests-per-second target (a quantity such as '50'); adds a Pods metric served by prometheus-adapter.
    Unset, the HPA scales on CPU only."""


class SchedulingArgs(TypedDict):
    """How replicas are spread over nodes and zones."""

    anti_affinity: NotRequired[str]
    """'preferred' (default) or 'required' pod anti-affinity on kubernetes.io/hostname."""
    zone_spread: NotRequired[bool]
    """Add a topology spread constraint across topology.kubernetes.io/zone (default false)."""


class NetworkArgs(TypedDict):
    """Traffic the NetworkPolicy allows."""

    ingress_namespaces: NotRequired[list[str]]
    """Namespaces, besides the service's own, that may reach the HTTP port."""
    monitoring_namespace: NotRequired[str]
    """Namespace allowed to scrape the metrics port, default 'monitoring'."""
    egress: NotRequired[list[str]]
    """Egress targets besides DNS: 'CIDR:port' or 'namespace:port'."""


class InitContainerArgs(TypedDict):
    """An init container, run with the app's restricted security context and a shared /shared emptyDir."""

    name: str
    """Container name."""
    image: str
    """Image with a pinned tag or digest."""
    command: NotRequired[list[str]]
    """Entrypoint override."""
    args: NotRequired[list[str]]
    """Arguments."""
    resources: NotRequired[ResourcesArgs]
    """Its own resources, default 50m CPU and 32Mi memory."""


class GoServiceArgs(TypedDict):
    """Arguments of GoService.

    `image`, `service_name`, `namespace` and the values of `env` may be Outputs (another
    resource's output, unknown at preview, secret): they only flow into the manifests and are
    validated once known. Every other field decides which objects exist or how many, so it is a
    plain value.
    """

    image: pulumi.Input[str]
    """Image reference; a digest reference (GoImage.image_ref) makes deploys immutable."""
    service_name: NotRequired[pulumi.Input[str]]
    """Kubernetes name of the service, default the component name."""
    namespace: NotRequired[pulumi.Input[str]]
    """Namespace, default 'gosvc'; never 'default'. May be an Output, such as a Namespace's metadata.name."""
    create_namespace: NotRequired[bool]
    """Create the namespace with Pod Security Admission 'restricted' labels (default false)."""
    replicas: NotRequired[int]
    """Replicas when autoscaling is off, default 2."""
    http_port: NotRequired[int]
    """Container port of the public listener, default 8080."""
    metrics_port: NotRequired[int]
    """Container port of /metrics, default 9090."""
    admin_port: NotRequired[int]
    """Loopback pprof port, default 6060; never in the Service or NetworkPolicy."""
    resources: NotRequired[ResourcesArgs]
    """Requests and limits of the app container: default 100m CPU request, 1 CPU limit, 128Mi memory."""
    go_mem_limit_percent: NotRequired[int]
    """GOMEMLIMIT as a percentage of the memory limit, default 90."""
    go_version: NotRequired[str]
    """Go release of the binary ('1.26.0', GoImage's go_version); before 1.25 or unset, GOMAXPROCS follows the CPU limit."""
    autoscaling: NotRequired[AutoscalingArgs]
    """HorizontalPodAutoscaler settings."""
    scheduling: NotRequired[SchedulingArgs]
    """Anti-affinity and zone spread."""
    network: NotRequired[NetworkArgs]
    """NetworkPolicy settings."""
    shutdown_timeout_seconds: NotRequired[int]
    """The app's graceful shutdown timeout, default 25; the grace period is derived from it."""
    pre_stop_sleep_seconds: NotRequired[int]
    """preStop sleep before SIGTERM, default 5."""
    log_level: NotRequired[str]
    """debug, info (default), warn or error."""
    env: NotRequired[dict[str, pulumi.Input[str]]]
    """Environment variables; names that look like secrets are refused. Values may be Outputs; names are plain."""
    secret_env: NotRequired[dict[str, str]]
    """Environment variables from Secrets, as NAME: 'secret-name/key'."""
    init_containers: NotRequired[list[InitContainerArgs]]
    """Init containers, for example to wait for a dependency."""


DEFERRABLE = ("namespace", "service_name", "env.*")
"""Fields that may be Outputs (besides `image`): they only flow into manifests."""


def _check_image(where: str, image: str) -> str:
    try:
        check_image_reference(image)
    except ValueError as err:
        raise ConfigError(f"{where}: image", image, str(err)) from None
    return image


def resolve_go_service(name: str, args: GoServiceArgs) -> tuple[ServiceSpec, Deferred, Any]:
    """Validates GoService args into a ServiceSpec, the Outputs among them, and the image; raises ConfigError naming the field.

    An Output in a DEFERRABLE field is validated by the same rules once known. An Output image
    is taken as the resource that made it reports it (GoImage's digest reference, say): the
    offline synth shows such digests as readable placeholders that no reference grammar accepts.
    """
    where = f"GoService '{name}'"
    raw = {k: v for k, v in dict(args).items() if k != "image"}
    raw.setdefault("service_name", name)
    image = args.get("image")
    if image is None:
        raise ConfigError(f"{where}: image", None, "an image reference is required")
    if isinstance(image, str):
        _check_image(where, image)
    plain, deferred = inputs.split(raw, where, DEFERRABLE, lambda real: parse_service(real, where))
    return parse_service(plain, where), deferred, image


def image_version(image: Any) -> str | None:
    """The tag of a plain image reference, for the version label; None for an Output or digest-only reference."""
    if not isinstance(image, str):
        return None
    last = image.split("@", 1)[0].rsplit("/", 1)[-1]
    return last.rsplit(":", 1)[1] if ":" in last else None


def build(name: str, spec: ServiceSpec, image: Any, http_from: Any = None) -> dict[str, dict]:
    """Every object of a GoService, by role; roles with no object (no HPA, no PDB) are absent. `http_from` is
    `network.http_namespaces(spec)` from the real namespace when it is an Output (see `network.network_policy`)."""
    names = workload.ServiceNames(spec, name, image_version(image))
    objects: dict[str, dict | None] = {
        "namespace": network.namespace(spec, names) if spec.create_namespace else None,
        "service_account": workload.service_account(spec, names),
        "deployment": workload.deployment(spec, names, image),
        "service": network.service(spec, names),
        "pod_disruption_budget": workload.pod_disruption_budget(spec, names),
        "horizontal_pod_autoscaler": autoscaling.horizontal_pod_autoscaler(spec, names),
        "network_policy": network.network_policy(spec, names, http_from),
    }
    return {role: obj for role, obj in objects.items() if obj is not None}


class GoService(pulumi.ComponentResource):
    """A Go HTTP service on Kubernetes, safe by default.

    Creates a ServiceAccount without a token, a Deployment (restricted security context,
    probes, hostname anti-affinity, zero-downtime rollouts, GOMEMLIMIT/GOMAXPROCS from the
    limits), a ClusterIP Service, a PodDisruptionBudget when more than one replica can run,
    an autoscaling/v2 HPA on CPU, a default-deny NetworkPolicy and optionally the Namespace.
    Inputs that may be Outputs: image, serviceName, namespace and env values; all others are plain.
    """

    deployment_name: pulumi.Output[str]
    """Name of the Deployment."""
    service_name: pulumi.Output[str]
    """Name of the ClusterIP Service."""
    namespace: pulumi.Output[str]
    """Namespace of every object."""
    url: pulumi.Output[str]
    """In-cluster URL of the HTTP port."""
    pprof_port_forward: pulumi.Output[str]
    """The kubectl command that reaches the pprof admin port of one pod."""

    def __init__(self, name: str, args: GoServiceArgs, opts: pulumi.ResourceOptions | None = None):
        spec, deferred, image = resolve_go_service(name, args)
        super().__init__(TYPE, name, {}, opts)
        self.spec: pulumi.Output[ServiceSpec] = deferred.real(spec)
        """The validated args, with the real values of any Outputs."""
        objects = deferred.fill(build(name, spec, image, deferred.derive(network.http_namespaces, spec)))
        child = pulumi.ResourceOptions(parent=self)
        self.resources: dict[str, pulumi.CustomResource] = {}
        if "namespace" in objects:
            self.resources["namespace"] = register(objects.pop("namespace"), f"{name}-ns", child)
            child = pulumi.ResourceOptions(parent=self, depends_on=[self.resources["namespace"]])
        for role, obj in objects.items():
            self.resources[role] = register(obj, f"{name}-{role.replace('_', '-')}", child)

        def output(text: str) -> pulumi.Output[str]:
            return pulumi.Output.from_input(deferred.fill(text))

        self.deployment_name = output(spec.service_name)
        self.service_name = output(spec.service_name)
        self.namespace = output(spec.namespace)
        self.url = output(f"http://{spec.service_name}.{spec.namespace}.svc.cluster.local")
        self.pprof_port_forward = output(
            f"kubectl -n {spec.namespace} port-forward deploy/{spec.service_name} {spec.admin_port}:{spec.admin_port}"
        )
        self.register_outputs(
            {
                "deployment_name": self.deployment_name,
                "service_name": self.service_name,
                "namespace": self.namespace,
                "url": self.url,
                "pprof_port_forward": self.pprof_port_forward,
            }
        )
