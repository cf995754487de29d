"""Regenerates the check lists that can be read from a linter's own package: Checkov and kube-score.

    python -m tools.crosswalk catalogue     # rewrites policies/crosswalk/{checkov,kube-score}.yaml

Checkov's list comes from its check registry in the pinned virtualenv of tools/charts/checkov.py; kube-score's
from the check registrations in its Go module source, fetched with `go mod download`. Only facts are kept:
ids, the short name each linter gives a check, whether it is on by default, and the kinds it judges.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

from tools.charts import checkov as checkov_tool
from tools.crosswalk.catalogue import DATE, catalogue_path, dump

KUBE_SCORE_MODULE = "github.com/zegl/kube-score"
KUBE_SCORE_VERSION = "v1.20.0"
CHECKOV_VERSION = re.search(r"checkov==(\S+)", checkov_tool.REQUIREMENTS.read_text()).group(1)  # type: ignore[union-attr]

PROGRAMS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "etcd", "kubernetes-dashboard", "tiller", "git-sync")
"""Programs some Checkov checks judge alone (control-plane flags, Helm 2's Tiller, the dashboard, git-sync): a check
whose source names one of them only fails a container that runs it."""

_CHECKOV_SCRIPT = r"""
import inspect, json, re, sys
from checkov.kubernetes.checks.resource.registry import registry
import checkov.kubernetes.checks.resource.k8s  # registers the checks
programs = json.loads(sys.argv[1])
quoted = re.compile(r"[\"'](" + "|".join(map(re.escape, programs)) + r")[\"']")
seen = {}
for checks in registry.checks.values():
    for check in checks:
        source = inspect.getsource(inspect.getmodule(type(check)))
        found = quoted.search(source)
        seen[check.id] = {
            "id": check.id,
            "name": type(check).__name__,
            "kinds": sorted(check.supported_entities),
            "runs": found.group(1) if found else None,
        }
# The graph checks (CKV2_K8S_*) relate objects to each other; the Kubernetes runner runs them by default too.
from pathlib import Path
import checkov.kubernetes.checks.graph_checks as graph
def resource_types(node, found):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "resource_types" and isinstance(value, list):
                found.update(value)
            else:
                resource_types(value, found)
    elif isinstance(node, list):
        for value in node:
            resource_types(value, found)
for path in sorted(Path(graph.__file__).parent.glob("*.json")):
    data = json.loads(path.read_text())
    found = set()
    resource_types(data.get("definition"), found)
    check_id = data["metadata"]["id"]
    seen[check_id] = {"id": check_id, "name": path.stem, "kinds": sorted(found), "runs": None}
print(json.dumps(list(seen.values())))
"""

# Checks whose source names the program only through a helper (TillerDeploymentListener calls Tiller.is_tiller;
# DangerousGitSync matches the image by a pattern), read from checkov 3.3.30's k8s/*.py.
_CHECKOV_RUNS = {"CKV_K8S_45": "tiller", "CKV_K8S_159": "git-sync"}


def _order(check_id: str) -> tuple[bool, int]:
    """CKV_K8S_2 before CKV_K8S_10, and every CKV_K8S before CKV2_K8S."""
    prefix, _, number = check_id.rpartition("_")
    return prefix != "CKV_K8S", int(number)


def checkov_checks() -> list[dict[str, Any]]:
    """Checkov's Kubernetes checks: CKV_K8S_* from its check registry and CKV2_K8S_* from its graph check definitions;
    all run by default (Checkov has no optional Kubernetes checks)."""
    binary = checkov_tool.install()
    proc = subprocess.run([str(binary.parent / "python"), "-c", _CHECKOV_SCRIPT, json.dumps(PROGRAMS)], capture_output=True, text=True, check=True)
    rows = [r for r in json.loads(proc.stdout) if r["id"].startswith(("CKV_K8S_", "CKV2_K8S_"))]
    checks = []
    for row in sorted(rows, key=lambda r: _order(r["id"])):
        runs = _CHECKOV_RUNS.get(row["id"], row["runs"])
        entry = {"id": row["id"], "name": row["name"], "default": True, "kinds": row["kinds"]}
        if runs:
            entry["runs"] = runs
        checks.append(entry)
    return checks


_REGISTER = re.compile(r'allChecks\.Register(Optional)?(\w+?)Check\(\s*"([^"]+)"')
_ID = re.compile(r"\s+")
POD_KINDS = ("CronJob", "DaemonSet", "Deployment", "Job", "Pod", "StatefulSet")
"""What kube-score's 'Pod' checks judge: pods and the workloads it reads a pod template from (parser/parse.go)."""


def kube_score_dir() -> Path:
    proc = subprocess.run(["go", "mod", "download", "-json", f"{KUBE_SCORE_MODULE}@{KUBE_SCORE_VERSION}"], capture_output=True, text=True, check=True)
    return Path(json.loads(proc.stdout)["Dir"])


def _kube_score_kinds(target: str, parsed: list[str]) -> list[str]:
    if target == "Pod":
        return list(POD_KINDS)
    if target == "Meta":
        return parsed  # meta checks judge every object kube-score parses
    return [target]


def kube_score_checks(root: Path) -> list[dict[str, Any]]:
    """kube-score's checks from each `Register...Check("Name", ...)` call under score/: the id is the name lower-cased
    with dashes, as checks.machineFriendlyName makes it; `RegisterOptional...` checks are off unless enabled."""
    parsed = sorted(set(re.findall(r'WithKind\("(\w+)"\)', (root / "parser" / "parse.go").read_text())) - {"List"})
    checks = {}
    for source in sorted((root / "score").rglob("*.go")):
        if source.name.endswith("_test.go") or source.parent.name == "checks":
            continue
        for optional, target, name in _REGISTER.findall(source.read_text()):
            check_id = _ID.sub("-", name.lower())
            checks[check_id] = {"id": check_id, "name": name, "default": not optional, "kinds": _kube_score_kinds(target, parsed)}
    return sorted(checks.values(), key=lambda c: c["id"])


def regenerate() -> list[Path]:
    """Rewrites the Checkov and kube-score catalogues from their sources; returns the files written."""
    written = []
    header = {
        "linter": "checkov",
        "version": CHECKOV_VERSION,
        "source": f"PyPI checkov=={CHECKOV_VERSION}: checkov.kubernetes.checks.resource registry (id, class name, supported_entities) "
        "and checkov/kubernetes/checks/graph_checks/*.json (id, file name, resource_types)",
        "date": DATE,
    }
    written.append(dump(catalogue_path("checkov"), header, checkov_checks()))
    root = kube_score_dir()
    header = {
        "linter": "kube-score",
        "version": KUBE_SCORE_VERSION,
        "source": f"Go module {KUBE_SCORE_MODULE}@{KUBE_SCORE_VERSION}: score/**/*.go Register(Optional)*Check calls, parser/parse.go kinds",
        "date": DATE,
    }
    written.append(dump(catalogue_path("kube-score"), header, kube_score_checks(root)))
    return written
