"""Fetches and builds the real software the pipeline tier runs, once per machine.

    python -m tools.pipeline.build       # builds if needed, prints the runtime's directory

- Kafka at `components.logging.versions.KAFKA_VERSION`, the release the `apache/kafka` image pin
  names, from Maven Central (`maven/pom.xml`, resolved with `mvn dependency:copy-dependencies`).
- Filebeat from `github.com/elastic/beats/v7` at the version `go/filebeat/go.mod` requires. The
  Go module proxy serves beats only up to 7.17.x, while the images pin Elastic 9.x: the gap is
  reported with every result (`versions`), and stated in docs/logging.md.
- Elasticsearch at `ELASTIC_VERSION` as the distribution Elastic builds for its own integration
  tests (`org.elasticsearch.distribution.integ-test-zip`), the one Maven Central serves: the
  server with transport-netty4, x-pack-core and x-pack-security only, and no bundled JDK, so it
  runs on the newest JDK of this machine (`elasticsearch_java`; Elasticsearch 9 needs 21 or later).

A runtime lives in `$GOSVC_PIPELINE_TOOLS` (default `~/.cache/gosvc/pipeline-tools`) under a key
hashed from those files, this script, the Kafka and Elastic pins and the Go and Java versions.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from components.logging import versions
from tools.e2e import build as e2e_build
from tools.e2e.build import BuildError

HERE = Path(__file__).resolve().parent
POM = HERE / "maven" / "pom.xml"
FILEBEAT_MODULE = HERE / "go" / "filebeat"
BEATS = "github.com/elastic/beats/v7"
CACHE_ENV = "GOSVC_PIPELINE_TOOLS"
ELASTICSEARCH_ZIP = "org.elasticsearch.distribution.integ-test-zip:elasticsearch:{version}:zip"
ES_JAVA_ENV = "GOSVC_ES_JAVA_HOME"
ES_JAVA_MAJOR = 21
"""The oldest JDK Elasticsearch 9 runs on."""
JVM_ROOT = Path("/usr/lib/jvm")


@dataclass(frozen=True)
class Runtime:
    """A built runtime: Kafka's jars in kafka/libs, Filebeat in bin/, and which versions they are."""

    root: Path
    manifest: dict

    @property
    def kafka_libs(self) -> Path:
        return self.root / "kafka" / "libs"

    @property
    def filebeat(self) -> Path:
        return self.root / "bin" / "filebeat"

    @property
    def elasticsearch_home(self) -> Path:
        return self.root / "elasticsearch"

    @property
    def versions(self) -> dict[str, str]:
        return dict(self.manifest["versions"])


def cache_root() -> Path:
    return e2e_build.cache_dir(CACHE_ENV, "pipeline-tools")


def _run(step: str, cmd: list[str], cwd: Path) -> str:
    """A Java-side command (mvn, java); its stdout and stderr, as `java -version` answers on stderr."""
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise BuildError(f"{step}: `{' '.join(cmd)}` in {cwd} exited {proc.returncode}\n{proc.stdout[-4000:]}{proc.stderr[-8000:]}")
    return proc.stdout + proc.stderr


def java_version() -> str:
    return _run("java -version", ["java", "-version"], HERE).splitlines()[0].strip()


def go_version() -> str:
    return e2e_build.go_version()


def _java_major(java_home: Path) -> int:
    first = _run("java -version", [str(java_home / "bin" / "java"), "-version"], HERE).splitlines()[0]
    found = re.search(r'version "(\d+)', first)
    return int(found.group(1)) if found else 0


def elasticsearch_java() -> Path:
    """The JDK Elasticsearch runs on: $GOSVC_ES_JAVA_HOME, else the newest under /usr/lib/jvm of at least ES_JAVA_MAJOR."""
    if os.environ.get(ES_JAVA_ENV):
        chosen = Path(os.environ[ES_JAVA_ENV])
        if _java_major(chosen) < ES_JAVA_MAJOR:
            raise BuildError(f"{ES_JAVA_ENV}={chosen} is older than JDK {ES_JAVA_MAJOR}, which Elasticsearch {versions.ELASTIC_VERSION} needs")
        return chosen
    majors = {p: _java_major(p) for p in JVM_ROOT.glob("*") if (p / "bin" / "java").is_file() and not p.is_symlink()}
    newest = max(majors, key=majors.__getitem__, default=None)
    if newest is None or majors[newest] < ES_JAVA_MAJOR:
        raise BuildError(
            f"Elasticsearch {versions.ELASTIC_VERSION} needs a JDK {ES_JAVA_MAJOR} or later; none is under {JVM_ROOT} "
            f"({sorted(p.name for p in majors)}): install one (Debian: openjdk-21-jdk-headless) or set {ES_JAVA_ENV}"
        )
    return newest


def beats_version() -> str:
    return next(r["Version"] for r in e2e_build.go_mod_at(FILEBEAT_MODULE)["Require"] if r["Path"] == BEATS)


def pinned_versions() -> dict[str, str]:
    return {
        "kafka": versions.KAFKA_VERSION,
        "filebeat": beats_version().lstrip("v"),
        "filebeat_pinned_image": versions.ELASTIC_VERSION,
        "elasticsearch": versions.ELASTIC_VERSION,
    }


def cache_key() -> str:
    digest = hashlib.sha256()
    for path in sorted([POM, *(p for p in FILEBEAT_MODULE.rglob("*") if p.is_file())]):
        digest.update(str(path.relative_to(HERE)).encode() + b"\0" + path.read_bytes())
    digest.update(Path(__file__).read_bytes())
    digest.update(versions.KAFKA_VERSION.encode() + versions.ELASTIC_VERSION.encode() + go_version().encode() + java_version().encode())
    return digest.hexdigest()[:16]


def _fetch_kafka(out: Path, pins: dict[str, str]) -> None:
    libs = out / "kafka" / "libs"
    _run(
        "fetch Kafka from Maven Central",
        ["mvn", "-B", "-q", "-f", str(POM), "dependency:copy-dependencies", f"-Dkafka.version={pins['kafka']}", f"-DoutputDirectory={libs}"],
        HERE,
    )
    if not (libs / f"kafka_2.13-{pins['kafka']}.jar").is_file():
        raise BuildError(f"fetch Kafka: kafka_2.13-{pins['kafka']}.jar is not among {sorted(p.name for p in libs.glob('*.jar'))}")


def _build_filebeat(out: Path, pins: dict[str, str]) -> None:
    e2e_build.run_go("build Filebeat", ["go", "build", "-trimpath", "-ldflags", "-s -w", "-o", str(out / "bin" / "filebeat"), "."], FILEBEAT_MODULE)


def _fetch_elasticsearch(out: Path, pins: dict[str, str]) -> None:
    artifact = ELASTICSEARCH_ZIP.format(version=pins["elasticsearch"])
    downloads = out / "downloads"
    _run("fetch Elasticsearch from Maven Central", ["mvn", "-B", "-q", "dependency:copy", f"-Dartifact={artifact}", f"-DoutputDirectory={downloads}"], HERE)
    (archive,) = downloads.glob("elasticsearch-*.zip")
    top = f"elasticsearch-{pins['elasticsearch']}/"
    with zipfile.ZipFile(archive) as zipped:
        for info in zipped.infolist():
            if not info.filename.startswith(top) or ".." in info.filename.split("/"):
                raise BuildError(f"fetch Elasticsearch: {archive.name} holds {info.filename!r} outside {top}")
            target = out / "elasticsearch" / info.filename[len(top):]
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(zipped.read(info))
            # zip keeps Unix modes in the high half of external_attr; the scripts under bin/ need their x bits.
            target.chmod((info.external_attr >> 16) & 0o777 or 0o644)
    archive.unlink()
    elasticsearch_java()  # fails the build, with what to install, when this machine has no JDK it can run on


STEPS: tuple[tuple[str, Callable[[Path, dict[str, str]], None]], ...] = (
    ("kafka", _fetch_kafka),
    ("filebeat", _build_filebeat),
    ("elasticsearch", _fetch_elasticsearch),
)


def load(root: Path | None = None) -> Runtime | None:
    root = root or cache_root() / cache_key()
    manifest = e2e_build.read_manifest(root)
    return Runtime(root, manifest) if manifest is not None else None


def build(log: Callable[[str], None] = e2e_build.progress) -> Runtime:
    """The runtime for this checkout's pins, fetched and built first if this machine has none."""
    root = cache_root() / cache_key()
    found = load(root)
    if found is not None:
        return found
    about = {"go": go_version(), "java": java_version(), "elasticsearch_java": str(elasticsearch_java())}
    return Runtime(root, e2e_build.build_into(root, STEPS, pinned_versions(), about, log, "pipeline tools"))


if __name__ == "__main__":
    e2e_build.main("pipeline tools", lambda: build().root)
