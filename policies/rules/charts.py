"""Helm releases opened up: the objects a release's chart renders, so the pack's resource rules check them too.

To the engine a `kubernetes:helm.sh/v3:Release` is one resource; the Deployments, DaemonSets and
Jobs its chart creates never reach a policy. So the pack renders the release itself with
`helm template` (the release's chart, version, namespace and values, hooks and test pods
included) and every resource rule checks each rendered object as if it were declared, with the
same exemption annotations (set through the chart's values). Rendering once per release and
process is enough: every rule of one preview sees the same objects.

Where the chart comes from: a local copy first, from the directories in `$GOSVC_CHART_DIRS`
(`<dir>/<chart>-<version>.tgz`, or an unpacked `<dir>/<chart>/` whose Chart.yaml has that
version), else the release's own repository or OCI reference. `$GOSVC_HELM` names the helm
binary (default: `helm` on PATH). A release that cannot be rendered is reported by
`helm-chart-rendered`, so unchecked chart objects never pass silently.

`helm.v4.Chart` would make each object a Pulumi resource instead, but it changes what the stack
deploys (and drops Helm's release history and rollback) only to make the objects visible; this
keeps the deployment as it is and makes the check see what Helm would install.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from . import kube
from .props import UNKNOWN

RELEASE_TYPE = "kubernetes:helm.sh/v3:Release"
HELM_ENV = "GOSVC_HELM"
CHART_DIRS_ENV = "GOSVC_CHART_DIRS"
RENDER_TIMEOUT_SECONDS = 300
KUBE_VERSION = "1.33.0"
"""The Kubernetes version `helm template` renders for: the oldest this project supports. Without it helm assumes the
version its build was stamped with, 1.20 for a plain `go install`, which kube-prometheus-stack (>=1.25) refuses; so
every helm renders alike."""
API_VERSIONS = ("apiregistration.k8s.io/v1",)
"""API versions `helm template` is told the cluster serves beyond client-go's own groups, which are all it knows
without a cluster: the aggregation API has been served since Kubernetes 1.10, and charts pick it by capability
(prometheus-adapter's APIService would otherwise render as the long-removed v1beta1)."""


@dataclass(frozen=True)
class Rendering:
    """What a release's chart rendered to, or why it could not be rendered."""

    release: str
    objects: tuple[dict[str, Any], ...] = field(default=())
    error: str | None = None
    source: str = ""


def is_release(resource_type: str) -> bool:
    return resource_type == RELEASE_TYPE


def chart_dirs() -> list[Path]:
    return [Path(p) for p in os.environ.get(CHART_DIRS_ENV, "").split(os.pathsep) if p]


def helm_binary() -> str | None:
    configured = os.environ.get(HELM_ENV)
    if configured:
        return configured if Path(configured).is_file() else None
    return shutil.which("helm")


def _chart_version(chart_dir: Path) -> str | None:
    try:
        return str(yaml.safe_load((chart_dir / "Chart.yaml").read_text()).get("version"))
    except (OSError, yaml.YAMLError, AttributeError):
        return None


def local_chart(name: str, version: str | None, dirs: list[Path]) -> Path | None:
    """A local copy of chart `name` at `version` in one of `dirs`: a packaged .tgz or an unpacked directory."""
    for base in dirs:
        packaged = base / f"{name}-{version}.tgz"
        if version and packaged.is_file():
            return packaged
        for unpacked in (base / f"{name}-{version}", base / name):
            if (unpacked / "Chart.yaml").is_file() and (version is None or _chart_version(unpacked) == str(version)):
                return unpacked
    return None


def chart_path(chart: str) -> Path | None:
    """The chart itself when a release names it by path, as pulumi-kubernetes allows: a directory with Chart.yaml or a .tgz."""
    if chart.startswith("oci://"):
        return None
    path = Path(chart)
    return path if (path / "Chart.yaml").is_file() or (path.suffix == ".tgz" and path.is_file()) else None


def _contains_unknown(value: Any) -> bool:
    if value is UNKNOWN:
        return True
    if isinstance(value, dict):
        return any(_contains_unknown(v) for v in value.values())
    if isinstance(value, list):
        return any(_contains_unknown(v) for v in value)
    return False


def render(props: dict[str, Any]) -> Rendering:
    """The release's chart rendered with its values, each object in the release's namespace unless it names one."""
    release = str(props.get("name") or "release")
    if _contains_unknown(props):
        return Rendering(release, error="its values are not known until the update (they depend on other resources), so the chart cannot be rendered in this preview")
    key = json.dumps(props, sort_keys=True)
    return _render(key, os.environ.get(HELM_ENV, ""), os.environ.get(CHART_DIRS_ENV, ""))


@lru_cache(maxsize=32)
def _render(key: str, _helm_env: str, _dirs_env: str) -> Rendering:
    props = json.loads(key)
    release = str(props.get("name") or "release")
    chart = props.get("chart")
    if not isinstance(chart, str) or not chart:
        return Rendering(release, error="it names no chart")
    version = props.get("version")
    namespace = props.get("namespace") if isinstance(props.get("namespace"), str) else "default"
    helm = helm_binary()
    if helm is None:
        return Rendering(release, error=f"no helm binary: set {HELM_ENV} or put helm on PATH")
    local = chart_path(chart) or local_chart(chart.rsplit("/", 1)[-1], version, chart_dirs())
    repository = (props.get("repositoryOpts") or {}).get("repo")
    if local is not None:
        ref, source = [str(local)], str(local)
    elif chart.startswith("oci://") or repository:
        ref = [chart, *(["--repo", repository] if repository else []), *(["--version", str(version)] if version else [])]
        source = f"{repository or chart} ({version})"
    else:
        ref, source = [chart], chart
    with tempfile.TemporaryDirectory(prefix="gosvc-helm-") as tmp:
        values = Path(tmp) / "values.json"
        values.write_text(json.dumps(props.get("values") or {}))
        versions = [arg for version in API_VERSIONS for arg in ("--api-versions", version)]
        cmd = [helm, "template", release, *ref, "--namespace", namespace, "--values", str(values), "--kube-version", KUBE_VERSION, *versions]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=RENDER_TIMEOUT_SECONDS, env={**os.environ, "HELM_CACHE_HOME": str(Path(tmp) / "cache")})
        except (OSError, subprocess.TimeoutExpired) as err:
            return Rendering(release, error=f"`helm template` could not run: {err}", source=source)
    if proc.returncode != 0:
        return Rendering(release, error=f"`helm template` failed for {source}: {proc.stderr.strip()[-600:]}", source=source)
    objects = []
    for doc in yaml.safe_load_all(proc.stdout):
        if not isinstance(doc, dict) or not doc.get("kind"):
            continue
        meta = doc.setdefault("metadata", {})
        if doc["kind"] not in kube.CLUSTER_SCOPED_KINDS and not meta.get("namespace"):
            meta["namespace"] = namespace  # what `helm install --namespace` does with objects that name none
        objects.append(doc)
    return Rendering(release, tuple(objects), None, source)


def resource_type(obj: dict[str, Any]) -> str:
    """The pulumi-kubernetes type token an object of this apiVersion and kind would have."""
    api_version = str(obj.get("apiVersion", "v1"))
    group_version = api_version if "/" in api_version else f"core/{api_version}"
    return f"kubernetes:{group_version}:{obj['kind']}"
