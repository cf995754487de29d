"""The GoImage ComponentResource: renders (or takes) a Dockerfile and builds it with pulumi-docker."""

from pathlib import Path
from typing import TypedDict

import pulumi
import pulumi_docker as docker
from typing_extensions import NotRequired

from components import tokens
from components.config import plain_args
from components.errors import ConfigError
from components.image import dockerfile
from components.image.config import ImageSpec, parse_image

TYPE = tokens.GO_IMAGE
GENERATED_DIR = Path(".gosvc") / "images"


class GoImageArgs(TypedDict):
    """Arguments of GoImage; all are plain values, because the Dockerfile is written from them when the program runs."""

    context: str
    """Directory of the Go module to build (holds go.mod); it is the Docker build context."""
    repository: str
    """Image repository without tag, e.g. 'registry.example.com/team/api'."""
    tag: str
    """Image tag; 'latest' is refused."""
    dockerfile: NotRequired[str]
    """Path of your own Dockerfile; when unset a multi-stage one is generated."""
    go_version: NotRequired[str]
    """Builder Go release; default go.mod's `toolchain` line, else the newest patch release of its `go` line's minor."""
    runtime: NotRequired[str]
    """Runtime base: 'distroless' (default, static-debian12:nonroot), 'alpine' (pinned, has a shell) or 'scratch'."""
    push: NotRequired[bool]
    """Push to the registry (default false); image_ref is then the digest reference."""
    platform: NotRequired[str]
    """Target platform, default linux/amd64."""
    cache_from: NotRequired[list[str]]
    """Images whose layers may serve as build cache."""
    main_package: NotRequired[str]
    """Package to build, relative to the context, default '.'."""
    version: NotRequired[str]
    """Value stamped into main.version, default the tag."""


def resolve_go_image(name: str, args: GoImageArgs) -> ImageSpec:
    """Validates GoImage args into an ImageSpec; every arg must be plain. Raises ConfigError naming the field."""
    where = f"GoImage '{name}'"
    return parse_image(plain_args(dict(args), where), where)


def dockerfile_text(name: str, spec: ImageSpec) -> tuple[str, dict[str, str], bool, str | None]:
    """The Dockerfile's text, the build args, whether it was generated, and the Go version that decides the binary's
    runtime defaults (None when unknown); ConfigError for a bad context."""
    if spec.dockerfile:
        path = Path(spec.dockerfile)
        if not path.is_file():
            raise ConfigError(f"GoImage '{name}': dockerfile", spec.dockerfile, "must be an existing file")
        return path.read_text(), {"VERSION": spec.build_version}, False, spec.go_version
    try:
        module = dockerfile.read_module(spec.context)
    except ConfigError as err:
        raise ConfigError(f"GoImage '{name}': {err.key.split('.')[-1]}", err.value, err.allowed) from None
    if not module.has_dockerignore:
        pulumi.log.warn(
            f"GoImage '{name}': {spec.context} has no .dockerignore, so .git and build output are sent to the builder "
            "and invalidate the COPY . . layer; add one."
        )
    return dockerfile.render(spec, module), dockerfile.build_args(spec, module), True, dockerfile.runtime_version(spec, module)


class GoImage(pulumi.ComponentResource):
    """A Go service image: static, stripped binary on a minimal non-root runtime.

    Generates a multi-stage Dockerfile (dependency layer first, BuildKit caches,
    CGO_ENABLED=0, -trimpath, -ldflags "-s -w") unless you bring your own, and builds it
    with pulumi-docker. The Dockerfile text and build settings are this component's
    inputs, so policy packs can check them. Every input is plain: the Dockerfile is written
    from them when the program runs.
    """

    image_name: pulumi.Output[str]
    """Repository and tag."""
    image_ref: pulumi.Output[str]
    """What a Deployment should run: the registry digest reference when pushed, else the tag reference."""
    dockerfile: pulumi.Output[str]
    """The Dockerfile text that was built."""

    def __init__(self, name: str, args: GoImageArgs, opts: pulumi.ResourceOptions | None = None):
        spec = resolve_go_image(name, args)
        text, build_args, generated, go_version = dockerfile_text(name, spec)
        props = {
            "dockerfile": text,
            "generated": generated,
            "runtime": spec.runtime,
            "buildArgs": build_args,
            "platform": spec.platform,
            "context": spec.context,
            "imageName": spec.image_name,
            "push": spec.push,
        }
        super().__init__(TYPE, name, props, opts)
        self.spec = spec

        dockerfile_path = spec.dockerfile
        if generated:
            target = GENERATED_DIR / name / "Dockerfile"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
            dockerfile_path = str(target)

        self.image = docker.Image(
            f"{name}-image",
            image_name=spec.image_name,
            build=docker.DockerBuildArgs(
                context=spec.context,
                dockerfile=dockerfile_path,
                platform=spec.platform,
                args=build_args,
                builder_version=docker.BuilderVersion.BUILDER_BUILD_KIT,
                cache_from=docker.CacheFromArgs(images=list(spec.cache_from)) if spec.cache_from else None,
            ),
            skip_push=not spec.push,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.builder_version: str | None = build_args.get("GO_VERSION") or spec.go_version
        """The Go release the image builds with (None for a Dockerfile of your own without go_version)."""
        self.go_version: str | None = go_version
        """The Go version that decides the binary's runtime defaults (go.mod's `go` line, which GODEBUG defaults follow,
        unless the builder is older): pass it to GoService."""
        self.image_name = self.image.image_name
        self.image_ref = self.image.repo_digest if spec.push else pulumi.Output.from_input(spec.image_name)
        self.dockerfile = pulumi.Output.from_input(text)
        self.register_outputs({"image_name": self.image_name, "image_ref": self.image_ref, "dockerfile": self.dockerfile})
