"""The genuine packages of the charts the monitoring stack installs, for every tier that renders or installs them.

    python -m tools.charts.packages     # checks the folder (pulling the charts first where there is none), prints it

They come from `../shared/charts` beside the project, or the folder `$GOSVC_CHART_PACKAGES` names: the
releases packaged from their upstream commits, each subchart at the version its parent pins, with an
`index.yaml`, so the folder is served as a chart repository just as it is. A clone with no such folder
pulls the pinned versions from the upstream repository with helm, as users' own installs do, into a
cache folder it indexes; where that repository is unreachable too, the error says what the tier needs.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import yaml

from components.observability import charts
from tools.e2e import build as e2e_build
from tools.e2e.build import BuildError

PINNED = (charts.KUBE_PROMETHEUS_STACK, charts.PROMETHEUS_ADAPTER)
PACKAGES_ENV = "GOSVC_CHART_PACKAGES"
SHARED = Path(__file__).resolve().parents[3] / "shared" / "charts"
"""The folder beside the project root where this workplace and its CI keep the genuine packages."""
INDEX = "index.yaml"


class ChartsUnavailable(BuildError):
    """The pinned chart packages are not where a tier needs them; the message says what is missing and what to do."""


@dataclass(frozen=True)
class Package:
    """One pinned chart's package, as found and checked."""

    name: str
    version: str
    path: Path
    sha256: str
    subcharts: dict[str, str]
    """Each chart bundled in the package (name -> version), as its own Chart.yaml says."""

    def record(self) -> dict[str, Any]:
        return {"chart": self.name, "version": self.version, "package": self.path.name, "sha256": self.sha256, "subcharts": self.subcharts}


def file_name(chart: charts.Chart) -> str:
    return f"{chart.name}-{chart.version}.tgz"


def _sha256(path: Path) -> str:
    with path.open("rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


def _chart_yaml(tar: tarfile.TarFile, member: tarfile.TarInfo) -> dict[str, Any]:
    return yaml.safe_load(tar.extractfile(member).read()) or {}  # type: ignore[union-attr]


def _bundled(path: Path, name: str) -> tuple[dict[str, Any], dict[str, str]]:
    """The package's own Chart.yaml and each directly bundled subchart's version (an unpacked folder or a nested
    package under charts/), read from their Chart.yaml files."""
    own: dict[str, Any] | None = None
    subcharts: dict[str, str] = {}
    with tarfile.open(path) as tar:
        for member in tar.getmembers():
            parts = member.name.split("/")
            if parts[0] != name:
                continue
            if parts[1:] == ["Chart.yaml"]:
                own = _chart_yaml(tar, member)
            elif len(parts) == 4 and parts[1] == "charts" and parts[3] == "Chart.yaml":
                subcharts[parts[2]] = str(_chart_yaml(tar, member).get("version"))
            elif len(parts) == 3 and parts[1] == "charts" and parts[2].endswith(".tgz"):
                with tarfile.open(fileobj=tar.extractfile(member)) as nested:
                    meta = next((_chart_yaml(nested, m) for m in nested.getmembers() if m.name.count("/") == 1 and m.name.endswith("/Chart.yaml")), {})
                subcharts[str(meta.get("name"))] = str(meta.get("version"))
    if own is None:
        raise ChartsUnavailable(f"{path} is not a package of chart {name}: it holds no {name}/Chart.yaml")
    return own, dict(sorted(subcharts.items()))


def satisfies(constraint: str, version: str) -> bool:
    """Whether `version` meets a dependency's version as these charts write it: exact, or `*` for the rest."""
    constraint = constraint.strip().lstrip("v=")
    if constraint.endswith("*"):
        return version.startswith(constraint[:-1])
    return version == constraint


def _check_subcharts(path: Path, meta: dict[str, Any], subcharts: dict[str, str]) -> None:
    """Every dependency the chart declares is bundled at a version it accepts: the package is the release, not a
    substitute assembled from other versions."""
    for dep in meta.get("dependencies") or []:
        name, wanted = dep["name"], str(dep.get("version", ""))
        if name not in subcharts:
            raise ChartsUnavailable(f"{path} does not bundle its dependency {name} {wanted}")
        if not satisfies(wanted, subcharts[name]):
            raise ChartsUnavailable(f"{path} bundles {name} {subcharts[name]}, but its Chart.yaml asks for {wanted}")


def read(directory: Path) -> list[Package]:
    """The pinned packages in `directory`, each checked against the folder's index.yaml, so that the folder serves as a
    chart repository the same bytes the offline tier renders."""
    missing = [file_name(c) for c in PINNED if not (directory / file_name(c)).is_file()]
    if missing:
        raise ChartsUnavailable(f"{directory} holds no {', '.join(missing)}")
    if not (directory / INDEX).is_file():
        raise ChartsUnavailable(f"{directory} has no {INDEX}, so it cannot be served as a chart repository (`helm repo index {directory}` writes one)")
    entries = (yaml.safe_load((directory / INDEX).read_text()) or {}).get("entries") or {}
    found = []
    for chart in PINNED:
        path = directory / file_name(chart)
        meta, subcharts = _bundled(path, chart.name)
        version = str(meta.get("version"))
        if version != chart.version:
            raise ChartsUnavailable(f"{path} holds {chart.name} {version}, not the pinned {chart.version}")
        _check_subcharts(path, meta, subcharts)
        entry = next((e for e in entries.get(chart.name, []) if str(e.get("version")) == chart.version), None)
        if entry is None:
            raise ChartsUnavailable(f"{directory / INDEX} lists no {chart.name} {chart.version}")
        digest = _sha256(path)
        if entry.get("digest") != digest:
            raise ChartsUnavailable(f"{directory / INDEX} gives {chart.name} {chart.version} the digest {entry.get('digest')}, but {path.name} has {digest}")
        if not any(str(url).rsplit("/", 1)[-1] == path.name for url in entry.get("urls") or []):
            raise ChartsUnavailable(f"{directory / INDEX} points {chart.name} {chart.version} at {entry.get('urls')}, not at {path.name}")
        found.append(Package(chart.name, chart.version, path, digest, subcharts))
    return found


def _pull(helm: Path, dest: Path) -> None:
    """The pinned charts from the upstream repository, as `helm install` would fetch them, into an indexed folder."""
    partial = dest.with_name(dest.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    for cmd in [
        *([str(helm), "pull", c.name, "--version", c.version, "--repo", charts.DEFAULT_REPOSITORY, "--destination", str(partial)] for c in PINNED),
        [str(helm), "repo", "index", str(partial)],
    ]:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env={**os.environ, "HELM_CACHE_HOME": str(partial / ".cache")})
        if proc.returncode != 0:
            shutil.rmtree(partial, ignore_errors=True)
            raise ChartsUnavailable(f"`{' '.join(cmd)}` exited {proc.returncode}: {proc.stderr.strip()[-1000:]}")
    shutil.rmtree(partial / ".cache", ignore_errors=True)
    shutil.rmtree(dest, ignore_errors=True)
    partial.rename(dest)


def locate(helm: Callable[[], Path] | None = None, log: Callable[[str], None] = e2e_build.progress) -> Path:
    """The folder of the pinned chart packages: `$GOSVC_CHART_PACKAGES`, else `../shared/charts`, else a copy pulled from
    the upstream repository with `helm()` (the helm built here by default). ChartsUnavailable when none can be had."""
    configured = os.environ.get(PACKAGES_ENV)
    if configured:
        read(Path(configured))
        return Path(configured)
    if SHARED.is_dir():
        read(SHARED)
        return SHARED
    from tools.charts import build as chart_tools

    dest = chart_tools.cache_root() / "upstream" / "-".join(f"{c.name}-{c.version}" for c in PINNED)
    if not (dest / INDEX).is_file():
        log(f"charts: {SHARED} does not exist; pulling {', '.join(f'{c.name} {c.version}' for c in PINNED)} from {charts.DEFAULT_REPOSITORY}, as users' installs do")
        try:
            _pull((helm or chart_tools.build)(), dest)
        except ChartsUnavailable as err:
            raise ChartsUnavailable(
                f"the monitoring chart tier needs the packages {', '.join(file_name(c) for c in PINNED)}: put them (with an {INDEX}) in "
                f"{SHARED} or in a folder named by {PACKAGES_ENV}; pulling them from {charts.DEFAULT_REPOSITORY} failed too: {err}"
            ) from None
    read(dest)
    return dest


if __name__ == "__main__":
    e2e_build.main("charts", locate)
