"""The pure GoService spec builders: real properties of the dicts `pulumi up` would send, no Pulumi involved."""

import pytest
from kubernetes.utils import parse_quantity

from components.errors import ConfigError
from components.service.autoscaling import REQUESTS_PER_SECOND
from components.service.component import build
from components.service.config import parse_service

IMAGE = "registry.example.com/team/api:1.2.3"


def objects(**args):
    spec = parse_service({"service_name": "api", **args}, "GoService 'api'")
    return spec, build("api", spec, IMAGE)


def app_container(objs):
    return objs["deployment"]["spec"]["template"]["spec"]["containers"][0]


def env_of(container):
    return {e["name"]: e for e in container["env"]}


def test_anti_affinity_preferred_by_default_on_hostname():
    _, objs = objects()
    affinity = objs["deployment"]["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]
    assert "requiredDuringSchedulingIgnoredDuringExecution" not in affinity
    (term,) = affinity["preferredDuringSchedulingIgnoredDuringExecution"]
    assert term["weight"] == 100
    assert term["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    assert term["podAffinityTerm"]["labelSelector"]["matchLabels"] == objs["deployment"]["spec"]["selector"]["matchLabels"]
    assert term["podAffinityTerm"]["matchLabelKeys"] == ["pod-template-hash"]


def test_anti_affinity_required_and_zone_spread():
    _, objs = objects(scheduling={"anti_affinity": "required", "zone_spread": True})
    pod = objs["deployment"]["spec"]["template"]["spec"]
    (term,) = pod["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert term["topologyKey"] == "kubernetes.io/hostname"
    # per revision: a rollout's surge pod may share a node with an old pod, so it never waits for a free node
    assert term["matchLabelKeys"] == ["pod-template-hash"]
    assert objs["deployment"]["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    (spread,) = pod["topologySpreadConstraints"]
    assert spread["topologyKey"] == "topology.kubernetes.io/zone" and spread["maxSkew"] == 1
    assert spread["labelSelector"]["matchLabels"] == objs["deployment"]["spec"]["selector"]["matchLabels"]


def test_no_zone_spread_unless_asked():
    _, objs = objects()
    assert "topologySpreadConstraints" not in objs["deployment"]["spec"]["template"]["spec"]


def test_probes_exist_and_are_not_identical():
    _, objs = objects()
    c = app_container(objs)
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert c["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert c["readinessProbe"] != c["livenessProbe"]
    port_names = {p["name"] for p in c["ports"]}
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert c[probe]["httpGet"]["port"] in port_names


def test_restricted_security_context_on_pod_app_and_init_containers():
    _, objs = objects(init_containers=[{"name": "wait-db", "image": "busybox:1.37.0", "command": ["sh", "-c", "until nc -z db 5432; do sleep 1; done"]}])
    pod = objs["deployment"]["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    containers = pod["containers"] + pod["initContainers"]
    assert len(containers) == 2
    for c in containers:
        sc = c["securityContext"]
        assert sc["runAsNonRoot"] is True
        assert sc["runAsUser"] == 65532 and sc["runAsGroup"] == 65532
        assert sc["readOnlyRootFilesystem"] is True
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["capabilities"] == {"drop": ["ALL"]}
        assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
        assert "requests" in c["resources"] and "memory" in c["resources"]["limits"]
    init = pod["initContainers"][0]
    assert init["resources"]["requests"] == {"cpu": "50m", "memory": "32Mi"}


def test_memory_limit_defaults_to_request_and_gomemlimit_is_90_percent():
    _, objs = objects(resources={"memory_request": "256Mi"})
    c = app_container(objs)
    assert c["resources"]["limits"]["memory"] == "256Mi"
    assert env_of(c)["GOMEMLIMIT"]["value"] == "230MiB"  # floor(256 * 0.9)
    limit = parse_quantity(c["resources"]["limits"]["memory"])
    assert parse_quantity(env_of(c)["GOMEMLIMIT"]["value"].replace("MiB", "Mi")) < limit


@pytest.mark.parametrize("limit, percent, expected", [("1Gi", 90, "921MiB"), ("500M", 80, "381MiB"), ("64Mi", 100, "64MiB")])
def test_gomemlimit_is_computed_from_the_quantity(limit, percent, expected):
    _, objs = objects(resources={"memory_request": "32Mi", "memory_limit": limit}, go_mem_limit_percent=percent)
    assert env_of(app_container(objs))["GOMEMLIMIT"]["value"] == expected


@pytest.mark.parametrize("go_version, sets_env", [(None, True), ("1.24.9", True), ("1.25", False), ("1.26.0", False)])
def test_gomaxprocs_follows_the_cpu_limit_only_for_go_before_1_25(go_version, sets_env):
    """Go 1.25+ reads the CPU limit itself and follows changes; an explicit GOMAXPROCS would switch that off."""
    _, objs = objects(resources={"cpu_limit": "2"}, go_version=go_version)
    env = env_of(app_container(objs))
    if sets_env:
        assert env["GOMAXPROCS"]["valueFrom"]["resourceFieldRef"] == {"containerName": "app", "resource": "limits.cpu", "divisor": "1"}
    else:
        assert "GOMAXPROCS" not in env and "GOMEMLIMIT" in env
    _, objs = objects(resources={"cpu_limit": None}, go_version=go_version)
    c = app_container(objs)
    assert "GOMAXPROCS" not in env_of(c) and "cpu" not in c["resources"]["limits"]


def test_go_version_is_validated():
    with pytest.raises(ConfigError, match="go_version"):
        objects(go_version="go1.26")


def test_rollout_is_safe_and_shutdown_fits_the_grace_period():
    spec, objs = objects(shutdown_timeout_seconds=40, pre_stop_sleep_seconds=7)
    deploy = objs["deployment"]["spec"]
    assert deploy["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": "25%"}}
    pod = deploy["template"]["spec"]
    c = app_container(objs)
    assert c["lifecycle"]["preStop"] == {"sleep": {"seconds": 7}}
    assert env_of(c)["SHUTDOWN_TIMEOUT"]["value"] == "40s"
    assert pod["terminationGracePeriodSeconds"] > 40 + 7


def test_hpa_owns_replicas():
    _, objs = objects()
    assert "replicas" not in objs["deployment"]["spec"]
    hpa = objs["horizontal_pod_autoscaler"]["spec"]
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "api"}
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (2, 4)
    (cpu,) = hpa["metrics"]
    assert cpu == {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}}
    assert hpa["behavior"]["scaleUp"]["stabilizationWindowSeconds"] == 0
    assert hpa["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 300


def test_without_hpa_the_deployment_sets_replicas():
    _, objs = objects(replicas=3, autoscaling={"enabled": False})
    assert objs["deployment"]["spec"]["replicas"] == 3
    assert "horizontal_pod_autoscaler" not in objs


def test_requests_per_second_adds_a_pods_metric_next_to_cpu():
    _, objs = objects(autoscaling={"requests_per_second": "50"})
    metrics = objs["horizontal_pod_autoscaler"]["spec"]["metrics"]
    assert [m["type"] for m in metrics] == ["Resource", "Pods"]
    assert metrics[1]["pods"] == {"metric": {"name": REQUESTS_PER_SECOND}, "target": {"type": "AverageValue", "averageValue": "50"}}


@pytest.mark.parametrize(
    "args, has_pdb",
    [
        ({}, True),  # HPA 2-4
        ({"autoscaling": {"min_replicas": 1, "max_replicas": 1}}, False),
        ({"autoscaling": {"min_replicas": 1, "max_replicas": 3}}, True),
        ({"replicas": 1, "autoscaling": {"enabled": False}}, False),
        ({"replicas": 2, "autoscaling": {"enabled": False}}, True),
    ],
)
def test_pdb_only_when_more_than_one_replica_can_run(args, has_pdb):
    _, objs = objects(**args)
    assert ("pod_disruption_budget" in objs) is has_pdb
    if has_pdb:
        pdb = objs["pod_disruption_budget"]["spec"]
        assert pdb["maxUnavailable"] == 1 and pdb["unhealthyPodEvictionPolicy"] == "AlwaysAllow"
        assert pdb["selector"] == objs["deployment"]["spec"]["selector"]


def test_service_exposes_http_and_metrics_but_never_the_admin_port():
    spec, objs = objects()
    svc = objs["service"]["spec"]
    assert svc["type"] == "ClusterIP"
    assert {(p["name"], p["targetPort"]) for p in svc["ports"]} == {("http", "http"), ("metrics", "metrics")}
    assert svc["selector"] == objs["deployment"]["spec"]["selector"]["matchLabels"]
    assert spec.admin_port not in [p["port"] for p in svc["ports"]]
    container_ports = [p["containerPort"] for p in app_container(objs)["ports"]]
    assert spec.admin_port not in container_ports
    assert env_of(app_container(objs))["ADMIN_ADDR"]["value"] == f"127.0.0.1:{spec.admin_port}"


def test_network_policy_denies_by_default_and_opens_only_what_is_configured():
    spec, objs = objects(network={"ingress_namespaces": ["ingress-nginx"], "egress": ["10.20.0.0/16:5432", "payments:8080"]})
    np = objs["network_policy"]["spec"]
    assert np["policyTypes"] == ["Ingress", "Egress"]
    assert np["podSelector"]["matchLabels"] == objs["deployment"]["spec"]["selector"]["matchLabels"]
    http_rule, metrics_rule = np["ingress"]
    assert http_rule["ports"] == [{"port": 8080, "protocol": "TCP"}]
    assert http_rule["from"][0]["namespaceSelector"]["matchExpressions"][0]["values"] == ["gosvc", "ingress-nginx"]
    assert metrics_rule["ports"] == [{"port": 9090, "protocol": "TCP"}]
    assert metrics_rule["from"][0]["namespaceSelector"]["matchExpressions"][0]["values"] == ["monitoring"]
    opened = [p["port"] for rule in np["ingress"] for p in rule["ports"]]
    assert spec.admin_port not in opened
    dns, db, payments = np["egress"]
    assert {p["port"] for p in dns["ports"]} == {53}
    assert db == {"to": [{"ipBlock": {"cidr": "10.20.0.0/16"}}], "ports": [{"port": 5432, "protocol": "TCP"}]}
    assert payments["to"][0]["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "payments"}


def test_namespace_only_when_asked_and_with_restricted_pod_security():
    _, objs = objects()
    assert "namespace" not in objs
    _, objs = objects(create_namespace=True, namespace="team-api")
    labels = objs["namespace"]["metadata"]["labels"]
    assert objs["namespace"]["metadata"]["name"] == "team-api"
    for mode in ("enforce", "audit", "warn"):
        assert labels[f"pod-security.kubernetes.io/{mode}"] == "restricted"


def test_recommended_labels_on_every_object_and_names_are_deterministic():
    _, objs = objects()
    for role, obj in objs.items():
        labels = obj["metadata"]["labels"]
        assert labels["app.kubernetes.io/name"] == "api", role
        assert labels["app.kubernetes.io/managed-by"] == "pulumi", role
        assert labels["app.kubernetes.io/part-of"] == "gosvc", role
        assert labels["app.kubernetes.io/version"] == "1.2.3", role
        assert obj["metadata"]["name"] == "api", role
    _, again = objects()
    assert again == objs


def test_secret_env_comes_from_secret_key_refs_never_values():
    _, objs = objects(secret_env={"DB_PASSWORD": "db-credentials/password"})
    env = env_of(app_container(objs))
    assert env["DB_PASSWORD"] == {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db-credentials", "key": "password"}}}
