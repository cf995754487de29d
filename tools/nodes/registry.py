"""An image registry (distribution v3) on 127.0.0.1 at a free port: the Docker engine pushes to it over plain HTTP
(loopback is an insecure registry by default) and the real node's containerd pulls from it by digest."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from tools.e2e.cluster import Process, Running, free_port, wait_serving

START_TIMEOUT = 30.0
MANIFEST_TYPES = "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json"


class RegistryError(RuntimeError):
    """The registry did not start or answered with an error."""


class LocalRegistry(Running):
    """`registry serve` with its storage under `root` (kept only for the run)."""

    def __init__(self, binary: Path, root: Path, log: Path) -> None:
        self.binary = binary
        self.root = root
        self.log = log
        self.port = 0
        self.process: Process | None = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        self.port = free_port()
        self.root.mkdir(parents=True, exist_ok=True)
        config = {
            "version": 0.1,
            "log": {"level": "warn"},
            "storage": {"filesystem": {"rootdirectory": str(self.root / "data")}, "delete": {"enabled": True}},
            "http": {"addr": self.host},
        }
        (self.root / "config.yml").write_text(yaml.safe_dump(config))
        self.process = Process("registry", [str(self.binary), "serve", str(self.root / "config.yml")], self.log)
        self.process.start()
        wait_serving(f"the registry on {self.host}", self._answers, [self.process], START_TIMEOUT, RegistryError)

    def _answers(self) -> bool:
        with urllib.request.urlopen(f"http://{self.host}/v2/", timeout=2) as response:
            return response.status == 200

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()

    def manifest(self, repository: str, reference: str) -> dict[str, Any]:
        """The image manifest the registry serves for `repository` at a tag or digest."""
        request = urllib.request.Request(f"http://{self.host}/v2/{repository}/manifests/{reference}", headers={"Accept": MANIFEST_TYPES})
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())
