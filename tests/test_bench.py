"""`make bench` runs end to end at N=1 and writes every field; the figures themselves are reported, never asserted on time."""

import json
import subprocess
import sys

from tests.conftest import ROOT


def test_bench_runs_at_n_1_and_writes_every_field(tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--sizes", "1", "--repeat", "1", "--policy-growth-sizes", "1,2", "--real-engine-sizes", "none", "--image-engine", "none", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=1800,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for title in ("Artifact size", "Layer reuse", "Synth scale", "Policy cost", "Policy growth"):
        assert f"== {title}" in proc.stdout
    report = json.loads(out.read_text())
    assert set(report) >= {"measured_at", "machine", "sizes", "artifact", "layers", "synth_scale", "policy_cost"}

    art = report["artifact"]
    assert 0 < art["optimized_binary_bytes"] < art["plain_binary_bytes"]
    assert set(art["images"]) == {"distroless", "alpine", "scratch"}
    assert all(v["over_floor"] >= 1 and v["base_source"] and v["measured"] is False for v in art["images"].values()), "no engine asked for: documented sizes"
    assert set(art["usual_images"]) == {"single-stage golang", "multi-stage alpine"}

    lay = report["layers"]
    assert lay["source_change_reuses_download"] is True
    assert lay["go_mod_change_reruns_download"] is True
    assert "COPY . ." in lay["source_change"]["steps_rebuilt"]

    (row,) = report["synth_scale"]["rows"]
    assert row["n"] == 1
    for side in ("components", "floor"):
        assert row[side]["seconds"] > 0 and row[side]["peak_rss_kib"] > 0 and row[side]["resources"] > 0
    assert row["components"]["kubernetes_objects"] == row["floor"]["kubernetes_objects"]
    assert row["peer_cdk8s_plus"]["objects"] >= 4 and row["peer_cdk8s_plus"]["seconds"] > 0
    assert row["ratio_to_floor"] > 0 and row["ratio_to_peer"] > 0
    assert set(report["synth_scale"]["fit"]) == {"slope_s_per_service", "intercept_s", "r2"}
    assert report["synth_scale"]["verdict"]

    policy = report["policy_cost"]
    assert policy["n"] == 1 and policy["resources"] > 0 and policy["policies"] > 0
    assert policy["per_resource_ms"] > 0 and policy["per_rule_ms"] > 0
    assert policy["slowest"] and all(r["policy"] and r["ms"] >= 0 for r in policy["slowest"])
    assert set(policy["per_policy_ms"]) == {r["policy"] for r in policy["rules"]}
    floor = policy["floor"]
    assert floor["total_seconds"] > 0 and floor["per_resource_ms"] > 0
    assert policy["ratio_to_floor"] == policy["total_seconds"] / floor["total_seconds"]
    grow = policy["growth"]
    assert [r["n"] for r in grow["rows"]] == [1, 2] and grow["rows"][1]["resources"] == 2 * grow["rows"][0]["resources"]
    assert set(grow["fit"]) == {"slope_s_per_service", "intercept_s", "r2"} and grow["verdict"]
    assert report["real_engine"] is None, "--real-engine-sizes none skips it; tests/e2e runs it at N = 1"
    assert row["components"]["inner_runs"] == row["floor"]["inner_runs"] == 15
    assert row["ratio_to_floor_of_fastest"] > 0
