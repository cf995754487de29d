"""The whole program with its Prometheus stack under the real CLI: `pulumi preview --policy-pack` with the real charts.

The genuine chart packages (../shared/charts) are served as a chart repository on loopback
(tools/charts/serve.py), so the Kubernetes provider previews both Helm releases from them as it would from upstream, and the pack process (through
`GOSVC_HELM` and `GOSVC_CHART_DIRS`) renders them and checks every object they would create. The
admin login comes from an existing Secret (no random provider is served here) and the chart images
are pinned by a placeholder digest (no registry is reachable); nothing is installed.
"""

from __future__ import annotations

import pytest

from tests.e2e.policy_reports import assert_written
from tools.charts import packages
from tools.e2e.overlay import e2e_config, monitoring_overlay

pytestmark = pytest.mark.e2e

CHART_RELEASES = ("kube-prometheus-stack", "prometheus-adapter")


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_a_real_preview_checks_every_object_of_the_real_charts(stack, engine, chart_repository, report):
    config = e2e_config(stack)
    config.update(monitoring_overlay(config, chart_repository.url))
    op = engine.stack(f"{stack}-charts", config, pack_config=stack).preview()
    from_charts = [v for v in op.violations if any(f"(rendered from Helm release '{r}')" in v.message for r in CHART_RELEASES)]
    mandatory = [v for v in op.violations if v.level == "mandatory"]
    report.data["policy"].setdefault("real_charts_preview", {})[stack] = {
        "succeeded": op.succeeded,
        "seconds": op.seconds,
        "mandatory": [v.message for v in mandatory],
        "from_chart_objects": sorted({(v.policy, v.level) for v in from_charts}),
        "chart_repository_requests": sorted(set(chart_repository.requested)),
        "releases_previewed": sorted(urn.rsplit("::", 1)[-1] for o, t, urn in op.steps if o == "create" and t.endswith(":Release")),
    }
    assert op.succeeded, op.error or op.output[-4000:]
    report.data["policy"]["real_charts_preview"][stack]["report_states"] = assert_written(op, f"{stack}-charts")
    assert {*(f"/{c.name}-{c.version}.tgz" for c in packages.PINNED)} <= set(chart_repository.requested), "the provider fetched both charts"
    assert not [v for v in op.violations if v.policy == "helm-chart-rendered"], "every release was rendered"
    assert mandatory == [], "\n".join(v.message for v in mandatory)
    exempt = {v.message.split(": ", 1)[0] for v in from_charts if v.policy == "policy-exemptions"}
    assert any("node-exporter" in e for e in exempt) and any("prometheus-adapter" in e for e in exempt), exempt
    releases = sorted(urn.rsplit("::", 1)[-1] for o, t, urn in op.steps if o == "create" and t.endswith(":Release"))
    assert releases == ["monitoring-kube-prometheus-stack", "monitoring-prometheus-adapter"], releases
