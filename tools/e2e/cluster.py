"""A local Kubernetes control plane on loopback: etcd, kube-apiserver, kube-controller-manager,
kube-scheduler and kwok, whose fake nodes run no containers but report pods Running and Ready.

    with LocalCluster(toolset, Path("build/e2e/cluster")) as cluster:
        ...  # cluster.kubeconfig, cluster.api()

Everything it starts is stopped when the block ends, also on an exception, SIGTERM or SIGINT;
every process logs to `<workdir>/logs/<name>.log`, and a failure quotes the log of the process
that died.
"""

from __future__ import annotations

import atexit
import base64
import json
import os
import secrets
import signal
import socket
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Self

import kubernetes
import yaml

from tools.e2e import pki
from tools.e2e.build import Toolset

SERVICE_CIDR = "10.96.0.0/16"
SERVICE_IP = "10.96.0.1"
POD_CIDR = "10.244.0.0/16"
ADMIN_USER = "gosvc-e2e-admin"
FAKE_NODE_ANNOTATION = ("kwok.x-k8s.io/node", "fake")
ZONE_LABEL = "topology.kubernetes.io/zone"
HOSTNAME_LABEL = "kubernetes.io/hostname"
STORAGE_CLASS = "kwok-volume"
"""The StorageClass whose claims kwok provisions and binds (its volume Stages select this name)."""
START_TIMEOUT = 120.0
STOP_TIMEOUT = 15.0


class ClusterError(RuntimeError):
    """The control plane did not come up; the message quotes the log of whatever failed."""


@dataclass(frozen=True)
class NodeSpec:
    """A fake node: its name, zone and what it offers the scheduler (by default a common production
    node size, large enough for prod's logging pipeline beside the services). Every kubelet reports its
    ephemeral storage, and a pod that requests some cannot schedule on a node that offers none."""

    name: str
    zone: str
    cpu: str = "16"
    memory: str = "64Gi"
    pods: str = "110"
    ephemeral_storage: str = "100Gi"


DEFAULT_NODES = (
    NodeSpec("e2e-node-a", "zone-a"),
    NodeSpec("e2e-node-b", "zone-b"),
    NodeSpec("e2e-node-c", "zone-c"),
)


def storage_class_manifest() -> dict:
    """The cluster's default StorageClass: kwok provisions a volume for each claim, and claims may grow
    (no resizer runs, so a grown claim's spec changes while its capacity stays)."""
    return {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {"name": STORAGE_CLASS, "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
        "provisioner": "kwok.x-k8s.io/volume",
        "reclaimPolicy": "Delete",
        "volumeBindingMode": "Immediate",
        "allowVolumeExpansion": True,
    }


def node_manifest(node: NodeSpec) -> dict:
    """The Node object kwok takes over: labelled like a real node, with real allocatable resources."""
    resources = {"cpu": node.cpu, "memory": node.memory, "pods": node.pods, "ephemeral-storage": node.ephemeral_storage}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": node.name,
            "annotations": {FAKE_NODE_ANNOTATION[0]: FAKE_NODE_ANNOTATION[1], "node.alpha.kubernetes.io/ttl": "0"},
            "labels": {
                HOSTNAME_LABEL: node.name,
                ZONE_LABEL: node.zone,
                "topology.kubernetes.io/region": "e2e",
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "type": "kwok",
            },
        },
        "status": {"allocatable": resources, "capacity": resources},
    }


class _ManifestLoader(yaml.SafeLoader):
    """SafeLoader reading a bare `=` (an enum value in the operator's CRDs) as the string it is, not YAML 1.1's value tag."""


_ManifestLoader.add_constructor("tag:yaml.org,2002:value", lambda loader, node: loader.construct_scalar(node))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Process:
    """One control-plane process in its own session, logging to a file."""

    name: str
    argv: list[str]
    log: Path
    env: dict[str, str] | None = None
    stop_timeout: float = STOP_TIMEOUT
    popen: subprocess.Popen | None = field(default=None, repr=False)

    def start(self) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as sink:
            self.popen = subprocess.Popen(self.argv, stdout=sink, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True, env=self.env)

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def stop(self) -> None:
        if self.popen is None or self.popen.poll() is not None:
            return
        for sig, wait in ((signal.SIGTERM, self.stop_timeout), (signal.SIGKILL, STOP_TIMEOUT)):
            try:
                os.killpg(self.popen.pid, sig)
            except ProcessLookupError:
                return
            try:
                self.popen.wait(wait)
                return
            except subprocess.TimeoutExpired:
                continue

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"


def wait_serving(what: str, ready: Callable[[], bool], processes: list[Process], timeout: float, error: type[Exception]) -> float:
    """Polls `ready` (OSError, API and subprocess errors count as not yet) until it holds, and returns the seconds
    that took. Raises `error` quoting the log of the first of `processes` to die meanwhile, or every log at `timeout`."""
    started = time.monotonic()
    while time.monotonic() < started + timeout:
        dead = [p for p in processes if not p.alive]
        if dead:
            raise error(f"{dead[0].name} exited with {dead[0].popen.returncode} while waiting for {what}; its log ends:\n{dead[0].tail()}")
        try:
            if ready():
                return round(time.monotonic() - started, 1)
        except (OSError, kubernetes.client.ApiException, subprocess.SubprocessError):
            pass
        time.sleep(0.3)
    logs = "\n".join(f"--- {p.name}\n{p.tail(10)}" for p in processes)
    raise error(f"{what} not ready after {timeout:.0f} s\n{logs}")


class Running:
    """Processes a `with` block starts and stops: `start()` on entry (and `stop()` at once if starting fails), `stop()`
    when the block ends. `stop()` must be safe to call after a partial start."""

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


class LocalCluster(Running):
    """etcd, the Kubernetes control plane and kwok on loopback, with fake nodes and the Prometheus Operator CRDs."""

    def __init__(self, toolset: Toolset, workdir: Path, nodes: tuple[NodeSpec, ...] = DEFAULT_NODES) -> None:
        self.toolset = toolset
        self.workdir = workdir.resolve()
        self.nodes = nodes
        self.kubeconfig = self.workdir / "kubeconfig"
        self.processes: list[Process] = []
        self.api_port = 0
        self._token = secrets.token_hex(24)
        self._pki: pki.Pki | None = None
        self._api: kubernetes.client.ApiClient | None = None
        self._dynamic: kubernetes.dynamic.DynamicClient | None = None
        self._stopped = threading.Event()
        self.timings: dict[str, float] = {}

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        """Starts every process, waits for each to serve, registers the nodes and installs the CRDs."""
        atexit.register(self.stop)
        self._trap_signals()
        started = time.monotonic()
        tokens = self._write_credentials()
        etcd_port = self._start_etcd()
        self._start_apiserver(etcd_port, tokens)
        self._start_controllers()
        self._start_kwok()
        self._register_nodes()
        self._install_crds()
        self.timings["start_seconds"] = round(time.monotonic() - started, 1)

    def _write_credentials(self) -> Path:
        """The etcd directory, the PKI and the admin's token file, which it returns."""
        (self.workdir / "etcd").mkdir(parents=True, exist_ok=True)
        self._pki = pki.generate(self.workdir / "pki", SERVICE_IP)
        tokens = self.workdir / "tokens.csv"
        tokens.write_text(f'{self._token},{ADMIN_USER},{ADMIN_USER},"system:masters"\n')
        tokens.chmod(0o600)
        return tokens

    def _start_etcd(self) -> int:
        """etcd on two free loopback ports, once healthy; returns its client port."""
        etcd_port, peer_port = free_port(), free_port()
        self._start(
            "etcd",
            "etcd",
            "--name=e2e",
            f"--data-dir={self.workdir / 'etcd' / str(etcd_port)}",
            f"--listen-client-urls=http://127.0.0.1:{etcd_port}",
            f"--advertise-client-urls=http://127.0.0.1:{etcd_port}",
            f"--listen-peer-urls=http://127.0.0.1:{peer_port}",
            f"--initial-advertise-peer-urls=http://127.0.0.1:{peer_port}",
            f"--initial-cluster=e2e=http://127.0.0.1:{peer_port}",
            "--unsafe-no-fsync",  # a throwaway test store: skipping fsync spares the disk, loses nothing that matters
            "--log-level=warn",
        )
        self._wait("etcd", lambda: self._http_ok(f"http://127.0.0.1:{etcd_port}/health"))
        return etcd_port

    def _start_apiserver(self, etcd_port: int, tokens: Path) -> None:
        """kube-apiserver on a free port, with RBAC, token auth and the aggregation layer; writes the kubeconfig."""
        self.api_port = free_port()
        p = self._pki
        self._start(
            "kube-apiserver",
            "kube-apiserver",
            f"--etcd-servers=http://127.0.0.1:{etcd_port}",
            "--bind-address=0.0.0.0",  # also on a real node's bridge, where its pods reach the `kubernetes` Service
            "--advertise-address=127.0.0.1",
            f"--secure-port={self.api_port}",
            f"--tls-cert-file={p.serving_cert}",
            f"--tls-private-key-file={p.serving_key}",
            f"--client-ca-file={p.ca_cert}",
            f"--token-auth-file={tokens}",
            "--authorization-mode=RBAC",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={p.service_account_pub}",
            f"--service-account-signing-key-file={p.service_account_key}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--allow-privileged=true",  # the Elasticsearch sysctl init container is privileged
            "--endpoint-reconciler-type=none",  # the loopback advertise address is not a routable endpoint
            "--kubelet-preferred-address-types=InternalIP,Hostname",  # a real node's name resolves nowhere; its address does
            f"--cert-dir={self.workdir / 'apiserver-certs'}",
            # The aggregation layer, as kubeadm configures it: extension API servers get each request's user from
            # these headers, trusted only from the front proxy's client cert.
            f"--requestheader-client-ca-file={p.front_proxy_ca}",
            f"--requestheader-allowed-names={pki.FRONT_PROXY_CLIENT}",
            "--requestheader-username-headers=X-Remote-User",
            "--requestheader-group-headers=X-Remote-Group",
            "--requestheader-extra-headers-prefix=X-Remote-Extra-",
            f"--proxy-client-cert-file={p.front_proxy_client_cert}",
            f"--proxy-client-key-file={p.front_proxy_client_key}",
            "--enable-aggregator-routing=true",  # to an extension server's pod address: kube-proxy runs only with a real node
        )
        self._write_kubeconfig()
        self._wait("kube-apiserver", lambda: self._http_ok(f"https://127.0.0.1:{self.api_port}/readyz", token=True))

    def _start_controllers(self) -> None:
        """kube-controller-manager, then kube-scheduler, each once healthy."""
        p = self._pki
        for component, extra in (
            (
                "kube-controller-manager",
                [
                    f"--service-account-private-key-file={p.service_account_key}",
                    f"--root-ca-file={p.ca_cert}",
                    f"--cluster-signing-cert-file={p.ca_cert}",
                    f"--cluster-signing-key-file={p.ca_key}",
                    "--use-service-account-credentials=false",
                ],
            ),
            ("kube-scheduler", []),
        ):
            port = free_port()
            self._start(
                component,
                component,
                f"--kubeconfig={self.kubeconfig}",
                f"--authentication-kubeconfig={self.kubeconfig}",
                f"--authorization-kubeconfig={self.kubeconfig}",
                "--authentication-skip-lookup=true",
                "--leader-elect=false",
                "--bind-address=127.0.0.1",
                f"--secure-port={port}",
                f"--cert-dir={self.workdir / (component + '-certs')}",
                *extra,
            )
            self._wait(component, lambda port=port: self._http_ok(f"https://127.0.0.1:{port}/healthz", verify=False))

    def _start_kwok(self) -> None:
        """kwok, which plays the kubelet of the fake nodes (those with FAKE_NODE_ANNOTATION)."""
        self._start(
            "kwok",
            "kwok",
            f"--kubeconfig={self.kubeconfig}",
            f"--config={self.toolset.kwok_stages}",
            "--manage-all-nodes=false",
            f"--manage-nodes-with-annotation-selector={FAKE_NODE_ANNOTATION[0]}={FAKE_NODE_ANNOTATION[1]}",
            f"--cidr={POD_CIDR}",
            "--node-ip=10.0.0.1",
            "--node-lease-duration-seconds=40",
            f"--server-address=127.0.0.1:{free_port()}",
        )

    def _register_nodes(self) -> None:
        """The fake nodes, once kwok reports them Ready, and their StorageClass."""
        core = kubernetes.client.CoreV1Api(self.api())
        for node in self.nodes:
            core.create_node(node_manifest(node))
        self._wait("kwok nodes Ready", lambda: self.ready_nodes() == {n.name for n in self.nodes})
        kubernetes.client.StorageV1Api(self.api()).create_storage_class(storage_class_manifest())

    def stop(self) -> None:
        """Stops every process it started, newest first; safe to call more than once."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        for process in reversed(self.processes):
            process.stop()

    def _trap_signals(self) -> None:
        """SIGTERM and SIGINT raise in the main thread, so `with` blocks and `finally` stop the processes."""
        if threading.current_thread() is not threading.main_thread():
            return

        def _raise(signum: int, _frame: object) -> None:
            raise SystemExit(128 + signum)

        for sig in (signal.SIGTERM, signal.SIGINT):
            if signal.getsignal(sig) in (signal.SIG_DFL, signal.default_int_handler):
                signal.signal(sig, _raise)

    # -- processes and waits -----------------------------------------------------------------------

    def _start(self, name: str, binary: str, *args: str) -> Process:
        process = Process(name, [str(self.toolset.bin(binary)), *args], self.workdir / "logs" / f"{name}.log")
        process.start()
        self.processes.append(process)
        return process

    def _wait(self, what: str, ready: Callable[[], bool], timeout: float = START_TIMEOUT) -> None:
        self.timings[f"{what} seconds"] = wait_serving(what, ready, self.processes, timeout, ClusterError)

    def _ssl_context(self, verify: bool = True) -> ssl.SSLContext:
        if not verify:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE  # our own loopback process with a self-signed cert, health only
            return context
        return ssl.create_default_context(cafile=str(self._pki.ca_cert))

    def _http_ok(self, url: str, *, token: bool = False, verify: bool = True) -> bool:
        request = urllib.request.Request(url, headers={"Authorization": f"Bearer {self._token}"} if token else {})
        context = self._ssl_context(verify) if url.startswith("https") else None
        try:
            with urllib.request.urlopen(request, timeout=3, context=context) as response:
                return response.status == 200
        except urllib.error.URLError:
            return False

    # -- cluster contents --------------------------------------------------------------------------

    def _write_kubeconfig(self) -> None:
        ca = base64.b64encode(self._pki.ca_cert.read_bytes()).decode()
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "gosvc-e2e", "cluster": {"server": f"https://127.0.0.1:{self.api_port}", "certificate-authority-data": ca}}],
            "users": [{"name": ADMIN_USER, "user": {"token": self._token}}],
            "contexts": [{"name": "gosvc-e2e", "context": {"cluster": "gosvc-e2e", "user": ADMIN_USER}}],
            "current-context": "gosvc-e2e",
        }
        self.kubeconfig.write_text(yaml.safe_dump(config))
        self.kubeconfig.chmod(0o600)

    def api(self) -> kubernetes.client.ApiClient:
        """The client of the local API server, as the admin user (made once, from the kubeconfig)."""
        if self._api is None:
            self._api = kubernetes.config.new_client_from_config(config_file=str(self.kubeconfig))
        return self._api

    def dynamic(self) -> kubernetes.dynamic.DynamicClient:
        """A client for any kind, whose API discovery runs once (the CRDs are installed by then)."""
        if self._dynamic is None:
            self._dynamic = kubernetes.dynamic.DynamicClient(self.api())
        return self._dynamic

    def ready_nodes(self) -> set[str]:
        nodes = kubernetes.client.CoreV1Api(self.api()).list_node().items
        return {
            n.metadata.name
            for n in nodes
            if any(c.type == "Ready" and c.status == "True" for c in (n.status.conditions or []))
        }

    def _install_crds(self) -> None:
        extensions = kubernetes.client.ApiextensionsV1Api(self.api())
        names = []
        for path in sorted(self.toolset.crds_dir.glob("*.yaml")):
            crd = yaml.load(path.read_text(), Loader=_ManifestLoader)  # noqa: S506 (a SafeLoader)
            extensions.create_custom_resource_definition(crd)
            names.append(crd["metadata"]["name"])

        def established() -> bool:
            for name in names:
                status = extensions.read_custom_resource_definition(name).status
                if not any(c.type == "Established" and c.status == "True" for c in (status.conditions or [])):
                    return False
            return True

        self._wait("CRDs Established", established)

    def describe(self) -> dict:
        """What the report records about the cluster."""
        return {
            "nodes": [{"name": n.name, "zone": n.zone, "cpu": n.cpu, "memory": n.memory, "pods": n.pods} for n in self.nodes],
            "crds": sorted(p.name for p in self.toolset.crds_dir.glob("*.yaml")),
            "storage_class": storage_class_manifest(),
            "timings": dict(self.timings),
        }


if __name__ == "__main__":
    # Debugging aid: start the cluster and keep it up until interrupted, printing the kubeconfig path.
    from tools.e2e.build import build

    with LocalCluster(build(), Path("build/e2e/cluster")) as running:
        print(json.dumps({"kubeconfig": str(running.kubeconfig), **running.describe()}, indent=2), flush=True)
        threading.Event().wait()
