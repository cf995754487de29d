"""The autoscaling loop's images, offline (tools/loop): versions derived from the charts' tags and held to each
wrapper go.mod, the generated Dockerfiles, where each image is pushed, and when the binaries are rebuilt."""

from __future__ import annotations

import dataclasses
import json
import shutil

import pytest

from components import defaults
from components.observability import images as chart_images
from tools.loop import build, images

PROGRAMS = {program.name: program for program in build.programs()}


def _instructions(text: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        keyword, _, rest = line.partition(" ")
        found.setdefault(keyword, []).append(rest)
    return found


def test_every_chart_image_of_the_loop_is_built_and_metrics_server_besides():
    references = {p.reference for p in PROGRAMS.values()}
    from_charts = {image.reference for image in chart_images.IMAGES if "grafana" not in image.repository and "k8s-sidecar" not in image.repository}
    assert references == from_charts | {build.METRICS_SERVER}
    assert len(references) == len(PROGRAMS), "one image per program"


@pytest.mark.parametrize("name", [n for n, p in PROGRAMS.items() if p.module], ids=str)
def test_each_wrapper_go_mod_requires_the_version_the_chart_tag_names(name):
    program = PROGRAMS[name]
    assert build.required_version(program) == program.version, f"{program.wrapper_dir}/go.mod is not at {program.reference}"


def test_a_chart_bump_without_a_go_mod_bump_is_caught(monkeypatch):
    bumped = tuple(
        dataclasses.replace(image, tag="v3.15.0-distroless") if image.repository == "quay.io/prometheus/prometheus" else image for image in chart_images.IMAGES
    )
    monkeypatch.setattr(build, "IMAGES", bumped)
    prometheus = next(p for p in build.programs() if p.name == "prometheus")
    assert prometheus.version == "v0.315.0"
    assert build.required_version(prometheus) != prometheus.version


def test_image_tags_map_to_go_module_versions():
    assert build.module_version("quay.io/prometheus/prometheus", "v3.14.0-distroless") == "v0.314.0"
    assert build.module_version("quay.io/prometheus/prometheus", "v3.5.2") == "v0.305.2"
    assert build.module_version("quay.io/prometheus/node-exporter", "v1.12.1-distroless") == "v1.12.1"
    assert build.module_version("quay.io/prometheus/alertmanager", "v0.34.0") == "v0.34.0"
    with pytest.raises(ValueError):
        build.module_version("quay.io/prometheus/prometheus", "latest")


def test_the_version_ldflags_carry_the_release_each_program_reports():
    assert PROGRAMS["prometheus"].ldflags == ("-X github.com/prometheus/common/version.Version=3.14.0",)
    assert PROGRAMS["node_exporter"].ldflags == ("-X github.com/prometheus/common/version.Version=1.12.1",)
    assert PROGRAMS["kube-webhook-certgen"].ldflags == ("-X main.version=1.8.7",)


@pytest.mark.parametrize(
    ("name", "entrypoint", "user", "workdir"),
    [
        ("operator", ["/bin/operator"], "65534", None),
        # The operator sets the reloader container's command to this path.
        ("prometheus-config-reloader", ["/bin/prometheus-config-reloader"], "nobody", None),
        ("prometheus", ["/bin/prometheus"], None, "/prometheus"),
        ("alertmanager", ["/bin/alertmanager"], "nobody", "/alertmanager"),
        ("kube-state-metrics", ["/kube-state-metrics", "--port=8080", "--telemetry-port=8081"], "nobody", None),
        ("node_exporter", ["/bin/node_exporter"], None, None),
        # The chart's args begin with "/adapter" too, which the adapter ignores, as it does upstream.
        ("adapter", ["/adapter"], "65534", None),
        ("metrics-server", ["/metrics-server"], "65534", None),
        ("kube-webhook-certgen", ["/kube-webhook-certgen"], None, None),
    ],
)
def test_each_dockerfile_runs_the_binary_as_the_upstream_image_does(name, entrypoint, user, workdir):
    program = PROGRAMS[name]
    found = _instructions(images.dockerfile(program, "abc"))
    assert found["FROM"] == [defaults.DISTROLESS_STATIC], "the stand-in distroless base"
    assert f"bin {program.binary}" in found["COPY"]
    assert [json.loads(e) for e in found["ENTRYPOINT"]] == [entrypoint]
    assert entrypoint[0] == program.binary
    assert found.get("USER") == ([user] if user else None), "no USER keeps the base's nonroot 65532"
    assert found.get("WORKDIR") == ([workdir] if workdir else None)
    assert found["LABEL"] == [f"{images.SOURCE_LABEL}=abc"]


def test_writable_directories_belong_to_the_images_user_and_upstream_files_are_copied():
    alertmanager = _instructions(images.dockerfile(PROGRAMS["alertmanager"]))
    assert "--chown=65534:65534 dirs/alertmanager/ /alertmanager/" in alertmanager["COPY"]
    assert "files/etc/alertmanager/alertmanager.yml /etc/alertmanager/alertmanager.yml" in alertmanager["COPY"]
    assert [json.loads(c) for c in alertmanager["CMD"]] == [["--config.file=/etc/alertmanager/alertmanager.yml", "--storage.path=/alertmanager"]]
    prometheus = _instructions(images.dockerfile(PROGRAMS["prometheus"]))
    assert "files/etc/prometheus/prometheus.yml /etc/prometheus/prometheus.yml" in prometheus["COPY"]
    assert "LABEL" not in prometheus


def test_a_context_holds_the_binary_and_empty_directories(tmp_path):
    binary = tmp_path / "binary"
    binary.write_bytes(b"\x7fELF stand-in")
    program = dataclasses.replace(PROGRAMS["adapter"], dirs=("/var/lib/adapter",))
    made = images.context(program, binary, tmp_path / "context", "label1")
    assert (made / "bin").read_bytes() == binary.read_bytes() and (made / "bin").stat().st_mode & 0o111
    assert (made / "dirs" / "var" / "lib" / "adapter").is_dir() and not any((made / "dirs" / "var" / "lib" / "adapter").iterdir())
    assert (made / "Dockerfile").read_text() == images.dockerfile(program, "label1")


def test_the_source_label_changes_with_the_binary(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    one.write_bytes(b"one")
    two.write_bytes(b"two")
    program = PROGRAMS["prometheus"]
    assert images.source(program, one) != images.source(program, two)
    assert images.source(program, one) != images.source(PROGRAMS["alertmanager"], one)


def test_images_are_pushed_under_their_path_and_their_registries_are_mirrored():
    assert images.push_name("127.0.0.1:5000", "quay.io/prometheus/prometheus:v3.14.0-distroless") == "127.0.0.1:5000/prometheus/prometheus:v3.14.0-distroless"
    assert (
        images.push_name("127.0.0.1:41000", "registry.k8s.io/kube-state-metrics/kube-state-metrics:v2.20.0")
        == "127.0.0.1:41000/kube-state-metrics/kube-state-metrics:v2.20.0"
    )
    assert images.mirrors() == ("ghcr.io", "quay.io", "registry.k8s.io")


def test_the_cache_key_changes_when_a_wrapper_module_changes(tmp_path, monkeypatch):
    copy = tmp_path / "go"
    shutil.copytree(build.GO_DIR, copy)
    monkeypatch.setattr(build, "GO_DIR", copy)
    before = build.cache_key()
    assert build.cache_key() == before, "the key is stable"
    with (copy / "node-exporter" / "go.mod").open("a") as go_mod:
        go_mod.write("\n// edited\n")
    assert build.cache_key() != before
