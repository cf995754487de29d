"""Installs and builds what the real-node tier runs, once per machine.

    python -m tools.nodes.build      # installs and builds if needed, prints the tool set's directory

From Debian's packages (installed with apt-get when missing; root is needed for that and for the tier):
the Docker engine, containerd and runc, the CNI plugins, debootstrap, iptables and conntrack. From the Go
module proxy: the image registry (`go/registry`, distribution v3), the pause binary every pod's sandbox
runs (`go/pause`) and the node's cluster DNS (`go/coredns`, CoreDNS); kubelet and kube-proxy come with the control plane (tools/e2e/build.py), from the same
Kubernetes release. The set lives in `$GOSVC_NODE_TOOLS` (default `~/.cache/gosvc/node-tools`) under a key
hashed from go/, this script and the Go version.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from tools.e2e import build as e2e_build
from tools.e2e.build import BuildError

GO_DIR = Path(__file__).resolve().parent / "go"
CACHE_ENV = "GOSVC_NODE_TOOLS"
REGISTRY = "github.com/distribution/distribution/v3"
COREDNS = "github.com/coredns/coredns"
PACKAGES = {
    "docker.io": "/usr/sbin/dockerd",
    "containerd": "/usr/bin/containerd",
    "runc": "/usr/sbin/runc",
    "containernetworking-plugins": "/usr/lib/cni/bridge",
    "debootstrap": "/usr/sbin/debootstrap",
    "iptables": "/usr/sbin/iptables",
    "conntrack": "/usr/sbin/conntrack",
}
"""Debian's packages the tier runs, each with a file that shows it is installed."""
DOCKER_CLIENT = Path("/usr/bin/docker")
"""Debian's client, which drives the daemon's built-in BuildKit; a newer client elsewhere on PATH may refuse
BuildKit builds without the buildx plugin."""
CNI_BIN = Path("/usr/lib/cni")


@dataclass(frozen=True)
class NodeTools:
    """The built binaries (bin/registry, bin/pause, bin/coredns) and what they were built from."""

    root: Path
    manifest: dict

    def bin(self, name: str) -> Path:
        return self.root / "bin" / name


def missing_packages() -> list[str]:
    return [package for package, marker in PACKAGES.items() if not Path(marker).exists()]


def install_packages(log: Callable[[str], None]) -> None:
    """apt-get installs the Debian packages that are missing; BuildError naming them when that cannot be done."""
    missing = missing_packages()
    if not missing:
        return
    if os.geteuid() != 0:
        raise BuildError(f"the real-node tier needs Debian's {', '.join(missing)}; install them as root (apt-get install {' '.join(missing)})")
    log(f"node tools: apt-get install {' '.join(missing)} ...")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing]):
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if proc.returncode != 0:
            raise BuildError(f"`{' '.join(cmd)}` exited {proc.returncode}\n{proc.stdout[-2000:]}{proc.stderr[-4000:]}")
    still = missing_packages()
    if still:
        raise BuildError(f"apt-get installed {' '.join(missing)}, but {', '.join(still)} still lack {', '.join(PACKAGES[p] for p in still)}")


def cache_key() -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in GO_DIR.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(GO_DIR)).encode() + b"\0" + path.read_bytes())
    digest.update(Path(__file__).read_bytes())
    digest.update(e2e_build.go_version().encode())
    return digest.hexdigest()[:16]


def _build_registry(out: Path, _versions: dict[str, str]) -> None:
    e2e_build.run_go("build the registry", ["go", "build", "-trimpath", "-ldflags", "-s -w", "-o", str(out / "bin" / "registry"), f"{REGISTRY}/cmd/registry"], GO_DIR / "registry")


def _build_pause(out: Path, _versions: dict[str, str]) -> None:
    # Static, so it runs FROM scratch like the image it stands in for.
    env_build = ["env", "CGO_ENABLED=0", "go", "build", "-trimpath", "-ldflags", "-s -w", "-o", str(out / "bin" / "pause"), "."]
    e2e_build.run_go("build the pause binary", env_build, GO_DIR / "pause")


def _build_coredns(out: Path, _versions: dict[str, str]) -> None:
    env_build = ["env", "CGO_ENABLED=0", "go", "build", "-trimpath", "-ldflags", "-s -w", "-o", str(out / "bin" / "coredns"), COREDNS]
    e2e_build.run_go("build CoreDNS", env_build, GO_DIR / "coredns")


def _required(program: str, module: str) -> str:
    return next(r["Version"] for r in e2e_build.go_mod_at(GO_DIR / program)["Require"] if r["Path"] == module)


def build(log: Callable[[str], None] = e2e_build.progress) -> NodeTools:
    """The tier's packages installed and its binaries built for this checkout, doing whatever this machine lacks."""
    install_packages(log)
    root = e2e_build.cache_dir(CACHE_ENV, "node-tools") / cache_key()
    manifest = e2e_build.read_manifest(root)
    if manifest is None:
        steps = (("registry", _build_registry), ("pause", _build_pause), ("coredns", _build_coredns))
        versions = {"registry": _required("registry", REGISTRY), "coredns": _required("coredns", COREDNS)}
        manifest = e2e_build.build_into(root, steps, versions, {"go": e2e_build.go_version()}, log, "node tools")
    return NodeTools(root, manifest)


def docker_client() -> str:
    if not DOCKER_CLIENT.is_file():
        raise BuildError(f"{DOCKER_CLIENT} is missing: install Debian's docker.io")
    return str(DOCKER_CLIENT)


def have(binary: str) -> str:
    """The path of a program the tier runs from Debian's packages."""
    found = shutil.which(binary, path=f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin")
    if found is None:
        raise BuildError(f"{binary} is not installed; run `python -m tools.nodes.build` as root")
    return found


if __name__ == "__main__":
    e2e_build.main("node tools", lambda: build().root)
