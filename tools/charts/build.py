"""Builds the Helm CLI from `helm.sh/helm/v3` at the version `go/go.mod` requires, and a local mirror
of the monitoring stack's pinned charts (mirror.py), once per machine.

    python -m tools.charts.build     # builds if needed, prints the helm binary's path and the mirror's

The policy pack renders Helm releases with that helm (`GOSVC_HELM`, policies/rules/charts.py) and
finds the charts in the mirror (`GOSVC_CHART_DIRS`); so does `python -m tools.offline.synth --charts DIR`.
Both live in `$GOSVC_CHART_TOOLS` (default `~/.cache/gosvc/chart-tools`) under a key hashed from
go/, sources/, these scripts, the chart pins and the Go version.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path
from typing import Callable

from tools.charts import mirror
from tools.e2e import build as e2e_build
from tools.e2e.build import BuildError

MODULE = Path(__file__).resolve().parent / "go"
CLIENT_GO = "k8s.io/client-go"
HELM = "helm.sh/helm/v3"
CACHE_ENV = "GOSVC_CHART_TOOLS"


def cache_root() -> Path:
    return e2e_build.cache_dir(CACHE_ENV, "chart-tools")


def _required(path: str) -> str:
    return next(r["Version"] for r in e2e_build.go_mod_at(MODULE)["Require"] if r["Path"] == path)


def helm_version() -> str:
    return _required(HELM)


def default_kube_version() -> tuple[str, str]:
    """The Kubernetes version `helm template` assumes with no cluster, as Helm's Makefile derives it: client-go v0.X.Y is 1.X."""
    _, minor = _required(CLIENT_GO).lstrip("v").split(".")[:2]
    return "1", minor


def cache_key() -> str:
    digest = hashlib.sha256()
    for path in sorted(p for d in (MODULE, mirror.SOURCES) for p in d.rglob("*") if p.is_file()):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    for script in (Path(__file__), Path(mirror.__file__)):
        digest.update(script.read_bytes())
    digest.update(repr(mirror.PINNED).encode() + e2e_build.go_version().encode())
    return digest.hexdigest()[:16]


def _build_helm(out: Path, versions: dict[str, str]) -> None:
    # Without the Kubernetes version Helm's own build stamps in, `helm template` assumes 1.20 and
    # refuses charts that need newer (kube-prometheus-stack wants >=1.25).
    major, minor = default_kube_version()
    kube = " ".join(f"-X {HELM}/pkg/{pkg}.k8sVersion{part}={value}" for pkg in ("chartutil", "lint/rules") for part, value in (("Major", major), ("Minor", minor)))
    ldflags = f"-s -w -X {HELM}/internal/version.version={versions['helm']} {kube}"
    e2e_build.run_go("build helm", ["go", "build", "-trimpath", "-ldflags", ldflags, "-o", str(out / "bin" / "helm"), f"{HELM}/cmd/helm"], MODULE)


def _build_mirror(out: Path, _versions: dict[str, str]) -> None:
    mirror.build_mirror(out / "charts", out / "bin" / "helm")


def _root(log: Callable[[str], None]) -> Path:
    root = cache_root() / cache_key()
    if e2e_build.read_manifest(root) is None:
        versions = {"helm": helm_version(), **{c.name: c.version for c in mirror.PINNED}}
        e2e_build.build_into(root, (("helm", _build_helm), ("charts", _build_mirror)), versions, {"go": e2e_build.go_version()}, log, "chart tools")
    return root


def _log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def build(log: Callable[[str], None] = _log) -> Path:
    """The helm binary for this checkout's pin, built first (with the chart mirror) if this machine has none."""
    return _root(log) / "bin" / "helm"


def chart_mirror(log: Callable[[str], None] = _log) -> Path:
    """The directory of packaged pinned charts (and its `mirror.json`), for `GOSVC_CHART_DIRS` or `synth --charts`."""
    return _root(log) / "charts"


if __name__ == "__main__":
    try:
        print(build())
        print(chart_mirror())
    except BuildError as err:
        print(f"chart tools: {err}", file=sys.stderr)
        sys.exit(1)
