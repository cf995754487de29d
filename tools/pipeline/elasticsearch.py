"""Runs the generated Elasticsearch StatefulSet as processes: real nodes, TLS, security, and the roll its controller makes.

    with ElasticsearchPods(runtime, spec) as pods:
        pods.start_all(); pods.wait_ready(0); pods.roll(pods.readiness)

Each pod runs as the kubelet would run it: its emptyDirs made fresh, the init container's exact
script copying the ConfigMap's files, the bootstrap password put in the keystore as the image's
entrypoint does, then the node started as the image's user with the generated environment, in a
mount namespace whose /etc/hosts maps the headless Service's pod names to loopback addresses.
Probes run as written (through `overlay.elasticsearch_edits`) on the kubelet's schedule, and
`roll` paces a rolling update as the StatefulSet controller does: the highest ordinal first, the
next only once the updated pod is Ready.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from base64 import b64encode
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from components.logging import elasticsearch, versions
from components.logging.config import LoggingSpec
from tools.e2e import pki
from tools.e2e.cluster import Process
from tools.pipeline import overlay
from tools.pipeline.build import Runtime, elasticsearch_java
from tools.pipeline.kafka import in_namespace

PIPELINE = "logging"
BOOTSTRAP_WARNING = "remove this setting to avoid possible data loss caused by subsequent cluster bootstrap attempts"
"""Elasticsearch's own words when a node locked into a cluster starts with cluster.initial_master_nodes set."""
OLD_READINESS = (
    f'curl -fsS --cacert {elasticsearch.HOME}/config/certs/ca.crt -u "elastic:$(cat {elasticsearch.PASSWORD_FILE})" '
    f'"https://127.0.0.1:{elasticsearch.HTTP_PORT}/_cluster/health?local=true" >/dev/null'
)
"""The readiness command gosvc generated before it gated on the cluster (up to commit 99aa43e), run beside the new one."""

Probe = Callable[[int], bool]


class ElasticsearchError(RuntimeError):
    """A node, a probe or a request failed; the message quotes Elasticsearch's own output."""


@dataclass(frozen=True)
class Generated:
    """What the synth writes for Elasticsearch, as the pods would get it."""

    files: dict[str, str]
    copy_command: list[str]
    env: list[dict]
    startup: dict
    readiness: dict
    grace_seconds: int
    nodes: int

    @classmethod
    def of(cls, spec: LoggingSpec, deployed_masters: list[str] | None = None) -> "Generated":
        masters = elasticsearch.bootstrap_masters(spec, deployed_masters)
        files = elasticsearch.config_files(PIPELINE, spec, masters)
        sts = elasticsearch.stateful_set(PIPELINE, spec, files, masters)
        pod = sts["spec"]["template"]["spec"]
        (copy,) = pod["initContainers"]
        (node,) = pod["containers"]
        return cls(files, list(copy["command"]), list(node["env"]), dict(node["startupProbe"]), dict(node["readinessProbe"]),
                   pod["terminationGracePeriodSeconds"], sts["spec"]["replicas"])


class _InBackground:
    """Runs `_run` in a thread for the length of a `with` block; `_stopping` is set when the block ends."""

    def __enter__(self):
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stopping.set()
        self._thread.join()

    def _run(self) -> None:
        raise NotImplementedError


@dataclass
class Sampler(_InBackground):
    """The cluster's health every `interval` seconds, asked of a node in the Service, while a roll runs."""

    pods: "ElasticsearchPods"
    interval: float = 0.5
    statuses: Counter = field(default_factory=Counter)

    def _run(self) -> None:
        while not self._stopping.wait(self.interval):
            self.statuses[self.pods.status()] += 1


@dataclass
class BulkLoad(_InBackground):
    """Bulk requests of `batch` new documents, one after another, each to the next node in the Service, as a
    client behind the Service sees them. Like Logstash, it lets Elasticsearch generate the ids, which makes the
    retry of a write cut by a node's stop safe (explicit ids with `create` answer such a retry with a version
    conflict); the acknowledged ids come back in the answers, so a lost document is found by id. An item answered
    409 (its write was retried inside Elasticsearch after the primary moved, and found itself already stored) is kept
    apart in `conflicts`, with its id, to be looked up like the acknowledged ones."""

    pods: "ElasticsearchPods"
    indices: list[str]
    label: str
    """Written into every document (`load`), so each load's documents can be counted apart."""
    batch: int = 50
    acked: list[tuple[str, str]] = field(default_factory=list)
    requests: int = 0
    failed: Counter = field(default_factory=Counter)
    conflicts: list[tuple[str, str]] = field(default_factory=list)

    def _run(self) -> None:
        sent = 0
        while not self._stopping.is_set():
            target = self.pods.endpoint()
            if target is None:
                time.sleep(0.1)
                continue
            indices = [self.indices[(sent + i) % len(self.indices)] for i in range(self.batch)]
            body = "".join(
                json.dumps({"create": {"_index": index}}) + "\n" + json.dumps({"message": "x" * 200, "load": self.label, "n": sent + i}) + "\n"
                for i, index in enumerate(indices)
            )
            sent += self.batch
            self.requests += 1
            try:
                answer = self.pods.request("POST", "/_bulk", body, ordinal=target, content_type="application/x-ndjson", timeout=90)
            except ElasticsearchError as err:
                self.failed[str(err).split(":", 1)[0]] += 1
                continue
            finally:
                self.pods.request_done(target)
            items = [next(iter(item.values())) for item in answer["items"]]
            self.failed.update(item["error"]["type"] for item in items if "error" in item and item.get("status") != 409)
            self.conflicts.extend((item["_index"], item["_id"]) for item in items if item.get("status") == 409)
            self.acked.extend((item["_index"], item["_id"]) for item in items if item.get("status") in (200, 201))


class ElasticsearchPods:
    """The StatefulSet's pods on loopback, and what the kubelet and the StatefulSet controller do with them."""

    def __init__(self, runtime: Runtime, spec: LoggingSpec, generated: Generated | None = None) -> None:
        self.spec = spec
        self.generated = generated or Generated.of(spec)
        # The nodes run as the image's user, which cannot enter root's private temp directories: a root of their own.
        self.root = Path(tempfile.mkdtemp(prefix="gosvc-es-"))
        self.root.chmod(0o755)
        self.home = self.root / "home"
        shutil.copytree(runtime.elasticsearch_home, self.home, symlinks=True)
        for path in (self.home / "config").rglob("*"):
            # The zip keeps config files 0660; the image's Dockerfile makes them 0664, which the init container's copy reads.
            path.chmod(0o775 if path.is_dir() else 0o664)
        self.java = elasticsearch_java()
        self.uid = versions.APP_UID if os.geteuid() == 0 else os.geteuid()
        self.password = secrets.token_urlsafe(24)
        self.tls = pki.server_certificate("elasticsearch", elasticsearch.certificate_dns_names(spec), ["127.0.0.1"])
        self.net = overlay.free_net(elasticsearch.HTTP_PORT)
        self.hosts = self.root / "hosts"
        names = {f"{n}.{elasticsearch.HEADLESS}.{spec.namespace}.svc.cluster.local": self.address(i) for i, n in enumerate(elasticsearch.node_names(spec))}
        self.hosts.write_text(overlay.hosts_file(names))
        self.processes: dict[int, Process] = {}
        self.starts: Counter = Counter()
        self.ready: set[int] = set()
        """The pods in the Service's endpoints, as the roll and the probes leave them."""
        self._next = 0
        self._in_flight: Counter = Counter()
        self._lock = threading.Condition()
        self._context = ssl.create_default_context(cadata=self.tls.ca_cert)
        # Peers and clients reach nodes by address here, as Logstash reaches them through the Service name; the CA is checked.
        self._context.check_hostname = False

    def __enter__(self) -> "ElasticsearchPods":
        return self

    def __exit__(self, *_: object) -> None:
        self.stop_all()
        shutil.rmtree(self.root, ignore_errors=True)

    def address(self, ordinal: int) -> str:
        return overlay.pod_address(self.net, ordinal)

    def pod(self, ordinal: int) -> overlay.EsPodDirs:
        return overlay.EsPodDirs(self.root / f"elasticsearch-{ordinal}")

    def edits(self, ordinal: int) -> list[overlay.Edit]:
        return overlay.elasticsearch_edits(self.pod(ordinal), self.home, self.address(ordinal))

    # -- the kubelet -----------------------------------------------------------------------------

    def _as_node(self, argv: list[str]) -> list[str]:
        """argv in the tier's namespace, as the image's user when this runs as root (Elasticsearch refuses root)."""
        if os.geteuid() == 0:
            argv = ["setpriv", f"--reuid={self.uid}", f"--regid={self.uid}", "--clear-groups", *argv]
        return in_namespace(self.hosts, argv)

    def _env(self, ordinal: int) -> dict[str, str]:
        values = {e["name"]: e["value"] for e in self.generated.env if "value" in e}
        values["POD_NAME"] = f"elasticsearch-{ordinal}"  # the downward API's metadata.name
        return {**os.environ, **values, "ES_PATH_CONF": str(self.pod(ordinal).config), "ES_JAVA_HOME": str(self.java), "HOME": str(self.pod(ordinal).tmp)}

    def _run(self, what: str, argv: list[str], ordinal: int, stdin: str | None = None) -> str:
        proc = subprocess.run(self._as_node(argv), input=stdin, capture_output=True, text=True, timeout=300, env=self._env(ordinal))
        if proc.returncode != 0:
            raise ElasticsearchError(f"elasticsearch-{ordinal} {what} exited {proc.returncode}:\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}")
        return proc.stdout

    def create_pod(self, ordinal: int) -> None:
        """A new pod for `ordinal`: fresh emptyDirs, the ConfigMap and Secrets mounted, the claim kept, the init container run."""
        pod, edits = self.pod(ordinal), self.edits(ordinal)
        for mount in overlay.ES_MOUNTS:
            if mount != "data":
                shutil.rmtree(getattr(pod, mount), ignore_errors=True)
            getattr(pod, mount).mkdir(parents=True, exist_ok=True)
        for name, text in self.generated.files.items():
            (pod.configmap / name).write_text(overlay.apply(name, text, edits))
        (pod.secrets / "password").write_text(self.password)
        for path in (pod.root, *(getattr(pod, mount) for mount in overlay.ES_MOUNTS)):
            os.chown(path, self.uid, self.uid)
        (pod.secrets / "password").chmod(0o440)
        os.chown(pod.secrets / "password", self.uid, self.uid)
        self._run("config copy (init container)", overlay.command(self.generated.copy_command, "copy", edits), ordinal)
        certs = pod.config / "certs"
        certs.mkdir(exist_ok=True)
        for name, text in (("ca.crt", self.tls.ca_cert), ("tls.crt", self.tls.cert), ("tls.key", self.tls.key)):
            (certs / name).write_text(text)
            os.chown(certs / name, self.uid, self.uid)
        os.chown(certs, self.uid, self.uid)
        # The image's entrypoint: the keystore with the bootstrap password read from ELASTIC_PASSWORD_FILE.
        keystore = str(self.home / "bin" / "elasticsearch-keystore")
        if not (pod.config / "elasticsearch.keystore").exists():
            self._run("keystore create", [keystore, "create"], ordinal)
        self._run("keystore add bootstrap.password", [keystore, "add", "-x", "bootstrap.password"], ordinal, stdin=self.password)

    def effective_config(self, ordinal: int) -> str:
        """elasticsearch.yml as the init container left it for the node."""
        return (self.pod(ordinal).config / elasticsearch.CONFIG_KEY).read_text()

    def log(self, ordinal: int, start: int | None = None) -> Path:
        """The container's stdout of one start of the pod (the last by default)."""
        return self.pod(ordinal).root / f"stdout.{start or self.starts[ordinal]}.log"

    def start(self, ordinal: int) -> None:
        self.create_pod(ordinal)
        self.starts[ordinal] += 1
        # The JVM writes gc.log and crash files to its working directory: the image's is its home, here the logs emptyDir.
        argv = self._as_node(["env", "-C", str(self.pod(ordinal).logs), str(self.home / "bin" / "elasticsearch")])
        process = Process(f"elasticsearch-{ordinal}", argv, self.log(ordinal), env=self._env(ordinal), stop_timeout=float(self.generated.grace_seconds))
        process.start()
        self.processes[ordinal] = process

    def start_all(self) -> None:
        """Every pod at once, as the StatefulSet's Parallel policy creates them."""
        for ordinal in range(self.generated.nodes):
            self.start(ordinal)

    def stop(self, ordinal: int) -> float:
        """The pod's deletion: out of the Service first, then SIGTERM and the grace period. Returns the seconds to exit."""
        with self._lock:
            self.ready.discard(ordinal)
            # A request already sent to it completes first, as a client retrying a cut connection would make it.
            self._lock.wait_for(lambda: self._in_flight[ordinal] == 0, timeout=120)
        process = self.processes.pop(ordinal)
        began = time.monotonic()
        process.stop()
        return time.monotonic() - began

    def stop_all(self) -> None:
        for ordinal in list(self.processes):
            self.processes.pop(ordinal).stop()

    def alive(self, ordinal: int) -> bool:
        return ordinal in self.processes and self.processes[ordinal].alive

    # -- probes, as the kubelet runs them --------------------------------------------------------

    def startup(self, ordinal: int) -> bool:
        """The startup probe: a TCP connection to the HTTP port."""
        try:
            with socket.create_connection((self.address(ordinal), elasticsearch.HTTP_PORT), timeout=self.generated.startup.get("timeoutSeconds", 1)):
                return True
        except OSError:
            return False

    def _exec(self, argv: list[str], ordinal: int) -> bool:
        try:
            proc = subprocess.run(self._as_node(argv), capture_output=True, text=True, env=self._env(ordinal), timeout=self.generated.readiness.get("timeoutSeconds", 1))
        except subprocess.TimeoutExpired:
            return False
        return proc.returncode == 0

    def readiness(self, ordinal: int) -> bool:
        """The generated readiness probe, its command run as written."""
        return self._exec(overlay.command(self.generated.readiness["exec"]["command"], "probe", self.edits(ordinal)), ordinal)

    def old_readiness(self, ordinal: int) -> bool:
        """The readiness probe gosvc generated before (`OLD_READINESS`), for the figures beside the new one."""
        return self._exec(["/bin/bash", "-c", overlay.apply("old-readiness", OLD_READINESS, self.edits(ordinal))], ordinal)

    def wait_ready(self, ordinal: int, readiness: Probe | None = None, timeout: float = 600.0) -> float:
        """Seconds until the pod is Ready: the startup probe on its period, then `readiness` on its own. Marks it in the Service."""
        readiness = readiness or self.readiness
        began = time.monotonic()
        for probe, spec in ((self.startup, self.generated.startup), (readiness, self.generated.readiness)):
            while not probe(ordinal):
                if not self.alive(ordinal):
                    raise ElasticsearchError(f"elasticsearch-{ordinal} exited while waiting to be Ready:\n{self.processes[ordinal].tail(40)}")
                if time.monotonic() - began > timeout:
                    raise ElasticsearchError(f"elasticsearch-{ordinal} not Ready after {timeout:.0f} s:\n{self.processes[ordinal].tail(40)}")
                time.sleep(spec.get("periodSeconds", 10))
        with self._lock:
            self.ready.add(ordinal)
        return time.monotonic() - began

    # -- the StatefulSet controller --------------------------------------------------------------

    def roll(self, readiness: Probe | None = None) -> list[dict]:
        """A rolling update: for each ordinal from the highest, the pod is deleted and re-created, and the next waits
        until it is Ready by `readiness`. Each step records the cluster's health when its pod was deleted."""
        steps = []
        for ordinal in reversed(range(self.generated.nodes)):
            health = self.status()
            stopped = self.stop(ordinal)
            self.start(ordinal)
            ready = self.wait_ready(ordinal, readiness)
            steps.append({"pod": f"elasticsearch-{ordinal}", "health_at_stop": health, "stop_seconds": round(stopped, 1), "ready_seconds": round(ready, 1)})
        return steps

    # -- clients ---------------------------------------------------------------------------------

    def endpoint(self) -> int | None:
        """The next Ready pod, round robin, as the Service balances; counted in flight until `request_done`."""
        with self._lock:
            ready = sorted(self.ready)
            if not ready:
                return None
            self._next += 1
            target = ready[self._next % len(ready)]
            self._in_flight[target] += 1
            return target

    def request_done(self, ordinal: int) -> None:
        with self._lock:
            self._in_flight[ordinal] -= 1
            self._lock.notify_all()

    def request(self, method: str, path: str, body: str | dict | None = None, *, ordinal: int | None = None, timeout: float = 30,
                content_type: str = "application/json", auth: bool = True) -> dict:
        """One REST call as `elastic` (or anonymous) to pod `ordinal` (the first alive by default); raises ElasticsearchError
        naming the failure."""
        if ordinal is None:
            ordinal = next((o for o in sorted(self.processes) if self.alive(o)), 0)
        data = json.dumps(body) if isinstance(body, dict) else body
        req = urllib.request.Request(
            f"https://{self.address(ordinal)}:{elasticsearch.HTTP_PORT}{path}",
            data=data.encode() if data is not None else None,
            method=method,
            headers={"Content-Type": content_type},
        )
        if auth:
            req.add_header("Authorization", "Basic " + b64encode(f"elastic:{self.password}".encode()).decode())
        try:
            with urllib.request.urlopen(req, timeout=timeout, context=self._context) as answer:
                return json.loads(answer.read() or b"{}")
        except urllib.error.HTTPError as err:
            raise ElasticsearchError(f"HTTP {err.code}: {method} {path}: {err.read()[:500]!r}") from err
        except (OSError, TimeoutError) as err:
            raise ElasticsearchError(f"{type(err).__name__}: {method} {path}: {err}") from err

    def status(self) -> str:
        """The cluster's health as a Ready pod answers it; 'unreachable' when none can say."""
        for ordinal in sorted(self.ready) or sorted(self.processes):
            try:
                return self.request("GET", "/_cluster/health?master_timeout=2s&filter_path=status", ordinal=ordinal, timeout=5)["status"]
            except ElasticsearchError:
                continue
        return "unreachable"

    def missing(self, docs: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """The documents of `docs` the cluster does not hold, looked up by id."""
        self.request("POST", "/_refresh")
        absent = []
        for start in range(0, len(docs), 1000):
            chunk = docs[start:start + 1000]
            found = self.request("POST", "/_mget", {"docs": [{"_index": i, "_id": d, "_source": False} for i, d in chunk]}, timeout=60)["docs"]
            absent += [doc for doc, hit in zip(chunk, found) if not hit.get("found")]
        return absent

    def count(self, label: str) -> int:
        """How many documents of load `label` the cluster holds: above its acknowledged ones means duplicates."""
        self.request("POST", "/_refresh")
        return self.request("POST", "/_count", {"query": {"term": {"load.keyword": label}}})["count"]

    def bootstrap_warnings(self, ordinal: int, start: int | None = None) -> int:
        """How often the node warned, in one start's log, that it runs with cluster.initial_master_nodes though locked into a cluster."""
        try:
            return self.log(ordinal, start).read_text(errors="replace").count(BOOTSTRAP_WARNING)
        except FileNotFoundError:
            return 0
