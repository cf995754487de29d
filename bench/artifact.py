"""Artifact size: the Go binary as the generated Dockerfile builds it, against a plain build and the usual images."""

from __future__ import annotations

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
    "alpine": {"bytes": int(5.5 * MB), "source": "project brief / shared/reference/defaults.md (alpine base ~5.5 MB)"},
    "scratch": {"bytes": 0, "source": "scratch is empty; the Dockerfile adds only the binary and a CA bundle (~0.2 MiB)"},
}
USUAL_IMAGES = {
    "single-stage golang": {"bytes": 900 * MB, "source": "shared/reference/defaults.md: single-stage golang image ~900 MB"},
    "multi-stage alpine": {"bytes": 15 * MB, "source": "shared/reference/defaults.md: multi-stage alpine image ~15 MB"},
}
CA_BUNDLE_BYTES = 220 * 1024  # Debian's /etc/ssl/certs/ca-certificates.crt is about 215-225 KiB


def _plain_build(out: Path) -> int:
    """The floor's comparison: `go build` with no flags at all."""
    subprocess.run(["go", "build", "-o", str(out), "."], cwd=APP, check=True, timeout=900, capture_output=True)
    return out.stat().st_size


def measure() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        plain = _plain_build(Path(tmp) / "plain")
        env, argv = build_as_image(Path(tmp) / "optimized", tag="bench")
        optimized = (Path(tmp) / "optimized").stat().st_size
    images = {}
    for runtime, base in RUNTIME_BASES.items():
        extra = CA_BUNDLE_BYTES if runtime == "scratch" else 0
        size = optimized + base["bytes"] + extra
        images[runtime] = {"bytes": size, "over_floor": size / optimized, "base_source": base["source"]}
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
