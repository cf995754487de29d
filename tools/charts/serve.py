"""The chart mirror served as a Helm chart repository on loopback, for a real engine to install from.

    with ChartRepository(build.chart_mirror(), build.build()) as repository:
        ...  # gosvc:helmRepository = repository.url (http://127.0.0.1:<port>)

The packages are copied to a directory of their own with an `index.yaml` that `helm repo index`
writes for that URL, so the shared mirror is never changed.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import tempfile
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class _Recording(SimpleHTTPRequestHandler):
    """Serves files quietly and notes each path asked for in `requested`."""

    requested: list[str]

    def do_GET(self) -> None:
        self.requested.append(self.path)
        super().do_GET()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (the base class's name)
        pass


class ChartRepository:
    """Serves every `*.tgz` of `mirror` with an index, on 127.0.0.1 at a free port."""

    def __init__(self, mirror: Path, helm: Path) -> None:
        self.mirror = mirror
        self.helm = helm
        self.url = ""
        self.requested: list[str] = []
        """Every path a client asked for, in order: which charts were really fetched."""
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        self._server: ThreadingHTTPServer | None = None

    def __enter__(self) -> "ChartRepository":
        self._dir = tempfile.TemporaryDirectory(prefix="gosvc-charts-")
        root = Path(self._dir.name)
        for package in sorted(self.mirror.glob("*.tgz")):
            shutil.copyfile(package, root / package.name)
        handler = type("Handler", (_Recording,), {"requested": self.requested})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(root)))
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        proc = subprocess.run([str(self.helm), "repo", "index", str(root), "--url", self.url], capture_output=True, text=True)
        if proc.returncode != 0:
            self.__exit__(None, None, None)
            raise RuntimeError(f"helm repo index: {proc.stderr.strip()}")
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._dir is not None:
            self._dir.cleanup()
