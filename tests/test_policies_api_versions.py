"""api-version-served: objects on API versions the targeted Kubernetes release no longer serves."""

from __future__ import annotations

import pytest
from policy_harness import Case, Resource, edits, load, resource_args, run

from policies.rules import BY_NAME
from policies.rules.api_versions import REMOVED, minor_version

SERVICE = load("compliant-service")
DEPLOY, _ACCOUNT, SVC, PDB, HPA, NETPOL, MONITOR = SERVICE
OLD_DEPLOY = edits(DEPLOY, {"apiVersion": "extensions/v1beta1"})
OUTDATED = "uses extensions/v1beta1 Deployment, which Kubernetes 1.16 stopped serving (target 1.36); use apps/v1"

CASES = [
    *(Case("api-version-served", f"compliant-{d['kind']}", d) for d in SERVICE),
    Case("api-version-served", "extensions-deployment", OLD_DEPLOY, (OUTDATED,)),
    Case("api-version-served", "apps-v1beta2", edits(DEPLOY, {"apiVersion": "apps/v1beta2"}), ("apps/v1beta2 Deployment, which Kubernetes 1.16",)),
    Case("api-version-served", "pdb-v1beta1", edits(PDB, {"apiVersion": "policy/v1beta1"}), ("policy/v1beta1 PodDisruptionBudget, which Kubernetes 1.25 stopped serving",)),
    Case("api-version-served", "hpa-v2beta2", edits(HPA, {"apiVersion": "autoscaling/v2beta2"}), ("autoscaling/v2beta2 HorizontalPodAutoscaler, which Kubernetes 1.26",)),
    Case("api-version-served", "hpa-v2beta2-on-an-older-target", edits(HPA, {"apiVersion": "autoscaling/v2beta2"}), (), {"kubernetesVersion": "1.25"}),
    Case("api-version-served", "flowschema-v1beta3", {"apiVersion": "flowcontrol.apiserver.k8s.io/v1beta3", "kind": "FlowSchema", "metadata": {"name": "f"}, "spec": {}}, ("which Kubernetes 1.32 stopped serving",)),
    Case("api-version-served", "custom-resource-beta-is-not-judged", edits(MONITOR, {"apiVersion": "monitoring.coreos.com/v1beta1"})),
]


@pytest.mark.parametrize("case", [c.param() for c in CASES])
def test_api_version_policy(case: Case):
    case.check()


def test_the_removed_table_names_each_version_and_kind_once_and_only_beta_or_alpha_versions():
    pairs = [(r.api_version, kind) for r in REMOVED for kind in r.kinds]
    assert len(pairs) == len(set(pairs))
    assert all("beta" in r.api_version or "alpha" in r.api_version for r in REMOVED)
    assert all((1, 16) <= r.removed_in <= (1, 36) for r in REMOVED)


def test_the_version_is_read_from_the_type_token_when_props_omit_it():
    doc = {k: v for k, v in OLD_DEPLOY.items() if k not in ("apiVersion", "pulumiParent")}
    token = "kubernetes:extensions/v1beta1:Deployment"
    subject = Resource(token, "old", f"urn:pulumi:test::gosvc::{token}::old", doc)
    assert run(BY_NAME["api-version-served"], resource_args(subject)).messages == [OUTDATED]
    current = Resource("kubernetes:apps/v1:Deployment", "new", "urn:pulumi:test::gosvc::kubernetes:apps/v1:Deployment::new", doc)
    assert run(BY_NAME["api-version-served"], resource_args(current)).messages == []


@pytest.mark.parametrize("text,expected", [("1.36", (1, 36)), ("v1.33.2", (1, 33)), ("1", None), ("latest", None), (None, None)])
def test_minor_version(text, expected):
    assert minor_version(text) == expected
