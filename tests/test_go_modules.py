"""Every go.mod of the project requires only Go modules: ones whose code is built, or whose own released files a
tier uses. The Go module proxy is for Go modules only; no go.mod may bring in another project's non-Go sources
(a chart repository, for instance)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT

GO_MODS = sorted(p for p in ROOT.glob("**/go.mod") if not {"venv", "build", "node_modules"} & set(p.relative_to(ROOT).parts))

RELEASED_FILES = {
    "github.com/prometheus-operator/prometheus-operator": "its CRD manifests (example/prometheus-operator-crd), installed by the e2e tier",
    "github.com/pulumi/pulumi-kubernetes/provider/v4": "built from a writable copy of the module (tools/e2e/build.py), not by import",
    "github.com/pulumi/pulumi-kubernetes/sdk/v4": "the release that replaces the provider's sibling-folder replace, built into the provider",
}
"""Required modules no Go file here imports, and what of each the tiers use. Nothing else may be required unimported."""

IMPORT = re.compile(r'^\s*(?:import\s+)?(?:_\s+|\w+\s+)?"([^"]+)"', re.MULTILINE)


def _requires(go_mod: Path) -> list[str]:
    parsed = json.loads(subprocess.run(["go", "mod", "edit", "-json"], cwd=go_mod.parent, capture_output=True, text=True, check=True).stdout)
    return [r["Path"] for r in parsed.get("Require") or [] if not r.get("Indirect")]


def _imports(module_dir: Path) -> set[str]:
    found: set[str] = set()
    for source in module_dir.rglob("*.go"):
        text = source.read_text()
        blocks = re.findall(r"^import\s*\((.*?)^\)", text, re.MULTILINE | re.DOTALL)
        singles = re.findall(r'^import\s+(?:_\s+|\w+\s+)?"([^"]+)"', text, re.MULTILINE)
        found.update(singles, *(IMPORT.findall(b) for b in blocks))
    return found


def test_the_project_has_go_modules_to_check():
    assert {str(p.relative_to(ROOT)) for p in GO_MODS} >= {"app/go.mod", "tools/charts/go/go.mod", "tools/e2e/go/kube/go.mod", "tools/e2e/go/sources/go.mod"}


@pytest.mark.parametrize("go_mod", GO_MODS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_required_module_is_built_or_its_released_files_used(go_mod):
    imports = _imports(go_mod.parent)
    unexplained = [m for m in _requires(go_mod) if m not in RELEASED_FILES and not any(i == m or i.startswith(m + "/") for i in imports)]
    assert unexplained == [], f"{go_mod.relative_to(ROOT)} requires {unexplained}, which no Go file here imports and no tier uses the released files of"


def test_no_go_mod_requires_a_chart_repository():
    charts = [(str(p.relative_to(ROOT)), m) for p in GO_MODS for m in _requires(p) if "helm-charts" in m or m.endswith("/charts")]
    assert charts == []
    assert not (ROOT / "tools" / "charts" / "sources").exists()
