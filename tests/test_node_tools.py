"""The real-node tier's own logic, offline (tools/nodes): the configs it writes for containerd, the CNI, the kubelet
and kube-proxy, the stand-in bases' names, and how a BuildKit log says which steps were reused. `make e2e` runs it."""

from __future__ import annotations

import ipaddress
import re
import tomllib
from pathlib import Path

import pytest

from components import defaults
from components.image import dockerfile
from components.image.config import parse_image
from tests.conftest import ROOT
from tools.e2e.build import BuildError
from tools.nodes import bases, build, image, network, node

PROGRESS = (ROOT / "tests" / "fixtures" / "nodes" / "buildkit-progress-go-edit.txt").read_text()


def test_a_buildkit_log_says_which_dockerfile_steps_were_reused():
    """A real log (the Docker engine of tools/nodes, after a .go file was added to app/)."""
    steps = image.steps(PROGRESS)
    assert [(s.instruction.split()[0], s.cached) for s in steps] == [
        ("WORKDIR", True), ("COPY", True), ("RUN", True), ("COPY", False), ("RUN", False), ("COPY", False),
    ]  # fmt: skip
    assert steps[1].instruction == "COPY go.mod go.sum ./" and steps[1].stage == "build"
    assert "go build" in steps[4].instruction and steps[5].stage == "stage-1"


def test_containerd_runs_cri_with_the_pause_stand_in_and_pulls_from_the_loopback_registry(tmp_path):
    config = tomllib.loads(node.containerd_config(tmp_path))
    cri = config["plugins"]["io.containerd.grpc.v1.cri"]
    assert config["disabled_plugins"] == [], "Debian's packaged config turns CRI off"
    assert cri["sandbox_image"] == bases.PAUSE_IMAGE
    assert cri["restrict_oom_score_adj"] is True, "root here lacks CAP_SYS_RESOURCE"
    assert cri["containerd"]["runtimes"]["runc"]["options"]["SystemdCgroup"] is False
    assert cri["cni"] == {"bin_dir": str(build.CNI_BIN), "conf_dir": str(tmp_path / "cni")}
    assert cri["registry"]["config_path"] == str(tmp_path / "certs.d")
    sockets = [config["grpc"]["address"], config["ttrpc"]["address"]]
    assert all(len(s) < 100 and s.startswith(str(node.RUN_DIR)) for s in sockets), "unix socket paths stay short"
    assert config["root"].startswith(str(tmp_path)) and config["state"].startswith(str(node.RUN_DIR))


def test_the_stacks_registry_is_pulled_through_the_loopback_registry_as_a_mirror():
    hosts = {name: tomllib.loads(text) for name, text in node.registry_hosts("127.0.0.1:5000", ("registry.example.com",)).items()}
    assert hosts["registry.example.com"]["server"] == "https://registry.example.com", "references keep their registry's name"
    for name in ("127.0.0.1:5000", "registry.example.com"):
        assert hosts[name]["host"] == {"http://127.0.0.1:5000": {"capabilities": ["pull", "resolve"]}}, name


def test_pods_get_addresses_on_the_nodes_own_bridge():
    plugin = node.cni_config()["plugins"][0]
    subnet = ipaddress.ip_network(node.BRIDGE.subnet)
    (ranges,) = plugin["ipam"]["ranges"]
    assert plugin["bridge"] == node.BRIDGE.name and plugin["isGateway"] is True
    assert ranges[0]["subnet"] == str(subnet) and ipaddress.ip_address(ranges[0]["gateway"]) == ipaddress.ip_address(node.BRIDGE.address)
    assert ipaddress.ip_address(ranges[0]["rangeStart"]) in subnet and ipaddress.ip_address(node.BRIDGE.address) in subnet
    assert not subnet.overlaps(ipaddress.ip_network("10.244.0.0/16")), "kwok's pod range"
    assert not subnet.overlaps(ipaddress.ip_network(network.Bridge("x", "10.247.0.1", 24).subnet)), "the Docker engine's"


def test_pods_on_the_bridge_reach_each_other_past_a_forward_policy_of_drop():
    plugins = [p["type"] for p in node.cni_config()["plugins"]]
    assert plugins[0] == "bridge" and "firewall" in plugins, "each pod's accept rules in FORWARD"


def test_the_kubelet_runs_on_cgroup_v1_serves_only_on_its_bridge_and_keeps_the_built_images(tmp_path):
    config = node.kubelet_config(tmp_path, 10250, 10248)
    assert config["failCgroupV1"] is False and config["cgroupDriver"] == "cgroupfs" and config["cgroupRoot"] == f"/{node.CGROUP_ROOT}"
    assert config["address"] == node.BRIDGE.address and config["healthzBindAddress"] == "127.0.0.1" and config["readOnlyPort"] == 0
    assert config["containerRuntimeEndpoint"] == f"unix://{node.RUN_DIR / 'containerd.sock'}"
    assert config["podLogsDir"] == str(tmp_path / "pods")
    assert config["imageGCHighThresholdPercent"] == 100, "the images the tier built cannot be pulled again"


def test_pods_resolve_names_through_the_nodes_cluster_dns_on_its_bridge(tmp_path):
    config = node.kubelet_config(tmp_path, 10250, 10248)
    assert config["clusterDNS"] == [node.BRIDGE.address] and config["clusterDomain"] == node.CLUSTER_DOMAIN
    corefile = node.corefile(Path("/k/kubeconfig"), 8181)
    assert f"bind {node.BRIDGE.address}" in corefile and "ready 127.0.0.1:8181" in corefile
    assert re.search(rf"kubernetes {re.escape(node.CLUSTER_DOMAIN)} in-addr.arpa {{\s*kubeconfig /k/kubeconfig", corefile)


def test_the_kubernetes_service_leads_pods_to_the_api_server_on_the_bridge():
    slice_ = node.api_endpoint_slice(6443)
    assert slice_["metadata"]["labels"]["kubernetes.io/service-name"] == "kubernetes" and slice_["metadata"]["namespace"] == "default"
    assert slice_["endpoints"][0]["addresses"] == [node.BRIDGE.address] and slice_["ports"] == [{"name": "https", "port": 6443, "protocol": "TCP"}]


def test_kube_proxy_changes_no_sysctl():
    config = node.kube_proxy_config(Path("/k"), 1, 2)
    assert config["mode"] == "iptables" and config["clusterCIDR"] == node.BRIDGE.subnet
    assert config["conntrack"]["maxPerCore"] == 0 and config["conntrack"]["tcpEstablishedTimeout"] == "0s"
    assert not any(ipaddress.ip_network(a).overlaps(ipaddress.ip_network("127.0.0.0/8")) for a in config["nodePortAddresses"]), "no route_localnet"


@pytest.mark.parametrize("go_mod", ["go 1.26.0", "go 1.26.0\ntoolchain go1.26.4"])
def test_the_golang_stand_in_is_named_as_the_generated_dockerfile_names_its_builder(tmp_path, go_mod):
    (tmp_path / "go.mod").write_text(f"module example.com/x\n\n{go_mod}\n")
    spec = parse_image({"context": str(tmp_path), "repository": "registry.example.com/x", "tag": "1"}, "image")
    module = dockerfile.read_module(tmp_path)
    text = dockerfile.render(spec, module)
    builder = re.search(r"^FROM --platform=\$BUILDPLATFORM (\S+) AS build$", text, re.M).group(1)
    version = dockerfile.builder_version(spec, module)
    assert builder.replace("${GO_VERSION}", version) == bases.golang_image(version)
    assert re.search(r"^FROM (\S+)$", text, re.M).group(1) == defaults.DISTROLESS_STATIC


def test_the_distroless_stand_in_has_the_users_distroless_has():
    users = {line.split(":")[0]: line.split(":")[2] for line in bases.PASSWD.splitlines()}
    groups = {line.split(":")[0]: line.split(":")[2] for line in bases.GROUP.splitlines()}
    assert users == groups == {"root": "0", "nobody": "65534", "nonroot": str(defaults.NONROOT_UID)}


def test_missing_packages_are_named_and_need_root(monkeypatch, tmp_path):
    monkeypatch.setattr(build, "PACKAGES", {"docker.io": str(tmp_path / "dockerd"), "runc": "/"})
    monkeypatch.setattr(build.os, "geteuid", lambda: 1000)
    assert build.missing_packages() == ["docker.io"]
    with pytest.raises(BuildError, match=r"needs Debian's docker.io; install them as root \(apt-get install docker.io\)"):
        build.install_packages(lambda _line: None)


def test_a_bridge_names_its_subnet():
    assert network.Bridge("b", "10.88.0.1", 24).subnet == "10.88.0.0/24"
    assert network.Bridge("b", "10.1.2.3", 16).subnet == "10.1.0.0/16"
