"""From a capacity curve to a stack's numbers: the per-pod RPS target, CPU request, memory and HPA CPU target.

Pure: curves and a stack's config in, a proposal out, so tests can check the arithmetic on curves
of their own. The rules, each from the curve:
- capacity: the highest rate served with p99 under the stack's `alertLatencyP99Seconds`, no
  failures and at least 90% of the offered rate, and, under a CPU limit, using no more CPU than
  the limit (the curve is measured with one core's worth of Go scheduler and no quota);
- `hpaRequestsPerSecond`: HEADROOM of that capacity, so a pod at its target still has room
  while new pods start;
- `cpuRequest`: the CPU a pod uses at that target, divided by CPU_TARGET_SHARE, so it reserves
  what it uses with room for bursts; `hpaCpuUtilization` is then the share of the request used
  at the target, so the CPU metric and the RPS metric ask for a new pod at the same load;
- `memoryRequest` (= the limit): the peak RSS up to one step past the knee times
  MEMORY_HEADROOM: an overloaded pod queues connections and grows, and its limit must survive
  that until the HPA has added pods.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

from stacks import config as stack_config
from components.config import quantity
from components.k8s.resources import gomemlimit
from tools.size.measure import Curve, Step, saturated

HEADROOM = 0.7
CPU_TARGET_SHARE = 0.8
MEMORY_HEADROOM = 1.25
MIN_CPU_MILLI = 10
MEMORY_STEP = 16 * 1024 * 1024
MIN_MEMORY = 32 * 1024 * 1024
KEYS = ("hpaRequestsPerSecond", "cpuRequest", "memoryRequest", "hpaCpuUtilization")


def current(config: dict[str, Any]) -> dict[str, Any]:
    """The stack's values of what sizing proposes, with the project's defaults where the stack sets none."""
    spec = stack_config.load(config)
    service = spec.service
    return {
        "hpaRequestsPerSecond": service.autoscaling.requests_per_second,
        "cpuRequest": service.resources.cpu_request,
        "cpuLimit": service.resources.cpu_limit,
        "memoryRequest": service.resources.memory_request,
        "memoryLimit": service.resources.effective_memory_limit,
        "hpaCpuUtilization": service.autoscaling.cpu_utilization,
        "alertLatencyP99Seconds": spec.monitoring.service.alerts.latency_p99_seconds if spec.monitoring else "0.5",
        "gomemlimit": gomemlimit(service.resources.effective_memory_limit, service.go_mem_limit_percent),
    }


def usable(curve: Curve, slo: float) -> list[Step]:
    """Steps served within the latency objective, before the first that was not."""
    steps = []
    for s in curve.steps:
        if saturated(s, slo):
            break
        steps.append(s)
    return steps


def cores_at(steps: list[Step], rps: float) -> float:
    """CPU cores the service used at `rps`, interpolated between the steps around it (pass only usable steps:
    past the knee, the rate served falls while the CPU spent rises)."""
    points = sorted((s.achieved_rps, s.cpu_seconds / s.seconds) for s in steps if s.seconds > 0)
    below = [p for p in points if p[0] <= rps] or points[:1]
    above = [p for p in points if p[0] >= rps] or points[-1:]
    (x0, y0), (x1, y1) = below[-1], above[0]
    if x1 == x0:
        return y0
    return y0 + (y1 - y0) * (rps - x0) / (x1 - x0)


def _milli(cores: float) -> str:
    return f"{max(MIN_CPU_MILLI, math.ceil(round(cores * 1000, 6) / 5) * 5)}m"


def _mebi(value: float) -> str:
    return f"{max(MIN_MEMORY, math.ceil(value / MEMORY_STEP) * MEMORY_STEP) // (1024 * 1024)}Mi"


def propose(curves: list[Curve], now: dict[str, Any]) -> dict[str, Any]:
    """The proposal for one stack from its curves (one per scenario, measured under its GOMEMLIMIT)."""
    slo = float(now["alertLatencyP99Seconds"])
    limit = float(quantity(now["cpuLimit"])) if now.get("cpuLimit") else None
    capacities = {}
    for c in curves:
        fine = [s for s in usable(c, slo) if limit is None or s.cpu_seconds / s.seconds <= limit]
        if not fine:
            raise ValueError(f"scenario {c.scenario}: even the first step ({c.steps[0].offered_rps} rps) missed p99 {slo}s or the CPU limit; start lower")
        capacities[c.scenario] = max(s.achieved_rps for s in fine)
    binding = min(capacities, key=capacities.get)
    capacity = capacities[binding]
    target = max(1, math.floor(capacity * HEADROOM))
    curve = next(c for c in curves if c.scenario == binding)
    cores = cores_at(usable(curve, slo), target)
    request = _milli(cores / CPU_TARGET_SHARE)
    if limit is not None and quantity(request) > limit:
        request = _milli(limit)
    utilization = min(100, max(1, round(100 * cores / float(quantity(request)))))
    past_knee = [s for c in curves for s in c.steps[: len(usable(c, slo)) + 1]]
    peak = max(s.peak_rss_bytes for s in past_knee)
    memory = _mebi(peak * MEMORY_HEADROOM)
    proposal = {"hpaRequestsPerSecond": str(target), "cpuRequest": request, "memoryRequest": memory, "hpaCpuUtilization": utilization}
    return {
        "capacity_rps": round(capacity, 1),
        # Not a knee the curve reached, nor a CPU limit: the service kept up with every rate tried.
        "capacity_is_lower_bound": not curve.saturated and capacity >= max(s.achieved_rps for s in curve.steps),
        "capacity_by_scenario": capacities,
        "binding_scenario": binding,
        "cpu_limit_cores": limit,
        "cores_at_target": round(cores, 4),
        "peak_rss_bytes": peak,
        "proposal": proposal,
        "difference": difference(now, proposal),
    }


def difference(now: dict[str, Any], proposal: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per key: current, proposed, and the ratio where both are amounts."""
    out = {}
    for key in KEYS:
        old, new = now.get(key), proposal[key]
        ratio = None
        if old not in (None, ""):
            a, b = Decimal(str(quantity(str(old)))), Decimal(str(quantity(str(new))))
            ratio = round(float(b / a), 2) if a else None
        out[key] = {"current": old, "proposed": new, "ratio": ratio}
    return out


def over_capacity(report: dict[str, Any], config: dict[str, Any]) -> str | None:
    """A message when the stack's RPS target is above the per-pod capacity the report measured, else None."""
    now = current(config)
    target = now["hpaRequestsPerSecond"]
    if target is None or float(target) <= report["capacity_rps"]:
        return None
    return (
        f"gosvc:hpaRequestsPerSecond is {target} but one pod served at most {report['capacity_rps']} requests/s within "
        f"p99 {now['alertLatencyP99Seconds']}s (build/size report of {report['measured_at']}); pods would miss the latency "
        f"objective before the HPA adds any. Proposed: {report['proposal']['hpaRequestsPerSecond']}"
    )


def rewrite(text: str, values: dict[str, Any]) -> tuple[str, list[str]]:
    """A stack file's text with `gosvc:<key>` set to each value, comments and every other line kept; and what changed.

    A key the file does not set yet is added at the end of its `config:` block.
    """
    lines = text.splitlines()
    changes = []
    for key, value in values.items():
        rendered = f'"{value}"' if isinstance(value, str) else str(value)
        pattern = f"  gosvc:{key}:"
        found = [i for i, line in enumerate(lines) if line.startswith(pattern)]
        if found:
            old = lines[found[0]][len(pattern):].strip()
            if old.strip('"') != str(value):
                lines[found[0]] = f"{pattern} {rendered}"
                changes.append(f"gosvc:{key}: {old} -> {rendered}")
        else:
            lines.append(f"{pattern} {rendered}")
            changes.append(f"gosvc:{key}: (unset) -> {rendered}")
    return "\n".join(lines) + "\n", changes
