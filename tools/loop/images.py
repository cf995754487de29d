"""The loop's images, made from the binaries tools/loop/build.py builds and pushed to the tier's loopback registry
under exactly the references the genuine charts render.

Each image is FROM the stand-in `gcr.io/distroless/static-debian12:nonroot` (tools/nodes/bases.py makes it) with
the binary at the path, and the ENTRYPOINT, CMD, USER and WORKDIR, the upstream image uses (the charts' pods set
only `args`, and the operator sets `command` only for the config reloader, to the upstream path). The real node's
containerd pulls each mirrored registry (quay.io, registry.k8s.io, ghcr.io: `mirrors()`) from the loopback
registry at the same path, so `quay.io/prometheus/prometheus:TAG` is pushed as `<registry>/prometheus/prometheus:TAG`.

The engine keeps each image under its chart reference with a label naming what it was made from (the binary's
and the Dockerfile's digest); `ensure` builds only the images the engine lacks or holds from other inputs.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Callable

from components import defaults
from tools.e2e.build import BuildError
from tools.loop import build as loop_build
from tools.loop.build import LoopTools, Program
from tools.nodes.docker import DockerEngine
from tools.nodes.registry import LocalRegistry

BASE = defaults.DISTROLESS_STATIC
SOURCE_LABEL = "dev.gosvc.loop.source"
NONROOT = "65532"
USERS = {"nobody": "65534", "nonroot": NONROOT, "root": "0"}
"""The stand-in base's /etc/passwd (tools/nodes/bases.py), for owning the directories an image's user writes."""


def mirrors() -> tuple[str, ...]:
    """The registry names containerd must pull from the loopback registry for the loop's images."""
    return tuple(sorted({program.registry for program in loop_build.programs()}))


def push_name(registry_host: str, reference: str) -> str:
    """Where `reference` goes in the loopback registry: its path and tag, under the registry's host."""
    return f"{registry_host}/{reference.split('/', 1)[1]}"


def owner(program: Program) -> str:
    uid = USERS.get(program.user or NONROOT, program.user or NONROOT)
    return f"{uid}:{uid}"


def dockerfile(program: Program, source: str = "") -> str:
    """The Dockerfile of `program`'s image, its context holding the binary as `bin`, each of `program.dirs` as an
    empty directory under `dirs/`, and each of `program.files` under `files/` at its path in the image. `source`,
    when given, is recorded as a label (what the image was made from)."""
    lines = [f"FROM {BASE}"]
    lines += [f"COPY files{target} {target}" for _, target in program.files]
    lines += [f"COPY --chown={owner(program)} dirs{directory}/ {directory}/" for directory in program.dirs]
    lines.append(f"COPY bin {program.binary}")
    if program.user is not None:
        lines.append(f"USER {program.user}")
    if program.workdir is not None:
        lines.append(f"WORKDIR {program.workdir}")
    lines.append(f"ENTRYPOINT {json.dumps(list(program.entrypoint))}")
    if program.cmd:
        lines.append(f"CMD {json.dumps(list(program.cmd))}")
    if source:
        lines.append(f"LABEL {SOURCE_LABEL}={source}")
    return "\n".join(lines) + "\n"


def _sha256(path: Path) -> str:
    with path.open("rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


def source(program: Program, binary: Path) -> str:
    """What an image is made from: its binary and its Dockerfile (without this label), as one short digest."""
    return hashlib.sha256(f"{_sha256(binary)}\n{dockerfile(program)}".encode()).hexdigest()[:24]


def context(program: Program, binary: Path, into: Path, label: str) -> Path:
    """Writes `program`'s build context (Dockerfile, binary, directories, upstream files) into `into`."""
    into.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(binary, into / "bin")
    (into / "bin").chmod(0o755)
    for directory in program.dirs:
        made = into / "dirs" / directory.lstrip("/")
        made.mkdir(parents=True)
        made.chmod(0o775)
    if program.files:
        module = loop_build.module_dir(program)
        for relative, target in program.files:
            copied = into / "files" / target.lstrip("/")
            copied.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(module / relative, copied)
            copied.chmod(0o644)
    (into / "Dockerfile").write_text(dockerfile(program, label))
    return into


def _current(docker: DockerEngine, reference: str, label: str) -> bool:
    if not docker.exists(reference):
        return False
    labels = docker.inspect(reference).get("Config", {}).get("Labels") or {}
    return labels.get(SOURCE_LABEL) == label


def ensure(docker: DockerEngine, registry: LocalRegistry, tools: LoopTools, log: Callable[[str], None]) -> dict[str, str]:
    """Every loop image in the engine (built only when it lacks it, or holds it from other inputs) and pushed to
    `registry`; returns each chart reference and its digest in the registry (`sha256:<hex>`)."""
    if not docker.exists(BASE):
        raise BuildError(f"the Docker engine lacks the stand-in base {BASE}: run `python -m tools.nodes.bases` first")
    digests: dict[str, str] = {}
    for program in tools.programs:
        binary = tools.bin(program.name)
        if not binary.is_file():
            raise BuildError(f"{binary} is missing: run `python -m tools.loop.build`")
        label = source(program, binary)
        if not _current(docker, program.reference, label):
            log(f"loop image {program.reference} ...")
            started = time.monotonic()
            with tempfile.TemporaryDirectory(prefix="gosvc-loop-image-") as tmp:
                docker.build(context(program, binary, Path(tmp) / "context", label), program.reference)
            log(f"loop image {program.reference} built in {time.monotonic() - started:.1f} s")
        target = push_name(registry.host, program.reference)
        docker.run("tag", program.reference, target)
        pushed = docker.run("push", target)
        digest = re.search(r"digest: (sha256:[0-9a-f]{64})", pushed)
        if digest is None:
            raise BuildError(f"docker push {target} printed no digest:\n{pushed[-2000:]}")
        digests[program.reference] = digest.group(1)
    return digests
