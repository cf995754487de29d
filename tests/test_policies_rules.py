"""The pack as a whole: metadata of every policy, scenario coverage, compliant objects, engine floats and preview unknowns."""

from __future__ import annotations

import copy
import re

import pytest
import test_policies_api_versions
import test_policies_availability
import test_policies_charts
import test_policies_config_maps
import test_policies_images
import test_policies_logging
import test_policies_network
import test_policies_pod_security
import test_policies_rbac
import test_policies_references
import test_policies_resources
import test_policies_security
import test_policies_well_formed
from policy_harness import edit, edits, evaluate, load, one, resource_args, run, stack_args
from pulumi_policy import EnforcementLevel, ResourceValidationPolicy, Severity, StackValidationPolicy
from hypothesis import given, settings
from hypothesis import strategies as st
from pulumi_policy.proxy import UNKNOWN_NUMBER_VALUE, UNKNOWN_OBJECT_VALUE, UNKNOWN_STRING_VALUE, unknown_checking_proxy

from policies.rules import BY_NAME, POLICIES
from policies.rules import props as props_module
from policies.rules.props import UNKNOWN, plain

# The names the issue asks for; the pack may have more.
REQUIRED = {
    "image-tag-pinned", "image-digest-pinned", "image-registry-allowed", "go-image-multistage", "go-image-minimal-runtime",
    "go-image-static-stripped", "go-image-nonroot-user", "container-resources-required", "container-limits-not-below-requests",
    "container-memory-limit-equals-request", "go-memlimit-set", "run-as-non-root", "no-privilege-escalation",
    "read-only-root-filesystem", "drop-all-capabilities", "seccomp-runtime-default", "no-privileged", "no-host-namespaces",
    "no-host-path", "no-secrets-in-env", "service-account-token-not-automounted", "no-default-namespace", "probes-configured",
    "replicas-at-least-two", "anti-affinity-or-spread", "rolling-update-safe", "hpa-bounds", "hpa-owns-replicas",
    "pdb-for-multi-replica", "selectors-match", "networkpolicy-per-workload", "service-type-allowed", "metrics-scraped",
    "kafka-durability", "filebeat-acks-all", "logstash-persisted-queue",
}  # fmt: skip
STACK_RULES = {
    "replicas-at-least-two", "anti-affinity-or-spread", "rolling-update-safe", "hpa-bounds", "hpa-owns-replicas",
    "pdb-for-multi-replica", "selectors-match", "networkpolicy-per-workload", "metrics-scraped", "kafka-durability",
    "service-account-exists", "networkpolicy-peers-select-pods", "service-target-ports-exist", "statefulset-service-exists",
}  # fmt: skip
STACK_RULES |= set(test_policies_rbac.NAMES)  # the RBAC rules resolve bindings against the stack's roles
ADVISORY_BY_DEFAULT = {"image-digest-pinned", "container-memory-limit-equals-request", "policy-exemptions", "helm-chart-rendered", "go-image-builder-current"}
CASE_MODULES = [
    test_policies_images, test_policies_resources, test_policies_security, test_policies_pod_security, test_policies_availability, test_policies_network,
    test_policies_logging, test_policies_charts, test_policies_rbac, test_policies_references, test_policies_api_versions, test_policies_config_maps,
    test_policies_well_formed,
]  # fmt: skip
COMPLIANT = load("compliant-service") + [one("compliant-go-image")]


def test_pack_has_every_required_policy_once():
    names = [p.name for p in POLICIES]
    assert len(names) == len(set(names))
    assert REQUIRED <= set(names)


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: p.name)
def test_policy_metadata(policy):
    assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", policy.name)
    assert policy.description.endswith(".") and len(policy.description) < 200
    assert isinstance(policy.severity, Severity)
    assert policy.remediation_steps and len(policy.remediation_steps) > 20
    assert policy.tags and len(policy.tags) == 1
    expected_level = EnforcementLevel.ADVISORY if policy.name in ADVISORY_BY_DEFAULT else EnforcementLevel.MANDATORY
    assert policy.enforcement_level is expected_level
    assert isinstance(policy, StackValidationPolicy if policy.name in STACK_RULES else ResourceValidationPolicy)
    for key, schema in (policy.config_schema.properties.items() if policy.config_schema else []):
        assert "default" in schema and "description" in schema, f"{policy.name}.{key}"


def test_every_policy_has_a_compliant_and_a_violating_scenario():
    cases = [c for module in CASE_MODULES for c in module.CASES]
    assert {c.policy for c in cases if c.compliant} == set(BY_NAME)
    assert {c.policy for c in cases if not c.compliant} == set(BY_NAME)


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: p.name)
def test_compliant_objects_pass(policy):
    if isinstance(policy, StackValidationPolicy):
        outcome = run(policy, stack_args(COMPLIANT))
        assert outcome.messages == []
        if policy.name == "metrics-scraped":
            assert outcome.not_applicable is None  # it really ran: the stack has a GoService and a ServiceMonitor
    else:
        for doc in COMPLIANT:
            assert run(policy, resource_args(doc)).messages == [], doc.get("kind", doc.get("pulumiType"))


def test_numbers_reach_the_rules_as_floats_and_are_read_as_whole_numbers():
    args = resource_args(COMPLIANT[0])
    assert args.props["spec"]["template"]["spec"]["securityContext"]["runAsUser"] == 65532.0
    assert isinstance(args.props["spec"]["template"]["spec"]["securityContext"]["runAsUser"], float)
    assert plain(args.props)["spec"]["template"]["spec"]["securityContext"]["runAsUser"] == 65532
    assert isinstance(plain({"x": 2.5})["x"], float)


PREVIEW = [
    ("image", edit(COMPLIANT[0], "spec.template.spec.containers[0].image", UNKNOWN_STRING_VALUE)),
    ("security-context", edit(COMPLIANT[0], "spec.template.spec.containers[0].securityContext", UNKNOWN_OBJECT_VALUE)),
    ("resources", edit(COMPLIANT[0], "spec.template.spec.containers[0].resources", UNKNOWN_OBJECT_VALUE)),
    ("env", edit(COMPLIANT[0], "spec.template.spec.containers[0].env", UNKNOWN_OBJECT_VALUE)),
    ("template", edit(COMPLIANT[0], "spec.template", UNKNOWN_OBJECT_VALUE)),
    ("whole-spec", edit(COMPLIANT[0], "spec", UNKNOWN_OBJECT_VALUE)),
    ("labels", edit(COMPLIANT[0], "spec.template.metadata.labels", UNKNOWN_OBJECT_VALUE)),
    ("namespace", edit(COMPLIANT[0], "metadata.namespace", UNKNOWN_STRING_VALUE)),
]


@pytest.mark.parametrize("what,deployment", PREVIEW, ids=[p[0] for p in PREVIEW])
def test_values_unknown_during_preview_neither_crash_nor_fire(what, deployment):
    """A value the engine does not know yet is no violation: `pulumi up` checks again once it is known."""
    docs = [deployment, *COMPLIANT[1:]]
    for policy in POLICIES:
        if isinstance(policy, StackValidationPolicy):
            assert run(policy, stack_args(docs)).messages == [], policy.name
        else:
            assert run(policy, resource_args(deployment)).messages == [], policy.name


def test_unknown_replicas_under_an_hpa_are_no_violation():
    docs = [edits(COMPLIANT[0], {"spec.replicas": UNKNOWN_NUMBER_VALUE}), *COMPLIANT[1:]]
    assert evaluate("replicas-at-least-two", docs).messages == []
    assert plain(resource_args(docs[0]).props)["spec"]["replicas"] is UNKNOWN


_SENTINEL_VALUES = sorted(props_module._SENTINELS)
_leaves = st.one_of(
    st.text(max_size=8), st.integers(-5, 5), st.floats(allow_nan=False, allow_infinity=False, width=32), st.booleans(), st.none(),
    st.sampled_from(_SENTINEL_VALUES),
)
_trees = st.recursive(_leaves, lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(st.text(max_size=5), children, max_size=4)), max_leaves=25)


def _expected(value):
    """What the rules must see: unknown sentinels as UNKNOWN, integral floats as ints, the rest as is."""
    if isinstance(value, dict):
        return {k: _expected(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_expected(v) for v in value]
    if isinstance(value, str) and value in props_module._SENTINELS:
        return UNKNOWN
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(max_size=5), _trees, max_size=5))
def test_plain_reads_through_the_sdk_proxies_exactly(props):
    proxied = unknown_checking_proxy(copy.deepcopy(props))
    assert plain(proxied) == _expected(props)
    assert plain(props) == _expected(props)
