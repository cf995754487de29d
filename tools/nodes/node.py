"""A real Kubernetes node beside the local control plane's kwok nodes: containerd, kubelet, kube-proxy and the cluster
DNS (CoreDNS) of the tier's own, so pods run as real containers, reach the API server and each other by Service
name, and Services work from the host.

    with RealNode(cluster, toolset, node_tools, docker, workdir, registry.host, mirrors=("registry.example.com",)) as node:
        ...  # node.name is Ready; its pods run under containerd; node.task_pid(container_id) finds a process

What it needs, from a trial on this machine kind (shared/reference/real-nodes.md): a containerd with the CRI
plugin on (Debian's docker.io config turns it off) that names the tier's pause image as its sandbox image,
pulls from the loopback registry over HTTP and sets `restrict_oom_score_adj` (root here lacks
CAP_SYS_RESOURCE); a kubelet allowed to run on cgroup v1 under a cgroup root of its own; a bridge the tier
creates that is the node's address and the bridge CNI's bridge, with a pod subnet that exists only here. The
API server reaches the kubelet at that address (LocalCluster prefers InternalIP). The kubelet serves only
on that bridge and loopback, and takes any caller there (it is reached from this machine only).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Callable, Iterator

import kubernetes
import yaml

from tools.e2e.build import Toolset
from tools.e2e.cluster import ZONE_LABEL, LocalCluster, Process, Running, free_port, wait_serving
from tools.nodes import bases, build, network
from tools.nodes.docker import DockerEngine

NAME = "e2e-real-node"
ZONE = "zone-real"
BRIDGE = network.Bridge("gosvc-node0", "10.88.0.1", 24)
"""The node's address and its pods' bridge; pods get 10.88.0.10 and up."""
RUN_DIR = Path("/run/gosvc-nodes/node")
"""Sockets and runtime state: short paths (a unix socket's is limited to 107 bytes)."""
CGROUP_ROOT = "gosvc-kubelet"
K8S_NAMESPACE = "k8s.io"
READY_TIMEOUT = 120.0
CLUSTER_DOMAIN = "cluster.local"
KUBELET_PORT = 10250
"""The kubelet's usual port, the one the Prometheus Operator's kubelet Service names (Prometheus scrapes the kubelet's
and cAdvisor's metrics there). It listens only on the bridge's address."""
API_ENDPOINTS = "gosvc-e2e-real-node"
"""The EndpointSlice that sends the `kubernetes` Service to the API server on the bridge (the API server itself
writes none: it advertises loopback, which no pod can reach)."""


class NodeError(RuntimeError):
    """The node did not come up; the message quotes the log of what failed."""


def _cgroup_v1_hierarchies() -> list[Path]:
    root = Path("/sys/fs/cgroup")
    return [p for p in sorted(root.iterdir()) if p.is_dir() and not p.is_symlink() and p.name != "unified" and (p / "cgroup.procs").exists()]


def share_root_mount() -> None:
    """Makes `/` a shared mount, as systemd makes it on every host (and kind's node entrypoint does): the kubelet
    refuses a volume with `mountPropagation: HostToContainer` (node-exporter's view of the host's root) while `/` is
    private, which is how this machine's container starts it ("path / is mounted on / but it is not a shared or
    slave mount")."""
    if subprocess.run(["findmnt", "-no", "PROPAGATION", "/"], capture_output=True, text=True).stdout.strip() != "shared":
        subprocess.run(["mount", "--make-rshared", "/"], check=True, capture_output=True)


def prepare_cgroup_root() -> None:
    """The kubelet's cgroup root in every v1 hierarchy (cpuset's inherits its parent's CPUs and memory nodes, which a
    new v1 cpuset does not)."""
    for hierarchy in _cgroup_v1_hierarchies():
        target = hierarchy / CGROUP_ROOT
        target.mkdir(exist_ok=True)
        if hierarchy.name.startswith("cpuset"):
            for knob in ("cpuset.cpus", "cpuset.mems"):
                if not (target / knob).read_text().strip():
                    (target / knob).write_text((hierarchy / knob).read_text())


def containerd_config(root: Path) -> str:
    """containerd 1.6's config: its own root, state and sockets, CRI on, the pause stand-in, registries as
    `<root>/certs.d` says (registry_hosts)."""
    return f"""version = 2
root = "{root / 'containerd'}"
state = "{RUN_DIR / 'containerd'}"
disabled_plugins = []

[grpc]
  address = "{RUN_DIR / 'containerd.sock'}"

[ttrpc]
  address = "{RUN_DIR / 'containerd-ttrpc.sock'}"

[plugins."io.containerd.internal.v1.opt"]
  path = "{root / 'opt'}"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{bases.PAUSE_IMAGE}"
  restrict_oom_score_adj = true

[plugins."io.containerd.grpc.v1.cri".containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "runc"

[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
  SystemdCgroup = false
  Root = "{RUN_DIR / 'runc'}"

[plugins."io.containerd.grpc.v1.cri".cni]
  bin_dir = "{build.CNI_BIN}"
  conf_dir = "{root / 'cni'}"

[plugins."io.containerd.grpc.v1.cri".registry]
  config_path = "{root / 'certs.d'}"
"""


def registry_hosts(registry_host: str, mirrors: tuple[str, ...]) -> dict[str, str]:
    """containerd's hosts.toml per registry: the loopback registry over plain HTTP, and each of `mirrors` pulled from it
    as from a registry mirror (the reference keeps its registry's name; the bytes come from loopback)."""
    pull_from = f'[host."http://{registry_host}"]\n  capabilities = ["pull", "resolve"]\n'
    return {
        registry_host: f'server = "http://{registry_host}"\n\n{pull_from}',
        **{mirror: f'server = "https://{mirror}"\n\n{pull_from}' for mirror in mirrors},
    }


def cni_config() -> dict:
    """The bridge CNI on BRIDGE: pods on its subnet, the bridge as their gateway, masquerade for traffic leaving it, and
    the firewall plugin's accept rules for each pod: the tier's Docker engine sets the FORWARD policy to DROP, and with
    bridge netfilter on, traffic between two pods on the bridge passes FORWARD too (Prometheus's scrapes time out)."""
    return {
        "cniVersion": "1.0.0",
        "name": "gosvc-node",
        "plugins": [
            {
                "type": "bridge",
                "bridge": BRIDGE.name,
                "isGateway": True,
                "ipMasq": True,
                "hairpinMode": True,
                "ipam": {"type": "host-local", "ranges": [[{"subnet": BRIDGE.subnet, "rangeStart": "10.88.0.10", "gateway": BRIDGE.address}]], "routes": [{"dst": "0.0.0.0/0"}]},
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
            {"type": "firewall", "backend": "iptables"},
        ],
    }


def kubelet_config(root: Path, port: int, healthz_port: int) -> dict:
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "failCgroupV1": False,  # this machine kind has cgroup v1
        "cgroupDriver": "cgroupfs",
        "cgroupRoot": f"/{CGROUP_ROOT}",
        "containerRuntimeEndpoint": f"unix://{RUN_DIR / 'containerd.sock'}",
        "podLogsDir": str(root / "pods"),
        "failSwapOn": False,
        "address": BRIDGE.address,
        "port": port,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": healthz_port,
        "authentication": {"anonymous": {"enabled": True}, "webhook": {"enabled": False}},
        "authorization": {"mode": "AlwaysAllow"},
        # A shared disk: evict only when it is really full, and never collect the images the tier built.
        "evictionHard": {"memory.available": "100Mi", "nodefs.available": "1%", "imagefs.available": "1%", "nodefs.inodesFree": "1%"},
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "maxPods": 30,
        "resolvConf": "/etc/resolv.conf",
        "clusterDNS": [BRIDGE.address],
        "clusterDomain": CLUSTER_DOMAIN,
        "serializeImagePulls": False,
    }


def corefile(kubeconfig: Path, ready_port: int) -> str:
    """CoreDNS as the node's cluster DNS on the bridge: Services' and pods' names from the API server, nothing else (no
    resolver outside is reachable). `ready` answers once the Kubernetes plugin has synced."""
    return f"""{CLUSTER_DOMAIN}:53 in-addr.arpa:53 {{
    bind {BRIDGE.address}
    errors
    ready 127.0.0.1:{ready_port}
    kubernetes {CLUSTER_DOMAIN} in-addr.arpa {{
        kubeconfig {kubeconfig}
        pods insecure
    }}
    cache 5
}}
"""


def api_endpoint_slice(api_port: int) -> dict:
    """The `kubernetes` Service's endpoint: the API server's port on the node's bridge address."""
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": API_ENDPOINTS,
            "namespace": "default",
            "labels": {"kubernetes.io/service-name": "kubernetes", "endpointslice.kubernetes.io/managed-by": "e2e.gosvc.dev"},
        },
        "addressType": "IPv4",
        "endpoints": [{"addresses": [BRIDGE.address], "conditions": {"ready": True}}],
        "ports": [{"name": "https", "port": api_port, "protocol": "TCP"}],
    }


def kube_proxy_config(kubeconfig: Path, healthz_port: int, metrics_port: int) -> dict:
    """iptables mode; conntrack and NodePort settings left to the host, so kube-proxy changes no sysctl."""
    return {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "clientConnection": {"kubeconfig": str(kubeconfig)},
        "mode": "iptables",
        "hostnameOverride": NAME,
        "clusterCIDR": BRIDGE.subnet,
        "healthzBindAddress": f"127.0.0.1:{healthz_port}",
        "metricsBindAddress": f"127.0.0.1:{metrics_port}",
        "nodePortAddresses": [f"{BRIDGE.address}/32"],
        "conntrack": {"maxPerCore": 0, "min": 0, "tcpEstablishedTimeout": "0s", "tcpCloseWaitTimeout": "0s"},
        "iptables": {"syncPeriod": "10s", "minSyncPeriod": "0s"},
    }


class RealNode(Running):
    """containerd, kubelet, kube-proxy and CoreDNS on this machine, registered as node NAME in zone ZONE of `cluster`."""

    def __init__(
        self, cluster: LocalCluster, toolset: Toolset, node_tools: build.NodeTools, docker: DockerEngine, workdir: Path, registry_host: str, mirrors: tuple[str, ...] = ()
    ) -> None:
        self.cluster = cluster
        self.toolset = toolset
        self.node_tools = node_tools
        self.docker = docker
        self.workdir = workdir.resolve()
        self.registry_host = registry_host
        self.mirrors = mirrors
        """Registries (such as the stacks' registry.example.com) whose pulls the loopback registry serves, as a
        registry mirror serves a cluster's pulls."""
        self.name = NAME
        self.processes: list[Process] = []
        self.timings: dict[str, float] = {}

    @property
    def containerd_socket(self) -> Path:
        return RUN_DIR / "containerd.sock"

    def _start(self, name: str, argv: list[str]) -> Process:
        process = Process(name, argv, self.workdir / "logs" / f"{name}.log", stop_timeout=30.0)
        process.start()
        self.processes.append(process)
        return process

    def _wait(self, what: str, ready: Callable[[], bool]) -> None:
        self.timings[f"{what} seconds"] = wait_serving(what, ready, self.processes, READY_TIMEOUT, NodeError)

    def start(self) -> None:
        started = time.monotonic()
        release(self.workdir)
        shutil.rmtree(self.workdir, ignore_errors=True)
        for sub in ("cni", "pods", "kubelet", "certs"):
            (self.workdir / sub).mkdir(parents=True)
        RUN_DIR.mkdir(parents=True, exist_ok=True)
        BRIDGE.create()
        prepare_cgroup_root()
        share_root_mount()

        (self.workdir / "cni" / "10-gosvc-node.conflist").write_text(json.dumps(cni_config(), indent=2))
        for registry, hosts in registry_hosts(self.registry_host, self.mirrors).items():
            (self.workdir / "certs.d" / registry).mkdir(parents=True)
            (self.workdir / "certs.d" / registry / "hosts.toml").write_text(hosts)
        (self.workdir / "containerd.toml").write_text(containerd_config(self.workdir))
        self._start("containerd", [build.have("containerd"), "--config", str(self.workdir / "containerd.toml"), "--log-level", "warn"])
        self._wait("containerd", lambda: self.ctr("version").returncode == 0)
        # The sandbox image cannot be pulled from anywhere: it is loaded from the tier's Docker engine.
        imported = subprocess.run([build.have("ctr"), "--address", str(self.containerd_socket), "-n", K8S_NAMESPACE, "images", "import", "-"], input=self.docker.save(bases.PAUSE_IMAGE), capture_output=True)
        if imported.returncode != 0:
            raise NodeError(f"importing {bases.PAUSE_IMAGE} into containerd failed: {imported.stderr.decode(errors='replace')[-2000:]}")

        kubelet_port, healthz_port = KUBELET_PORT, free_port()
        (self.workdir / "kubelet.yaml").write_text(yaml.safe_dump(kubelet_config(self.workdir, kubelet_port, healthz_port)))
        self._start(
            "kubelet",
            [
                str(self.toolset.bin("kubelet")),
                f"--config={self.workdir / 'kubelet.yaml'}",
                f"--kubeconfig={self.cluster.kubeconfig}",
                f"--root-dir={self.workdir / 'kubelet'}",
                f"--cert-dir={self.workdir / 'certs'}",
                f"--hostname-override={NAME}",
                f"--node-ip={BRIDGE.address}",
                f"--node-labels={ZONE_LABEL}={ZONE},topology.kubernetes.io/region=e2e,type=real",
            ],
        )
        self._wait("real node Ready", lambda: NAME in self.cluster.ready_nodes())

        proxy_healthz = free_port()
        (self.workdir / "kube-proxy.yaml").write_text(yaml.safe_dump(kube_proxy_config(self.cluster.kubeconfig, proxy_healthz, free_port())))
        self._start("kube-proxy", [str(self.toolset.bin("kube-proxy")), f"--config={self.workdir / 'kube-proxy.yaml'}"])
        self._wait("kube-proxy", lambda: _http_ok(f"http://127.0.0.1:{proxy_healthz}/healthz"))
        discovery = kubernetes.client.DiscoveryV1Api(self.cluster.api())
        with contextlib.suppress(kubernetes.client.ApiException):
            discovery.delete_namespaced_endpoint_slice(API_ENDPOINTS, "default")
        discovery.create_namespaced_endpoint_slice("default", api_endpoint_slice(self.cluster.api_port))

        dns_ready = free_port()
        (self.workdir / "Corefile").write_text(corefile(self.cluster.kubeconfig, dns_ready))
        self._start("coredns", [str(self.node_tools.bin("coredns")), "-conf", str(self.workdir / "Corefile")])
        self._wait("cluster DNS", lambda: _http_ok(f"http://127.0.0.1:{dns_ready}/ready"))
        self.timings["start_seconds"] = round(time.monotonic() - started, 1)

    def stop(self) -> None:
        """Stops kube-proxy, the kubelet and containerd (and every container it runs), removes kube-proxy's rules, the
        mounts and cgroups the node left and the Node object; the bridge stays for the next run."""
        for process in reversed(self.processes):
            if process.name == "containerd" and process.alive:
                self._remove_containers()
            process.stop()
        self.processes.clear()
        release(self.workdir)
        proxy = self.toolset.bin("kube-proxy")
        if proxy.is_file():
            subprocess.run([str(proxy), "--cleanup"], capture_output=True)
        with contextlib.suppress(kubernetes.client.ApiException, OSError):
            kubernetes.client.DiscoveryV1Api(self.cluster.api()).delete_namespaced_endpoint_slice(API_ENDPOINTS, "default")
        with contextlib.suppress(kubernetes.client.ApiException, OSError):
            kubernetes.client.CoreV1Api(self.cluster.api()).delete_node(NAME)

    def _remove_containers(self) -> None:
        """Every container of containerd's k8s.io namespace killed and removed with its task, so neither a container
        nor its shim outlives the node."""
        for container in self.ctr("containers", "ls", "-q").stdout.split():
            self.ctr("tasks", "kill", "-a", "-s", "SIGKILL", container)
            self.ctr("tasks", "delete", "-f", container)
            self.ctr("containers", "delete", container)

    def ctr(self, *args: str) -> subprocess.CompletedProcess:
        """`ctr` against this node's containerd, in the namespace the kubelet's containers live in."""
        return subprocess.run([build.have("ctr"), "--address", str(self.containerd_socket), "-n", K8S_NAMESPACE, *args], capture_output=True, text=True, timeout=60)

    def task_pid(self, container_id: str) -> int:
        """The host PID of a container's main process (container_id as the pod status gives it, without its scheme)."""
        for line in self.ctr("tasks", "ls").stdout.splitlines()[1:]:
            parts = line.split()
            if parts and parts[0] == container_id:
                return int(parts[1])
        raise NodeError(f"containerd runs no task {container_id}")

    def describe(self) -> dict:
        return {"name": NAME, "zone": ZONE, "address": BRIDGE.address, "pod_subnet": BRIDGE.subnet, "timings": dict(self.timings)}


@contextlib.contextmanager
def only_schedulable(cluster: LocalCluster, name: str) -> Iterator[None]:
    """Every other node cordoned while the block runs (kubectl cordon), so new pods can land only on node `name`;
    uncordoned after. How the tier keeps the service's pods on the real node and everything else on kwok's,
    with no scheduling setting in the program."""
    core = kubernetes.client.CoreV1Api(cluster.api())
    others = [n.metadata.name for n in core.list_node().items if n.metadata.name != name and not n.spec.unschedulable]
    for other in others:
        core.patch_node(other, {"spec": {"unschedulable": True}})
    try:
        yield
    finally:
        for other in others:
            core.patch_node(other, {"spec": {"unschedulable": None}})


def release(workdir: Path) -> None:
    """Unmounts what a node left under `workdir` and RUN_DIR (the kubelet's volumes and its bind-mounted root,
    containerd's sandbox /dev/shm and rootfs mounts), deepest first, and removes the empty cgroups it left."""
    roots = (str(workdir.resolve()), str(RUN_DIR))
    mounts = [line.split()[1] for line in Path("/proc/self/mounts").read_text().splitlines()]
    for mount in sorted((m for m in mounts if m.startswith(roots)), key=len, reverse=True):
        subprocess.run(["umount", "-l", mount], capture_output=True)
    for hierarchy in _cgroup_v1_hierarchies():
        for cgroup in sorted((p for p in (hierarchy / CGROUP_ROOT).rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
            try:
                cgroup.rmdir()
            except OSError:
                pass  # still has a process, or is the root itself


def _http_ok(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=2) as response:
        return response.status == 200
