"""The floor of the gosvc policy pack, for `make bench`: the same policies with empty bodies.

Same names, kinds, enforcement levels, config schemas and remediation hooks, served by the
same pulumi_policy Analyzer server, so the difference to the real pack is what the rules
themselves cost. Started like the real pack: `python -u -m pulumi.policy <engine> .` here.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(ROOT / "policies"))
sys.path.insert(1, str(ROOT))  # the real pack's rules import the library's components/logging/durability.py

from pulumi_policy import EnforcementLevel, PolicyPack, ResourceValidationPolicy, StackValidationPolicy  # noqa: E402

from rules import POLICIES  # noqa: E402


def _validate(args, report):
    return None


def _remediate(args):
    return None


def _empty(policy):
    common = {"name": policy.name, "description": policy.description, "enforcement_level": policy.enforcement_level, "config_schema": policy.config_schema}
    if isinstance(policy, ResourceValidationPolicy):
        return ResourceValidationPolicy(validate=_validate, remediate=_remediate if policy.has_remediation() else None, **common)
    if isinstance(policy, StackValidationPolicy):
        return StackValidationPolicy(validate=_validate, **common)
    raise TypeError(f"{policy.name}: neither a resource nor a stack policy")


PolicyPack(
    name="gosvc-policies-floor",
    policies=[_empty(p) for p in POLICIES],
    enforcement_level=EnforcementLevel.MANDATORY,
    description="gosvc-policies with empty bodies: the benchmark floor.",
)
