"""Image references: pinned tags, digests in prod, and registries the organisation trusts."""

from __future__ import annotations

from typing import Any, Iterator, Mapping

from pulumi_policy import EnforcementLevel, Severity

from .definition import ResourceRule, Subject
from .kube import containers, parse_image

GO_IMAGE = "gosvc:index:GoImage"
FAMILY = "image"
DEFAULT_REGISTRIES = [
    "registry.example.com/",
    "gcr.io/distroless/",
    "docker.elastic.co/",
    "docker.io/apache/kafka",
    "docker.io/library/busybox",
    "quay.io/prometheus/",
    "quay.io/prometheus-operator/",
    "registry.k8s.io/",
    # The monitoring charts' images from other publishers: exactly these repositories, not their whole organisations.
    "docker.io/grafana/grafana",
    "quay.io/kiwigrid/k8s-sidecar",
    "ghcr.io/jkroepke/kube-webhook-certgen",
]


def _images(subject: Subject, *, include_go_image: bool = True) -> Iterator[tuple[str, str]]:
    """(where, reference) for every image a workload runs, and the image a GoImage builds."""
    if subject.template is not None:
        for container in containers(subject.template[1]):
            image = container.spec.get("image")
            if isinstance(image, str):  # unknown during preview when it is a registry digest still to be pushed
                yield container.label, image
    elif include_go_image and subject.type == GO_IMAGE:
        image = subject.props.get("imageName")
        if isinstance(image, str):
            yield "the built image", image


def _tag_pinned(subject: Subject, _: Mapping[str, Any]) -> Iterator[str]:
    for where, image in _images(subject):
        ref = parse_image(image)
        if ref.digest:
            continue
        if ref.tag is None:
            yield f"{where}: image '{image}' has no tag, so it means 'latest'; pin a version tag or a digest"
        elif ref.tag == "latest":
            yield f"{where}: image '{image}' uses the mutable 'latest' tag; pin a version tag or a digest"


def _digest_pinned(subject: Subject, _: Mapping[str, Any]) -> Iterator[str]:
    for where, image in _images(subject, include_go_image=False):
        if parse_image(image).digest is None or "@sha256:" not in image:
            yield f"{where}: image '{image}' is not pinned by digest; deploy 'repository@sha256:<digest>' (GoImage.image_ref does when pushed)"


def _registry_allowed(subject: Subject, settings: Mapping[str, Any]) -> Iterator[str]:
    allowed = [p for p in settings.get("allowedRegistries") or [] if isinstance(p, str) and p]
    for where, image in _images(subject):
        name = parse_image(image).name
        if not any(name == p.rstrip("/") or name.startswith(p if p.endswith("/") else p + "/") for p in allowed):
            yield f"{where}: image '{image}' ({name}) is not from an allowed registry ({', '.join(allowed) or 'none configured'}); mirror it or extend allowedRegistries"


RULES = [
    ResourceRule(
        "image-tag-pinned",
        "Every container image names a version tag other than 'latest', or a digest.",
        severity=Severity.CRITICAL,
        family=FAMILY,
        covers={
            "kube-linter": ["latest-tag"],
            "kube-score": ["container-image-tag"],
            "polaris": ["tagNotSpecified"],
            "checkov": ["CKV_K8S_14"],
        },
        check=_tag_pinned,
        remediation_steps="Set the image to 'repository:<version>' (for example 'apache/kafka:4.1.0') or 'repository@sha256:<digest>'; "
        "for GoImage set a version tag in gosvc:imageTag.",
    ),
    ResourceRule(
        "image-digest-pinned",
        "Every container image is pinned by digest, so a deploy runs exactly the bytes that were reviewed.",
        severity=Severity.MEDIUM,
        family=FAMILY,
        covers={"checkov": ["CKV_K8S_43"]},
        level=EnforcementLevel.ADVISORY,
        check=_digest_pinned,
        remediation_steps="Deploy 'repository@sha256:<digest>': push the GoImage (gosvc:imagePush: true) so its image_ref is the registry "
        "digest, and pin third-party images by digest. A '@sha256:' reference counts as pinned; the offline synth writes "
        "'sha256:<digest-known-after-push>' where only a real push knows the digest.",
    ),
    ResourceRule(
        "image-registry-allowed",
        "Images come only from registries on the allowlist.",
        severity=Severity.HIGH,
        family=FAMILY,
        check=_registry_allowed,
        params={
            "allowedRegistries": {
                "type": "array",
                "items": {"type": "string", "minLength": 1},
                "default": DEFAULT_REGISTRIES,
                "description": "Allowed 'registry/path' prefixes, Docker Hub spelled out ('docker.io/library/busybox'); "
                "a prefix without a trailing slash matches that repository exactly or below it.",
            }
        },
        remediation_steps="Pull the image through an allowed registry (mirror it), or add its registry to allowedRegistries in the "
        "stack's policy config after review.",
    ),
]
