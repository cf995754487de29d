"""actionlint, the GitHub Actions workflow linter, built once per machine from the Go module proxy.

    python -m tools.ci.actionlint      # builds if needed, then lints .github/workflows/*.yml

`go install` puts the pinned version in `$GOSVC_ACTIONLINT` (default `~/.cache/gosvc/actionlint`)/<version>/.
actionlint runs shellcheck on `run:` scripts only when shellcheck is on PATH.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

MODULE = "github.com/rhysd/actionlint/cmd/actionlint"
VERSION = "v1.7.12"
ROOT = Path(__file__).resolve().parents[2]


def install() -> Path:
    """The actionlint binary of VERSION, built with `go install` the first time."""
    home = Path(os.environ.get("GOSVC_ACTIONLINT", Path.home() / ".cache" / "gosvc" / "actionlint")) / VERSION
    binary = home / "actionlint"
    if not binary.is_file():
        home.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "GOBIN": str(home), "CGO_ENABLED": "0"}
        subprocess.run(["go", "install", f"{MODULE}@{VERSION}"], check=True, env=env, cwd=home)
    return binary


def lint(*workflows: Path) -> subprocess.CompletedProcess[str]:
    """actionlint over `workflows` (default: every .github/workflows/*.yml), its output captured."""
    files = [str(w) for w in workflows] or [str(p) for p in sorted((ROOT / ".github" / "workflows").glob("*.yml"))]
    return subprocess.run([str(install()), "-no-color", *files], capture_output=True, text=True, cwd=ROOT)


if __name__ == "__main__":
    result = lint()
    print(result.stdout + result.stderr, end="")
    sys.exit(result.returncode)
