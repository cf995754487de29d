"""Builds the Helm CLI from `helm.sh/helm/v3` at the version `go/go.mod` requires, once per machine.

    python -m tools.charts.build     # builds if needed, prints the helm binary's path

The policy pack renders Helm releases with that helm (`GOSVC_HELM`, policies/rules/charts.py), and so
does `python -m tools.offline.synth --charts DIR`. It lives in `$GOSVC_CHART_TOOLS` (default
`~/.cache/gosvc/chart-tools`) under a key hashed from go/, this script and the Go version. The charts
themselves are not built here: tools/charts/packages.py finds the genuine packages.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from tools.e2e import build as e2e_build

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
    return e2e_build.module_key(MODULE, Path(__file__))


def _build_helm(out: Path, versions: dict[str, str]) -> None:
    # Stamped as Helm's own build stamps it. The pack passes --kube-version anyway, so any helm renders alike.
    major, minor = default_kube_version()
    kube = " ".join(f"-X {HELM}/pkg/{pkg}.k8sVersion{part}={value}" for pkg in ("chartutil", "lint/rules") for part, value in (("Major", major), ("Minor", minor)))
    ldflags = f"-s -w -X {HELM}/internal/version.version={versions['helm']} {kube}"
    e2e_build.run_go("build helm", ["go", "build", "-trimpath", "-ldflags", ldflags, "-o", str(out / "bin" / "helm"), f"{HELM}/cmd/helm"], MODULE)


def build(log: Callable[[str], None] = e2e_build.progress) -> Path:
    """The helm binary for this checkout's pin, built first if this machine has none."""
    root = cache_root() / cache_key()
    if e2e_build.read_manifest(root) is None:
        e2e_build.build_into(root, (("helm", _build_helm),), {"helm": helm_version()}, {"go": e2e_build.go_version()}, log, "chart tools")
    return root / "bin" / "helm"


if __name__ == "__main__":
    e2e_build.main("chart tools", build)
