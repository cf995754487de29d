"""The images the two monitoring charts run, and how a digest pins each through the chart's values.

Each chart writes its images from its own values (repository, tag, and a digest key whose
format differs from chart to chart), so pinning one by digest means setting the tag the
digest belongs to and that chart's digest key. The tags are the pinned charts' defaults;
tests/e2e/test_real_charts.py renders the real charts and holds this table to them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

from components.config import digest_pins
from components.observability import charts



class DigestKey(Enum):
    """Where a chart takes an image's digest."""

    HEX = "sha"
    """`sha: <hex>`; the chart writes `@sha256:` itself (kube-prometheus-stack, grafana)."""
    SHA_PREFIXED = "sha-prefixed"
    """`sha: sha256:<hex>`, written after `@` as given (kube-state-metrics)."""
    DIGEST = "digest"
    """`digest: sha256:<hex>` (prometheus-node-exporter)."""
    IN_TAG = "in-tag"
    """No digest key: the chart writes `repository:tag`, so the tag becomes `<tag>@sha256:<hex>` (prometheus-adapter)."""


@dataclass(frozen=True)
class ChartImage:
    """One image of a chart: where its values live, what the pinned chart runs, how a digest is given."""

    chart: str
    path: tuple[str, ...]
    repository: str
    tag: str
    key: DigestKey
    tag_value: str | None = None
    """The `tag` value the chart needs to render `tag` (node-exporter appends `-distroless` itself)."""

    @property
    def reference(self) -> str:
        return f"{self.repository}:{self.tag}"

    def values(self, digest: Any) -> dict[str, Any]:
        """The chart values that make it run `repository:tag@digest`, nested under `path`. `digest` is
        'sha256:<hex>' or an Output of one (resolved at deploy time), which stays an Output inside the values."""
        tag = self.tag_value or self.tag
        block: dict[str, Any] = {
            DigestKey.HEX: {"tag": tag, "sha": _map(digest, lambda d: d.removeprefix("sha256:"))},
            DigestKey.SHA_PREFIXED: {"tag": tag, "sha": digest},
            DigestKey.DIGEST: {"tag": tag, "digest": digest},
            DigestKey.IN_TAG: {"tag": _map(digest, lambda d: f"{tag}@{d}")},
        }[self.key]
        for step in reversed(self.path):
            block = {step: block}
        return block


def _map(value: Any, fn: Any) -> Any:
    """fn(value) for a plain string; for an Output (anything with `apply`), an Output of it."""
    return value.apply(fn) if hasattr(value, "apply") else fn(value)


KPS = charts.KUBE_PROMETHEUS_STACK.name
ADAPTER = charts.PROMETHEUS_ADAPTER.name
OPERATOR_VERSION = "v0.93.1"

IMAGES = (
    ChartImage(KPS, ("prometheusOperator", "image"), "quay.io/prometheus-operator/prometheus-operator", OPERATOR_VERSION, DigestKey.HEX),
    ChartImage(KPS, ("prometheusOperator", "prometheusConfigReloader", "image"), "quay.io/prometheus-operator/prometheus-config-reloader", OPERATOR_VERSION, DigestKey.HEX),
    ChartImage(KPS, ("prometheusOperator", "admissionWebhooks", "patch", "image"), "ghcr.io/jkroepke/kube-webhook-certgen", "1.8.7", DigestKey.HEX),
    ChartImage(KPS, ("prometheus", "prometheusSpec", "image"), "quay.io/prometheus/prometheus", "v3.14.0-distroless", DigestKey.HEX),
    ChartImage(KPS, ("alertmanager", "alertmanagerSpec", "image"), "quay.io/prometheus/alertmanager", "v0.34.0", DigestKey.HEX),
    ChartImage(KPS, ("kube-state-metrics", "image"), "registry.k8s.io/kube-state-metrics/kube-state-metrics", "v2.20.0", DigestKey.SHA_PREFIXED),
    ChartImage(KPS, ("prometheus-node-exporter", "image"), "quay.io/prometheus/node-exporter", "v1.12.1-distroless", DigestKey.DIGEST, tag_value="v1.12.1"),
    ChartImage(KPS, ("grafana", "image"), "docker.io/grafana/grafana", "13.2.0", DigestKey.HEX),
    ChartImage(KPS, ("grafana", "sidecar", "image"), "quay.io/kiwigrid/k8s-sidecar", "2.10.1", DigestKey.HEX),
    ChartImage(ADAPTER, ("image",), "registry.k8s.io/prometheus-adapter/prometheus-adapter", "v0.12.0", DigestKey.IN_TAG),
)
REPOSITORIES = tuple(image.repository for image in IMAGES)


def configured(digests: list[str]) -> dict[str, str]:
    """Repository -> digest from '<repository>@sha256:<hex>' pins (validated by the config model)."""
    return dict(digest_pins(digests, REPOSITORIES))


def merge(into: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """`into` with `extra` merged in depth (a copy; neither is changed)."""
    merged = dict(into)
    for key, value in extra.items():
        merged[key] = merge(merged[key], value) if isinstance(value, dict) and isinstance(merged.get(key), dict) else value
    return merged


def pinned_values(chart: str, values: dict[str, Any], digests: dict[str, Any]) -> dict[str, Any]:
    """A chart's values with every image of that chart found in `digests` (repository -> digest, which may be
    an Output) pinned by tag and digest."""
    for image in IMAGES:
        if image.chart == chart and image.repository in digests:
            values = merge(values, image.values(digests[image.repository]))
    return values
