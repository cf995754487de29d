"""The chart tooling's own logic, offline: how the genuine chart packages are found and checked (tools/charts/packages.py),
and how Checkov's findings are held to the documented exceptions.

The packages here are made by the test from the fixture chart, so each defect a real folder could have is tried.
"""

from __future__ import annotations

import hashlib
import io
import stat
import sys
import tarfile
from pathlib import Path

import pytest
import yaml

from components.observability import charts
from tools.charts import build as chart_tools
from tools.charts import checkov, packages

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "charts" / "gosvc-fixture"
KPS, ADAPTER = charts.KUBE_PROMETHEUS_STACK, charts.PROMETHEUS_ADAPTER


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def _package(directory: Path, name: str, version: str, dependencies: list[dict] | None = None, bundled: dict[str, str] | None = None, nested: bool = False) -> Path:
    """`<name>-<version>.tgz` as `helm package` lays it out: the fixture chart renamed, each of `bundled` (name ->
    version) under charts/, unpacked or (`nested`) as a package of its own."""
    meta = {**yaml.safe_load((FIXTURE / "Chart.yaml").read_text()), "name": name, "version": version}
    if dependencies:
        meta["dependencies"] = dependencies
    path = directory / f"{name}-{version}.tgz"
    with tarfile.open(path, "w:gz") as tar:
        _add(tar, f"{name}/Chart.yaml", yaml.safe_dump(meta).encode())
        _add(tar, f"{name}/templates/deployment.yaml", (FIXTURE / "templates" / "deployment.yaml").read_bytes())
        for sub, sub_version in (bundled or {}).items():
            sub_meta = yaml.safe_dump({"apiVersion": "v2", "name": sub, "version": sub_version}).encode()
            if nested:
                inner = io.BytesIO()
                with tarfile.open(fileobj=inner, mode="w:gz") as sub_tar:
                    _add(sub_tar, f"{sub}/Chart.yaml", sub_meta)
                _add(tar, f"{name}/charts/{sub}-{sub_version}.tgz", inner.getvalue())
            else:
                _add(tar, f"{name}/charts/{sub}/Chart.yaml", sub_meta)
    return path


def _index(directory: Path, digests: dict[str, str] | None = None) -> None:
    """index.yaml as `helm repo index` writes it, with relative URLs; `digests` overrides a chart's digest."""
    entries = {}
    for path in sorted(directory.glob("*.tgz")):
        name, version = path.name[: -len(".tgz")].rsplit("-", 1)
        digest = (digests or {}).get(name) or hashlib.sha256(path.read_bytes()).hexdigest()
        entries[name] = [{"name": name, "version": version, "digest": digest, "urls": [path.name]}]
    (directory / packages.INDEX).write_text(yaml.safe_dump({"apiVersion": "v1", "entries": entries}))


def _folder(tmp_path: Path, nested: bool = False, grafana: str = "12.11.1", digests: dict[str, str] | None = None) -> Path:
    directory = tmp_path / "charts"
    directory.mkdir()
    deps = [{"name": "grafana", "version": "12.11.1", "repository": "https://charts.example"}, {"name": "windows", "version": "0.12.*", "repository": "https://charts.example"}]
    _package(directory, KPS.name, KPS.version, deps, {"grafana": grafana, "windows": "0.12.8"}, nested)
    _package(directory, ADAPTER.name, ADAPTER.version)
    _index(directory, digests)
    return directory


@pytest.mark.parametrize("wanted,used,ok", [("1.2.3", "1.2.3", True), ("0.12.*", "0.12.8", True), ("v1.2.3", "1.2.3", True), ("12.11.2", "13.0.1", False), ("0.12.*", "0.13.0", False)])
def test_a_dependency_version_is_satisfied_as_the_charts_write_it(wanted, used, ok):
    assert packages.satisfies(wanted, used) is ok


@pytest.mark.parametrize("nested", [False, True])
def test_the_pinned_packages_are_read_with_their_digest_and_every_bundled_subchart(tmp_path, nested):
    directory = _folder(tmp_path, nested=nested)
    found = packages.read(directory)
    assert [(p.name, p.version) for p in found] == [(KPS.name, KPS.version), (ADAPTER.name, ADAPTER.version)]
    assert found[0].sha256 == hashlib.sha256((directory / packages.file_name(KPS)).read_bytes()).hexdigest()
    assert found[0].subcharts == {"grafana": "12.11.1", "windows": "0.12.8"} and found[1].subcharts == {}
    assert found[0].record()["package"] == f"{KPS.name}-{KPS.version}.tgz"


def test_a_package_with_a_substituted_subchart_is_refused(tmp_path):
    with pytest.raises(packages.ChartsUnavailable, match=r"bundles grafana 13\.0\.1, but its Chart.yaml asks for 12\.11\.1"):
        packages.read(_folder(tmp_path, grafana="13.0.1"))


def test_an_index_whose_digest_is_not_the_files_is_refused(tmp_path):
    with pytest.raises(packages.ChartsUnavailable, match=f"gives {ADAPTER.name} {ADAPTER.version} the digest 0+, but"):
        packages.read(_folder(tmp_path, digests={ADAPTER.name: "0" * 64}))


def test_a_folder_missing_a_package_or_its_index_is_refused_by_name(tmp_path):
    directory = _folder(tmp_path)
    (directory / packages.INDEX).unlink()
    with pytest.raises(packages.ChartsUnavailable, match="has no index.yaml"):
        packages.read(directory)
    (directory / packages.file_name(ADAPTER)).unlink()
    with pytest.raises(packages.ChartsUnavailable, match=f"holds no {ADAPTER.name}-{ADAPTER.version}.tgz"):
        packages.read(directory)


def test_a_package_of_another_version_than_its_name_is_refused(tmp_path):
    directory = _folder(tmp_path)
    _package(tmp_path, ADAPTER.name, "5.2.0").replace(directory / packages.file_name(ADAPTER))
    _index(directory)
    with pytest.raises(packages.ChartsUnavailable, match=f"holds {ADAPTER.name} 5.2.0, not the pinned {ADAPTER.version}"):
        packages.read(directory)


def _fake_helm(tmp_path: Path, source: Path | None) -> Path:
    """A helm whose `pull` copies from `source` (None: the repository is unreachable) and whose `repo index` is real
    enough: every package with its sha256 and a relative URL."""
    script = tmp_path / "helm"
    script.write_text(f"""#!{sys.executable}
import hashlib, shutil, sys
from pathlib import Path
import yaml
args = sys.argv[1:]
if args[0] == "pull":
    if {str(source)!r} == "None":
        sys.exit("Error: looks like the repository is not reachable")
    dest = Path(args[args.index("--destination") + 1])
    shutil.copy(Path({str(source)!r}) / f"{{args[1]}}-{{args[args.index('--version') + 1]}}.tgz", dest)
elif args[:2] == ["repo", "index"]:
    d = Path(args[2])
    entries = {{}}
    for p in sorted(d.glob("*.tgz")):
        name, version = p.name[:-4].rsplit("-", 1)
        entries[name] = [dict(name=name, version=version, digest=hashlib.sha256(p.read_bytes()).hexdigest(), urls=[p.name])]
    (d / "index.yaml").write_text(yaml.safe_dump(dict(apiVersion="v1", entries=entries)))
""")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def test_without_the_shared_folder_the_pinned_charts_are_pulled_from_upstream_and_indexed(tmp_path, monkeypatch):
    upstream = _folder(tmp_path)
    monkeypatch.delenv(packages.PACKAGES_ENV, raising=False)
    monkeypatch.setattr(packages, "SHARED", tmp_path / "absent")
    monkeypatch.setenv(chart_tools.CACHE_ENV, str(tmp_path / "cache"))
    said: list[str] = []
    found = packages.locate(lambda: _fake_helm(tmp_path, upstream), said.append)
    assert found.parent == tmp_path / "cache" / "upstream"
    assert [p.sha256 for p in packages.read(found)] == [p.sha256 for p in packages.read(upstream)]
    assert said and charts.DEFAULT_REPOSITORY in said[0] and str(tmp_path / "absent") in said[0]


def test_without_the_folder_or_the_upstream_repository_the_error_says_what_the_tier_needs(tmp_path, monkeypatch):
    monkeypatch.delenv(packages.PACKAGES_ENV, raising=False)
    monkeypatch.setattr(packages, "SHARED", tmp_path / "absent")
    monkeypatch.setenv(chart_tools.CACHE_ENV, str(tmp_path / "cache"))
    with pytest.raises(packages.ChartsUnavailable) as caught:
        packages.locate(lambda: _fake_helm(tmp_path, None), lambda _line: None)
    message = str(caught.value)
    for part in (packages.file_name(KPS), str(tmp_path / "absent"), packages.PACKAGES_ENV, charts.DEFAULT_REPOSITORY, "not reachable"):
        assert part in message
    assert list((tmp_path / "cache" / "upstream").iterdir()) == [], "nothing half-pulled is kept"


def test_a_configured_folder_is_used_as_it_is_and_checked(tmp_path, monkeypatch):
    directory = _folder(tmp_path)
    monkeypatch.setenv(packages.PACKAGES_ENV, str(directory))
    assert packages.locate(lambda: pytest.fail("nothing is pulled")) == directory
    (directory / packages.INDEX).unlink()
    with pytest.raises(packages.ChartsUnavailable, match="has no index.yaml"):
        packages.locate(lambda: pytest.fail("nothing is pulled"))


def test_the_documented_exceptions_all_give_reasons_and_some_hold_for_some_stacks_only():
    prod, dev = checkov.documented("prod"), checkov.documented("dev")
    assert prod and all(reason.strip() for reason in prod.values())
    assert ("CKV_K8S_43", "Deployment.monitoring.kube-prometheus-stack-grafana") in set(dev) - set(prod), "digests are pinned in prod only"


def test_exceptions_without_a_reason_are_refused(tmp_path):
    path = tmp_path / "x.yaml"
    path.write_text(yaml.safe_dump([{"check": "CKV_K8S_11", "resources": ["Deployment.a.b"], "reason": " "}]))
    with pytest.raises(ValueError, match="gives no reason"):
        checkov.documented("prod", path)


def test_only_chart_findings_are_judged_and_stale_exceptions_are_named():
    findings = [
        checkov.Finding("CKV_K8S_11", "Deployment.a.b", "helm/r/deployment-a-b.yaml"),
        checkov.Finding("CKV_K8S_38", "Deployment.a.b", "helm/r/deployment-a-b.yaml"),
        checkov.Finding("CKV_K8S_23", "DaemonSet.c.d", "k8s/daemonset-c-d.yaml"),
    ]
    allowed = {("CKV_K8S_11", "Deployment.a.b"): "why", ("CKV_K8S_17", "DaemonSet.x.y"): "why"}
    unlisted, stale = checkov.judge(findings, allowed)
    assert unlisted == [findings[1]] and stale == [("CKV_K8S_17", "DaemonSet.x.y")]
