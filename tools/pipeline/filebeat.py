"""Runs the generated filebeat.yml in the real Filebeat: one DaemonSet pod, tailing a node's container logs.

The process sees the same /etc/hosts as the Kafka pods (`kafka.in_namespace`), so the generated
bootstrap servers resolve; `overlay.filebeat_settings` moves its paths and monitoring port.
`registry()` reads the read offsets Filebeat recorded, which it may advance only for events Kafka
acknowledged: the tier's no-loss check compares them with what the topic holds.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

import yaml

from components.logging import filebeat, kafka
from components.logging.config import LoggingSpec
from tools.e2e.cluster import Process, free_port
from tools.pipeline import overlay
from tools.pipeline.build import Runtime
from tools.pipeline.kafka import PIPELINE, in_namespace

NODE_NAME = "pipeline-node-0"


def container_line(text: str, stream: str = "stdout", partial: bool = False) -> str:
    """One line as containerd's CRI logger writes it: time, stream, full (F) or partial (P) tag, then the text."""
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f000Z")
    return f"{stamp} {stream} {'P' if partial else 'F'} {text}\n"


class FilebeatPod:
    """The DaemonSet's container for one node, on this machine."""

    def __init__(self, runtime: Runtime, spec: LoggingSpec, workdir: Path, hosts: Path) -> None:
        self.runtime = runtime
        self.workdir = workdir.resolve()
        self.hosts = hosts
        self.logs = self.workdir / "node-var-log"
        (self.logs / "containers").mkdir(parents=True, exist_ok=True)
        self.data = self.workdir / "registry"
        objects = filebeat.build(PIPELINE, spec, kafka.bootstrap_servers(PIPELINE, spec))
        self.generated = yaml.safe_load(objects["config"]["data"][filebeat.CONFIG_KEY])
        (container,) = objects["daemon_set"]["spec"]["template"]["spec"]["containers"]
        self.args = list(container["args"])
        self.port = free_port()
        settings, self.changes = overlay.filebeat_settings(self.generated, self.logs, self.data, self.port)
        self.config = self.workdir / filebeat.CONFIG_KEY
        self.config.write_text(yaml.safe_dump(settings, sort_keys=False))
        # Filebeat refuses a config file that others can write (strict.perms), as the ConfigMap's 0640 mode is not.
        self.config.chmod(0o600)
        self.process: Process | None = None

    def argv(self, *command: str) -> list[str]:
        """Filebeat with the DaemonSet's args, the config path moved; `--path.home` keeps its other files here."""
        args = [str(self.config) if a == f"{filebeat.CONFIG_DIR}/{filebeat.CONFIG_KEY}" else a for a in self.args]
        return [str(self.runtime.filebeat), *command, *args, "--path.home", str(self.workdir)]

    def env(self) -> dict[str, str]:
        return {**os.environ, "NODE_NAME": NODE_NAME}  # the DaemonSet sets it from spec.nodeName

    def test_config(self) -> subprocess.CompletedProcess:
        return subprocess.run(self.argv("test", "config"), capture_output=True, text=True, env=self.env(), timeout=60)

    def start(self) -> None:
        self.process = Process("filebeat", in_namespace(self.hosts, self.argv()), self.workdir / "filebeat.log", env=self.env(), stop_timeout=30.0)
        self.process.start()

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None

    def log_file(self, name: str) -> Path:
        return self.logs / "containers" / name

    def stats(self) -> dict:
        """libbeat's own counters from its monitoring endpoint (`/stats`), as the liveness probe reads them."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/stats", timeout=5) as response:
            return json.load(response)

    def wait_serving(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is None or not self.process.alive:
                raise RuntimeError(f"filebeat exited:\n{self.process.tail(40) if self.process else ''}")
            try:
                self.stats()
                return
            except OSError:
                time.sleep(0.5)
        raise RuntimeError(f"filebeat did not serve /stats within {timeout:.0f} s:\n{self.process.tail(40)}")

    def registry(self) -> dict[str, int]:
        """Read offset per source file, as the registry on disk holds it (its last checkpoint, then the log of updates)."""
        store = self.data / "registry" / "filebeat"
        entries: dict[str, dict] = {}
        active = store / "active.dat"
        if active.is_file() and active.read_text().strip():
            checkpoint = Path(active.read_text().strip())
            for entry in json.loads(checkpoint.read_text()):
                entries[entry["_key"]] = entry
        log = store / "log.json"
        if log.is_file():
            op = None
            for line in log.read_text().splitlines():
                if not line.strip():
                    continue
                record = json.loads(line)
                if "op" in record:
                    op = record["op"]
                elif op == "set":
                    entries[record["k"]] = record["v"]
                elif op == "remove":
                    entries.pop(record["k"], None)
        offsets = {}
        for value in entries.values():
            source = (value.get("meta") or {}).get("source")
            if source and value.get("cursor"):
                offsets[source] = int(value["cursor"]["offset"])
        return offsets
