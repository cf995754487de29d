"""Helm releases: the pack can see into every release's chart, or says which one it could not open."""

from __future__ import annotations

from typing import Any, Iterator, Mapping

from pulumi_policy import EnforcementLevel, Severity

from . import charts
from .definition import Finding, NotApplicable, ResourceRule, Subject

FAMILY = "charts"


def _rendered(subject: Subject, _: Mapping[str, Any]) -> Iterator[Finding]:
    if not charts.is_release(subject.type) or subject.via is not None:
        raise NotApplicable("not a Helm release")
    rendering = charts.render(subject.props)
    if rendering.error:
        yield Finding(
            f"the objects of Helm release '{rendering.release}' were not checked by any policy: {rendering.error}",
            exemptable=False,
        )


RULES = [
    ResourceRule(
        "helm-chart-rendered",
        "Every Helm release's chart is rendered, so the pack's rules check the objects it creates.",
        severity=Severity.MEDIUM,
        family=FAMILY,
        level=EnforcementLevel.ADVISORY,
        check=_rendered,
        remediation_steps=f"Make `helm` available to the policy pack ({charts.HELM_ENV}, or helm on PATH) and the chart reachable: its "
        f"repository, or a local copy (<chart>-<version>.tgz or an unpacked <chart>/) in a directory listed in {charts.CHART_DIRS_ENV}. "
        "Set this policy to mandatory where charts are always reachable, so no release goes unchecked.",
    ),
]
