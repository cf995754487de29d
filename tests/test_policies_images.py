"""Image reference policies and the Go image policies over GoImage's registered Dockerfile."""

from __future__ import annotations

import pytest
from policy_harness import FIXTURES, Case, edit, load, one

from policies.rules import dockerfile
from policies.rules.kube import parse_image

DEPLOY = load("compliant-service")[0]
APP_IMAGE = "spec.template.spec.containers[0].image"
GO_IMAGE = one("compliant-go-image")


def go_image(scenario: str, **build_args: str) -> dict:
    doc = edit(GO_IMAGE, "dockerfile", (FIXTURES / f"go-image-{scenario}.Dockerfile").read_text())
    return edit(doc, "buildArgs", build_args) if build_args else doc


CASES = [
    Case("image-tag-pinned", "compliant-digest", DEPLOY),
    Case("image-tag-pinned", "compliant-go-image", GO_IMAGE),
    Case("image-tag-pinned", "version-tag", edit(DEPLOY, APP_IMAGE, "registry.example.com/gosvc/hello:1.4.2")),
    Case("image-tag-pinned", "latest", edit(DEPLOY, APP_IMAGE, "registry.example.com/gosvc/hello:latest"), ("uses the mutable 'latest' tag",)),
    Case("image-tag-pinned", "no-tag", edit(DEPLOY, APP_IMAGE, "registry.example.com:5000/gosvc/hello"), ("has no tag",)),
    Case("image-tag-pinned", "go-image-latest", edit(GO_IMAGE, "imageName", "registry.example.com/gosvc/hello:latest"), ("the built image",)),
    Case("image-digest-pinned", "compliant", DEPLOY),
    Case("image-digest-pinned", "synth-placeholder-counts", edit(DEPLOY, APP_IMAGE, "registry.example.com/gosvc/hello@sha256:<digest-known-after-push>")),
    Case("image-digest-pinned", "tag-only", edit(DEPLOY, APP_IMAGE, "registry.example.com/gosvc/hello:1.4.2"), ("container 'app': image 'registry.example.com/gosvc/hello:1.4.2' is not pinned by digest",)),
    Case("image-digest-pinned", "init-tag-only", edit(DEPLOY, "spec.template.spec.initContainers[0].image", "busybox:1.37.0"), ("init container 'wait'",)),
    Case("image-registry-allowed", "compliant", DEPLOY),
    Case("image-registry-allowed", "docker-hub-not-listed", edit(DEPLOY, APP_IMAGE, "nginx:1.29.0"), ("(docker.io/library/nginx) is not from an allowed registry",)),
    Case("image-registry-allowed", "listed-repository-exactly", edit(DEPLOY, APP_IMAGE, "apache/kafka:4.1.0")),
    Case("image-registry-allowed", "prefix-is-not-a-sibling", edit(DEPLOY, APP_IMAGE, "apache/kafka-native:4.1.0"), ("docker.io/apache/kafka-native",)),
    Case(
        "image-registry-allowed",
        "configured-list",
        DEPLOY,
        ("container 'app': image 'registry.example.com/gosvc/hello@sha256:", "init container 'wait'"),
        {"allowedRegistries": ["ghcr.io/acme/"]},
    ),
    Case("go-image-multistage", "compliant", GO_IMAGE),
    Case("go-image-multistage", "alpine", go_image("alpine-pinned")),
    Case("go-image-multistage", "single-stage", go_image("single-stage"), ("single-stage build on 'golang:1.26'",)),
    Case("go-image-multistage", "final-stage-is-the-builder", go_image("toolchain-final"), ("runs on the Go toolchain image 'golang:1.26'", "copies nothing from a build stage")),
    Case("go-image-minimal-runtime", "compliant", GO_IMAGE),
    Case("go-image-minimal-runtime", "alpine-pinned", go_image("alpine-pinned")),
    Case("go-image-minimal-runtime", "runtime-from-arg-default", go_image("flags-from-env")),
    Case("go-image-minimal-runtime", "runtime-from-build-arg", go_image("flags-from-env", RUNTIME="debian:12"), ("the runtime base 'debian:12' is not a minimal image",)),
    Case("go-image-minimal-runtime", "ubuntu", go_image("ubuntu-root"), ("'ubuntu:24.04' is not a minimal image",)),
    Case("go-image-minimal-runtime", "alpine-floating", edit(GO_IMAGE, "dockerfile", GO_IMAGE["dockerfile"].replace("gcr.io/distroless/static-debian12:nonroot", "alpine:3.22")), ("'alpine:3.22' is not a minimal image",)),
    Case("go-image-static-stripped", "compliant", GO_IMAGE),
    Case("go-image-static-stripped", "flags-from-env-and-args", go_image("flags-from-env")),
    Case("go-image-static-stripped", "alpine", go_image("alpine-pinned")),
    Case("go-image-static-stripped", "cgo-unstripped", go_image("cgo-unstripped"), ("without CGO_ENABLED=0", "without -trimpath", "lacks -s -w")),
    Case("go-image-static-stripped", "no-go-build", edit(GO_IMAGE, "dockerfile", "FROM gcr.io/distroless/static-debian12:nonroot\nCOPY app /app\n"), ("no stage runs 'go build'",)),
    Case("go-image-builder-current", "compliant", GO_IMAGE),
    Case("go-image-builder-current", "an-old-patch", edit(GO_IMAGE, "buildArgs", {"GO_VERSION": "1.26.0", "VERSION": "0.1.0"}), ("builds with 'golang:1.26.0-bookworm', Go 1.26.0; 1.26.11 is the newest patch release of Go 1.26",)),
    Case("go-image-builder-current", "a-minor-tag-follows-its-newest-patch", go_image("single-stage")),
    Case("go-image-builder-current", "a-minor-the-pack-does-not-know", edit(GO_IMAGE, "buildArgs", {"GO_VERSION": "1.31.0", "VERSION": "1"})),
    Case("go-image-builder-current", "configured-table", GO_IMAGE, ("Go 1.26.11; 1.26.12 is the newest",), {"newestPatches": {"1.26": "1.26.12"}}),
    Case("go-image-nonroot-user", "compliant", GO_IMAGE),
    Case("go-image-nonroot-user", "distroless-nonroot-without-user", go_image("cgo-unstripped")),
    Case("go-image-nonroot-user", "named-alpine-user", go_image("alpine-pinned")),
    Case("go-image-nonroot-user", "root", go_image("ubuntu-root"), ("runs as 'root' (root)",)),
    Case("go-image-nonroot-user", "no-user", go_image("single-stage"), ("sets no USER",)),
    Case("go-image-nonroot-user", "low-uid", edit(GO_IMAGE, "dockerfile", GO_IMAGE["dockerfile"].replace("USER 65532:65532", "USER 1000")), ("runs as UID 1000",)),
]


@pytest.mark.parametrize("case", [c.param() for c in CASES])
def test_image_policy(case: Case):
    case.check()


@pytest.mark.parametrize(
    "ref,registry,repository,tag,digest",
    [
        ("nginx", "docker.io", "library/nginx", None, None),
        ("apache/kafka:4.1.0", "docker.io", "apache/kafka", "4.1.0", None),
        ("localhost:5000/app:1", "localhost:5000", "app", "1", None),
        ("registry.example.com/a/b@sha256:abc", "registry.example.com", "a/b", None, "sha256:abc"),
        ("gcr.io/distroless/static-debian12:nonroot@sha256:" + "0" * 64, "gcr.io", "distroless/static-debian12", "nonroot", "sha256:" + "0" * 64),
    ],
)
def test_image_references_parse_like_docker(ref, registry, repository, tag, digest):
    assert parse_image(ref) == type(parse_image(ref))(registry, repository, tag, digest)


def test_dockerfile_stages_resolve_args_continuations_and_parents():
    parsed = dockerfile.parse((FIXTURES / "go-image-flags-from-env.Dockerfile").read_text(), {})
    assert [s.name for s in parsed.stages] == ["base", "build", None]
    assert parsed.image_of(parsed.stages[1]) == "golang:1.26"
    assert parsed.final.base == "gcr.io/distroless/static-debian12:nonroot"
    run = parsed.stages[1].of("RUN")[0]
    assert run.expanded.split() == ["go", "build", "-ldflags", '"-s', '-w"', "-o", "/out/app", "."]
    assert run.variables["CGO_ENABLED"] == "0"  # inherited from the stage it builds FROM
