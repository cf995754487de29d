"""Exemptions: a workload opts out of one resource policy with `policies.gosvc.dev/exempt-<policy>: <reason>`
(a Role or binding, of one RBAC policy; a workload, also of the RBAC policies' findings about what its account holds).

The exempted policy then stays silent about that workload (except for findings it marks
as not exemptable), and this advisory policy reports what was waived, quoting the
reason, so every exemption stays visible in every preview. Notes are computed with the
exempted policy's default parameters.
"""

from __future__ import annotations

from typing import Any, Iterator, Mapping, Sequence

from pulumi_policy import EnforcementLevel, Severity

from .definition import EXEMPT_PREFIX, Finding, ResourceRule, Subject
from .kube import RBAC_KINDS

NAME = "policy-exemptions"


def requested(subject: Subject) -> dict[str, Any]:
    """Policy name -> the annotation's raw value, for every exemption annotation on the object."""
    return {k[len(EXEMPT_PREFIX) :]: v for k, v in subject.annotations.items() if k.startswith(EXEMPT_PREFIX)}


def policy(
    rules: Sequence[ResourceRule], stack_rule_names: Sequence[str], exemptable_stack_rules: Sequence[str] = (), rbac_rules: Sequence[str] = ()
) -> ResourceRule:
    """The advisory policy that reports every exemption, built over the pack's resource rules and the stack rules
    that accept workload exemptions (whose waived findings it cannot recompute alone, so it quotes the reason);
    `rbac_rules` are those stack rules a Role or binding may also opt out of."""
    by_name = {r.name: r for r in rules}
    stack_exemptable = set(exemptable_stack_rules)
    rbac = set(rbac_rules)

    def what_is_waived(subject: Subject, name: str) -> str:
        if not subject.is_workload:
            return f"its findings about this {subject.kind} are waived"
        if name in rbac:
            return "its findings about what this workload's ServiceAccount is granted are waived"
        return "its findings about this workload are waived"

    def check(subject: Subject, _: Mapping[str, Any]) -> Iterator[Finding]:
        for name, raw in sorted(requested(subject).items()):
            annotation = f"{EXEMPT_PREFIX}{name}"
            reason = raw.strip() if isinstance(raw, str) else ""
            rule = by_name.get(name)
            exemptable_here = subject.is_workload or (subject.kind in RBAC_KINDS and name in rbac)
            if not exemptable_here and subject.via is not None:
                continue  # some charts (grafana's) put the same `annotations` value on every object they render
            if not exemptable_here:
                yield Finding(
                    f"{annotation} is on a {subject.kind or subject.type}; only workloads may be exempted (and Roles and bindings, from the RBAC policies), so it has no effect",
                    exemptable=False,
                )
            elif name in stack_exemptable and reason:
                yield Finding(f"exempt from stack policy '{name}' because \"{reason}\": {what_is_waived(subject, name)}", exemptable=False)
            elif name in stack_exemptable:
                yield Finding(f"{annotation} gives no reason, so it is ignored and '{name}' applies in full; write why the exemption is needed", exemptable=False)
            elif rule is None or name == NAME:
                what = "a stack policy, which no annotation can waive" if name in stack_rule_names else "no resource policy of this pack"
                yield Finding(f"{annotation} names {what}; remove it", exemptable=False)
            elif not reason:
                yield Finding(f"{annotation} gives no reason, so it is ignored and '{name}' applies in full; write why the exemption is needed", exemptable=False)
            else:
                waived = [f for f in rule.findings(subject, rule.settings()) if f.exemptable]
                if not waived:
                    yield Finding(f"{annotation} (\"{reason}\") waives nothing: the workload complies with '{name}'; remove it", exemptable=False)
                for finding in waived:
                    yield Finding(f"exempt from '{name}' because \"{reason}\": {finding.message}", exemptable=False)

    return ResourceRule(
        NAME,
        "Every exemption annotation is reported with its reason, so waived findings stay visible.",
        severity=Severity.LOW,
        family="exemptions",
        level=EnforcementLevel.ADVISORY,
        check=check,
        remediation_steps=f"Remove the cause instead of exempting it where possible. An exemption is the annotation "
        f"{EXEMPT_PREFIX}<policy>: <reason> on the workload's metadata (for a Helm chart's workload, set through the chart's values); of gosvc's own workloads only the Filebeat DaemonSet (read-only log hostPaths, "
        "its registry, root to read node-owned logs) and the elasticsearch-node-tuning DaemonSet (privileged, to set "
        "vm.max_map_count on each node) carry one.",
    )
