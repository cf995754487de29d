"""How synth cost grows with the number of services, beside its floor and a peer.

Each measurement runs in a fresh process so peak memory belongs to that run alone:
- components: N GoService components (HPA, PDB, NetworkPolicy, monitoring) under the mock engine;
- floor: exactly the same Kubernetes objects registered as raw pulumi_kubernetes resources
  under the same mock engine, so the ratio is what the components themselves cost;
- peer: the same services written with cdk8s-plus (bench/cdk8s/synth.js), synthesized in memory.
"""

from __future__ import annotations

import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PEER_DIR = Path(__file__).resolve().parent / "cdk8s"
IMAGE = "registry.example.com/bench/svc@sha256:" + "5" * 64  # synthetic: a digest reference, as prod deploys


def service_args(i: int) -> dict[str, Any]:
    return {"image": IMAGE, "namespace": "bench", "autoscaling": {"min_replicas": 2, "max_replicas": 4}}


def components_program(n: int):
    """N services, each a GoService (HPA, PDB, NetworkPolicy) with its ServiceMonitoring (monitor, rules, dashboard)."""
    from components.observability import ServiceMonitoring
    from components.service import GoService

    def program() -> None:
        for i in range(n):
            name = f"svc{i:03d}"
            GoService(name, service_args(i))
            ServiceMonitoring(name, {"service_name": name, "namespace": "bench", "instance": name, "hpa_enabled": True})

    return program


def floor_objects(n: int) -> list[dict[str, Any]]:
    """The same objects the components register, built by the pure spec functions ahead of time."""
    from tools.offline.engine import run

    result = run(components_program(n))
    return [
        {"type": r.type, "name": r.name, "inputs": r.inputs}
        for r in result.registrations
        if r.custom and r.type.startswith("kubernetes:")
    ]


def floor_program(objects: list[dict[str, Any]]):
    """Registers each object directly: no components, no validation, no spec building."""
    import pulumi

    from components.k8s.register import register

    def program() -> None:
        for obj in objects:
            register(obj["inputs"], obj["name"], pulumi.ResourceOptions())

    return program


def inner_runs(n: int) -> int:
    """Timed runs per process: a run at N <= 10 takes a fraction of a second and varies by a third
    from run to run (event loop scheduling, garbage collection), so small N gets more of them."""
    return 15 if n <= 10 else 1


def measure(mode: str, n: int) -> dict[str, Any]:
    """One process's measurement: the median wall time of its mock-engine runs, registrations, peak RSS."""
    from tools.offline.engine import run

    if mode == "components":
        program = components_program(n)
        run(components_program(1))  # warm-up: imports and first-use costs stay out of the timing, as in floor mode
    elif mode == "floor":
        program = floor_program(floor_objects(n))
        run(floor_program(floor_objects(1)))
    else:
        raise ValueError(f"unknown mode {mode!r}")
    times = []
    for _ in range(inner_runs(n)):
        start = time.perf_counter()
        result = run(program)
        times.append(time.perf_counter() - start)
    kubernetes = [r for r in result.registrations if r.custom and r.type.startswith("kubernetes:")]
    return {
        "n": n,
        "seconds": statistics.median(times),
        "min_seconds": min(times),
        "inner_runs": len(times),
        "resources": len(result.registrations),
        "kubernetes_objects": len(kubernetes),
        "peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    }


def _in_child(mode: str, n: int) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-m", "bench.synth_scale", mode, str(n)], cwd=ROOT, capture_output=True, text=True, timeout=1800
    )
    if proc.returncode != 0:
        raise RuntimeError(f"bench {mode} n={n} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _peer(n: int) -> dict[str, Any]:
    if not (PEER_DIR / "node_modules" / "cdk8s-plus-33").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=PEER_DIR, check=True, timeout=600)
    proc = subprocess.run(["node", "synth.js", str(n)], cwd=PEER_DIR, capture_output=True, text=True, check=True, timeout=600)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _median_run(fn, repeat: int) -> dict[str, Any]:
    runs = [fn() for _ in range(repeat)]
    best = sorted(runs, key=lambda r: r["seconds"])[len(runs) // 2]
    return {**best, "seconds_all": [round(r["seconds"], 4) for r in runs], "min_seconds": min(r.get("min_seconds", r["seconds"]) for r in runs)}


def linear_fit(points: list[tuple[float, float]]) -> dict[str, float]:
    """Least-squares line through (n, seconds) and its R^2."""
    xs, ys = zip(*points)
    if len(set(xs)) < 2:
        return {"slope_s_per_service": ys[0] / xs[0], "intercept_s": 0.0, "r2": 1.0}
    slope, intercept = statistics.linear_regression(xs, ys)
    mean = statistics.fmean(ys)
    total = sum((y - mean) ** 2 for y in ys)
    residual = sum((y - (slope * x + intercept)) ** 2 for x, y in points)
    return {"slope_s_per_service": slope, "intercept_s": intercept, "r2": 1 - residual / total if total else 1.0}


def run_scale(sizes: list[int], repeat: int) -> dict[str, Any]:
    rows = []
    for n in sizes:
        comp = _median_run(lambda: _in_child("components", n), repeat)
        floor = _median_run(lambda: _in_child("floor", n), repeat)
        peer = _median_run(lambda: _peer(n), repeat)
        if comp["kubernetes_objects"] != floor["kubernetes_objects"]:
            raise RuntimeError(f"floor registered {floor['kubernetes_objects']} objects, components {comp['kubernetes_objects']}")
        rows.append(
            {
                "n": n,
                "components": comp,
                "floor": floor,
                "peer_cdk8s_plus": peer,
                "seconds_per_resource": comp["seconds"] / comp["resources"],
                "ratio_to_floor": comp["seconds"] / floor["seconds"],
                "ratio_to_floor_of_fastest": comp["min_seconds"] / floor["min_seconds"],
                "ratio_to_peer": comp["seconds"] / peer["seconds"],
            }
        )
    fit = linear_fit([(r["n"], r["components"]["seconds"]) for r in rows])
    per_resource = [r["seconds_per_resource"] for r in rows if r["n"] >= 10] or [rows[-1]["seconds_per_resource"]]
    growth = max(per_resource) / min(per_resource)
    linear = fit["r2"] >= 0.98 and growth <= 1.5
    verdict = (
        f"linear: R^2 {fit['r2']:.3f}, time per resource varies {growth:.2f}x across N >= 10"
        if linear
        else f"not clearly linear: R^2 {fit['r2']:.3f}, time per resource varies {growth:.2f}x across N >= 10"
    )
    return {"rows": rows, "fit": fit, "linear": linear, "verdict": verdict}


if __name__ == "__main__":
    print(json.dumps(measure(sys.argv[1], int(sys.argv[2]))))
