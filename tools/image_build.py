"""Builds the Go service the way its generated Dockerfile does, without Docker, for tools that measure the binary."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from components.image import dockerfile
from components.image.config import parse_image

APP = Path(__file__).resolve().parents[1] / "app"


def build_as_image(out: Path, tag: str, context: Path = APP) -> tuple[dict[str, str], list[str]]:
    """Runs the Dockerfile's `go build` step (its env, flags and version stamp for `tag`) with `out` as the binary;
    returns that step's env and argv as the Dockerfile has them."""
    spec = parse_image({"context": str(context), "repository": "registry.example.com/local/app", "tag": tag}, "image")
    module = dockerfile.read_module(spec.context)
    env, argv = dockerfile.go_build_step(dockerfile.render(spec, module), dockerfile.build_args(spec, module))
    run = list(argv)
    run[run.index("-o") + 1] = str(out)
    subprocess.run(run, cwd=context, env={**os.environ, **env}, check=True, capture_output=True, timeout=900)
    return env, argv
