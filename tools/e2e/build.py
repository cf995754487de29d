"""Builds the e2e tier's binaries from the Go modules under tools/e2e/go/, once per machine.

    python -m tools.e2e.build        # builds if needed, prints the tool set's directory

Every version is a `require` line of one of those go.mod files (their go.sum pins the rest):
`pulumi/` the CLI and a Node.js code-generation host, `yaml/` the Pulumi YAML language host, `kube/` etcd, the control plane
and kwok, `sources/` the Kubernetes provider's source, its sdk/v4 release and the Prometheus
Operator CRDs. A tool set lives in
`$GOSVC_E2E_TOOLS` (default `~/.cache/gosvc/e2e-tools`) under a key hashed from those files,
this script and the Go version, so a change to any pin builds a new set and an unchanged
checkout reuses the old one.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

GO_DIR = Path(__file__).resolve().parent / "go"
CACHE_ENV = "GOSVC_E2E_TOOLS"
MANIFEST = "manifest.json"

PULUMI_PKG = "github.com/pulumi/pulumi/pkg/v3"
PULUMI_SDK = "github.com/pulumi/pulumi/sdk/v3"
PULUMI_YAML = "github.com/pulumi/pulumi-yaml"
KUBERNETES = "k8s.io/kubernetes"
ETCD = "go.etcd.io/etcd/server/v3"
KWOK = "sigs.k8s.io/kwok"
PROVIDER = "github.com/pulumi/pulumi-kubernetes/provider/v4"
PROVIDER_SDK = "github.com/pulumi/pulumi-kubernetes/sdk/v4"
PROMETHEUS_OPERATOR = "github.com/prometheus-operator/prometheus-operator"

KUBE_COMMANDS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy")
"""The control plane, and the real node's agents (tools/nodes): one Kubernetes release for all."""
KWOK_STAGES = (
    "node/fast/node-initialize.yaml",
    "node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
    "pod/fast/pod-ready.yaml",
    "pod/fast/pod-complete.yaml",
    "pod/fast/pod-delete.yaml",
    "volume/fast/pvc-provision.yaml",
    "volume/fast/pv-bind.yaml",
    "volume/fast/pvc-delete.yaml",
    "volume/fast/pv-delete.yaml",
)
"""kwok's own Stage objects: nodes turn Ready and renew their leases, pods become Running and Ready, deletions finish,
and claims of the `kwok-volume` StorageClass get a PersistentVolume provisioned and bound (kwok as the provisioner)."""


def progress(line: str) -> None:
    """Where the tool builds report what they are doing: standard error, at once."""
    print(line, file=sys.stderr, flush=True)


class BuildError(RuntimeError):
    """A tool could not be built; the message names the step and carries the command's output."""


@dataclass(frozen=True)
class Toolset:
    """A built tool set: binaries in bin/, the CRD manifests, kwok's stages, and what was built from what."""

    root: Path
    manifest: dict

    @property
    def bin_dir(self) -> Path:
        return self.root / "bin"

    def bin(self, name: str) -> Path:
        return self.bin_dir / name

    @property
    def crds_dir(self) -> Path:
        return self.root / "crds"

    @property
    def kwok_stages(self) -> Path:
        return self.root / "kwok-stages.yaml"

    @property
    def versions(self) -> dict[str, str]:
        return dict(self.manifest["versions"])


def cache_dir(env: str, name: str) -> Path:
    """Where a set of built tools lives: `$<env>` when set, else `<XDG cache>/gosvc/<name>`."""
    configured = os.environ.get(env)
    if configured:
        return Path(configured).expanduser()
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "gosvc" / name


def cache_root() -> Path:
    return cache_dir(CACHE_ENV, "e2e-tools")


def _go_env() -> dict[str, str]:
    # GOTOOLCHAIN=local: the machine's Go builds every module here; none may fetch another toolchain.
    return {**os.environ, "GOTOOLCHAIN": "local", "GOFLAGS": "-buildvcs=false -mod=readonly"}


def _run(step: str, cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(cmd, cwd=cwd, env=env or _go_env(), capture_output=True, text=True)
    if proc.returncode != 0:
        raise BuildError(f"{step}: `{' '.join(cmd)}` in {cwd} exited {proc.returncode}\n{proc.stdout[-4000:]}{proc.stderr[-8000:]}")
    return proc.stdout


def go_version() -> str:
    return _run("go version", ["go", "env", "GOVERSION"], GO_DIR).strip()


def module_key(module: Path, builder: Path) -> str:
    """A cache key for binaries built from a pinned Go module directory by `builder`: its files, the builder's
    source and the Go toolchain, so a new pin, build step or Go release builds again."""
    digest = hashlib.sha256()
    for path in sorted(p for p in module.rglob("*") if p.is_file()):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    digest.update(builder.read_bytes())
    digest.update(go_version().encode())
    return digest.hexdigest()[:16]


def run_go(step: str, cmd: list[str], cwd: Path) -> str:
    """A go command with the local toolchain and read-only module graph; BuildError with its output when it fails."""
    return _run(step, cmd, cwd)


def go_mod_at(directory: Path) -> dict:
    """The go.mod in `directory` as `go mod edit -json` parses it (no network)."""
    return json.loads(_run(f"read {directory}/go.mod", ["go", "mod", "edit", "-json"], directory))


def go_mod(module: str) -> dict:
    """One tools module's go.mod."""
    return go_mod_at(GO_DIR / module)


def required(module: str) -> dict[str, str]:
    """The require lines of one tools module."""
    return {r["Path"]: r["Version"] for r in go_mod(module).get("Require") or []}


def pinned_versions() -> dict[str, str]:
    """Every tool's version, as the go.mod files pin it."""
    pulumi, kube, sources = required("pulumi"), required("kube"), required("sources")
    return {
        "pulumi": pulumi[PULUMI_PKG],
        "pulumi-yaml": required("yaml")[PULUMI_YAML],
        "kubernetes": kube[KUBERNETES],
        "etcd": kube[ETCD],
        "kwok": kube[KWOK],
        "pulumi-kubernetes": sources[PROVIDER_SDK],
        "pulumi-kubernetes-source": sources[PROVIDER],
        "prometheus-operator": sources[PROMETHEUS_OPERATOR],
    }


def cache_key() -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in GO_DIR.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(GO_DIR)).encode() + b"\0" + path.read_bytes())
    digest.update(Path(__file__).read_bytes())
    digest.update(go_version().encode())
    return digest.hexdigest()[:16]


def _module_dir(module: str, path: str) -> Path:
    """Where the module cache holds `path` at the version `module`'s go.mod requires (downloading it if needed)."""
    info = json.loads(_run(f"download {path}", ["go", "mod", "download", "-json", path], GO_DIR / module))
    if info.get("Error"):
        raise BuildError(f"download {path}: {info['Error']}")
    return Path(info["Dir"])


def _kube_ldflags(version: str) -> str:
    major, minor = version.lstrip("v").split(".")[:2]
    values = {"gitVersion": version, "gitMajor": major, "gitMinor": minor, "gitTreeState": "clean"}
    flags = ["-s", "-w"]
    for package in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [f"-X {package}.{key}={value}" for key, value in values.items()]
    return " ".join(flags)


def _build_kube(out: Path, versions: dict[str, str]) -> None:
    packages = [f"{KUBERNETES}/cmd/{cmd}" for cmd in KUBE_COMMANDS] + [ETCD, f"{KWOK}/cmd/kwok"]
    staging = out / "kube-bin"
    _run(
        "build etcd, the control plane and kwok",
        ["go", "build", "-trimpath", "-ldflags", _kube_ldflags(versions["kubernetes"]), "-o", f"{staging}/", *packages],
        GO_DIR / "kube",
    )
    # `go build -o dir/` names etcd's main package after its module's last non-version element.
    (staging / "server").rename(out / "bin" / "etcd")
    for name in (*KUBE_COMMANDS, "kwok"):
        (staging / name).rename(out / "bin" / name)
    staging.rmdir()


def _build_pulumi(out: Path, versions: dict[str, str]) -> None:
    ldflags = f"-s -w -X {PULUMI_SDK}/go/common/version.Version={versions['pulumi']}"
    _run("build the Pulumi CLI", ["go", "build", "-trimpath", "-ldflags", ldflags, "-o", str(out / "bin" / "pulumi"), f"{PULUMI_PKG}/cmd/pulumi"], GO_DIR / "pulumi")
    # The proxy does not serve the Node.js language host; `pulumi package gen-sdk --language nodejs`
    # gets this code-generation-only host instead, which runs Pulumi's Node.js generator at the CLI's version.
    codegen = f"-s -w -X main.version={versions['pulumi'].lstrip('v')}"
    _run("build the Node.js code generator host", ["go", "build", "-trimpath", "-ldflags", codegen, "-o", str(out / "bin" / "pulumi-language-nodejs"), "./nodejs-codegen"], GO_DIR / "pulumi")


def _build_yaml(out: Path, versions: dict[str, str]) -> None:
    """The YAML language host, in a module of its own: it builds against its own Pulumi SDK release, not the CLI's."""
    ldflags = f"-s -w -X {PULUMI_YAML}/pkg/version.Version={versions['pulumi-yaml']}"
    target = out / "bin" / "pulumi-language-yaml"
    _run("build the YAML language host", ["go", "build", "-trimpath", "-ldflags", ldflags, "-o", str(target), f"{PULUMI_YAML}/cmd/pulumi-language-yaml"], GO_DIR / "yaml")


def _build_provider(out: Path, versions: dict[str, str]) -> None:
    """The provider from a writable copy of its module: its sdk replace made a release, its schema embedded."""
    source = out / "src" / "pulumi-kubernetes"
    shutil.copytree(_module_dir("sources", PROVIDER), source)
    for path in [source, *source.rglob("*")]:
        path.chmod(path.stat().st_mode | stat.S_IWUSR)
    sdk = versions["pulumi-kubernetes"]
    env = {**_go_env(), "GOFLAGS": "-buildvcs=false -mod=mod"}
    _run("point the provider's sdk/v4 replace at the release", ["go", "mod", "edit", f"-replace={PROVIDER_SDK}={PROVIDER_SDK}@{sdk}"], source, env)
    _run("download the sdk/v4 release", ["go", "mod", "download", PROVIDER_SDK], source, env)
    plain = sdk.lstrip("v")
    _run("generate the provider's schema-embed.json", ["go", "run", "generate.go"], source / "cmd" / "pulumi-resource-kubernetes", {**env, "VERSION": plain})
    ldflags = f"-s -w -X {PROVIDER}/pkg/version.Version={plain}"
    _run(
        "build the Kubernetes provider",
        ["go", "build", "-trimpath", "-ldflags", ldflags, "-o", str(out / "bin" / "pulumi-resource-kubernetes"), "./cmd/pulumi-resource-kubernetes"],
        source,
        env,
    )
    shutil.rmtree(out / "src")


def _copy_manifests(out: Path) -> None:
    crds = _module_dir("sources", PROMETHEUS_OPERATOR) / "example" / "prometheus-operator-crd"
    (out / "crds").mkdir()
    for crd in sorted(crds.glob("*.yaml")):
        shutil.copyfile(crd, out / "crds" / crd.name)
    stages = _module_dir("kube", KWOK) / "kustomize" / "stage"
    (out / "kwok-stages.yaml").write_text("---\n".join((stages / stage).read_text() for stage in KWOK_STAGES))


STEPS: tuple[tuple[str, Callable[[Path, dict[str, str]], None]], ...] = (
    ("kube", _build_kube),
    ("pulumi", _build_pulumi),
    ("yaml", _build_yaml),
    ("provider", _build_provider),
    ("manifests", lambda out, _: _copy_manifests(out)),
)


def read_manifest(root: Path) -> dict | None:
    """The manifest of a set built into `root`, or None when there is none (never built, or interrupted)."""
    manifest = root / MANIFEST
    return json.loads(manifest.read_text()) if manifest.is_file() else None


def build_into(root: Path, steps: tuple[tuple[str, Callable[[Path, dict[str, str]], None]], ...], versions: dict[str, str], about: dict, log: Callable[[str], None], label: str) -> dict:
    """Runs each step into `<root>.partial`, writes the manifest, then renames it to `root`, so an
    interrupted build never leaves a set that looks complete. Returns the manifest."""
    partial = root.with_name(root.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    (partial / "bin").mkdir(parents=True)
    seconds: dict[str, float] = {}
    for name, step in steps:
        log(f"{label}: {name} ...")
        start = time.monotonic()
        step(partial, versions)
        seconds[name] = round(time.monotonic() - start, 1)
        log(f"{label}: {name} done in {seconds[name]:.0f} s")
    manifest = {"versions": versions, **about, "build_seconds": seconds, "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    (partial / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    shutil.rmtree(root, ignore_errors=True)
    partial.rename(root)
    return manifest


def load(root: Path | None = None) -> Toolset | None:
    """The tool set for this checkout's pins if it was built on this machine, else None."""
    root = root or cache_root() / cache_key()
    manifest = read_manifest(root)
    return Toolset(root, manifest) if manifest is not None else None


def build(log: Callable[[str], None] = progress) -> Toolset:
    """The tool set for this checkout's pins, built first if this machine has none."""
    root = cache_root() / cache_key()
    found = load(root)
    if found is not None:
        return found
    return Toolset(root, build_into(root, STEPS, pinned_versions(), {"go": go_version()}, log, "e2e tools"))


def main(label: str, make: Callable[[], object]) -> None:
    """A tool set's command line: prints what `make()` returns (its directory or binary), or the BuildError and exits 1."""
    try:
        print(make())
    except BuildError as err:
        print(f"{label}: {err}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main("e2e tools", lambda: build().root)
