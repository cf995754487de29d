"""Policy cost over N services: the whole pack through its real Analyzer process, and each rule in-process.

The in-process timing builds each rule's arguments the way the pulumi_policy server does
in Analyze and AnalyzeStack (Struct round trip, deserialization, unknown-checking proxy),
so per-rule figures include the work the server repeats for every policy.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from google.protobuf import json_format
from pulumi_policy import PolicyCustomTimeouts, PolicyResource, PolicyResourceOptions, ResourceValidationArgs, StackValidationArgs
from pulumi_policy import ResourceValidationPolicy, StackValidationPolicy
from pulumi_policy.deserialize import deserialize_properties
from pulumi_policy.policy import _NotApplicableError
from pulumi_policy.proxy import unknown_checking_proxy

from bench.synth_scale import components_program
from components import policy_runner
from components.engine import run

ROOT = Path(__file__).resolve().parent.parent
PACK = ROOT / "policies"
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


def measure(n: int) -> dict[str, Any]:
    registrations = run(components_program(n)).registrations
    resources = [policy_runner.analyzer_resource(r) for r in registrations]
    with policy_runner.PolicyPackProcess(PACK) as pack:
        settings = pack.configure(policy_runner.load_config(CONFIG), stack="bench")
        start = time.perf_counter()
        report = pack.evaluate(registrations, stack="bench")
        total = time.perf_counter() - start
    _time_rules(resources[:1], settings)  # warm-up: first-use imports stay out of the per-rule figures
    rules = _time_rules(resources, settings)
    per_policy = {r["policy"]: r["ms"] for r in rules}
    return {
        "n": n,
        "resources": len(resources),
        "policies": len(rules),
        "total_seconds": total,
        "per_resource_ms": total * 1000 / len(resources),
        "per_rule_ms": sum(per_policy.values()) / len(per_policy),
        "in_process_seconds": sum(per_policy.values()) / 1000,
        "violations": len(report.violations),
        "mandatory": len(report.mandatory),
        "per_policy_ms": per_policy,
        "rules": rules,
        "slowest": sorted(rules, key=lambda r: -r["ms"])[:5],
    }
