"""A Helm release under the real CLI: `pulumi preview --policy-pack` checks the objects its chart renders.

The release names the project's fixture chart by path (tests/fixtures/charts/gosvc-fixture), so nothing is
fetched; the pack process the CLI starts gets the helm built from the Go proxy through `GOSVC_HELM`.
"""

from __future__ import annotations

import pulumi_kubernetes as k8s
import pytest

from tests.conftest import ROOT
from tests.e2e.policy_reports import assert_written
from tools.charts import build as chart_tools

pytestmark = pytest.mark.e2e

FIXTURE = ROOT / "tests" / "fixtures" / "charts" / "gosvc-fixture"
CONTAINER_RULES = {"run-as-non-root", "no-privilege-escalation", "drop-all-capabilities", "read-only-root-filesystem", "container-resources-required", "probes-configured"}


def _program(hardened: bool):
    def program() -> None:
        k8s.helm.v3.Release("fixture", name="fixture", chart=str(FIXTURE), namespace="fixture-apps", values={"hardened": hardened})

    return program


@pytest.mark.parametrize("hardened", [False, True])
def test_real_preview_checks_the_objects_a_release_renders(engine, monkeypatch, report, hardened):
    monkeypatch.setitem(engine.env, "GOSVC_HELM", str(chart_tools.build()))
    stack = engine.stack(f"chart-{'hardened' if hardened else 'default'}", {}, program=_program(hardened), pack_config="dev")
    op = stack.preview()
    from_chart = [v for v in op.violations if "(rendered from Helm release 'fixture')" in v.message]
    report.data["policy"].setdefault("helm_release_preview", {})["hardened" if hardened else "chart_default"] = {
        "succeeded": op.succeeded,
        "violations_from_chart": sorted({(v.policy, v.level) for v in from_chart}),
    }
    assert not [v for v in op.violations if v.policy == "helm-chart-rendered"], op.output[-2000:]
    mandatory = {v.policy for v in from_chart if v.level == "mandatory"}
    if hardened:
        # The fixture's restricted Deployment passes every container rule; the stack rules still want its PDB and NetworkPolicy.
        assert not mandatory & CONTAINER_RULES and mandatory <= {"pdb-for-multi-replica", "networkpolicy-per-workload"}, op.output[-3000:]
    else:
        assert CONTAINER_RULES <= mandatory, op.output[-3000:]
        assert not op.succeeded, "mandatory findings on chart objects fail the preview"
    assert_written(op, stack.name)

