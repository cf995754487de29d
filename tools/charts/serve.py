"""A folder of chart packages served as a Helm chart repository on loopback, for a real engine to install from.

    with ChartRepository(packages.locate()) as repository:
        ...  # gosvc:helmRepository = repository.url (http://127.0.0.1:<port>)

The folder is served as it is: its `index.yaml` (relative URLs) and packages are what `helm.v3.Release`
fetches, exactly as it fetches them from the upstream repository. Nothing in the folder is written.
"""

from __future__ import annotations

import functools
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
    """Serves `directory` (chart packages and their index.yaml) on 127.0.0.1 at a free port."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.url = ""
        self.requested: list[str] = []
        """Every path a client asked for, in order: which charts were really fetched."""
        self._server: ThreadingHTTPServer | None = None

    def __enter__(self) -> "ChartRepository":
        handler = type("Handler", (_Recording,), {"requested": self.requested})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(self.directory)))
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
