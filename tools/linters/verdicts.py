"""kube-score and Checkov run over a directory of Kubernetes YAML, their results normalized to one Verdict per
(linter, check, object): passed or failed.

The directory holds one subdirectory per group of objects that belong together (one policy fixture, one test case,
one stack's synth output). Each linter judges each group on its own, since some of their checks relate objects (a
Deployment's PodDisruptionBudget, a Service's pods, the NetworkPolicy that selects a pod, a binding's role). Both
report in their machine-readable JSON; a check a linter skipped has no verdict.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

WORKLOAD_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "ReplicaSet", "ReplicationController"})
CHECKOV_GROUPS = Path(__file__).resolve().parent / "checkov_groups.py"
KUBE_SCORE_FAILED = 5
"""kube-score grades 1 (critical) and 5 (warning) are failures; 7 (almost OK) and 10 (OK) pass (scorecard.Grade)."""


@dataclass(frozen=True, order=True)
class ObjectRef:
    """One Kubernetes object in a scanned directory: its group (subdirectory), kind, namespace ('' if unset) and name."""

    group: str
    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.group}/{self.kind}/{self.namespace or '-'}/{self.name}"


@dataclass(frozen=True, order=True)
class Verdict:
    linter: str
    check: str
    object: ObjectRef
    passed: bool


def objects(root: Path) -> dict[tuple[str, str], list[ObjectRef]]:
    """Every object under root/<group>/*.yaml, by (group, kind)."""
    found: dict[tuple[str, str], list[ObjectRef]] = {}
    for path in sorted(root.glob("*/*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if isinstance(doc, dict) and doc.get("kind"):
                meta = doc.get("metadata") or {}
                ref = ObjectRef(path.parent.name, doc["kind"], meta.get("namespace") or "", meta.get("name") or "")
                found.setdefault((ref.group, ref.kind), []).append(ref)
    return found


def kube_score_version(binary: Path) -> str:
    out = subprocess.run([str(binary), "version"], capture_output=True, text=True, check=True).stdout
    return out.split("version:", 1)[1].split(",", 1)[0].strip()


def kube_score(root: Path, binary: Path, kubernetes_version: str) -> tuple[list[Verdict], dict[str, str]]:
    """kube-score's default checks on each group, one verdict per check and object (an object's container failing
    fails it), and the groups it refused to read with its reason (a quantity no API server would parse, say)."""
    verdicts: list[Verdict] = []
    refused: dict[str, str] = {}
    for group in sorted(p for p in root.iterdir() if p.is_dir()):
        files = sorted(str(p) for p in group.glob("*.yaml"))
        if not files:
            continue
        cmd = [str(binary), "score", "--output-format", "json", "--kubernetes-version", kubernetes_version, *files]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        if proc.returncode == 1 and not proc.stdout.strip() and "failed to parse files" in proc.stderr:
            refused[group.name] = proc.stderr.strip()
            continue
        if proc.returncode not in (0, 1):
            raise RuntimeError(f"kube-score exited {proc.returncode} on {group.name}: {proc.stderr[-3000:]}")
        for scored in json.loads(proc.stdout) or []:  # null when no object is of a kind it scores
            meta = scored["object_meta"]
            ref = ObjectRef(group.name, scored["type_meta"]["kind"], meta.get("namespace") or "", meta.get("name") or "")
            verdicts += [Verdict("kube-score", c["check"]["id"], ref, c["grade"] > KUBE_SCORE_FAILED) for c in scored["checks"] if not c["skipped"]]
    return verdicts, refused


def _checkov_object(resource: str, group: str, known: dict[tuple[str, str], list[ObjectRef]]) -> ObjectRef:
    """The object Checkov names `Kind.namespace.name` (namespace `default` when unset) in a group."""
    kind, _, rest = resource.partition(".")
    for ref in known.get((group, kind), []):
        if rest in (f"{ref.namespace}.{ref.name}", f"default.{ref.name}" if not ref.namespace else None):
            return ref
    if kind == "Pod":  # its graph checks name a workload's pod template `Pod.<namespace>.<workload>.<labels...>`
        for (g, k), refs in known.items():
            for ref in refs if g == group and k in WORKLOAD_KINDS else ():
                if rest.startswith(f"{ref.namespace or 'default'}.{ref.name}."):
                    return ref
    raise LookupError(f"checkov names {resource} in group {group}, which holds no such object")


def checkov(root: Path, binary: Path) -> tuple[list[Verdict], str]:
    """Checkov's kubernetes checks (all of them, its default) on every object under root, each group judged on its own
    (checkov_groups.py says why), and Checkov's version."""
    cmd = [str(binary.parent / "python"), str(CHECKOV_GROUPS), str(root)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0:
        raise RuntimeError(f"checkov exited {proc.returncode}: {proc.stderr[-3000:]}")
    report: Any = json.loads(proc.stdout)
    known = objects(root)
    verdicts = [
        Verdict("checkov", check, _checkov_object(resource, group, known), passed)
        for group, results in report["groups"].items()
        for passed, key in ((True, "passed_checks"), (False, "failed_checks"))
        for check, resource in results[key]
    ]
    return verdicts, report["checkov_version"]
