"""Artifact size: the Go binary as the generated Dockerfile builds it, against a plain build and the usual images.

Where a Docker engine can run (tools/nodes: root and Debian's docker.io), the distroless and scratch images are
built for real from the generated Dockerfile and weighed; alpine, for which no stand-in base is made, and every
runtime where no engine runs, are the binary plus the base's documented size."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from tools.image_build import build_as_image

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "app"
MIB = 1024 * 1024
MB = 1000 * 1000

# Runtime bases, uncompressed, with where each figure comes from.
RUNTIME_BASES = {
    # distroless README: static-debian12 is about 2 MiB (CA certificates, tzdata, /etc/passwd, /tmp).
    "distroless": {"bytes": 2 * MIB, "source": "GoogleContainerTools/distroless README (static: ~2 MiB)"},
    # Docker Hub alpine 3.22 image: about 8.3 MB uncompressed (3.6 MB compressed); the project's brief quotes ~5.5 MB.
    "alpine": {"bytes": int(5.5 * MB), "source": "the project brief's figure for the alpine base (~5.5 MB)"},
    "scratch": {"bytes": 0, "source": "scratch is empty; the Dockerfile adds only the binary and a CA bundle (~0.2 MiB)"},
}
USUAL_IMAGES = {
    "single-stage golang": {"bytes": 900 * MB, "source": "the project brief's figure for a single-stage golang image (~900 MB)"},
    "multi-stage alpine": {"bytes": 15 * MB, "source": "the project brief's figure for a multi-stage alpine image (~15 MB)"},
}
CA_BUNDLE_BYTES = 220 * 1024  # Debian's /etc/ssl/certs/ca-certificates.crt is about 215-225 KiB


def _plain_build(out: Path) -> int:
    """The floor's comparison: `go build` with no flags at all."""
    subprocess.run(["go", "build", "-o", str(out), "."], cwd=APP, check=True, timeout=900, capture_output=True)
    return out.stat().st_size


BUILT_RUNTIMES = ("distroless", "scratch")
"""The runtimes whose images the engine builds: each has a stand-in base here (scratch needs none)."""


def engine_present() -> bool:
    """Whether this machine can run the tier's Docker engine: root, and Debian's docker.io installed."""
    from tools.nodes import build

    return os.geteuid() == 0 and "docker.io" not in build.missing_packages()


def built_images(docker: Any) -> dict[str, dict[str, Any]]:
    """Each BUILT_RUNTIMES image of app/ built by `docker` (a running tools.nodes DockerEngine), with its binary."""
    from components.image.config import parse_image
    from tools.nodes import bases, build, image

    specs = {r: parse_image({"context": str(APP), "repository": "gosvc-bench/hello", "tag": f"bench-{r}", "runtime": r}, "bench") for r in BUILT_RUNTIMES}
    bases.ensure(docker, build.build(), image.builder_versions(list(specs.values())), lambda _line: None)
    found = {}
    for runtime, spec in specs.items():
        _progress, seconds = image.build(docker, spec, spec.image_name)
        found[runtime] = {"bytes": int(docker.inspect(spec.image_name)["Size"]), "binary_bytes": image.binary_bytes(docker, spec.image_name), "build_seconds": seconds}
        docker.run("rmi", spec.image_name)
    return found


def _engine_images() -> dict[str, dict[str, Any]]:
    from tools.nodes.docker import DockerEngine, data_root

    with DockerEngine(data_root(), data_root() / "dockerd.log") as docker:
        return built_images(docker)


def measure(engine: bool | None = None) -> dict[str, Any]:
    """`engine`: build the images for real (True), never (False), or when an engine is present (None)."""
    with tempfile.TemporaryDirectory() as tmp:
        plain = _plain_build(Path(tmp) / "plain")
        env, argv = build_as_image(Path(tmp) / "optimized", tag="bench")
        optimized = (Path(tmp) / "optimized").stat().st_size
    built = _engine_images() if (engine_present() if engine is None else engine) else {}
    images = {}
    for runtime, base in RUNTIME_BASES.items():
        if runtime in built:
            real = built[runtime]
            images[runtime] = {
                "bytes": real["bytes"], "over_floor": real["bytes"] / optimized, "binary_bytes": real["binary_bytes"],
                "base_source": "built here by a real Docker engine from the generated Dockerfile (stand-in base, tools/nodes)",
                "measured": True,
            }  # fmt: skip
            continue
        extra = CA_BUNDLE_BYTES if runtime == "scratch" else 0
        size = optimized + base["bytes"] + extra
        images[runtime] = {"bytes": size, "over_floor": size / optimized, "base_source": base["source"], "measured": False}
    usual = {name: {**fig, "over_floor": fig["bytes"] / optimized} for name, fig in USUAL_IMAGES.items()}
    return {
        "plain_binary_bytes": plain,
        "optimized_binary_bytes": optimized,
        "optimized_over_plain": optimized / plain,
        "build_flags": " ".join(f"{k}={v}" for k, v in env.items()) + " " + " ".join(argv),
        "floor_bytes": optimized,
        "images": images,
        "usual_images": usual,
    }
