"""`make bench`'s real-engine section at its smallest size: it runs under the real engine and writes every field.

The figures are reported by `make bench`, never asserted on time here.
"""

from __future__ import annotations

import kubernetes
import pytest

from bench import real_engine

pytestmark = pytest.mark.e2e


def test_real_engine_bench_runs_at_n_1_and_reports_every_field(engine, cluster, report):
    result = real_engine.measure(engine, cluster, [1], 1, log=lambda _line: None)
    (row,) = result["rows"]
    report.data["bench_real_engine_n1"] = {k: v for k, v in row.items() if k != "cells"}
    assert row["n"] == 1 and result["pack_config"] == "prod"
    assert set(row["cells"]) == {"components", "components+pack", "floor", "floor+pack"}
    for key, cell in row["cells"].items():
        assert cell["runs"] == 1 and cell["preview_s"] > 0 and cell["up_s"] > 0, key
        assert cell["all"][0]["violations"] >= 0
    # the same Kubernetes objects on both sides; the components add GoService and ServiceMonitoring
    assert row["kubernetes_objects"] == row["cells"]["floor"]["resources"] == 9
    assert row["cells"]["components"]["resources"] == row["kubernetes_objects"] + 2
    for ratio in ("ratio_preview", "ratio_up", "ratio_preview_with_pack", "ratio_up_with_pack"):
        assert row[ratio] > 0, ratio
    assert isinstance(row["pack_ms_per_resource_up"], float)
    # every stack the benchmark brought up was destroyed again
    apps = kubernetes.client.AppsV1Api(cluster.api())
    assert apps.list_namespaced_deployment(real_engine.NAMESPACE).items == []


def test_the_artifact_bench_weighs_real_images_where_an_engine_runs(docker_engine, report):
    """`make bench` builds the distroless and scratch images with the tier's Docker engine; each is its binary plus a
    base of a few hundred KiB to 2 MiB (scratch: the CA bundle only), as the documented arithmetic expects."""
    from bench import artifact

    built = artifact.built_images(docker_engine)
    report.data["real_nodes"]["bench_images"] = built
    assert set(built) == set(artifact.BUILT_RUNTIMES)
    for runtime, image in built.items():
        base = image["bytes"] - image["binary_bytes"]
        assert 0 < base < 3 * 1024 * 1024, (runtime, base)
    assert built["scratch"]["bytes"] < built["distroless"]["bytes"]
