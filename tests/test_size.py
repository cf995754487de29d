"""Right-sizing (`make size`): the proposal's arithmetic on curves of known shape, the stack-file rewrite,
the advisory check, and one tiny real run of the service under vegeta (its figures are not asserted, only
the report's fields and the proposal's consistency: no timed assertions)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from stacks import config as stack_config
from components.config import quantity
from tests.conftest import ROOT
from tools.e2e.overlay import committed_config
from tools.size import proposal
from tools.size.measure import Curve, Step, geometric_rates, saturated


def step(rps: float, p99: float, cores: float, rss_mib: int = 20, achieved: float | None = None) -> Step:
    served = rps if achieved is None else achieved
    return Step(rps, served, int(served * 5), 1.0, p99 / 3, p99, 5.0, cores * 5, cores * 5 / max(1, served * 5), rss_mib << 20, 4 << 20)


def knee_curve(scenario: str = "greet", knee: float = 4000) -> Curve:
    """Linear CPU up to the knee at `knee` requests/s, then latency explodes and the served rate falls."""
    rates = [500, 1000, 2000, knee]
    steps = [step(r, 0.002 + r / knee * 0.01, r / knee * 0.8) for r in rates]
    steps.append(step(knee * 1.5, 2.5, 1.0, rss_mib=120, achieved=knee * 0.9))
    return Curve(scenario, "230MiB", steps, saturated=True)


NOW = {"hpaRequestsPerSecond": "100", "cpuRequest": "250m", "cpuLimit": "1", "memoryRequest": "256Mi", "memoryLimit": "256Mi",
       "hpaCpuUtilization": 65, "alertLatencyP99Seconds": 0.3, "gomemlimit": "230MiB"}


def test_the_rps_target_keeps_headroom_below_the_knee():
    result = proposal.propose([knee_curve()], NOW)
    assert result["capacity_rps"] == 4000
    assert int(result["proposal"]["hpaRequestsPerSecond"]) == int(4000 * proposal.HEADROOM)


def test_cpu_request_and_hpa_target_agree_at_the_rps_target():
    result = proposal.propose([knee_curve()], NOW)
    target = int(result["proposal"]["hpaRequestsPerSecond"])
    cores = target / 4000 * 0.8  # the curve's CPU is linear up to the knee
    assert result["cores_at_target"] == pytest.approx(cores, rel=1e-6)
    request = float(quantity(result["proposal"]["cpuRequest"]))
    assert cores / proposal.CPU_TARGET_SHARE <= request < cores / proposal.CPU_TARGET_SHARE + 0.005
    assert result["proposal"]["hpaCpuUtilization"] == round(100 * cores / request) <= 80


def test_memory_covers_the_peak_up_to_one_step_past_the_knee():
    result = proposal.propose([knee_curve()], NOW)
    assert result["peak_rss_bytes"] == 120 << 20
    assert quantity(result["proposal"]["memoryRequest"]) >= (120 << 20) * proposal.MEMORY_HEADROOM


def test_the_tightest_scenario_and_a_cpu_limit_bind():
    result = proposal.propose([knee_curve("greet", 4000), knee_curve("mix", 2000)], {**NOW, "cpuLimit": "500m"})
    assert result["binding_scenario"] == "mix" and result["cpu_limit_cores"] == 0.5
    assert result["capacity_rps"] == 1000, "mix uses 0.5 cores at 1000 requests/s: the most the limit allows"
    assert quantity(result["proposal"]["cpuRequest"]) <= 0.5
    latency_bound = proposal.propose([knee_curve()], {**NOW, "alertLatencyP99Seconds": 0.008})
    assert latency_bound["capacity_rps"] == 2000, "steps whose p99 misses the objective do not count"


def test_a_curve_that_misses_the_objective_from_the_start_is_an_error():
    with pytest.raises(ValueError, match="start lower"):
        proposal.propose([knee_curve()], {**NOW, "alertLatencyP99Seconds": 0.001})


def test_saturation_is_a_lagging_rate_failures_or_latency():
    assert not saturated(step(1000, 0.01, 0.2), 0.3)
    assert saturated(step(1000, 0.01, 0.2, achieved=800), 0.3)
    assert saturated(step(1000, 0.5, 0.2), 0.3)
    assert geometric_rates(100, 400) == [100, 150, 225, 337]


def test_rewrite_changes_only_the_proposed_keys_and_keeps_comments():
    path = ROOT / "stacks" / "Pulumi.prod.yaml"
    before = path.read_text()
    values = {"hpaRequestsPerSecond": "700", "cpuRequest": "95m", "memoryRequest": "64Mi", "hpaCpuUtilization": 79}
    after, changes = proposal.rewrite(before, values)
    assert [c.split(":", 2)[1] for c in changes] == list(values)
    changed = [(a, b) for a, b in zip(before.splitlines(), after.splitlines()) if a != b]
    assert len(changed) == 4 and after.count("\n") == before.count("\n"), "each key's own line rewritten in place"
    assert [line for line in before.splitlines() if line.lstrip().startswith("#")] == [line for line in after.splitlines() if line.lstrip().startswith("#")]
    import yaml

    loaded = stack_config.load(yaml.safe_load(after)["config"])
    assert loaded.service.autoscaling.requests_per_second == "700" and loaded.service.resources.cpu_request == "95m"
    assert loaded.service.resources.memory_request == "64Mi" and loaded.service.autoscaling.cpu_utilization == 79
    assert proposal.rewrite(after, values)[1] == [], "applying twice changes nothing"
    dev = (ROOT / "stacks" / "Pulumi.dev.yaml").read_text()
    added, changes = proposal.rewrite(dev, {"hpaCpuUtilization": 79})
    assert changes == ["gosvc:hpaCpuUtilization: (unset) -> 79"] and added == dev + "  gosvc:hpaCpuUtilization: 79\n"


def test_the_check_flags_a_target_above_the_measured_capacity():
    config = committed_config("prod")
    report = {"capacity_rps": 80.0, "measured_at": "then", "proposal": {"hpaRequestsPerSecond": "56"}}
    message = proposal.over_capacity(report, config)
    assert message and "gosvc:hpaRequestsPerSecond is 100" in message and "80.0" in message and "56" in message
    assert proposal.over_capacity({**report, "capacity_rps": 5000.0}, config) is None


def test_a_tiny_real_run_writes_a_consistent_report(tmp_path):
    out = tmp_path / "size"
    run = subprocess.run(
        [sys.executable, "-m", "tools.size", "--stacks", "dev", "--step-seconds", "0.5", "--start-rps", "200", "--max-rps", "700",
         "--out", str(out), "--plot", str(out / "curve.png")],
        cwd=ROOT, capture_output=True, text=True, timeout=900,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    report = json.loads((out / "dev.json").read_text())
    assert {c["scenario"] for c in report["curves"]} == {"greet", "mix"}
    for c in report["curves"]:
        assert [s["offered_rps"] > 0 and s["requests"] > 0 and s["cpu_seconds"] >= 0 and s["peak_rss_bytes"] > 0 for s in c["steps"]]
    assert report["current"]["gomemlimit"] == "57MiB", "measured under dev's GOMEMLIMIT"
    target = float(report["proposal"]["hpaRequestsPerSecond"])
    assert 0 < target < report["capacity_rps"] <= max(s["achieved_rps"] for c in report["curves"] for s in c["steps"])
    request, limit = quantity(report["proposal"]["cpuRequest"]), quantity(report["current"]["cpuLimit"])
    assert 0 < request < limit
    assert quantity(report["proposal"]["memoryRequest"]) >= report["peak_rss_bytes"]
    assert set(report["difference"]) == set(proposal.KEYS)
    if not any(c["saturated"] for c in report["curves"]):
        assert report["capacity_is_lower_bound"] is True, "700 requests/s do not reach the knee: the report must say so"
    assert (out / "curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "dev: capacity" in run.stdout
    check = subprocess.run([sys.executable, "-m", "tools.size", "check", "--stack", "dev", "--out", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert check.returncode == 0 and "dev" in check.stdout
