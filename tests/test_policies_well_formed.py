"""Well-formed objects: PDBs with a bound, env names set once, emptyDirs bounded, topology spread constraints the
scheduler can apply; with the remediations."""

from __future__ import annotations

import pytest
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE
from policy_harness import DELETE, Case, edit, edits, load, remediation_args, resource_args, run, serialized

from policies.rules import BY_NAME
from policies.rules.well_formed import valid_label_value

SERVICE = load("compliant-service")
DEPLOY = SERVICE[0]
PDB = next(d for d in SERVICE if d["kind"] == "PodDisruptionBudget")
POD = "spec.template.spec"
APP = f"{POD}.containers[0]"
INIT = f"{POD}.initContainers[0]"
TWICE = edit(DEPLOY, f"{APP}.env[2]", {"name": "LOG_LEVEL", "value": "debug"})
UNBOUNDED = edit(DEPLOY, f"{POD}.volumes[0].emptyDir", {})
ALL_LIMITED = edits(UNBOUNDED, {f"{APP}.resources.limits.ephemeral-storage": "1Gi", f"{INIT}.resources.limits.ephemeral-storage": "64Mi"})
SPREAD = {
    "maxSkew": 1,
    "topologyKey": "topology.kubernetes.io/zone",
    "whenUnsatisfiable": "ScheduleAnyway",
    "labelSelector": {"matchLabels": {"app.kubernetes.io/name": "hello", "app.kubernetes.io/instance": "hello"}},
}
SPREAD_OK = edit(DEPLOY, f"{POD}.topologySpreadConstraints", [SPREAD])
C0 = f"{POD}.topologySpreadConstraints[0]"

CASES = [
    Case("pdb-has-bound", "compliant", PDB),
    Case("pdb-has-bound", "min-available", edits(PDB, {"spec.maxUnavailable": DELETE, "spec.minAvailable": 1})),
    Case("pdb-has-bound", "neither", edit(PDB, "spec.maxUnavailable", DELETE), ("sets neither minAvailable nor maxUnavailable",)),
    Case("pdb-has-bound", "zero-is-a-bound", edit(PDB, "spec.maxUnavailable", 0)),
    Case("env-names-unique", "compliant", DEPLOY),
    Case("env-names-unique", "twice", TWICE, ("container 'app' sets env LOG_LEVEL more than once",)),
    Case("env-names-unique", "init-container", edit(DEPLOY, f"{INIT}.env", [{"name": "A", "value": "1"}, {"name": "A", "value": "2"}]), ("init container 'wait' sets env A more than once",)),
    Case("env-names-unique", "exempted", edit(TWICE, "metadata.annotations", {"policies.gosvc.dev/exempt-env-names-unique": "the chart sets it first"})),
    Case("label-values-valid", "compliant", DEPLOY),
    Case("label-values-valid", "empty-value", edit(DEPLOY, "metadata.labels.tier", "")),
    Case("label-values-valid", "plus-sign", edit(DEPLOY, "metadata.labels", {**DEPLOY["metadata"]["labels"], "app.kubernetes.io/version": "1.2.3+build"}), ("metadata.labels: app.kubernetes.io/version='1.2.3+build' is not a valid label value",)),
    Case("label-values-valid", "too-long", edit(DEPLOY, "spec.template.metadata.labels.commit", "a" * 64), ("the pod template's labels: commit=",)),
    Case("label-values-valid", "trailing-dash", edit(PDB, "metadata.labels", {"team": "obs-"}), ("team='obs-'",)),
    Case("service-account-field-current", "compliant", DEPLOY),
    Case("service-account-field-current", "deprecated-only", edits(DEPLOY, {f"{POD}.serviceAccountName": DELETE, f"{POD}.serviceAccount": "hello"}), ("sets the deprecated serviceAccount 'hello'",)),
    Case("service-account-field-current", "both", edit(DEPLOY, f"{POD}.serviceAccount", "other"), ("set serviceAccountName 'hello' (the account the pod gets)",)),
    Case("service-account-field-current", "empty", edit(DEPLOY, f"{POD}.serviceAccount", "")),
    Case("topology-spread-valid", "none", DEPLOY),
    Case("topology-spread-valid", "compliant", SPREAD_OK),
    Case("topology-spread-valid", "min-domains-do-not-schedule", edits(SPREAD_OK, {f"{C0}.whenUnsatisfiable": "DoNotSchedule", f"{C0}.minDomains": 3})),
    Case("topology-spread-valid", "no-label-selector", edit(SPREAD_OK, f"{C0}.labelSelector", DELETE), ("topologySpreadConstraints[0] has no labelSelector",)),
    Case("topology-spread-valid", "max-skew-zero", edit(SPREAD_OK, f"{C0}.maxSkew", 0), ("topologySpreadConstraints[0] maxSkew 0 is not a whole number of at least 1",)),
    Case("topology-spread-valid", "max-skew-unset", edit(SPREAD_OK, f"{C0}.maxSkew", DELETE), ("maxSkew None is not a whole number",)),
    Case("topology-spread-valid", "min-domains-zero", edits(SPREAD_OK, {f"{C0}.whenUnsatisfiable": "DoNotSchedule", f"{C0}.minDomains": 0}), ("minDomains 0 is not a whole number of at least 1",)),
    Case("topology-spread-valid", "min-domains-schedule-anyway", edit(SPREAD_OK, f"{C0}.minDomains", 2), ("sets minDomains with whenUnsatisfiable ScheduleAnyway",)),
    Case("topology-spread-valid", "no-topology-key", edit(SPREAD_OK, f"{C0}.topologyKey", ""), ("has no topologyKey",)),
    Case("topology-spread-valid", "bad-when-unsatisfiable", edit(SPREAD_OK, f"{C0}.whenUnsatisfiable", "Sometimes"), ("whenUnsatisfiable 'Sometimes' is neither DoNotSchedule nor ScheduleAnyway",)),
    Case("topology-spread-valid", "second-constraint", edit(SPREAD_OK, f"{POD}.topologySpreadConstraints[1]", {k: v for k, v in SPREAD.items() if k != "topologyKey"}), ("topologySpreadConstraints[1] has no topologyKey",)),
    Case("topology-spread-valid", "unknown-at-preview", edits(SPREAD_OK, {f"{C0}.topologyKey": UNKNOWN_STRING_VALUE, f"{C0}.whenUnsatisfiable": UNKNOWN_STRING_VALUE})),
    Case("topology-spread-valid", "exempted", edit(edit(SPREAD_OK, f"{C0}.maxSkew", 0), "metadata.annotations", {"policies.gosvc.dev/exempt-topology-spread-valid": "the chart renders it"})),
    Case("emptydir-size-limited", "compliant", DEPLOY),
    Case("emptydir-size-limited", "no-size-limit", UNBOUNDED, ("emptyDir volume 'tmp' has no sizeLimit",)),
    Case("emptydir-size-limited", "memory-medium", edit(UNBOUNDED, f"{POD}.volumes[0].emptyDir.medium", "Memory")),
    Case("emptydir-size-limited", "every-container-limited", ALL_LIMITED),
    Case("emptydir-size-limited", "init-container-unlimited", edit(ALL_LIMITED, f"{INIT}.resources.limits", {"memory": "32Mi"}), ("emptyDir volume 'tmp'",)),
    Case("emptydir-size-limited", "other-volumes", edit(DEPLOY, f"{POD}.volumes[1]", {"name": "cfg", "configMap": {"name": "hello"}})),
]


@pytest.mark.parametrize("case", [c.param() for c in CASES])
def test_well_formed_policy(case: Case):
    case.check()


def _fixed(policy: str, doc: dict) -> dict | None:
    result = BY_NAME[policy].remediate(remediation_args(doc))
    return None if result is None else serialized(result)


def test_pdb_remediation_sets_max_unavailable_one():
    fixed = _fixed("pdb-has-bound", edit(PDB, "spec.maxUnavailable", DELETE))
    assert fixed["spec"]["maxUnavailable"] == 1 and fixed["spec"]["selector"] == PDB["spec"]["selector"]
    assert run(BY_NAME["pdb-has-bound"], resource_args(fixed)).messages == []
    assert _fixed("pdb-has-bound", PDB) is None


def test_env_remediation_keeps_the_last_entry_of_each_name_in_order():
    fixed = _fixed("env-names-unique", TWICE)
    env = fixed["spec"]["template"]["spec"]["containers"][0]["env"]
    assert [e["name"] for e in env] == ["GOMEMLIMIT", "LOG_LEVEL"]
    assert env[1] == {"name": "LOG_LEVEL", "value": "debug"}  # the value the kubelet used before the fix
    assert run(BY_NAME["env-names-unique"], resource_args(fixed)).messages == []
    assert _fixed("env-names-unique", DEPLOY) is None


@pytest.mark.parametrize("name,expected", [(DELETE, "legacy"), ("hello", "hello")])
def test_service_account_remediation_keeps_the_account_the_pod_gets(name, expected):
    fixed = _fixed("service-account-field-current", edits(DEPLOY, {f"{POD}.serviceAccountName": name, f"{POD}.serviceAccount": "legacy"}))
    pod = fixed["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == expected and pod["serviceAccount"] == ""  # empty reads as unset
    assert run(BY_NAME["service-account-field-current"], resource_args(fixed)).messages == []


@pytest.mark.parametrize("value,valid", [("", True), ("a", True), ("v1.2.3", True), ("a_b-c.d", True), ("a" * 63, True), ("a" * 64, False), ("-a", False), ("a.", False), ("a b", False), ("a/b", False)])
def test_label_values_follow_the_api_servers_rule(value, valid):
    assert valid_label_value(value) is valid
