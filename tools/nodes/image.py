"""The service's image built for real: the Dockerfile GoImage generates and registers, built by the tier's Docker
engine, pushed to the loopback registry, and measured (bytes, layers, which steps a rebuild reuses).

GoImage itself needs the pulumi-docker provider plugin, which the Go module proxy does not serve; so the tier
builds exactly the text and build args GoImage would hand it (`components.image.component.dockerfile_text`).
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from components.image import dockerfile
from components.image.component import dockerfile_text
from components.image.config import ImageSpec
from tools.nodes.docker import DockerEngine
from tools.nodes.registry import LocalRegistry

ROOT = Path(__file__).resolve().parents[2]
STACKS = ("dev",)
"""The stacks whose service runs on the real node (one node: dev's two replicas may share it, prod's may not)."""


def stack_image(stack: str) -> ImageSpec:
    """The ImageSpec GoImage gets from `stack`'s committed config, its context made absolute."""
    from stacks import config as stack_config
    from tools.e2e.overlay import committed_config

    spec = stack_config.load(committed_config(stack)).image
    return spec.model_copy(update={"context": str(ROOT / spec.context)})


def builder_versions(specs: list[ImageSpec]) -> list[str]:
    """The Go releases the specs' generated Dockerfiles build with, each once: the golang stand-ins they need."""
    return sorted({dockerfile.builder_version(spec, dockerfile.read_module(spec.context)) for spec in specs})


_STEP = re.compile(r"^#(\d+) \[([^\]]+)\] (.+)$")
_CACHED = re.compile(r"^#(\d+) CACHED$")


@dataclass(frozen=True)
class Step:
    """One build step BuildKit reported, and whether it came from the cache."""

    stage: str
    instruction: str
    cached: bool


def steps(progress: str) -> list[Step]:
    """The Dockerfile steps of a `--progress=plain` build log, in order, each marked cached or run."""
    names: dict[str, tuple[str, str]] = {}
    cached: set[str] = set()
    for line in progress.splitlines():
        if match := _STEP.match(line):
            stage, instruction = match.group(2), match.group(3)
            if not stage.startswith("internal") and not instruction.startswith("FROM "):
                names.setdefault(match.group(1), (stage.split(" ")[0], instruction))
        elif match := _CACHED.match(line):
            cached.add(match.group(1))
    ordered = sorted(names.items(), key=lambda item: int(item[0]))
    return [Step(stage, instruction, number in cached) for number, (stage, instruction) in ordered]


@dataclass
class BuiltImage:
    """An image pushed to the loopback registry, and what it weighs."""

    repository: str
    tag: str
    digest: str
    image_bytes: int
    """Uncompressed, as the engine stores it."""
    compressed_bytes: int
    """What a node pulls: the config and every layer as the registry's manifest gives them."""
    binary_bytes: int
    layers: list[dict[str, Any]]
    go_version: str
    build_seconds: float
    steps: list[Step] = field(default_factory=list)

    def record(self) -> dict[str, Any]:
        return {
            "repository": self.repository,
            "tag": self.tag,
            "digest": self.digest,
            "image_bytes": self.image_bytes,
            "compressed_bytes": self.compressed_bytes,
            "binary_bytes": self.binary_bytes,
            "layers": self.layers,
            "go_version": self.go_version,
            "build_seconds": self.build_seconds,
            "steps": [{"stage": s.stage, "instruction": s.instruction[:120], "cached": s.cached} for s in self.steps],
        }


def build(docker: DockerEngine, spec: ImageSpec, tag: str, name: str = "hello") -> tuple[str, float]:
    """Builds `spec`'s generated Dockerfile in `spec.context` as `tag`; returns BuildKit's log and the seconds taken."""
    text, build_args, _generated, _runtime = dockerfile_text(name, spec)
    with tempfile.TemporaryDirectory(prefix="gosvc-image-") as tmp:
        path = Path(tmp) / "Dockerfile"
        path.write_text(text)
        started = time.monotonic()
        progress = docker.build(Path(spec.context), tag, path, build_args)
    return progress, round(time.monotonic() - started, 1)


def build_and_push(docker: DockerEngine, registry: LocalRegistry, spec: ImageSpec, name: str = "hello") -> BuiltImage:
    """Builds `spec`'s generated Dockerfile as the registry's `gosvc/<name>:<tag>`, pushes it, and measures it."""
    repository = f"{registry.host}/gosvc/{name}"
    reference = f"{repository}:{spec.tag}"
    progress, seconds = build(docker, spec, reference, name)
    pushed = docker.run("push", reference)
    digest = re.search(r"digest: (sha256:[0-9a-f]{64})", pushed)
    if digest is None:
        raise RuntimeError(f"docker push printed no digest:\n{pushed[-2000:]}")
    manifest = registry.manifest(f"gosvc/{name}", digest.group(1))
    history = [{"bytes": int(h["Size"]), "created_by": h["CreatedBy"][:120]} for h in _history(docker, reference) if int(h["Size"]) > 0]
    return BuiltImage(
        repository=repository,
        tag=spec.tag,
        digest=digest.group(1),
        image_bytes=int(docker.inspect(reference)["Size"]),
        compressed_bytes=manifest["config"]["size"] + sum(layer["size"] for layer in manifest["layers"]),
        binary_bytes=binary_bytes(docker, reference),
        layers=history,
        go_version=dockerfile_text(name, spec)[1]["GO_VERSION"],
        build_seconds=seconds,
        steps=steps(progress),
    )


def _history(docker: DockerEngine, image: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in docker.run("history", "--no-trunc", "--format", "{{json .}}", "--human=false", image).splitlines() if line.strip()]


def extract_binary(docker: DockerEngine, image: str, into: Path) -> Path:
    """The image's /app copied into `into`, from a container made (never started) from it."""
    container = docker.run("create", image).strip()
    try:
        docker.run("cp", f"{container}:{dockerfile.BINARY}", str(into))
        return into / Path(dockerfile.BINARY).name
    finally:
        docker.run("rm", container)


def binary_bytes(docker: DockerEngine, image: str) -> int:
    with tempfile.TemporaryDirectory(prefix="gosvc-binary-") as tmp:
        return extract_binary(docker, image, Path(tmp)).stat().st_size


def rebuild_after(docker: DockerEngine, spec: ImageSpec, edit: str, name: str = "hello") -> list[Step]:
    """The steps a rebuild runs and reuses after one edit of a copy of the context: "go" adds a .go file, "go.mod"
    adds a comment to go.mod. The copy builds first as it is (so the cache holds it), then edited."""
    if edit not in ("go", "go.mod"):
        raise ValueError(f"edit must be 'go' or 'go.mod', not {edit!r}")
    with tempfile.TemporaryDirectory(prefix="gosvc-edit-") as tmp:
        context = Path(tmp) / "context"
        shutil.copytree(spec.context, context)
        edited = spec.model_copy(update={"context": str(context)})
        tag = f"gosvc-edit/{name}:{edit.replace('.', '-')}"
        build(docker, edited, tag, name)
        marker = uuid.uuid4().hex  # an edit never made before, or BuildKit would find its result in the cache
        if edit == "go":
            (context / "zz_edit.go").write_text(f'package main\n\n// editMarker changes the sources, as any edit does.\nvar editMarker = "{marker}"\n')
        else:
            with (context / "go.mod").open("a") as go_mod:
                go_mod.write(f"\n// edited {marker}\n")
        progress, _seconds = build(docker, edited, tag, name)
        docker.run("rmi", tag)
        return steps(progress)
