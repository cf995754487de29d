"""GoImage's validated args: what to build (context, repository, tag, Go version, platform, runtime) and how
an image reference must look, which GoService checks too."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import field_validator

from components import defaults
from components.config import GoRelease, Model, validate_model

_TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REPOSITORY = rf"(?:[a-zA-Z0-9.-]+(?::[0-9]+)?/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"
IMAGE_TAG = re.compile(rf"^{_TAG}$")
IMAGE_REPOSITORY = re.compile(rf"^{_REPOSITORY}$")
IMAGE_REFERENCE = re.compile(rf"^(?P<repository>{_REPOSITORY})(?::(?P<tag>{_TAG}))?(?:@(?P<digest>sha256:[0-9a-f]{{64}}))?$")
"""An image reference as the distribution spec writes it: repository, then a tag, a sha256 digest or both."""
PLATFORM = re.compile(r"^linux/(amd64|arm64|arm/v7|ppc64le|s390x|riscv64)$")


class ImageSpec(Model):
    """Everything GoImage needs, validated; see `GoImageArgs` for each field's meaning."""

    context: str
    repository: str
    tag: str
    dockerfile: str | None = None
    go_version: GoRelease | None = None
    runtime: Literal["distroless", "alpine", "scratch"] = "distroless"
    push: bool = False
    platform: str = defaults.DEFAULT_PLATFORM
    cache_from: list[str] = []
    main_package: str = "."
    version: str | None = None

    @field_validator("repository")
    @classmethod
    def _repository(cls, value: str) -> str:
        if not IMAGE_REPOSITORY.match(value):
            raise ValueError("must be an image repository such as 'registry.example.com/team/app', without a tag")
        return value

    @field_validator("tag")
    @classmethod
    def _tag(cls, value: str) -> str:
        if value == "latest":
            raise ValueError("'latest' is not allowed: it is mutable, so rollbacks and audits cannot tell versions apart; use a version such as '1.4.2' or a commit SHA")
        if not IMAGE_TAG.match(value):
            raise ValueError("must be a Docker tag: letters, digits, '_', '.', '-', at most 128 characters")
        return value

    @field_validator("platform")
    @classmethod
    def _platform(cls, value: str) -> str:
        if not PLATFORM.match(value):
            raise ValueError("must be a Linux platform such as 'linux/amd64' or 'linux/arm64'")
        return value

    @field_validator("cache_from")
    @classmethod
    def _cache_from(cls, value: list[str]) -> list[str]:
        for ref in value:
            check_image_reference(ref)
        return value

    @property
    def image_name(self) -> str:
        return f"{self.repository}:{self.tag}"

    @property
    def build_version(self) -> str:
        return self.version or self.tag


def check_image_reference(ref: str) -> None:
    """Raises ValueError for a malformed image reference, one with no tag or digest, or one tagged `latest`."""
    match = IMAGE_REFERENCE.match(ref)
    if match is None:
        raise ValueError(
            f"image {ref!r} is not an image reference; write 'repository:tag', 'repository@sha256:<64 hex digits>' or "
            "'repository:tag@sha256:<64 hex digits>' with a lower-case repository"
        )
    if match["digest"] is not None:
        return
    if match["tag"] is None:
        raise ValueError(f"image {ref!r} has no tag; pin a version tag or a digest")
    if match["tag"] == "latest":
        raise ValueError(f"image {ref!r} uses the mutable 'latest' tag; pin a version tag or a digest")


def parse_image(raw: dict[str, Any], where: str) -> ImageSpec:
    return validate_model(ImageSpec, raw, where)
