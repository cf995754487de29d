"""The generated Dockerfile: its layer order and flags, hadolint, and a real Go build with exactly its flags."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

from components import defaults
from components.errors import ConfigError
from components.image import dockerfile
from components.image.config import parse_image

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "app"
HADOLINT = Path(sys.executable).parent / "hadolint"


def render(**overrides):
    spec = parse_image({"context": str(APP), "repository": "registry.example.com/gosvc/hello", "tag": "1.0.0", **overrides}, "image")
    module = dockerfile.read_module(spec.context)
    return spec, module, dockerfile.render(spec, module)


def _module(tmp_path: Path, go_mod: str) -> Path:
    (tmp_path / "go.mod").write_text(f"module example.com/app\n\n{go_mod}\n")
    return tmp_path


def test_the_builder_is_the_newest_patch_of_the_go_lines_minor_unless_told_otherwise():
    """go.mod's `go` line is a language minimum: building with its .0 would miss every later security fix."""
    go_line = re.search(r"^go (\S+)$", (APP / "go.mod").read_text(), re.M).group(1)
    spec, module, text = render()
    assert module.go_version == go_line and module.toolchain is None
    newest = defaults.GO_PATCH_RELEASES[".".join(go_line.split(".")[:2])]
    assert dockerfile.version_key(newest) > dockerfile.version_key(go_line), "the sample's go line is older than the newest patch"
    assert f"ARG GO_VERSION={newest}" in text and dockerfile.build_args(spec, module)["GO_VERSION"] == newest
    assert dockerfile.runtime_version(spec, module) == go_line, "GODEBUG defaults follow the go line, not the builder"
    _, _, text = render(go_version="1.25.1")
    assert "ARG GO_VERSION=1.25.1" in text


@pytest.mark.parametrize(
    "go_mod, builder",
    [
        ("go 1.26.0\ntoolchain go1.26.3", "1.26.3"),  # a toolchain line is the module's own choice
        ("go 1.26.0", "1.26.11"),
        ("go 1.26", "1.26.11"),
        ("go 1.26.99", "1.26.99"),  # newer than the table knows: the go line itself
        ("go 1.31.2", "1.31.2"),  # a minor the table does not know
    ],
)
def test_the_builder_honours_a_toolchain_line_and_never_goes_below_the_go_line(tmp_path, go_mod, builder, monkeypatch):
    monkeypatch.setattr(defaults, "GO_PATCH_RELEASES", {"1.26": "1.26.11"})
    spec = parse_image({"context": str(_module(tmp_path, go_mod)), "repository": "registry.example.com/x", "tag": "1"}, "image")
    module = dockerfile.read_module(spec.context)
    assert dockerfile.builder_version(spec, module) == builder
    assert f"golang:${{GO_VERSION}}-{defaults.GO_BUILDER_VARIANT}" in dockerfile.render(spec, module) and f"ARG GO_VERSION={builder}" in dockerfile.render(spec, module)


def test_every_known_patch_release_is_of_its_own_minor():
    for minor, patch in defaults.GO_PATCH_RELEASES.items():
        assert re.fullmatch(r"1\.\d+", minor) and patch.startswith(minor + ".") and re.fullmatch(r"1\.\d+\.\d+", patch), (minor, patch)


def test_layers_put_dependencies_before_sources_with_cache_mounts():
    _, _, text = render()
    assert not re.search(r"^#\s*syntax\s*=", text, re.M), "no frontend image is pulled from Docker Hub"
    steps = dockerfile.instructions(text)
    names = [s[0] for s in steps]
    copy_mod = steps.index(("COPY", "go.mod go.sum ./"))
    download = next(i for i, s in enumerate(steps) if s[0] == "RUN" and "go mod download" in s[1])
    copy_all = steps.index(("COPY", ". ."))
    build = next(i for i, s in enumerate(steps) if s[0] == "RUN" and "go build" in s[1])
    assert copy_mod < download < copy_all < build
    assert "--mount=type=cache,target=/go/pkg/mod" in steps[download][1]
    assert "--mount=type=cache,target=/go/pkg/mod" in steps[build][1]
    assert "--mount=type=cache,target=/root/.cache/go-build" in steps[build][1]
    assert names.count("FROM") == 2
    assert {"GO_VERSION", "VERSION", "TARGETOS", "TARGETARCH"} <= {s[1].split("=")[0] for s in steps if s[0] == "ARG"}


@pytest.mark.parametrize(
    "runtime, base",
    [("distroless", "gcr.io/distroless/static-debian12:nonroot"), ("alpine", "alpine:3.22.2"), ("scratch", "scratch")],
)
def test_runtime_stage_is_minimal_nonroot_and_exec_form(runtime, base):
    _, _, text = render(runtime=runtime)
    steps = dockerfile.instructions(text)
    froms = [s[1] for s in steps if s[0] == "FROM"]
    assert froms[-1] == base
    assert froms[0].endswith(" AS build")
    last_stage = steps[max(i for i, s in enumerate(steps) if s[0] == "FROM") :]
    assert ("USER", "65532:65532") in last_stage
    assert last_stage[-1] == ("ENTRYPOINT", '["/app"]')
    if runtime == "scratch":
        assert any(s[0] == "COPY" and "ca-certificates.crt" in s[1] for s in last_stage)


@pytest.mark.parametrize("runtime", ["distroless", "alpine", "scratch"])
def test_hadolint_finds_nothing(runtime, tmp_path):
    _, _, text = render(runtime=runtime)
    path = tmp_path / "Dockerfile"
    path.write_text(text)
    proc = subprocess.run([str(HADOLINT), "--failure-threshold", "style", str(path)], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.strip() == "", proc.stdout + proc.stderr


def test_hadolint_is_a_real_check(tmp_path):
    path = tmp_path / "Dockerfile"
    path.write_text("FROM golang:latest\nRUN cd /src && go build\n")
    proc = subprocess.run([str(HADOLINT), str(path)], capture_output=True, text=True)
    assert proc.returncode != 0 and "DL3007" in proc.stdout


def test_module_without_go_sum_copies_only_go_mod(tmp_path):
    (tmp_path / "go.mod").write_text("module example.com/x\n\ngo 1.24.0\n")
    spec = parse_image({"context": str(tmp_path), "repository": "r.example.com/x", "tag": "1"}, "image")
    module = dockerfile.read_module(tmp_path)
    assert module == dockerfile.GoModule("1.24.0", False, False)
    assert "COPY go.mod ./" in dockerfile.render(spec, module)


def test_a_context_that_is_not_a_go_module_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="must be a directory holding a go.mod"):
        dockerfile.read_module(tmp_path)
    (tmp_path / "go.mod").write_text("module example.com/x\n")
    with pytest.raises(ConfigError, match="no 'go 1.N' line"):
        dockerfile.read_module(tmp_path)


def elf_facts(path):
    with open(path, "rb") as f:
        elf = ELFFile(f)
        segments = {seg["p_type"] for seg in elf.iter_segments()}
        sections = {sec.name for sec in elf.iter_sections()}
    return segments, sections


def test_go_build_with_the_dockerfiles_exact_flags_gives_a_static_stripped_binary(tmp_path, capsys):
    spec, module, text = render()
    env, argv = dockerfile.go_build_step(text, dockerfile.build_args(spec, module))
    assert env == {"CGO_ENABLED": "0", "GOOS": "linux", "GOARCH": "amd64"}
    assert argv[:2] == ["go", "build"]
    assert "-trimpath" in argv
    ldflags = argv[argv.index("-ldflags") + 1]
    assert ldflags.split()[:2] == ["-s", "-w"] and "main.version=1.0.0" in ldflags
    out = argv.index("-o") + 1
    argv[out] = str(tmp_path / "app-docker-flags")
    build_env = {**os.environ, **env, "GOFLAGS": ""}
    subprocess.run(argv, cwd=APP, env=build_env, check=True, timeout=600)
    subprocess.run(["go", "build", "-o", str(tmp_path / "app-plain"), "."], cwd=APP, check=True, timeout=600)

    segments, sections = elf_facts(tmp_path / "app-docker-flags")
    assert "PT_INTERP" not in segments and "PT_DYNAMIC" not in segments, "binary is dynamically linked"
    assert ".symtab" not in sections, "symbol table not stripped"
    assert not {s for s in sections if s.startswith((".debug", ".zdebug"))}, "DWARF not stripped"
    _, plain_sections = elf_facts(tmp_path / "app-plain")
    assert ".symtab" in plain_sections  # the plain build keeps them, so the check above can fail

    stripped = (tmp_path / "app-docker-flags").stat().st_size
    plain = (tmp_path / "app-plain").stat().st_size
    with capsys.disabled():
        print(f"\nbinary size: Dockerfile flags {stripped / 2**20:.2f} MiB, plain go build {plain / 2**20:.2f} MiB ({stripped / plain:.0%})")
    assert stripped < plain

    version = subprocess.run(["go", "version", "-m", str(tmp_path / "app-docker-flags")], capture_output=True, text=True, check=True).stdout
    assert "CGO_ENABLED=0" in version and "-trimpath=true" in version


def test_the_built_binary_reports_the_stamped_version(tmp_path):
    spec, module, text = render(tag="9.9.9")
    env, argv = dockerfile.go_build_step(text, dockerfile.build_args(spec, module))
    argv[argv.index("-o") + 1] = str(tmp_path / "app")
    subprocess.run(argv, cwd=APP, env={**os.environ, **env}, check=True, timeout=600)
    strings = (tmp_path / "app").read_bytes()
    assert b"9.9.9" in strings
