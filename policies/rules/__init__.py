"""The gosvc policy pack's rules: `POLICIES` is every policy, in the order the pack lists them.

One module per rule family; each exports `RULES`. Importing this package builds the
policy objects only; constructing the `PolicyPack` (which starts the Analyzer server) is
left to `policies/__main__.py`.
"""

from __future__ import annotations

from pulumi_policy import Policy, ResourceValidationPolicy

from . import api_versions, availability, config_maps, exemptions, go_image, images, log_pipeline, network, pod_security, rbac, references, releases, resources, security, well_formed
from .definition import EXEMPT_PREFIX, ResourceRule, StackRule

PACK_NAME = "gosvc-policies"
_FAMILIES = [
    images.RULES, go_image.RULES, resources.RULES, security.RULES, pod_security.RULES, availability.RULES, network.RULES, log_pipeline.RULES,
    releases.RULES, rbac.RULES, references.RULES, api_versions.RULES, config_maps.RULES, well_formed.RULES,
]  # fmt: skip
_RULES = [rule for family in _FAMILIES for rule in family]

POLICIES: list[Policy] = [
    *_RULES,
    exemptions.policy(
        [r for r in _RULES if isinstance(r, ResourceValidationPolicy)],
        [r.name for r in _RULES if not isinstance(r, ResourceValidationPolicy)],
        [r.name for r in _RULES if isinstance(r, StackRule) and r.workload_exemptions],
        rbac.NAMES,
    ),
]
BY_NAME: dict[str, Policy] = {p.name: p for p in POLICIES}

if len(BY_NAME) != len(POLICIES):
    raise RuntimeError("two policies share a name")

__all__ = ["BY_NAME", "EXEMPT_PREFIX", "PACK_NAME", "POLICIES", "ResourceRule", "StackRule"]
