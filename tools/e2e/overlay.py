"""The e2e overlay: a stack's committed config with only what this machine cannot have swapped out."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import yaml

from components.logging import versions
from components.observability import images

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


LOGGING_STACKS = ("dev", "prod")
"""Stacks whose logging pipeline runs under the real engine; staging's is off to keep the run short."""
EXISTING_SECRETS = {
    "loggingElasticSecret": "byo-elastic",
    "loggingKibanaSystemSecret": "byo-kibana-system",
    "loggingLogstashWriterSecret": "byo-logstash-writer",
    "loggingKibanaEncryptionSecret": "byo-kibana-encryption",
    "loggingCertificatesSecret": "byo-elasticsearch-tls",
}
"""Secrets the test creates before `up` (tools.e2e.existing_secrets), as a cert-manager or secret store user would."""
STORAGE_CLASS = "kwok-volume"


def logging_overlay(stack: str, config: dict[str, Any]) -> dict[str, Any]:
    """Logging with existing Secrets (the random and tls providers cannot be built here), in namespaces the test
    creates with the component's own labels (the Secrets must exist in them before `up`), on kwok's volumes, with
    digests pinned instead of resolved (no registry is reachable)."""
    if stack not in LOGGING_STACKS or not config.get("gosvc:loggingEnabled"):
        return {"gosvc:loggingEnabled": False}
    overlay: dict[str, Any] = {
        "gosvc:loggingNamespace": f"logging-{stack}",
        "gosvc:loggingCreateNamespace": False,
        "gosvc:loggingStorageClass": STORAGE_CLASS,
        **{f"gosvc:{key}": name for key, name in EXISTING_SECRETS.items()},
    }
    if config.get("gosvc:loggingResolveDigests"):
        overlay["gosvc:loggingResolveDigests"] = False
        overlay["gosvc:loggingImageDigests"] = [f"{repository}@{E2E_DIGEST}" for repository in versions.REPOSITORIES]
    return overlay


GRAFANA_ADMIN_SECRET = "byo-grafana-admin"


def monitoring_overlay(config: dict[str, Any], repository: str) -> dict[str, Any]:
    """The Prometheus stack on, installed from `repository` (the genuine chart packages served on loopback), with Grafana's
    admin login from an existing Secret (no random provider here) and chart digests pinned instead of resolved."""
    overlay: dict[str, Any] = {"gosvc:prometheusStackEnabled": True, "gosvc:helmRepository": repository, "gosvc:grafanaAdminSecret": GRAFANA_ADMIN_SECRET}
    if config.get("gosvc:monitoringResolveDigests"):
        overlay["gosvc:monitoringResolveDigests"] = False
        overlay["gosvc:monitoringImageDigests"] = [f"{image_repository}@{E2E_DIGEST}" for image_repository in images.REPOSITORIES]
    return overlay


LOOP_TIMING = {"hpaScaleDownStabilizationSeconds": 30, "alertHpaMaxedMinutes": 1}
"""The only timings the autoscaling loop's e2e stack shortens, so scale-in and GoServiceHpaMaxedOut are seen within
minutes (users' defaults: 300 s and 15 min). The HPA's sync period, the scrape interval and the adapter's rate
window stay as users get them."""


def loop_overlay(repository: str, pinned: dict[str, str]) -> dict[str, Any]:
    """The Prometheus stack on real nodes: charts from `repository`, every image the charts run pinned by the digest
    of the image built here (`pinned`: '<repository>:<tag>' -> digest; the stacks' own pins name images no registry
    here holds), Grafana off (its web front end cannot be built here, so its image is not), then LOOP_TIMING."""
    digests = []
    for image in images.IMAGES:
        if image.reference in pinned:
            digests.append(f"{image.repository}@{pinned[image.reference]}")
        elif image.path[0] != "grafana":
            raise ValueError(f"no image was built for {image.reference}, which the charts run")
    keys = {"prometheusStackEnabled": True, "helmRepository": repository, "grafanaEnabled": False, "monitoringResolveDigests": False, "monitoringImageDigests": digests, **LOOP_TIMING}
    return {f"gosvc:{k}": v for k, v in keys.items()}


def e2e_config(stack: str, project: Path = ROOT, **changes: Any) -> dict[str, Any]:
    """The committed config of `stack`, then the overlay, then `changes` (stack keys without `gosvc:`).

    The image is prebuilt (no Docker engine runs here), the Prometheus stack is off (no chart
    can be fetched; the operator's CRDs are installed instead), and logging runs on existing
    Secrets (see `logging_overlay`) in dev and prod.
    """
    config = committed_config(stack, project)
    overlay = {"gosvc:image": prebuilt_image(config), "gosvc:prometheusStackEnabled": False, **logging_overlay(stack, config)}
    config.update(overlay)
    config.update({f"gosvc:{k}": v for k, v in changes.items()})
    return config
