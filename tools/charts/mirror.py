"""Packages the monitoring stack's pinned charts from their real sources, so they render with no chart repository.

The Go module proxy serves each chart repository (github.com/prometheus-community/helm-charts,
github.com/grafana-community/helm-charts) at the commit `sources/go.mod` pins. A pinned chart is
taken from its repository's `charts/<name>`, which must hold exactly the pinned version; each
dependency its Chart.yaml names with a repository is copied into its `charts/` from that
repository's snapshot, and `helm package` writes `<chart>-<version>.tgz`, the form a chart
repository serves and `GOSVC_CHART_DIRS` reads. A dependency whose snapshot holds another version
than the parent asks for is packaged anyway and listed in `mirror.json` under `substitutions`, so
whoever reads a finding knows which objects came from a different release.
"""

from __future__ import annotations

import json
import shutil
import stat
import subprocess
from pathlib import Path
from typing import Any, Callable

import yaml

from components.observability import charts
from tools.e2e import build as e2e_build
from tools.e2e.build import BuildError

SOURCES = Path(__file__).resolve().parent / "sources"
MANIFEST = "mirror.json"
REPOSITORIES = {
    charts.DEFAULT_REPOSITORY: "github.com/prometheus-community/helm-charts",
    "https://grafana-community.github.io/helm-charts": "github.com/grafana-community/helm-charts",
}
PINNED = (charts.KUBE_PROMETHEUS_STACK, charts.PROMETHEUS_ADAPTER)


def pinned_sources() -> dict[str, str]:
    """Each chart repository's module and the pseudo-version (commit) `sources/go.mod` pins."""
    return {r["Path"]: r["Version"] for r in e2e_build.go_mod_at(SOURCES).get("Require") or []}


def download(module: str) -> Path:
    """The module cache's copy of one chart repository at its pinned commit."""
    info = json.loads(e2e_build.run_go(f"download {module}", ["go", "mod", "download", "-json", module], SOURCES))
    if info.get("Error"):
        raise BuildError(f"download {module}: {info['Error']}")
    return Path(info["Dir"])


def satisfies(constraint: str, version: str) -> bool:
    """Whether `version` meets a dependency's version as the charts here write it: exact, or with `*` for the rest."""
    constraint = constraint.strip().lstrip("v=")
    if constraint.endswith("*"):
        return version.startswith(constraint[:-1])
    return version == constraint


def _chart_meta(chart_dir: Path) -> dict[str, Any]:
    try:
        return yaml.safe_load((chart_dir / "Chart.yaml").read_text()) or {}
    except FileNotFoundError:
        raise BuildError(f"{chart_dir} holds no Chart.yaml") from None


def _copy(src: Path, dest: Path) -> None:
    # The module cache is read-only; the copy must be writable to receive its subcharts.
    shutil.copytree(src, dest)
    for path in [dest, *dest.rglob("*")]:
        path.chmod(path.stat().st_mode | stat.S_IWUSR)


def assemble(name: str, version: str, repository: str, work: Path, source: Callable[[str], tuple[str, Path]]) -> dict[str, Any]:
    """Chart `name` at `version` unpacked into `work/<name>` with its dependencies in `charts/`, and what went in.

    `source(repository)` gives a repository's `module@version` and its files."""
    if repository not in REPOSITORIES:
        raise BuildError(f"chart {name}: no source is known for repository {repository}; known: {', '.join(sorted(REPOSITORIES))}")
    origin, root = source(repository)
    found = str(_chart_meta(root / "charts" / name).get("version"))
    if found != version:
        raise BuildError(f"chart {name}: {origin} holds version {found}, not the pinned {version}; pin a commit that has it in {SOURCES / 'go.mod'}")
    dest = work / name
    _copy(root / "charts" / name, dest)
    dependencies = []
    for dep in _chart_meta(dest).get("dependencies") or []:
        dep_name, wanted, dep_repo = dep["name"], str(dep.get("version", "")), dep.get("repository")
        if not dep_repo:
            if not (dest / "charts" / dep_name / "Chart.yaml").is_file():
                raise BuildError(f"chart {name}: its bundled dependency {dep_name} is missing from charts/{dep_name}")
            dependencies.append({"name": dep_name, "wanted": wanted, "used": str(_chart_meta(dest / "charts" / dep_name).get("version")), "source": "bundled"})
            continue
        if dep_repo not in REPOSITORIES:
            raise BuildError(f"chart {name}: dependency {dep_name} comes from {dep_repo}, for which no source is known")
        dep_origin, dep_root = source(dep_repo)
        _copy(dep_root / "charts" / dep_name, dest / "charts" / dep_name)
        used = str(_chart_meta(dest / "charts" / dep_name).get("version"))
        dependencies.append({"name": dep_name, "wanted": wanted, "used": used, "source": dep_origin})
    return {"chart": name, "version": version, "source": origin, "dependencies": dependencies}


def build_mirror(out: Path, helm: Path) -> dict[str, Any]:
    """Packages every pinned chart into `out` and writes `out/mirror.json`; returns that manifest."""
    pins = pinned_sources()
    cache: dict[str, tuple[str, Path]] = {}

    def source(repository: str) -> tuple[str, Path]:
        if repository not in cache:
            module = REPOSITORIES[repository]
            if module not in pins:
                raise BuildError(f"{SOURCES / 'go.mod'} pins no commit of {module}")
            cache[repository] = (f"{module}@{pins[module]}", download(module))
        return cache[repository]

    out.mkdir(parents=True, exist_ok=True)
    work = out / "src"
    entries = []
    for chart in PINNED:
        entry = assemble(chart.name, chart.version, charts.DEFAULT_REPOSITORY, work, source)
        proc = subprocess.run([str(helm), "package", str(work / chart.name), "--destination", str(out)], capture_output=True, text=True)
        if proc.returncode != 0:
            raise BuildError(f"helm package {chart.name}: {proc.stderr.strip()[-2000:]}")
        entry["package"] = f"{chart.name}-{chart.version}.tgz"
        entries.append(entry)
    shutil.rmtree(work)
    manifest = {
        "charts": entries,
        "substitutions": [
            {"chart": e["chart"], **d} for e in entries for d in e["dependencies"] if d["source"] != "bundled" and not satisfies(d["wanted"], d["used"])
        ],
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest
