"""What the project emits, read from real synth output: the Kubernetes kinds and the programs its containers run.

The three stacks are synthesized with the genuine monitoring charts rendered (tools/offline/synth.py --charts,
tools/charts/packages.py), so the kinds are those of every object the stacks and the charts create. A linter
check is applicable to the project when it judges one of these kinds (coverage.py).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Iterator

import yaml

from tools.crosswalk.catalogue import ROOT

STACKS = ("dev", "staging", "prod")
SYNTH_TIMEOUT_SECONDS = 900


@dataclass(frozen=True)
class Emitted:
    """The kinds of the objects the project creates, and what their containers run."""

    kinds: frozenset[str]
    images: frozenset[str]
    """Image repositories, without tag or digest."""
    commands: frozenset[str]
    """Every word of every container's command and args."""

    def runs(self, program: str) -> bool:
        """Whether a container runs `program`: a command word that is it, or an image repository named for it."""
        return program in self.commands or any(program in part for image in self.images for part in image.split("/")[1:])


def _documents(out: Path) -> Iterator[dict[str, Any]]:
    """Every Kubernetes object a synth wrote: k8s/*.yaml and helm/<release>/*.yaml (not the release files themselves)."""
    for path in sorted([*out.glob("k8s/*.yaml"), *out.glob("helm/*/*.yaml")]):
        for doc in yaml.safe_load_all(path.read_text()):
            if isinstance(doc, dict) and doc.get("kind"):
                yield doc


def _containers(doc: dict[str, Any]) -> Iterator[dict[str, Any]]:
    spec = doc.get("spec") or {}
    for pod in (spec, (spec.get("template") or {}).get("spec") or {}, ((((spec.get("jobTemplate") or {}).get("spec") or {}).get("template") or {}).get("spec") or {})):
        for section in ("initContainers", "containers"):
            for container in pod.get(section) or []:
                if isinstance(container, dict):
                    yield container


def read(out: Path) -> Emitted:
    """The kinds and container programs in one synth output directory."""
    kinds: set[str] = set()
    images: set[str] = set()
    commands: set[str] = set()
    for doc in _documents(out):
        kinds.add(str(doc["kind"]))
        for container in _containers(doc):
            images.add(_repository(str(container.get("image", ""))))
            commands.update(str(word) for word in [*(container.get("command") or []), *(container.get("args") or [])])
    return Emitted(frozenset(kinds), frozenset(images - {""}), frozenset(commands))


def _repository(image: str) -> str:
    """'quay.io/prometheus/prometheus' of 'quay.io/prometheus/prometheus:v3.5.0@sha256:...'."""
    name = image.split("@", 1)[0]
    head, _, tail = name.rpartition(":")
    return head if head and "/" not in tail else name


def synth(stack: str, out: Path, charts: Path) -> Path:
    cmd = [sys.executable, "-m", "tools.offline.synth", "--stack", stack, "--out", str(out), "--charts", str(charts)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=SYNTH_TIMEOUT_SECONDS)
    if proc.returncode != 0:
        raise RuntimeError(f"synth --stack {stack} exited {proc.returncode}: {proc.stderr[-2000:]}")
    return out


@lru_cache(maxsize=1)
def emitted() -> Emitted:
    """What the three stacks emit with the genuine charts rendered (synthesized once per process)."""
    from tools.charts import packages

    charts = packages.locate()
    found = []
    with tempfile.TemporaryDirectory(prefix="gosvc-crosswalk-") as tmp:
        for stack in STACKS:
            found.append(read(synth(stack, Path(tmp) / stack, charts)))
    return union(found)


def union(found: Iterable[Emitted]) -> Emitted:
    """What several synth outputs emit together."""
    found = list(found)
    return Emitted(*(frozenset().union(*(getattr(e, part) for e in found)) for part in ("kinds", "images", "commands")))
