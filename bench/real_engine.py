"""Preview and up of N services under the real engine, beside their floor, with and without the policy pack.

The tools and the local control plane are the e2e tier's (tools/e2e). For each N and each side,
- components: N GoServices (HPA, PDB, NetworkPolicy) each with its ServiceMonitoring;
- floor: exactly the same Kubernetes objects as raw pulumi_kubernetes resources, no components;
and each with the policy pack off and on, a fresh stack is previewed (the create), brought up
(readiness waits included) and destroyed (not timed). Every run is an Automation API inline
program driving the built CLI and provider against kube-apiserver on loopback.
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

import kubernetes

from bench.synth_scale import components_program, floor_objects, floor_program

NAMESPACE = "bench"
PACK_CONFIG = "prod"
SIDES = ("components", "floor")


def runs_for(n: int, repeat: int) -> int:
    """The median of `repeat` runs up to N = 10; one run above, where a single up takes minutes on 2 cores."""
    return repeat if n <= 10 else 1


def _ensure_namespace(cluster) -> None:
    core = kubernetes.client.CoreV1Api(cluster.api())
    if NAMESPACE not in {n.metadata.name for n in core.list_namespace().items}:
        labels = {"pod-security.kubernetes.io/enforce": "restricted"}
        core.create_namespace({"metadata": {"name": NAMESPACE, "labels": labels}})


def _one_run(engine, name: str, program, pack: bool) -> dict[str, Any]:
    stack = engine.stack(name, {}, program=program, pack_config=PACK_CONFIG)
    try:
        preview = stack.preview(policy=pack)
        if not preview.succeeded:
            raise RuntimeError(f"preview of {name} failed:\n{preview.error[-3000:]}")
        up = stack.up(policy=pack)
        if not up.succeeded:
            raise RuntimeError(f"up of {name} failed:\n{up.error[-3000:]}")
        state = stack.stack.export_stack().deployment["resources"]
        resources = len([r for r in state if not r["type"].startswith("pulumi:")])
        mandatory = [v for v in (*preview.violations, *up.violations) if v.level == "mandatory"]
        if mandatory:
            raise RuntimeError(f"{name}: the pack blocked the benchmark's own services: {mandatory[0].message}")
        return {"preview_s": preview.seconds, "up_s": up.seconds, "resources": resources, "violations": len(up.violations)}
    finally:
        destroyed = stack.destroy()
        if not destroyed.succeeded:
            raise RuntimeError(f"destroy of {name} failed:\n{destroyed.error[-3000:]}")
        stack.remove()


def _median(runs: list[dict[str, Any]], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def measure(engine, cluster, sizes: list[int], repeat: int, log=print) -> dict[str, Any]:
    """The real-engine table: per N, side and pack setting, median preview and up seconds, and the ratios."""
    _ensure_namespace(cluster)
    rows = []
    for n in sizes:
        programs = {"components": components_program(n), "floor": floor_program(floor_objects(n))}
        cells: dict[str, dict[str, Any]] = {}
        for side in SIDES:
            for pack in (False, True):
                key = f"{side}{'+pack' if pack else ''}"
                runs = []
                for i in range(runs_for(n, repeat)):
                    log(f"real engine: N={n} {key} run {i + 1}")
                    runs.append(_one_run(engine, f"bench-{side}-{n}-{'pack' if pack else 'bare'}-{i}", programs[side], pack))
                cells[key] = {
                    "runs": len(runs),
                    "preview_s": _median(runs, "preview_s"),
                    "up_s": _median(runs, "up_s"),
                    "resources": runs[0]["resources"],
                    "all": runs,
                }
        comp, floor = cells["components"], cells["floor"]
        comp_pack, floor_pack = cells["components+pack"], cells["floor+pack"]
        kube_objects = floor["resources"]
        rows.append(
            {
                "n": n,
                "cells": cells,
                "kubernetes_objects": kube_objects,
                "ratio_preview": comp["preview_s"] / floor["preview_s"],
                "ratio_up": comp["up_s"] / floor["up_s"],
                "ratio_preview_with_pack": comp_pack["preview_s"] / floor_pack["preview_s"],
                "ratio_up_with_pack": comp_pack["up_s"] / floor_pack["up_s"],
                # what the pack adds to an up of the components, per resource the engine sends it
                "pack_ms_per_resource_up": (comp_pack["up_s"] - comp["up_s"]) * 1000 / comp["resources"],
                "pack_ms_per_resource_preview": (comp_pack["preview_s"] - comp["preview_s"]) * 1000 / comp["resources"],
            }
        )
    return {"sizes": sizes, "repeat": repeat, "pack_config": PACK_CONFIG, "rows": rows}


def run(sizes: list[int], repeat: int, workdir: Path, log=print) -> dict[str, Any]:
    """Builds (or reuses) the e2e tools, starts a local cluster, measures, stops it."""
    from tools.e2e import build
    from tools.e2e.cluster import LocalCluster
    from tools.e2e.engine import RealEngine

    root = Path(__file__).resolve().parent.parent
    toolset = build.build()
    with LocalCluster(toolset, workdir / "cluster") as cluster:
        engine = RealEngine(toolset, cluster.kubeconfig, workdir / "engine", root)
        result = measure(engine, cluster, sizes, repeat, log)
        result["tools"] = {"pulumi": toolset.versions["pulumi"], "pulumi-kubernetes": toolset.versions["pulumi-kubernetes"], "kubernetes": toolset.versions["kubernetes"]}
        result["cluster"] = {"nodes": [n["name"] for n in cluster.describe()["nodes"]]}
        return result
