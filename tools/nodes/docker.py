"""A Docker engine of the tier's own: its daemon, data, socket and bridge, started and stopped by the tier.

    with DockerEngine(root) as docker:
        docker.run("build", "-t", "x:1", ".")

The data root is kept between runs (it holds the stand-in base images and the build cache); the socket,
exec root and pidfile live under /run, and containers reach the network through a bridge of the tier's
own (`BRIDGE`), never the docker0 a system daemon may own. The client is Debian's, which drives the
daemon's built-in BuildKit.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from tools.e2e import build as e2e_build
from tools.e2e.cluster import Process, Running, wait_serving
from tools.nodes import build, network

BRIDGE = network.Bridge("gosvc-docker0", "10.247.0.1", 24)
RUN_DIR = Path("/run/gosvc-nodes/docker")
START_TIMEOUT = 60.0


def data_root() -> Path:
    """Where the tier's Docker engine keeps its images and build cache between runs (`$GOSVC_NODE_DOCKER`)."""
    return e2e_build.cache_dir("GOSVC_NODE_DOCKER", "node-docker")


class DockerError(RuntimeError):
    """A docker command failed; the message carries its output."""


class DockerEngine(Running):
    """dockerd with its data under `root`, listening on a socket of its own."""

    def __init__(self, root: Path, log: Path) -> None:
        self.root = root
        self.log = log
        self.socket = RUN_DIR / "docker.sock"
        self.process: Process | None = None
        self._client = build.docker_client()
        self._config = root / "client"

    def start(self) -> None:
        BRIDGE.create()
        RUN_DIR.mkdir(parents=True, exist_ok=True)
        (self.root / "data").mkdir(parents=True, exist_ok=True)
        self._config.mkdir(parents=True, exist_ok=True)
        argv = [
            build.have("dockerd"),
            f"--data-root={self.root / 'data'}",
            f"--exec-root={RUN_DIR / 'exec'}",
            f"--pidfile={RUN_DIR / 'dockerd.pid'}",
            f"--host=unix://{self.socket}",
            f"--bridge={BRIDGE.name}",
            "--log-level=warn",
        ]
        self.process = Process("dockerd", argv, self.log, stop_timeout=30.0)
        self.process.start()
        wait_serving(f"dockerd on {self.socket}", self._answers, [self.process], START_TIMEOUT, DockerError)

    def _answers(self) -> bool:
        return self.socket.exists() and self._call(["version", "--format", "{{.Server.Version}}"], check=False).returncode == 0

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()

    def _call(self, args: list[str], check: bool = True, input: bytes | None = None, timeout: float = 1800) -> subprocess.CompletedProcess:
        env = {**os.environ, "DOCKER_BUILDKIT": "1", "DOCKER_CONFIG": str(self._config), "DOCKER_HOST": f"unix://{self.socket}"}
        proc = subprocess.run([self._client, *args], capture_output=True, env=env, input=input, timeout=timeout)
        if check and proc.returncode != 0:
            raise DockerError(f"`docker {' '.join(args)}` exited {proc.returncode}\n{proc.stdout.decode(errors='replace')[-3000:]}{proc.stderr.decode(errors='replace')[-5000:]}")
        return proc

    def run(self, *args: str, input: bytes | None = None) -> str:
        """stdout of `docker <args>` against this daemon; DockerError with its output when it fails."""
        return self._call(list(args), input=input).stdout.decode()

    def build(self, context: Path, tag: str, dockerfile: Path | None = None, build_args: dict[str, str] | None = None) -> str:
        """`docker build` with BuildKit's plain progress, which says which steps were CACHED; returns that log."""
        args = ["build", "--progress=plain", "-t", tag]
        if dockerfile is not None:
            args += ["-f", str(dockerfile)]
        for key, value in (build_args or {}).items():
            args += ["--build-arg", f"{key}={value}"]
        proc = self._call([*args, str(context)])
        return proc.stderr.decode(errors="replace")

    def exists(self, image: str) -> bool:
        return self._call(["image", "inspect", image], check=False).returncode == 0

    def inspect(self, image: str) -> dict[str, Any]:
        return json.loads(self.run("image", "inspect", image))[0]

    def save(self, image: str) -> bytes:
        return self._call(["save", image]).stdout
