"""Builds kube-score from `github.com/zegl/kube-score` at the version `go/go.mod` requires, once per machine.

    python -m tools.linters.build     # builds if needed, prints the kube-score binary's path

The agreement test (tests/test_linters_agreement.py) runs it beside Checkov over the policy fixtures and
the synth output. It lives in `$GOSVC_LINTER_TOOLS` (default `~/.cache/gosvc/linter-tools`) under a key
hashed from go/, this script and the Go version, as tools/charts/build.py keeps helm.

kube-linter is not built (KUBE_LINTER_ABSENT says why), so the agreement test runs kube-score and Checkov only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from tools.e2e import build as e2e_build

MODULE = Path(__file__).resolve().parent / "go"
KUBE_SCORE = "github.com/zegl/kube-score"
CACHE_ENV = "GOSVC_LINTER_TOOLS"
KUBE_LINTER_ABSENT = (
    "the Go module proxy refuses golang.stackrox.io/kube-linter (its module path) and github.com/stackrox/kube-linter, "
    "and no PyPI, npm or Debian package ships its binary (searched 2026-12-07)"
)
"""Why kube-linter is not built: the agreement report says so in its place."""


def cache_root() -> Path:
    return e2e_build.cache_dir(CACHE_ENV, "linter-tools")


def kube_score_version() -> str:
    return next(r["Version"] for r in e2e_build.go_mod_at(MODULE)["Require"] if r["Path"] == KUBE_SCORE)


def cache_key() -> str:
    return e2e_build.module_key(MODULE, Path(__file__))


def _build_kube_score(out: Path, versions: dict[str, str]) -> None:
    # Stamped as its release builds stamp it, so `kube-score version` names the pin.
    ldflags = f"-s -w -X main.version={versions['kube-score']}"
    e2e_build.run_go("build kube-score", ["go", "build", "-trimpath", "-ldflags", ldflags, "-o", str(out / "bin" / "kube-score"), f"{KUBE_SCORE}/cmd/kube-score"], MODULE)


def build(log: Callable[[str], None] = e2e_build.progress) -> Path:
    """The kube-score binary for this checkout's pin, built first if this machine has none."""
    root = cache_root() / cache_key()
    if e2e_build.read_manifest(root) is None:
        e2e_build.build_into(root, (("kube-score", _build_kube_score),), {"kube-score": kube_score_version()}, {"go": e2e_build.go_version()}, log, "linter tools")
    return root / "bin" / "kube-score"


if __name__ == "__main__":
    e2e_build.main("linter tools", build)
