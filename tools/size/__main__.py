"""`make size`: measure the sample service's capacity curve per stack and propose its sizing.

    python -m tools.size [--stacks dev,staging,prod] [--step-seconds 5] [--apply] [--plot FILE]
    python -m tools.size check --stack prod     # advisory: the stack's RPS target against the measured capacity
    python -m tools.size propose --stacks prod  # derive again from the curves already in build/size (no measuring)

Writes build/size/<stack>.json (curves, capacity, current values, proposal, difference) and
prints the proposal beside the stack's values. --apply rewrites the stack file's keys, printing
each change; nothing is rewritten without it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

from tools.e2e.overlay import committed_config
from tools.size import measure, proposal

ROOT = measure.ROOT
OUT = ROOT / "build" / "size"


def _machine() -> dict:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")), platform.processor())
    return {"cpus": len(os.sched_getaffinity(0)), "cpu_model": model, "pinned": bool(measure.cores()[0])}


def _curves(report: dict) -> list[measure.Curve]:
    return [
        measure.Curve(c["scenario"], c["gomemlimit"], [measure.Step(**s) for s in c["steps"]], c["saturated"], c.get("generator_bound", False))
        for c in report["curves"]
    ]


def run(stacks: list[str], step_seconds: float, start: int, stop: int, out: Path, apply: bool, measure_anew: bool = True) -> dict[str, dict]:
    if measure_anew:
        app, loadgen = measure.build(out / "bin")
    reports = {}
    for stack in stacks:
        config = committed_config(stack)
        now = proposal.current(config)
        if measure_anew:
            rates = measure.geometric_rates(start, stop)
            curves = [measure.curve(app, loadgen, scenario, now["gomemlimit"], rates, step_seconds, float(now["alertLatencyP99Seconds"])) for scenario in measure.SCENARIOS]
            base = {"measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "machine": _machine(), "step_seconds": step_seconds}
        else:
            previous = json.loads((out / f"{stack}.json").read_text())
            curves = _curves(previous)
            base = {k: previous[k] for k in ("measured_at", "machine", "step_seconds")}
        derived = proposal.propose(curves, now)
        report = {"stack": stack, **base, "current": now, "curves": [c.to_json() for c in curves], **derived}
        out.mkdir(parents=True, exist_ok=True)
        (out / f"{stack}.json").write_text(json.dumps(report, indent=2) + "\n")
        reports[stack] = report
        bound = " (a lower bound: the curve ended before the service's knee)" if report["capacity_is_lower_bound"] else ""
        print(f"\n{stack}: capacity {report['capacity_rps']} requests/s per pod within p99 {now['alertLatencyP99Seconds']}s ({report['binding_scenario']}){bound}")
        print(f"  {'key':<22}{'current':>12}{'proposed':>12}{'ratio':>8}")
        for key, row in report["difference"].items():
            print(f"  {key:<22}{str(row['current']):>12}{str(row['proposed']):>12}{str(row['ratio'] or '-'):>8}")
        if apply:
            path = ROOT / "stacks" / f"Pulumi.{stack}.yaml"
            text, changes = proposal.rewrite(path.read_text(), report["proposal"])
            path.write_text(text)
            print("  applied to " + str(path.relative_to(ROOT)) + ": " + ("; ".join(changes) or "nothing to change"))
    return reports


def plot(reports: dict[str, dict], path: Path) -> None:
    """RPS against p99 latency and CPU, one line per stack and scenario."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (latency, cpu) = plt.subplots(1, 2, figsize=(11, 4.2))
    for stack, report in reports.items():
        for curve in report["curves"]:
            steps = curve["steps"]
            rps = [s["achieved_rps"] for s in steps]
            latency.plot(rps, [s["p99_seconds"] * 1000 for s in steps], marker="o", label=f"{stack} {curve['scenario']}")
            cpu.plot(rps, [s["cpu_seconds"] / s["seconds"] for s in steps], marker="o", label=f"{stack} {curve['scenario']}")
    latency.set(xlabel="achieved requests/s", ylabel="p99 latency (ms)", yscale="log", title="p99 latency, one pod (GOMAXPROCS=1)")
    cpu.set(xlabel="achieved requests/s", ylabel="CPU cores used", title="CPU used by the service")
    for ax in (latency, cpu):
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def check(stack: str, out: Path) -> int:
    """Advisory: prints a finding when the stack's RPS target exceeds the measured capacity; always exits 0."""
    report_path = out / f"{stack}.json"
    if not report_path.exists():
        print(f"size: no report for {stack} ({report_path}); run `make size` to measure")
        return 0
    message = proposal.over_capacity(json.loads(report_path.read_text()), committed_config(stack))
    print(f"advisory  size-capacity  {stack}: {message}" if message else f"size: {stack}'s RPS target is within the measured capacity")
    return 0


def main(argv: list[str]) -> int:
    if argv[:1] == ["propose"]:
        parser = argparse.ArgumentParser(prog="python -m tools.size propose")
        parser.add_argument("--stacks", default="dev,staging,prod")
        parser.add_argument("--out", type=Path, default=OUT)
        parser.add_argument("--apply", action="store_true")
        parser.add_argument("--plot", type=Path)
        args = parser.parse_args(argv[1:])
        reports = run(args.stacks.split(","), 0, 0, 0, args.out, args.apply, measure_anew=False)
        if args.plot:
            plot(reports, args.plot)
        return 0
    if argv[:1] == ["check"]:
        parser = argparse.ArgumentParser(prog="python -m tools.size check")
        parser.add_argument("--stack", required=True)
        parser.add_argument("--out", type=Path, default=OUT)
        args = parser.parse_args(argv[1:])
        return check(args.stack, args.out)
    parser = argparse.ArgumentParser(prog="python -m tools.size", description=__doc__.splitlines()[0])
    parser.add_argument("--stacks", default="dev,staging,prod")
    parser.add_argument("--step-seconds", type=float, default=5.0, help="how long each offered rate is held")
    parser.add_argument("--start-rps", type=int, default=250)
    parser.add_argument("--max-rps", type=int, default=250000, help="stop stepping here even if the service keeps up")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--apply", action="store_true", help="rewrite the stack files' keys with the proposal")
    parser.add_argument("--plot", type=Path, help="write a PNG of the curves")
    args = parser.parse_args(argv)
    reports = run(args.stacks.split(","), args.step_seconds, args.start_rps, args.max_rps, args.out, args.apply)
    if args.plot:
        plot(reports, args.plot)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
