"""Layer reuse: which build steps' inputs change when only a .go file changes, versus when go.mod changes.

BuildKit reuses a step when its instruction and everything before it are unchanged and, for
COPY, when the files it brings in hash the same. This computes those chained keys from the
generated Dockerfile and the files of app/, then edits a copy of app/ both ways.
"""

from __future__ import annotations

import fnmatch
import hashlib
import shutil
import tempfile
from pathlib import Path
from typing import Any

from components.image import dockerfile
from components.image.config import parse_image

ROOT = Path(__file__).resolve().parent.parent
LAYER_STEPS = ("WORKDIR", "COPY", "RUN")  # the steps that make layers; ARG and FROM only feed the chain
APP = ROOT / "app"


def _ignored(context: Path) -> list[str]:
    path = context / ".dockerignore"
    if not path.is_file():
        return []
    return [line.strip() for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]


def _context_files(context: Path) -> list[Path]:
    patterns = _ignored(context)
    files = []
    for path in sorted(p for p in context.rglob("*") if p.is_file()):
        rel = path.relative_to(context).as_posix()
        if any(fnmatch.fnmatch(rel, pat.rstrip("/")) or rel.startswith(pat.rstrip("/") + "/") for pat in patterns):
            continue
        files.append(path)
    return files


def _copy_sources(context: Path, sources: list[str]) -> list[Path]:
    if sources == ["."]:
        return _context_files(context)
    return [context / s for s in sources if (context / s).is_file()]


def step_keys(text: str, context: Path) -> list[dict[str, str]]:
    """The build stage's steps, each with a cache key chained from all earlier steps."""
    steps = dockerfile.instructions(text)
    build_from = next(i for i, (name, _) in enumerate(steps) if name == "FROM")
    build_end = next(i for i, (name, _) in enumerate(steps) if name == "FROM" and i > build_from)
    chained = hashlib.sha256()
    keys = []
    for name, rest in steps[build_from:build_end]:
        chained.update(f"{name} {rest}\n".encode())
        if name == "COPY" and "--from=" not in rest:
            sources = rest.split()[:-1]
            for path in _copy_sources(context, sources):
                chained.update(path.relative_to(context).as_posix().encode())
                chained.update(hashlib.sha256(path.read_bytes()).digest())
        if name not in LAYER_STEPS:
            continue
        label = f"{name} {rest}"
        keys.append({"step": label if len(label) <= 60 else label[:57] + "...", "key": chained.copy().hexdigest()[:16]})
    return keys


def measure() -> dict[str, Any]:
    spec = parse_image({"context": str(APP), "repository": "registry.example.com/bench/app", "tag": "bench"}, "image")
    text = dockerfile.render(spec, dockerfile.read_module(APP))
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "app"
        shutil.copytree(APP, work, ignore=shutil.ignore_patterns("app", "bin"))
        base = step_keys(text, work)
        go_file = next(p for p in sorted(work.glob("*.go")) if not p.name.endswith("_test.go"))
        go_file.write_text(go_file.read_text() + "\n// a source-only change\n")
        source_change = step_keys(text, work)
        go_mod = work / "go.mod"
        go_mod.write_text(go_mod.read_text() + "\n// a dependency change\n")
        mod_change = step_keys(text, work)

    def changed(after: list[dict[str, str]]) -> list[str]:
        return [b["step"] for b, a in zip(base, after) if b["key"] != a["key"]]

    download = next(s["step"] for s in base if "go mod download" in s["step"])
    return {
        "steps": [s["step"] for s in base],
        "source_change": {"edited": go_file.name, "steps_rebuilt": changed(source_change)},
        "go_mod_change": {"edited": "go.mod", "steps_rebuilt": changed(mod_change)},
        "download_step": download,
        "source_change_reuses_download": download not in changed(source_change),
        "go_mod_change_reruns_download": download in changed(mod_change),
    }
