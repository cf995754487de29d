"""Shared fixtures: the project root, and each stack synthesized once per test session by the real CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
STACKS = ("dev", "staging", "prod")
sys.path.insert(0, str(ROOT))


@dataclass
class Synth:
    """One stack's synth output directory, parsed."""

    stack: str
    out: Path
    stdout: str

    def objects(self) -> list[dict[str, Any]]:
        return [yaml.safe_load(p.read_text()) for p in sorted((self.out / "k8s").glob("*.yaml"))]

    def kinds(self, kind: str) -> list[dict[str, Any]]:
        return [o for o in self.objects() if o.get("kind") == kind]

    def one(self, kind: str, name: str | None = None) -> dict[str, Any]:
        found = [o for o in self.kinds(kind) if name is None or o["metadata"]["name"] == name]
        assert len(found) == 1, f"{self.stack}: expected one {kind} {name or ''}, found {len(found)}"
        return found[0]

    def releases(self) -> dict[str, dict[str, Any]]:
        """Helm releases by chart name, from helm/<release>.yaml."""
        docs = [yaml.safe_load(p.read_text()) for p in sorted((self.out / "helm").glob("*.yaml"))]
        return {d["chart"].rsplit("/", 1)[-1]: d for d in docs}

    def resources(self) -> list[dict[str, Any]]:
        return json.loads((self.out / "resources.json").read_text())

    def outputs(self) -> dict[str, Any]:
        return json.loads((self.out / "outputs.json").read_text())


@pytest.fixture(scope="session")
def synth(tmp_path_factory):
    """synth(stack) -> Synth, running `python -m tools.offline.synth` once per stack."""
    cache: dict[str, Synth] = {}

    def get(stack: str) -> Synth:
        if stack not in cache:
            out = tmp_path_factory.mktemp(f"synth-{stack}")
            proc = subprocess.run(
                [sys.executable, "-m", "tools.offline.synth", "--stack", stack, "--out", str(out)],
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=600,
            )
            assert proc.returncode == 0, f"synth {stack} failed:\n{proc.stdout}\n{proc.stderr}"
            cache[stack] = Synth(stack, out, proc.stdout)
        return cache[stack]

    return get


@pytest.fixture(scope="session")
def chart_packages() -> Path:
    """The genuine packages of the monitoring charts (tools/charts/packages.py): ../shared/charts, or else pulled from
    the upstream repository; the error says what is missing when neither can be had."""
    from tools.charts import packages

    return packages.locate()


@pytest.fixture(scope="session")
def rendered(chart_packages, tmp_path_factory):
    """rendered(stack) -> (the synth's output directory with the genuine charts rendered, its policy report), synthesized
    once per stack and session (the real-charts tests and the crosswalk's emitted kinds read the same output)."""
    done: dict[str, tuple[Path, dict[str, Any]]] = {}

    def get(stack: str) -> tuple[Path, dict[str, Any]]:
        if stack not in done:
            out = tmp_path_factory.mktemp(f"charts-{stack}")
            cmd = [
                sys.executable, "-m", "tools.offline.synth", "--stack", stack, "--out", str(out), "--charts", str(chart_packages),
                "--policy-pack", "policies", "--policy-pack-config", f"policies/config/{stack}.json",
            ]  # fmt: skip
            proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900)
            assert proc.returncode in (0, 1), proc.stdout[-3000:] + proc.stderr[-3000:]
            done[stack] = (out, json.loads((out / "policy-report.json").read_text()))
        return done[stack]

    return get
