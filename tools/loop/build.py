"""Builds the programs of the monitoring "autoscaling loop" once per machine, from the Go module proxy.

    python -m tools.loop.build      # builds if needed, prints the set's directory

The loop runs the images the genuine charts render (components/observability/images.py `IMAGES`, which a test
holds to the pinned charts) and metrics-server, which the e2e tier installs itself (`METRICS_SERVER`). No image
registry can be reached, so tools/loop/images.py makes each image here from a binary built by this module and
pushes it to the tier's loopback registry under the reference the chart renders.

Each program is built from a wrapper Go module of its own under `go/<name>/` (so each keeps its own dependency
versions; the operator and its config reloader share one), static (CGO_ENABLED=0, -trimpath, -s -w) with the
version ldflags the program reports. Versions are derived from the chart tags in `IMAGES`, never retyped: a test
holds every wrapper's go.mod to them, so a chart bump without a matching go.mod fails.

Two programs are not built straight from their module:
- alertmanager: its `ui/web.go` embeds `ui/app/dist`, the compiled web UI, which the module zip does not carry
  (`go build` fails: "pattern app/dist: no matching files found"). The build copies the module's source from the
  module cache to a writable directory, adds a placeholder `ui/app/dist/index.html` saying the UI is not built,
  and builds a copy of the wrapper with a `replace` to that directory: the API and every flag work, the web UI
  page says it is missing.
- kube-webhook-certgen (`ghcr.io/jkroepke/kube-webhook-certgen`): its module is not served by the Go module proxy,
  so `go/certgen` is a stand-in of our own (client-go) with the `create` and `patch` subcommands and the flags the
  kube-prometheus-stack chart's admission Jobs pass.

prometheus is built without the `builtinassets` tag (its UI assets are not in the module either): the API works,
the UI is absent. The set lives in `$GOSVC_LOOP_TOOLS` (default `~/.cache/gosvc/loop-tools`) under a key hashed
from go/, this script, the version table and the Go version.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from components.observability.images import IMAGES
from tools.e2e import build as e2e_build
from tools.e2e.build import BuildError

GO_DIR = Path(__file__).resolve().parent / "go"
CACHE_ENV = "GOSVC_LOOP_TOOLS"
COMMON_VERSION = "github.com/prometheus/common/version.Version"

METRICS_SERVER = "registry.k8s.io/metrics-server/metrics-server:v0.8.0"
"""Not in the charts: the e2e tier installs metrics-server itself, from this image."""


@dataclass(frozen=True)
class Program:
    """One image of the loop: the reference the chart renders, the Go program in it, and how the image runs it."""

    name: str
    """The binary's name in the tool set (bin/<name>) and the wrapper module's folder under go/ (`wrapper`)."""
    reference: str
    module: str
    """The Go module the program comes from; None for the certgen stand-in, which is ours."""
    version: str
    """The module version the wrapper's go.mod must require (derived from the image tag)."""
    package: str
    binary: str
    """Where the upstream image keeps the binary."""
    entrypoint: tuple[str, ...]
    cmd: tuple[str, ...] = ()
    user: str | None = None
    """USER of the upstream image; None keeps the base's (65532, distroless nonroot)."""
    workdir: str | None = None
    dirs: tuple[str, ...] = ()
    """Empty directories the upstream image has, owned by `user` (or 65532) and group-writable."""
    files: tuple[tuple[str, str], ...] = ()
    """(path in the module, path in the image) of files the upstream image copies from its source."""
    ldflags: tuple[str, ...] = ()
    wrapper: str = ""
    """The wrapper module's folder under go/ (defaults to `name`)."""
    patch_ui: bool = False
    """alertmanager: build from a writable copy with a placeholder UI (see the module docstring)."""

    @property
    def wrapper_dir(self) -> Path:
        return GO_DIR / (self.wrapper or self.name)

    @property
    def tag(self) -> str:
        return self.reference.rsplit(":", 1)[1]

    @property
    def registry(self) -> str:
        return self.reference.split("/", 1)[0]

    @property
    def path(self) -> str:
        """The reference without its registry's name: where the loopback registry keeps it (`<path>:<tag>`)."""
        return self.reference.split("/", 1)[1]


def chart_reference(repository: str) -> str:
    """The `repository:tag` the genuine chart renders for `repository`."""
    found = [image.reference for image in IMAGES if image.repository == repository]
    if len(found) != 1:
        raise KeyError(f"components/observability/images.py IMAGES has {len(found)} entries for {repository}")
    return found[0]


def module_version(repository: str, tag: str) -> str:
    """The Go module version an image tag is built from: the `-distroless` variant suffix dropped, and
    prometheus's v3.X.Y released as module v0.3XX.Y (its Go module never took a /v3 path)."""
    version = tag.removesuffix("-distroless")
    if repository.endswith("/prometheus/prometheus"):
        match = re.fullmatch(r"v(\d+)\.(\d+)\.(\d+)", version)
        if match is None:
            raise ValueError(f"prometheus tag {tag!r} is not vMAJOR.MINOR.PATCH[-distroless]")
        major, minor, patch = (int(g) for g in match.groups())
        return f"v0.{major * 100 + minor}.{patch}"
    return version


def _program(name: str, repository: str | None, module: str | None, package: str, binary: str, reference: str | None = None, **kwargs) -> Program:
    reference = reference or chart_reference(repository or "")
    repo, tag = reference.rsplit(":", 1)
    version = module_version(repo, tag) if module else tag
    return Program(name=name, reference=reference, module=module or "", version=version, package=package, binary=binary, **kwargs)


def _version_flag(value: str) -> tuple[str, ...]:
    return (f"-X {COMMON_VERSION}={value}",)


def programs() -> tuple[Program, ...]:
    """The loop's programs, their versions derived from the chart tags in IMAGES (and METRICS_SERVER)."""
    operator = "github.com/prometheus-operator/prometheus-operator"
    operator_tag = chart_reference("quay.io/prometheus-operator/prometheus-operator").rsplit(":", 1)[1]
    prometheus_tag = chart_reference("quay.io/prometheus/prometheus").rsplit(":", 1)[1]
    alertmanager_tag = chart_reference("quay.io/prometheus/alertmanager").rsplit(":", 1)[1]
    node_exporter_tag = chart_reference("quay.io/prometheus/node-exporter").rsplit(":", 1)[1]
    ksm_tag = chart_reference("registry.k8s.io/kube-state-metrics/kube-state-metrics").rsplit(":", 1)[1]
    certgen_tag = chart_reference("ghcr.io/jkroepke/kube-webhook-certgen").rsplit(":", 1)[1]
    metrics_server_tag = METRICS_SERVER.rsplit(":", 1)[1]
    return (
        _program("operator", "quay.io/prometheus-operator/prometheus-operator", operator, f"{operator}/cmd/operator", "/bin/operator",
                 entrypoint=("/bin/operator",), user="65534", wrapper="prometheus-operator", ldflags=_version_flag(operator_tag.removeprefix("v"))),
        _program("prometheus-config-reloader", "quay.io/prometheus-operator/prometheus-config-reloader", operator, f"{operator}/cmd/prometheus-config-reloader",
                 "/bin/prometheus-config-reloader", entrypoint=("/bin/prometheus-config-reloader",), user="nobody", wrapper="prometheus-operator",
                 ldflags=_version_flag(operator_tag.removeprefix("v"))),
        # The -distroless variant: the base's user (65532), no chown of /prometheus (the pod's volume and fsGroup make it writable).
        _program("prometheus", "quay.io/prometheus/prometheus", "github.com/prometheus/prometheus", "github.com/prometheus/prometheus/cmd/prometheus",
                 "/bin/prometheus", entrypoint=("/bin/prometheus",), cmd=("--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"),
                 workdir="/prometheus", files=(("documentation/examples/prometheus.yml", "/etc/prometheus/prometheus.yml"),),
                 ldflags=_version_flag(module_version("", prometheus_tag).removeprefix("v"))),
        _program("alertmanager", "quay.io/prometheus/alertmanager", "github.com/prometheus/alertmanager", "github.com/prometheus/alertmanager/cmd/alertmanager",
                 "/bin/alertmanager", entrypoint=("/bin/alertmanager",), cmd=("--config.file=/etc/alertmanager/alertmanager.yml", "--storage.path=/alertmanager"),
                 user="nobody", workdir="/alertmanager", dirs=("/alertmanager",), files=(("examples/ha/alertmanager.yml", "/etc/alertmanager/alertmanager.yml"),),
                 ldflags=_version_flag(alertmanager_tag.removeprefix("v")), patch_ui=True),
        _program("kube-state-metrics", "registry.k8s.io/kube-state-metrics/kube-state-metrics", "k8s.io/kube-state-metrics/v2", "k8s.io/kube-state-metrics/v2",
                 "/kube-state-metrics", entrypoint=("/kube-state-metrics", "--port=8080", "--telemetry-port=8081"), user="nobody", ldflags=_version_flag(ksm_tag)),
        # The -distroless variant: the base's user (65532).
        _program("node_exporter", "quay.io/prometheus/node-exporter", "github.com/prometheus/node_exporter", "github.com/prometheus/node_exporter",
                 "/bin/node_exporter", entrypoint=("/bin/node_exporter",), wrapper="node-exporter", ldflags=_version_flag(node_exporter_tag.removesuffix("-distroless").removeprefix("v"))),
        _program("adapter", "registry.k8s.io/prometheus-adapter/prometheus-adapter", "sigs.k8s.io/prometheus-adapter", "sigs.k8s.io/prometheus-adapter/cmd/adapter",
                 "/adapter", entrypoint=("/adapter",), user="65534", wrapper="prometheus-adapter"),
        _program("metrics-server", None, "sigs.k8s.io/metrics-server", "sigs.k8s.io/metrics-server/cmd/metrics-server", "/metrics-server",
                 reference=METRICS_SERVER, entrypoint=("/metrics-server",), user="65534",
                 ldflags=(f"-X k8s.io/client-go/pkg/version.gitVersion={metrics_server_tag}", f"-X k8s.io/component-base/version.gitVersion={metrics_server_tag}")),
        _program("kube-webhook-certgen", "ghcr.io/jkroepke/kube-webhook-certgen", None, ".", "/kube-webhook-certgen",
                 entrypoint=("/kube-webhook-certgen",), wrapper="certgen", ldflags=(f"-X main.version={certgen_tag}",)),
    )


@dataclass(frozen=True)
class LoopTools:
    """The built binaries (bin/<program name>) and what they were built from."""

    root: Path
    manifest: dict
    programs: tuple[Program, ...] = field(default_factory=programs)

    def bin(self, name: str) -> Path:
        return self.root / "bin" / name


def required_version(program: Program) -> str | None:
    """The version of `program.module` its wrapper's go.mod requires (None for the certgen stand-in, or if absent)."""
    for require in e2e_build.go_mod_at(program.wrapper_dir).get("Require") or []:
        if require["Path"] == program.module:
            return require["Version"]
    return None


def cache_key() -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in GO_DIR.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(GO_DIR)).encode() + b"\0" + path.read_bytes())
    digest.update(Path(__file__).read_bytes())
    digest.update(json.dumps([(p.name, p.reference, p.version, p.ldflags) for p in programs()]).encode())
    digest.update(e2e_build.go_version().encode())
    return digest.hexdigest()[:16]


def _go_build(program: Program, out: Path, cwd: Path) -> None:
    ldflags = " ".join(("-s", "-w", *program.ldflags))
    cmd = ["env", "CGO_ENABLED=0", "go", "build", "-trimpath", "-ldflags", ldflags, "-o", str(out / "bin" / program.name), program.package]
    e2e_build.run_go(f"build {program.name}", cmd, cwd)


def module_dir(program: Program) -> Path:
    """The module's source in the module cache (downloaded if needed), as `go mod download -json` names it."""
    info = json.loads(e2e_build.run_go(f"download {program.module}", ["go", "mod", "download", "-json", f"{program.module}@{program.version}"], program.wrapper_dir))
    if info.get("Error"):
        raise BuildError(f"download {program.module}@{program.version}: {info['Error']}")
    return Path(info["Dir"])


UI_PLACEHOLDER = (
    "<!doctype html>\n<title>Alertmanager</title>\n"
    "<p>The web UI is not built into this image: the Go module does not carry the compiled UI (ui/app/dist). "
    "The API (/api/v2) works.</p>\n"
)


def _build_with_placeholder_ui(program: Program, out: Path) -> None:
    """Builds `program` from a writable copy of its module with a placeholder `ui/app/dist/index.html` (the module
    zip lacks the compiled UI its `ui/web.go` embeds), through a copy of the wrapper that `replace`s the module
    with that copy. The replaced module's go.mod is the upstream one, so the wrapper's go.sum still covers it."""
    with tempfile.TemporaryDirectory(prefix="gosvc-loop-") as tmp:
        source, wrapper = Path(tmp) / "source", Path(tmp) / "wrapper"
        shutil.copytree(module_dir(program), source)
        for path in [source, *source.rglob("*")]:
            path.chmod(path.stat().st_mode | 0o200)
        dist = source / "ui" / "app" / "dist"
        dist.mkdir(parents=True, exist_ok=True)
        (dist / "index.html").write_text(UI_PLACEHOLDER)
        shutil.copytree(program.wrapper_dir, wrapper)
        e2e_build.run_go("replace with the writable copy", ["go", "mod", "edit", f"-replace={program.module}={source}"], wrapper)
        _go_build(program, out, wrapper)


def _step(program: Program) -> tuple[str, Callable[[Path, dict[str, str]], None]]:
    def run(out: Path, _versions: dict[str, str]) -> None:
        if program.patch_ui:
            _build_with_placeholder_ui(program, out)
        else:
            _go_build(program, out, program.wrapper_dir)
    return program.name, run


def build(log: Callable[[str], None] = e2e_build.progress) -> LoopTools:
    """The loop's binaries for this checkout, built first if this machine has none."""
    root = e2e_build.cache_dir(CACHE_ENV, "loop-tools") / cache_key()
    manifest = e2e_build.read_manifest(root)
    if manifest is None:
        table = programs()
        versions = {p.name: p.version for p in table}
        manifest = e2e_build.build_into(root, tuple(_step(p) for p in table), versions, {"go": e2e_build.go_version()}, log, "loop tools")
    return LoopTools(root, manifest)


if __name__ == "__main__":
    e2e_build.main("loop tools", lambda: build().root)
