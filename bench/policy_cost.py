"""Policy cost over N services: the whole pack through its real Analyzer process beside its floor, and each rule in-process.

The floor (bench/policy_floor) is the same policies with empty bodies, served by the same
pulumi_policy server in the same kind of process over the same resources: the difference is
what the rules themselves cost. The in-process timing builds each rule's arguments the way
the pulumi_policy server does in Analyze and AnalyzeStack (Struct round trip,
deserialization, unknown-checking proxy), so per-rule figures include the work the server
repeats for every policy; it is also measured up to N = 1,000 to see how it grows.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

from google.protobuf import json_format
from pulumi_policy import PolicyCustomTimeouts, PolicyResource, PolicyResourceOptions, ResourceValidationArgs, StackValidationArgs
from pulumi_policy import ResourceValidationPolicy, StackValidationPolicy
from pulumi_policy.deserialize import deserialize_properties
from pulumi_policy.policy import _NotApplicableError
from pulumi_policy.proxy import unknown_checking_proxy

from bench.synth_scale import components_program, linear_fit
from tools.offline import policy_runner
from tools.offline.engine import run

ROOT = Path(__file__).resolve().parent.parent
PACK = ROOT / "policies"
FLOOR_PACK = Path(__file__).resolve().parent / "policy_floor"
CONFIG = PACK / "config" / "prod.json"


def _options(parent: str) -> PolicyResourceOptions:
    return PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [], parent or None)


def _props(resource) -> Any:
    return unknown_checking_proxy(deserialize_properties(json_format.MessageToDict(resource.properties)))


def _time_rules(resources, settings: dict[str, policy_runner.PolicySetting]) -> list[dict[str, Any]]:
    from policies.rules import POLICIES

    def report(_message: str, _urn: str | None = None) -> None:
        pass

    rows = []
    for policy in POLICIES:
        config = settings.get(policy.name, policy_runner.PolicySetting()).properties
        start = time.perf_counter()
        try:
            if isinstance(policy, ResourceValidationPolicy):
                for r in resources:
                    args = ResourceValidationArgs(r.type, _props(r), r.urn, r.name, _options(r.parent), None, config)
                    try:
                        policy.validate(args, report)
                    except _NotApplicableError:
                        pass
            elif isinstance(policy, StackValidationPolicy):
                stack = [PolicyResource(r.type, _props(r), r.urn, r.name, _options(r.parent), None, None, [], {}) for r in resources]
                try:
                    policy.validate(StackValidationArgs(stack, config), report)
                except _NotApplicableError:
                    pass
        finally:
            rows.append({"policy": policy.name, "kind": "stack" if isinstance(policy, StackValidationPolicy) else "resource", "ms": (time.perf_counter() - start) * 1000})
    return rows


def _through_process(pack_dir: Path, registrations, repeat: int) -> dict[str, Any]:
    """Median wall time of Analyze for every resource then AnalyzeStack in one running pack process, and the settings it reconciled."""
    with policy_runner.PolicyPackProcess(pack_dir, python=policy_runner.pack_python(PACK)) as pack:
        settings = pack.configure(policy_runner.load_config(CONFIG), stack="bench")
        pack.evaluate(registrations[:1], stack="bench")  # warm-up: first-use imports in the pack process
        times, report = [], None
        for _ in range(repeat):
            start = time.perf_counter()
            report = pack.evaluate(registrations, stack="bench")
            times.append(time.perf_counter() - start)
        return {"seconds": statistics.median(times), "seconds_all": [round(t, 4) for t in times], "violations": len(report.violations), "mandatory": len(report.mandatory), "policies": len(pack.info().policies), "settings": settings}


def measure(n: int, repeat: int = 3) -> dict[str, Any]:
    registrations = run(components_program(n)).registrations
    resources = [policy_runner.analyzer_resource(r) for r in registrations]
    real = _through_process(PACK, registrations, repeat)
    floor = _through_process(FLOOR_PACK, registrations, repeat)
    if floor["policies"] != real["policies"]:
        raise RuntimeError(f"the floor pack serves {floor['policies']} policies, the real one {real['policies']}")
    settings = real["settings"]
    _time_rules(resources[:1], settings)  # warm-up: first-use imports stay out of the per-rule figures
    rules = _time_rules(resources, settings)
    per_policy = {r["policy"]: r["ms"] for r in rules}
    total = real["seconds"]
    count = len(resources)
    return {
        "n": n,
        "resources": count,
        "policies": len(rules),
        "runs": repeat,
        "total_seconds": total,
        "per_resource_ms": total * 1000 / count,
        "per_rule_ms": sum(per_policy.values()) / len(per_policy),
        "in_process_seconds": sum(per_policy.values()) / 1000,
        "violations": real["violations"],
        "mandatory": real["mandatory"],
        "floor": {
            "total_seconds": floor["seconds"],
            "seconds_all": floor["seconds_all"],
            "per_resource_ms": floor["seconds"] * 1000 / count,
            "per_resource_per_rule_ms": floor["seconds"] * 1000 / count / len(rules),
        },
        "seconds_all": real["seconds_all"],
        "per_resource_per_rule_ms": total * 1000 / count / len(rules),
        "ratio_to_floor": total / floor["seconds"],
        "rules_own_ms_per_resource": (total - floor["seconds"]) * 1000 / count,
        "per_policy_ms": per_policy,
        "rules": rules,
        "slowest": sorted(rules, key=lambda r: -r["ms"])[:5],
    }


def growth(sizes: list[int]) -> dict[str, Any]:
    """All rules in-process over N services for each N: seconds, per resource, a line fit and the slowest rule's share."""
    with policy_runner.PolicyPackProcess(PACK) as pack:
        settings = pack.configure(policy_runner.load_config(CONFIG), stack="bench")
    rows = []
    warmed = False
    for n in sizes:
        resources = [policy_runner.analyzer_resource(r) for r in run(components_program(n)).registrations]
        if not warmed:
            _time_rules(resources[:1], settings)
            warmed = True
        rules = _time_rules(resources, settings)
        seconds = sum(r["ms"] for r in rules) / 1000
        slowest = max(rules, key=lambda r: r["ms"])
        rows.append({"n": n, "resources": len(resources), "seconds": seconds, "per_resource_ms": seconds * 1000 / len(resources),
                     "slowest": {"policy": slowest["policy"], "ms": slowest["ms"]}})
    fit = linear_fit([(r["n"], r["seconds"]) for r in rows])
    per_resource = [r["per_resource_ms"] for r in rows]
    spread = max(per_resource) / min(per_resource)
    linear = fit["r2"] >= 0.98 and spread <= 1.5
    verdict = f"{'linear' if linear else 'not clearly linear'}: R^2 {fit['r2']:.3f}, time per resource varies {spread:.2f}x from N = {sizes[0]} to {sizes[-1]}"
    return {"rows": rows, "fit": fit, "linear": linear, "verdict": verdict}
