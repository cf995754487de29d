"""Stand-in base images, named exactly as the generated Dockerfile names them, made here from Debian's packages and
the Go module proxy (no image registry can be reached).

- `golang:<version>-bookworm`: a `debootstrap --variant=minbase` Debian bookworm with git and CA certificates, the
  host's extra CA certificates (the machine's egress passes a TLS-intercepting proxy the host trusts; without them
  `go mod download` fails with x509 errors), and the Go toolchain of exactly that version: this machine's Go when it
  is that version, else module `golang.org/toolchain` from the proxy. GOPATH /go, GOTOOLCHAIN local, as the real
  image sets them.
- `gcr.io/distroless/static-debian12:nonroot`: FROM scratch with base-files, netbase, tzdata and media-types from
  Debian, the CA bundle, passwd and group with root, nobody and nonroot (65532), /home/nonroot and /tmp, USER 65532.
- the pause image containerd names as its sandbox image: the static pause binary FROM scratch.

Each is made once and kept in the tier's Docker data root; `ensure` skips what is there.
"""

from __future__ import annotations

import json
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path
from typing import Callable

from components import defaults
from tools.e2e import build as e2e_build
from tools.e2e.build import BuildError
from tools.nodes import build, image
from tools.nodes.docker import DockerEngine, data_root

DEBIAN_MIRROR = "http://deb.debian.org/debian"
SUITE = "bookworm"
ROOTFS = f"gosvc-stand-in/debian-{SUITE}-minbase:1"
"""The debootstrapped root filesystem the golang stand-ins build on (bump the tag to make it anew)."""
DISTROLESS_PACKAGES = ("base-files", "netbase", "tzdata", "media-types")
PAUSE_IMAGE = "registry.k8s.io/pause:3.10.1"
HOST_EXTRA_CAS = Path("/usr/local/share/ca-certificates")
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
PASSWD = "root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"
GROUP = "root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n"


def golang_image(version: str) -> str:
    return f"golang:{version}-{defaults.GO_BUILDER_VARIANT}"


def _run(step: str, cmd: list[str], cwd: Path | None = None) -> str:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise BuildError(f"{step}: `{' '.join(cmd)}` exited {proc.returncode}\n{proc.stdout[-2000:]}{proc.stderr[-4000:]}")
    return proc.stdout


def _rootfs(docker: DockerEngine, work: Path) -> None:
    target = work / "rootfs"
    _run("debootstrap bookworm", [build.have("debootstrap"), "--variant=minbase", "--include=ca-certificates,git", SUITE, str(target), DEBIAN_MIRROR])
    shutil.rmtree(target / "var" / "cache" / "apt" / "archives", ignore_errors=True)
    tar = subprocess.run(["tar", "-C", str(target), "-c", "."], capture_output=True, check=True).stdout
    docker.run("import", "-", ROOTFS, input=tar)


def _goroot(version: str) -> Path:
    """A Go toolchain of exactly `version`: this machine's, or golang.org/toolchain's from the module proxy."""
    if e2e_build.go_version() == f"go{version}":
        return Path(_run("go env GOROOT", ["go", "env", "GOROOT"]).strip())
    module = f"golang.org/toolchain@v0.0.1-go{version}.linux-amd64"
    info = json.loads(_run(f"download {module}", ["go", "mod", "download", "-json", module], Path(tempfile.gettempdir())))
    if info.get("Error"):
        raise BuildError(f"download {module}: {info['Error']}")
    return Path(info["Dir"])


def _golang(docker: DockerEngine, version: str, work: Path) -> None:
    context = work / "golang"
    shutil.copytree(_goroot(version), context / "go", symlinks=True)
    # The toolchain module's zip keeps no file modes; the module cache's copy is read-only.
    for path in [context / "go", *(context / "go").rglob("*")]:
        executable = path.is_dir() or path.parent.name == "bin" or path.parent.parent.name == "tool"
        path.chmod(path.stat().st_mode | stat.S_IWUSR | (0o555 if executable else 0o444))
    (context / "certs").mkdir()
    for cert in sorted(HOST_EXTRA_CAS.glob("*.crt")):
        shutil.copyfile(cert, context / "certs" / cert.name)
    (context / "Dockerfile").write_text(
        f"FROM {ROOTFS}\n"
        "COPY certs/ /usr/local/share/ca-certificates/\n"
        "RUN update-ca-certificates\n"
        "COPY go /usr/local/go\n"
        f"ENV GOLANG_VERSION={version} GOTOOLCHAIN=local GOPATH=/go\n"
        "ENV PATH=/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n"
        "RUN mkdir -p /go/src /go/bin && chmod -R 1777 /go\n"
        "WORKDIR /go\n"
    )
    docker.build(context, golang_image(version))


def _distroless(docker: DockerEngine, work: Path) -> None:
    debs, root = work / "debs", work / "distroless" / "rootfs"
    debs.mkdir(parents=True)
    root.mkdir(parents=True)
    _run("apt-get download", ["apt-get", "download", "-o", "APT::Sandbox::User=root", *DISTROLESS_PACKAGES], cwd=debs)
    for deb in sorted(debs.glob("*.deb")):
        _run(f"dpkg -x {deb.name}", ["dpkg-deb", "-x", str(deb), str(root)])
    for doc in ("usr/share/doc", "usr/share/man", "usr/share/lintian"):
        shutil.rmtree(root / doc, ignore_errors=True)
    (root / "etc" / "ssl" / "certs").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(HOST_CA_BUNDLE, root / "etc" / "ssl" / "certs" / "ca-certificates.crt")
    (root / "etc" / "passwd").write_text(PASSWD)
    (root / "etc" / "group").write_text(GROUP)
    (root / "tmp").mkdir(exist_ok=True)
    (root / "tmp").chmod(0o1777)
    home = work / "distroless" / "home" / "nonroot"
    home.mkdir(parents=True)
    (work / "distroless" / "Dockerfile").write_text(
        "FROM scratch\nCOPY rootfs/ /\nCOPY --chown=65532:65532 home/ /home/\nUSER 65532:65532\nENV PATH=/usr/local/bin:/usr/bin:/bin\n"
    )
    docker.build(work / "distroless", defaults.DISTROLESS_STATIC)


def _pause(docker: DockerEngine, tools: build.NodeTools, work: Path) -> None:
    context = work / "pause"
    context.mkdir()
    shutil.copyfile(tools.bin("pause"), context / "pause")
    (context / "pause").chmod(0o755)
    (context / "Dockerfile").write_text('FROM scratch\nCOPY pause /pause\nUSER 65535:65535\nENTRYPOINT ["/pause"]\n')
    docker.build(context, PAUSE_IMAGE)


def ensure(docker: DockerEngine, tools: build.NodeTools, go_versions: list[str], log: Callable[[str], None]) -> dict[str, str]:
    """Makes every stand-in this daemon lacks; returns each stand-in's name and image ID, for the report."""
    made = {}
    wanted: list[tuple[str, Callable[[Path], None]]] = [
        (ROOTFS, lambda work: _rootfs(docker, work)),
        *((golang_image(v), lambda work, v=v: _golang(docker, v, work)) for v in sorted(set(go_versions))),
        (defaults.DISTROLESS_STATIC, lambda work: _distroless(docker, work)),
        (PAUSE_IMAGE, lambda work: _pause(docker, tools, work)),
    ]
    for name, make in wanted:
        if not docker.exists(name):
            log(f"stand-in base {name} ...")
            with tempfile.TemporaryDirectory(prefix="gosvc-base-") as work:
                make(Path(work))
        made[name] = docker.inspect(name)["Id"]
    return made


def _main() -> str:
    """Every stand-in the stacks' Dockerfiles and the real node need, made in the tier's Docker engine."""
    node_tools = build.build()
    with DockerEngine(data_root(), data_root() / "dockerd.log") as engine:
        made = ensure(engine, node_tools, image.builder_versions([image.stack_image(s) for s in image.STACKS]), e2e_build.progress)
    return "\n".join(f"{name} {image_id}" for name, image_id in made.items())


if __name__ == "__main__":
    e2e_build.main("stand-in bases", _main)
