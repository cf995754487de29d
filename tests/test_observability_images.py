"""The monitoring charts' images pinned by digest: each chart's own digest key, the config model, the component."""

from __future__ import annotations

import pytest

from components.errors import ConfigError
from components.observability import PrometheusStack, images
from components.observability.component import resolve_prometheus_stack
from tools.offline.engine import PLACEHOLDERS, run

DIGEST = "sha256:" + "ab" * 32
BY_REPOSITORY = {image.repository: image for image in images.IMAGES}


class FakeOutput:
    """Stands in for a pulumi.Output: only `apply` is used."""

    def __init__(self, value):
        self.value = value

    def apply(self, fn):
        return FakeOutput(fn(self.value))


def _at(values: dict, path: tuple[str, ...]) -> dict:
    for step in path:
        values = values[step]
    return values


@pytest.mark.parametrize(
    "repository,expected",
    [
        ("quay.io/prometheus-operator/prometheus-operator", {"tag": "v0.93.1", "sha": "ab" * 32}),
        ("registry.k8s.io/kube-state-metrics/kube-state-metrics", {"tag": "v2.20.0", "sha": DIGEST}),
        ("quay.io/prometheus/node-exporter", {"tag": "v1.12.1", "digest": DIGEST}),
        ("registry.k8s.io/prometheus-adapter/prometheus-adapter", {"tag": f"v0.12.0@{DIGEST}"}),
    ],
)
def test_each_chart_takes_the_digest_in_its_own_key(repository, expected):
    image = BY_REPOSITORY[repository]
    assert _at(image.values(DIGEST), image.path) == expected


def test_a_digest_known_only_at_deploy_time_stays_an_output():
    grafana = BY_REPOSITORY["docker.io/grafana/grafana"]
    block = _at(grafana.values(FakeOutput(DIGEST)), grafana.path)
    assert block["tag"] == grafana.tag and isinstance(block["sha"], FakeOutput) and block["sha"].value == "ab" * 32


def test_pinning_one_chart_leaves_its_other_values_and_the_other_chart_alone():
    values = {"grafana": {"image": {"pullPolicy": "Always"}, "replicas": 1}, "fullnameOverride": "x"}
    digests = {"docker.io/grafana/grafana": DIGEST, "registry.k8s.io/prometheus-adapter/prometheus-adapter": DIGEST}
    pinned = images.pinned_values(images.KPS, values, digests)
    assert pinned["grafana"]["image"] == {"pullPolicy": "Always", "tag": BY_REPOSITORY["docker.io/grafana/grafana"].tag, "sha": "ab" * 32}
    assert pinned["grafana"]["replicas"] == 1 and pinned["fullnameOverride"] == "x"
    assert "image" not in pinned and values["grafana"]["image"] == {"pullPolicy": "Always"}, "the adapter's pin is not the stack chart's; the input is unchanged"


@pytest.mark.parametrize(
    "ref,fragment",
    [
        ("quay.io/prometheus/prometheus:v3.14.0", "must be '<repository>@sha256:<64 hex digits>'"),
        (f"quay.io/prometheus/prometheus@sha256:{'AB' * 32}", "must be '<repository>@sha256:<64 hex digits>'"),
        (f"docker.io/library/busybox@{DIGEST}", "the repository must be one of"),
    ],
)
def test_bad_pins_are_refused_naming_the_key(ref, fragment):
    with pytest.raises(ConfigError, match="image_digests") as err:
        resolve_prometheus_stack("mon", {"image_digests": [ref]})[0]
    assert fragment in str(err.value)


def test_a_repository_pinned_twice_is_refused():
    ref = f"quay.io/prometheus/prometheus@{DIGEST}"
    with pytest.raises(ConfigError, match="pinned twice"):
        resolve_prometheus_stack("mon", {"image_digests": [ref, ref.replace("ab", "cd")]})[0]


def _release_values(result) -> dict[str, dict]:
    return {r.inputs["chart"].rsplit("/", 1)[-1]: r.inputs["values"] for r in result.registrations if r.type.endswith(":Release")}


def test_resolved_digests_pin_every_chart_image_and_explicit_pins_win():
    pinned = f"quay.io/prometheus/prometheus@{DIGEST}"
    result = run(lambda: PrometheusStack("mon", {"resolve_digests": True, "image_digests": [pinned]}))
    values = _release_values(result)
    resolved = PLACEHOLDERS["registry_digest"]
    for image in images.IMAGES:
        block = _at(values[image.chart], image.path)
        expected = DIGEST if image.repository == "quay.io/prometheus/prometheus" else resolved
        assert expected in (block.get("sha"), block.get("digest"), "sha256:" + str(block.get("sha")), block["tag"].partition("@")[2]), (image, block)
    asked = sorted(args["name"] for token, args in result.calls if token == "docker:index/getRegistryImage:getRegistryImage")
    assert asked == sorted(i.reference for i in images.IMAGES if i.repository != "quay.io/prometheus/prometheus")


def test_without_digests_the_charts_choose_their_tags():
    values = _release_values(run(lambda: PrometheusStack("mon", {})))
    assert "image" not in values["prometheus-adapter"] and "image" not in values["kube-prometheus-stack"]["grafana"]
