"""The Go image as built: a multi-stage Dockerfile producing a static, stripped binary on a minimal non-root runtime.

These rules read the Dockerfile text and build args that `gosvc:index:GoImage` registers
as its inputs, so they hold for generated and hand-written Dockerfiles alike.
"""

from __future__ import annotations

import re
import shlex
from typing import Any, Iterator, Mapping

from pulumi_policy import EnforcementLevel, Severity

from . import dockerfile
from .definition import ResourceRule, Subject
from .kube import parse_image
from .props import mapping, whole_number

GO_IMAGE = "gosvc:index:GoImage"
FAMILY = "go-image"
GO_BUILD = re.compile(r"\bgo\s+build\b")
LDFLAGS = re.compile(r"-ldflags[= ](?:\"([^\"]*)\"|'([^']*)'|(\S+))")
DEFAULT_RUNTIMES = [
    r"^scratch$",
    r"^gcr\.io/distroless/static(-debian\d+)?(:[\w][\w.-]*)?(@sha256:[0-9a-f]{64})?$",
    r"^(docker\.io/)?(library/)?alpine(:\d+\.\d+\.\d+(@sha256:[0-9a-f]{64})?|@sha256:[0-9a-f]{64})$",
]
NEWEST_PATCHES = {"1.25": "1.25.14", "1.26": "1.26.11", "1.27": "1.27.4"}
"""The newest patch release of each Go minor the pack knows (the Go module proxy's golang.org/toolchain, 2026-12-06)."""
GOLANG_VERSION_TAG = re.compile(r"^(1\.\d+)\.(\d+)(?:-|$)")


def _parsed(subject: Subject) -> dockerfile.Dockerfile | None:
    """The GoImage's Dockerfile, or None for other resources and while the text is unknown."""
    if subject.type != GO_IMAGE:
        return None
    text = subject.props.get("dockerfile")
    if not isinstance(text, str):
        return None
    build_args = {k: v for k, v in mapping(subject.props.get("buildArgs")).items() if isinstance(v, str)}
    return dockerfile.parse(text, build_args)


def _multistage(subject: Subject, _: Mapping[str, Any]) -> Iterator[str]:
    parsed = _parsed(subject)
    if parsed is None:
        return
    final = parsed.final
    if final is None:
        yield "the Dockerfile has no FROM instruction"
        return
    if len(parsed.stages) < 2:
        yield f"single-stage build on '{final.base}': the runtime image ships the Go toolchain and sources; build in one stage and COPY --from it into a minimal one"
        return
    if parse_image(parsed.image_of(final)).repository == "library/golang":
        yield f"the final stage runs on the Go toolchain image '{parsed.image_of(final)}'; COPY the binary into a minimal runtime stage"
    if not any("--from=" in copy.args for copy in final.of("COPY")):
        yield "the final stage copies nothing from a build stage (no COPY --from=...); the binary must come from the build stage"


def _minimal_runtime(subject: Subject, settings: Mapping[str, Any]) -> Iterator[str]:
    parsed = _parsed(subject)
    if parsed is None or parsed.final is None:
        return
    runtime = parsed.image_of(parsed.final)
    patterns = [p for p in settings.get("allowedRuntimes") or [] if isinstance(p, str)]
    if "$" in runtime:
        yield f"the runtime base '{runtime}' uses a variable with no default or build arg; it cannot be checked"
    elif not any(re.match(p, runtime) for p in patterns):
        yield f"the runtime base '{runtime}' is not a minimal image; use gcr.io/distroless/static-debian12:nonroot, scratch, or alpine pinned to x.y.z"


def _go_builds(parsed: dockerfile.Dockerfile) -> Iterator[tuple[dockerfile.Stage, dockerfile.Instruction, str]]:
    for stage in parsed.stages:
        for run in stage.of("RUN"):
            text = run.expanded
            if GO_BUILD.search(text):
                yield stage, run, text


def _ldflags(text: str) -> list[str]:
    flags: list[str] = []
    for match in LDFLAGS.finditer(text):
        value = next(g for g in match.groups() if g is not None)
        try:
            flags += shlex.split(value)
        except ValueError:
            flags += value.split()
    return flags


def _static_stripped(subject: Subject, _: Mapping[str, Any]) -> Iterator[str]:
    parsed = _parsed(subject)
    if parsed is None:
        return
    builds = list(_go_builds(parsed))
    if not builds:
        yield "no stage runs 'go build', so the binary's build flags cannot be checked; build the binary in the Dockerfile"
        return
    for stage, run, text in builds:
        where = f"line {run.line} (stage {stage.name or stage.index})"
        variables = run.variables
        cgo_in_run = re.findall(r"\bCGO_ENABLED=(\S+)", text)
        cgo = cgo_in_run[-1] if cgo_in_run else variables.get("CGO_ENABLED")
        if cgo != "0":
            yield f"{where}: go build without CGO_ENABLED=0 links libc dynamically; set CGO_ENABLED=0 for a static binary"
        goflags = variables.get("GOFLAGS", "") + " " + " ".join(re.findall(r"\bGOFLAGS=(\"[^\"]*\"|'[^']*'|\S+)", text))
        if "-trimpath" not in text and "-trimpath" not in goflags:
            yield f"{where}: go build without -trimpath embeds build paths in the binary; add -trimpath"
        flags = _ldflags(text) + _ldflags(goflags)
        missing = [f for f in ("-s", "-w") if f not in flags]
        if missing:
            yield f"{where}: go build -ldflags lacks {' '.join(missing)}; use -ldflags \"-s -w\" to strip the symbol table and DWARF"


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def _builder_current(subject: Subject, settings: Mapping[str, Any]) -> Iterator[str]:
    parsed = _parsed(subject)
    if parsed is None:
        return
    newest = {k: v for k, v in mapping(settings.get("newestPatches")).items() if isinstance(v, str)}
    for stage in parsed.stages:
        image = parsed.image_of(stage)
        ref = parse_image(image)
        match = GOLANG_VERSION_TAG.match(ref.tag or "") if ref.repository == "library/golang" else None
        if match is None:
            continue  # not a Go toolchain image, or a minor tag that follows its newest patch
        minor, version = match.group(1), f"{match.group(1)}.{match.group(2)}"
        known = newest.get(minor)
        if known and _version_key(version) < _version_key(known):
            where = f"stage {stage.name or stage.index}"
            yield f"{where} builds with '{image}', Go {version}; {known} is the newest patch release of Go {minor} and carries its security fixes"


def _nonroot_user(subject: Subject, settings: Mapping[str, Any]) -> Iterator[str]:
    parsed = _parsed(subject)
    if parsed is None or parsed.final is None:
        return
    min_uid = whole_number(settings.get("minUid")) or 0
    users = [u for stage in parsed.lineage(parsed.final) for u in reversed(stage.of("USER"))]
    if not users:
        ref = parse_image(parsed.image_of(parsed.final))
        if ref.repository.startswith("distroless/") and (ref.tag or "").endswith("nonroot"):
            return  # distroless ':nonroot' images run as 65532
        yield "the final stage sets no USER, so the container runs as root; add USER 65532:65532"
        return
    user = users[0].expanded.split(":", 1)[0].strip()
    uid = whole_number(user)
    if user == "root" or uid == 0:
        yield f"the final stage runs as '{users[0].args}' (root); use a non-root USER such as 65532:65532"
    elif uid is not None and uid < min_uid:
        yield f"the final stage runs as UID {uid}; use a UID >= {min_uid} so it cannot collide with a host user"


RULES = [
    ResourceRule(
        "go-image-multistage",
        "A Go image is built in one stage and runs from another, so no toolchain or source ships.",
        severity=Severity.HIGH,
        family=FAMILY,
        check=_multistage,
        remediation_steps="Build in 'FROM golang:<version> AS build', then start the final stage from a minimal base and "
        "'COPY --from=build /out/app /app'; or leave gosvc:imageDockerfile empty to use the generated Dockerfile.",
    ),
    ResourceRule(
        "go-image-minimal-runtime",
        "A Go image's runtime stage is distroless static, scratch, or an alpine pinned to a full version.",
        severity=Severity.MEDIUM,
        family=FAMILY,
        check=_minimal_runtime,
        params={
            "allowedRuntimes": {
                "type": "array",
                "items": {"type": "string", "minLength": 1},
                "default": DEFAULT_RUNTIMES,
                "description": "Regular expressions the final stage's base image must match.",
            }
        },
        remediation_steps="Use gosvc:imageRuntime distroless (default), scratch, or alpine; a hand-written Dockerfile should end "
        "with 'FROM gcr.io/distroless/static-debian12:nonroot'.",
    ),
    ResourceRule(
        "go-image-static-stripped",
        "Every go build in a Go image sets CGO_ENABLED=0, -trimpath and -ldflags \"-s -w\".",
        severity=Severity.MEDIUM,
        family=FAMILY,
        check=_static_stripped,
        remediation_steps="Build with 'CGO_ENABLED=0 go build -trimpath -ldflags \"-s -w\" -o /out/app .': static (runs on "
        "distroless/scratch), reproducible, and about a quarter smaller.",
    ),
    ResourceRule(
        "go-image-builder-current",
        "A Go image builds with the newest patch release of its Go minor.",
        severity=Severity.LOW,
        family=FAMILY,
        level=EnforcementLevel.ADVISORY,
        check=_builder_current,
        params={
            "newestPatches": {
                "type": "object",
                "additionalProperties": {"type": "string", "pattern": r"^1\.\d+\.\d+$"},
                "default": NEWEST_PATCHES,
                "description": "The newest patch release of each Go minor ('1.26': '1.26.11'); update it as Go releases.",
            }
        },
        remediation_steps="Leave gosvc:goVersion empty (GoImage then builds with the newest patch of go.mod's minor), name the "
        "release in go.mod's toolchain line, or set gosvc:goVersion to it.",
    ),
    ResourceRule(
        "go-image-nonroot-user",
        "A Go image's final stage runs as a non-root user.",
        severity=Severity.HIGH,
        family=FAMILY,
        check=_nonroot_user,
        params={"minUid": {"type": "integer", "minimum": 1, "default": 10000, "description": "Lowest numeric UID a USER may name."}},
        remediation_steps="End the final stage with 'USER 65532:65532' (distroless 'nonroot'); a named user must not be root.",
    ),
]
