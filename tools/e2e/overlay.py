"""The e2e overlay: a stack's committed config with only what this machine cannot have swapped out."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
E2E_DIGEST = "sha256:" + hashlib.sha256(b"gosvc e2e: kwok runs no containers, so no image is ever pulled").hexdigest()
"""The digest the overlay deploys in place of a pushed image's: well-formed, naming no real image."""


def committed_config(stack: str, project: Path = ROOT) -> dict[str, Any]:
    return dict(yaml.safe_load((project / "stacks" / f"Pulumi.{stack}.yaml").read_text())["config"])


def prebuilt_image(config: dict[str, Any], digest: str = E2E_DIGEST) -> str:
    """The reference GoImage would hand GoService for this config: the digest when pushed, else the tag."""
    repository = config.get("gosvc:imageRepository", "registry.example.com/gosvc/hello")
    if config.get("gosvc:imagePush"):
        return f"{repository}@{digest}"
    return f"{repository}:{config.get('gosvc:imageTag', '0.1.0')}"


def e2e_config(stack: str, project: Path = ROOT, **changes: Any) -> dict[str, Any]:
    """The committed config of `stack`, then the overlay, then `changes` (stack keys without `gosvc:`).

    The image is prebuilt (no Docker engine runs here), the Prometheus stack is off (no chart
    can be fetched; the operator's CRDs are installed instead) and logging is off (its
    credentials come from the random and tls providers, which cannot be built here).
    """
    config = committed_config(stack, project)
    config.update({"gosvc:image": prebuilt_image(config), "gosvc:prometheusStackEnabled": False, "gosvc:loggingEnabled": False})
    config.update({f"gosvc:{k}": v for k, v in changes.items()})
    return config
