"""RBAC policies: compliant and violating roles and bindings, run through real pulumi_policy argument objects,
and the two ways a Role or binding is exempted (its own annotation, or every workload holding its grant)."""

from __future__ import annotations

import pytest
from policy_harness import Case, edit, evaluate, load, resource_args, run
from pulumi_policy.proxy import UNKNOWN_OBJECT_VALUE, UNKNOWN_STRING_VALUE

from policies.rules import BY_NAME, EXEMPT_PREFIX as EXEMPT
from policies.rules.rbac import NAMES

DEPLOY = load("compliant-service")[0]
RBAC = load("rbac")
ROLE, ROLE_BINDING, CLUSTER_ROLE, CLUSTER_BINDING = RBAC
STACK = [DEPLOY, *RBAC]


def stack(*changed: dict) -> list[dict]:
    """The compliant stack with the documents of the same kind and name replaced by `changed`, and any others added."""
    key = lambda d: (d["kind"], d["metadata"]["name"])  # noqa: E731
    replaced = {key(d): d for d in changed}
    docs = [replaced.pop(key(d), d) for d in STACK]
    return docs + list(replaced.values())


def role_with(entry: dict, role: dict = ROLE) -> dict:
    return edit(role, f"rules[{len(role['rules'])}]", entry)


def cluster_role_with(entry: dict) -> dict:
    return role_with(entry, CLUSTER_ROLE)


def annotated(doc: dict, policy: str, reason: str) -> dict:
    return edit(doc, "metadata.annotations", {**doc["metadata"].get("annotations", {}), EXEMPT + policy: reason})


def binding_to(kind: str, name: str, doc: dict = CLUSTER_BINDING) -> dict:
    return edit(doc, "roleRef", {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": name})


CORE = {"apiGroups": [""]}
UNBOUND = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "debug", "namespace": "shop"}}

WRITES_BINDINGS = role_with(
    {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["clusterroles"], "resourceNames": ["admin"], "verbs": ["bind"]},
    cluster_role_with({"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["rolebindings"], "verbs": ["create"]}),
)
"""A ClusterRole whose holder can create a RoleBinding of admin naming itself: bind is limited to one role, which is more than it holds."""


def to_subjects(subjects: list[dict]) -> dict:
    return edit(CLUSTER_BINDING, "subjects", subjects)


CASES = [
    *(Case(name, "compliant", STACK) for name in NAMES),
    # rbac-no-wildcards
    Case(
        "rbac-no-wildcards",
        "verbs",
        stack(edit(CLUSTER_ROLE, "rules[0].verbs", ["*"])),
        ("ClusterRole hello-reader: rule 1 (apiGroups [\"\"], resources [pods, namespaces, nodes], verbs [*]) uses '*' in verbs",),
    ),
    Case(
        "rbac-no-wildcards",
        "groups-and-resources",
        stack(role_with({"apiGroups": ["*"], "resources": ["*"], "verbs": ["get"]})),
        ("Role shop/hello: rule 3 (apiGroups [*], resources [*], verbs [get]) uses '*' in apiGroups and resources",),
    ),
    Case("rbac-no-wildcards", "any-subresource", stack(role_with({**CORE, "resources": ["*/scale"], "verbs": ["get"]})), ("uses '*' in resources",)),
    Case("rbac-no-wildcards", "any-url", stack(edit(CLUSTER_ROLE, "rules[1].nonResourceURLs", ["*"])), ("uses '*' in nonResourceURLs",)),
    # rbac-no-escalation
    Case(
        "rbac-no-escalation",
        "bind",
        stack(cluster_role_with({"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["clusterroles"], "verbs": ["bind"]})),
        ("ClusterRole hello-reader: rule 3 (apiGroups [rbac.authorization.k8s.io], resources [clusterroles], verbs [bind]) grants bind, so its holder can bind any role",),
    ),
    Case(
        "rbac-no-escalation",
        "bind-limited-by-name",
        stack(cluster_role_with({"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["clusterroles"], "resourceNames": ["view"], "verbs": ["bind"]})),
    ),
    Case(
        "rbac-no-escalation",
        "escalate-by-wildcard-verb",
        stack(role_with({"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["roles"], "verbs": ["*"]})),
        ("grants *, so its holder can bind any role to anyone, including roles with more than it holds; and write roles granting more than it holds",),
    ),
    Case("rbac-no-escalation", "impersonate", stack(cluster_role_with({**CORE, "resources": ["users", "groups"], "verbs": ["impersonate"]})), ("act as other users",)),
    Case("rbac-no-escalation", "impersonate-one-account", stack(cluster_role_with({**CORE, "resources": ["serviceaccounts"], "resourceNames": ["deployer"], "verbs": ["impersonate"]}))),
    Case("rbac-no-escalation", "token-request", stack(role_with({**CORE, "resources": ["serviceaccounts/token"], "verbs": ["create"]})), ("mint API tokens",)),
    Case(
        "rbac-no-escalation",
        "webhooks",
        stack(cluster_role_with({"apiGroups": ["admissionregistration.k8s.io"], "resources": ["validatingwebhookconfigurations"], "verbs": ["get", "patch"]})),
        ("grants patch, so its holder can send API requests to a webhook of its choosing",),
    ),
    Case(
        "rbac-no-escalation",
        "webhook-by-name",
        stack(cluster_role_with({"apiGroups": ["admissionregistration.k8s.io"], "resources": ["validatingwebhookconfigurations"], "resourceNames": ["hello"], "verbs": ["get", "patch"]})),
    ),
    Case(
        "rbac-no-escalation",
        "create-ignores-resource-names",
        stack(cluster_role_with({"apiGroups": ["admissionregistration.k8s.io"], "resources": ["mutatingwebhookconfigurations"], "resourceNames": ["hello"], "verbs": ["create"]})),
        ("grants create, so its holder can send API requests",),
    ),
    Case(
        "rbac-no-escalation",
        "certificate-approval",
        stack(cluster_role_with({"apiGroups": ["certificates.k8s.io"], "resources": ["certificatesigningrequests/approval"], "verbs": ["update"]})),
        ("approve certificate requests",),
    ),
    # rbac-no-escalation, bindings: a ServiceAccount or node that can write bindings and bind roles grants itself more
    Case(
        "rbac-no-escalation",
        "account-binds-itself",
        stack(WRITES_BINDINGS),
        (
            "ClusterRoleBinding hello-reader hands ServiceAccount shop/hello ClusterRole hello-reader, which lets it write bindings and "
            "bind roles by rule 3 (apiGroups [rbac.authorization.k8s.io], resources [rolebindings], verbs [create]) and rule 4 "
            "(apiGroups [rbac.authorization.k8s.io], resources [clusterroles], resourceNames [admin], verbs [bind])",
        ),
    ),
    Case(
        "rbac-no-escalation",
        "one-entry-wildcard-verb",
        stack(role_with({"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["roles", "rolebindings"], "verbs": ["*"]})),
        ("Role shop/hello: rule 3", "RoleBinding shop/hello hands ServiceAccount shop/hello Role hello, which lets it write bindings and bind roles by rule 3"),
    ),
    Case("rbac-no-escalation", "nodes-bind-themselves", stack(WRITES_BINDINGS, to_subjects([{"kind": "Group", "name": "system:nodes"}])), ("hands Group system:nodes",)),
    Case("rbac-no-escalation", "people-may-bind", stack(WRITES_BINDINGS, to_subjects([{"kind": "User", "name": "alice"}]))),
    Case("rbac-no-escalation", "writes-bindings-only", stack(edit(WRITES_BINDINGS, "rules", WRITES_BINDINGS["rules"][:3]))),
    Case("rbac-no-escalation", "binds-only-named-roles", stack(edit(WRITES_BINDINGS, "rules", [*WRITES_BINDINGS["rules"][:2], WRITES_BINDINGS["rules"][3]]))),
    Case("rbac-no-escalation", "binding-exempt", stack(WRITES_BINDINGS, annotated(CLUSTER_BINDING, "rbac-no-escalation", "the deployer's own account"))),
    Case("rbac-no-escalation", "service-status", stack(role_with({**CORE, "resources": ["services/status"], "verbs": ["patch"]})), ("CVE-2020-8554",)),
    # rbac-no-cluster-admin
    Case(
        "rbac-no-cluster-admin",
        "cluster-admin",
        stack(binding_to("ClusterRole", "cluster-admin")),
        ("ClusterRoleBinding hello-reader binds ClusterRole cluster-admin, which is cluster-admin, in every namespace",),
    ),
    Case(
        "rbac-no-cluster-admin",
        "role-with-everything",
        stack(role_with({"apiGroups": ["*"], "resources": ["*"], "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"]})),
        ("RoleBinding shop/hello binds Role hello, which grants every verb on every resource by rule 3 (apiGroups [*], resources [*], verbs [get, list, watch, create, update, patch, delete]), as cluster-admin does, in namespace shop",),
    ),
    Case("rbac-no-cluster-admin", "everything-read-only", stack(role_with({"apiGroups": ["*"], "resources": ["*"], "verbs": ["get", "list", "watch"]}))),
    # rbac-no-pod-exec
    Case(
        "rbac-no-pod-exec",
        "exec-through-a-role-binding",
        stack(role_with({**CORE, "resources": ["pods/exec"], "verbs": ["create"]})),
        ("RoleBinding shop/hello binds Role hello, which grants create by rule 3 (apiGroups [\"\"], resources [pods/exec], verbs [create]): its holder can run commands in, or attach to, the pods in namespace shop",),
    ),
    Case(
        "rbac-no-pod-exec",
        "exec-through-websocket-get",
        stack(cluster_role_with({**CORE, "resources": ["*/attach"], "verbs": ["get"]})),
        ("ClusterRoleBinding hello-reader binds ClusterRole hello-reader, which grants get by rule 3 (apiGroups [\"\"], resources [*/attach], verbs [get]): its holder can run commands in, or attach to, the pods in every namespace",),
    ),
    Case("rbac-no-pod-exec", "list-is-not-exec", stack(role_with({**CORE, "resources": ["pods/exec", "pods/log"], "verbs": ["list"]}))),
    Case(
        "rbac-no-pod-exec",
        "unbound-role",
        stack(edit(UNBOUND, "rules", [{**CORE, "resources": ["pods/portforward"], "verbs": ["create"]}])),
        ("Role shop/debug, bound by no binding of this stack, grants create by rule 1 (apiGroups [\"\"], resources [pods/portforward], verbs [create]): its holder can open connections to the pods' ports past their NetworkPolicies wherever it is bound",),
    ),
    Case("rbac-no-pod-exec", "built-in-edit", stack(binding_to("ClusterRole", "edit", ROLE_BINDING)), ("RoleBinding shop/hello binds ClusterRole edit, which grants create, get",)),
    Case("rbac-no-pod-exec", "kubelet-proxy", stack(cluster_role_with({**CORE, "resources": ["nodes/proxy"], "verbs": ["get"]})), ("reach every node's kubelet API",)),
    # rbac-no-secrets-access
    Case(
        "rbac-no-secrets-access",
        "list-cluster-wide",
        stack(cluster_role_with({**CORE, "resources": ["secrets"], "verbs": ["list", "watch"]})),
        ("ClusterRoleBinding hello-reader binds ClusterRole hello-reader, which grants list, watch by rule 3 (apiGroups [\"\"], resources [secrets], verbs [list, watch]): its holder can read the Secrets, every credential stored there in every namespace",),
    ),
    Case("rbac-no-secrets-access", "get-any-in-namespace", stack(edit(ROLE, "rules[1].resourceNames", [])), ("its holder can read the Secrets, every credential stored there in namespace shop",)),
    Case(
        "rbac-no-secrets-access",
        "create-ignores-resource-names",
        stack(edit(ROLE, "rules[1].verbs", ["get", "create"])),
        ("grants create by rule 2 (apiGroups [\"\"], resources [secrets], resourceNames [hello-tls], verbs [get, create]): its holder can create Secrets",),
    ),
    Case(
        "rbac-no-secrets-access",
        "every-verb-once",
        stack(role_with({**CORE, "resources": ["configmaps", "secrets"], "verbs": ["*"]})),
        ("grants * by rule 3 (apiGroups [\"\"], resources [configmaps, secrets], verbs [*]): its holder can read the Secrets, every credential stored there; and create Secrets",),
    ),
    # rbac-no-workload-creation
    Case(
        "rbac-no-workload-creation",
        "deployments",
        stack(role_with({"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["create", "get"]})),
        ("RoleBinding shop/hello binds Role hello, which grants create by rule 3 (apiGroups [apps], resources [deployments], verbs [create, get]): its holder can start pods",),
    ),
    Case("rbac-no-workload-creation", "jobs-by-wildcard", stack(cluster_role_with({"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["*"]})), ("in every namespace",)),
    Case("rbac-no-workload-creation", "pods-of-another-group", stack(role_with({"apiGroups": ["metrics.k8s.io"], "resources": ["pods"], "verbs": ["create"]}))),
    Case("rbac-no-workload-creation", "update-only", stack(role_with({"apiGroups": ["apps"], "resources": ["deployments/scale"], "verbs": ["update"]}))),
    # rbac-no-broad-subjects
    Case(
        "rbac-no-broad-subjects",
        "authenticated",
        stack(edit(CLUSTER_BINDING, "subjects[1]", {"kind": "Group", "name": "system:authenticated", "apiGroup": "rbac.authorization.k8s.io"})),
        ("ClusterRoleBinding hello-reader grants ClusterRole hello-reader to Group system:authenticated, which is every caller of the API that signs in",),
    ),
    Case("rbac-no-broad-subjects", "anonymous", stack(edit(ROLE_BINDING, "subjects[0]", {"kind": "User", "name": "system:anonymous"})), ("anonymous ones included",)),
    Case(
        "rbac-no-broad-subjects",
        "default-account",
        stack(edit(ROLE_BINDING, "subjects[0].name", "default")),
        ("RoleBinding shop/hello grants Role hello to ServiceAccount shop/default, which every pod of namespace shop without an account of its own runs as",),
    ),
    # Roles of one rule: Checkov's graph checks (CKV2_K8S_*) read a bound role's rules only when it has exactly one
    # (policies/crosswalk/agreement.yaml), so these are where tests/test_linters_agreement.py sees them judge.
    Case("rbac-no-pod-exec", "one-rule-role", stack(edit(ROLE, "rules", [{**CORE, "resources": ["pods/exec"], "verbs": ["create"]}])), ("RoleBinding shop/hello binds Role hello, which grants create by rule 1",)),
    Case("rbac-no-secrets-access", "one-rule-role", stack(edit(ROLE, "rules", [{**CORE, "resources": ["secrets"], "verbs": ["get", "list"]}])), ("RoleBinding shop/hello binds Role hello, which grants get, list by rule 1",)),
    Case(
        "rbac-no-escalation",
        "one-rule-role-binds-itself",
        stack(edit(ROLE, "rules", [{"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["roles", "rolebindings"], "verbs": ["*"]}])),
        ("Role shop/hello: rule 1", "RoleBinding shop/hello hands ServiceAccount shop/hello Role hello, which lets it write bindings and bind roles by rule 1"),
    ),
    Case("rbac-no-escalation", "one-rule-role-service-status", stack(edit(ROLE, "rules", [{**CORE, "resources": ["services/status"], "verbs": ["patch"]}])), ("Role shop/hello: rule 1", )),
]


@pytest.mark.parametrize("case", [c.param() for c in CASES])
def test_cases(case):
    case.check()


def test_every_rbac_rule_has_a_violating_case():
    assert {c.policy for c in CASES if not c.compliant} == set(NAMES)


def test_each_finding_is_reported_on_the_object_it_names():
    """Role-level findings go to the role, grant-level ones to the binding, once, whatever the number of matches."""
    exec_role = role_with({**CORE, "resources": ["pods/exec", "pods/attach"], "verbs": ["*"]})
    found = evaluate("rbac-no-pod-exec", stack(exec_role))
    assert [u.rsplit("::", 1)[-1] for u in found.urns] == ["rolebinding-hello"], found.messages
    wild = evaluate("rbac-no-wildcards", stack(exec_role))
    assert [u.rsplit("::", 1)[-1] for u in wild.urns] == ["role-hello"], wild.messages


# -- exemptions --------------------------------------------------------------------------------------------------------

SECRETS_ROLE = edit(ROLE, "rules[1].resourceNames", [])
REASON = "it reads the shop's payment credentials, which change by name"


def test_a_role_or_binding_is_exempted_by_its_own_annotation_and_the_exemption_is_reported():
    assert evaluate("rbac-no-secrets-access", stack(SECRETS_ROLE)).messages
    exempt_binding = annotated(ROLE_BINDING, "rbac-no-secrets-access", REASON)
    assert evaluate("rbac-no-secrets-access", stack(SECRETS_ROLE, exempt_binding)).messages == []
    notes = run(BY_NAME["policy-exemptions"], resource_args(exempt_binding)).messages
    assert notes == [f"exempt from stack policy 'rbac-no-secrets-access' because \"{REASON}\": its findings about this RoleBinding are waived"]
    wild = edit(CLUSTER_ROLE, "rules[0].verbs", ["*"])
    assert evaluate("rbac-no-wildcards", stack(annotated(wild, "rbac-no-wildcards", "the chart needs it"))).messages == []
    assert evaluate("rbac-no-wildcards", stack(annotated(wild, "rbac-no-secrets-access", "another policy"))).messages, "only the named policy"


def test_an_exemption_without_a_reason_waives_nothing():
    empty = annotated(ROLE_BINDING, "rbac-no-secrets-access", "  ")
    assert evaluate("rbac-no-secrets-access", stack(SECRETS_ROLE, empty)).messages
    (note,) = run(BY_NAME["policy-exemptions"], resource_args(empty)).messages
    assert "gives no reason, so it is ignored and 'rbac-no-secrets-access' applies in full" in note


def test_a_grant_is_exempted_through_every_workload_that_holds_it():
    """For a chart's RBAC objects, which take no annotations: the pods running as the bound ServiceAccount answer for it."""
    exempt_pods = annotated(DEPLOY, "rbac-no-secrets-access", REASON)
    assert evaluate("rbac-no-secrets-access", stack(SECRETS_ROLE, exempt_pods)).messages == []
    notes = run(BY_NAME["policy-exemptions"], resource_args(exempt_pods)).messages
    assert f"exempt from stack policy 'rbac-no-secrets-access' because \"{REASON}\": its findings about what this workload's ServiceAccount is granted are waived" in notes
    # Role-level rules reach the holders through every binding of the role.
    wild = edit(ROLE, "rules[0].verbs", ["*"])
    assert evaluate("rbac-no-wildcards", stack(wild, annotated(DEPLOY, "rbac-no-wildcards", REASON))).messages == []


def test_a_grant_is_not_exempted_while_anything_else_holds_it():
    exempt_pods = annotated(DEPLOY, "rbac-no-secrets-access", REASON)
    other = edit(edit(DEPLOY, "metadata.name", "other"), "metadata.annotations", {})
    assert evaluate("rbac-no-secrets-access", stack(SECRETS_ROLE, exempt_pods, other)).messages, "a second, unexempted workload runs as the account"
    group = edit(ROLE_BINDING, "subjects[1]", {"kind": "Group", "name": "shop-admins", "apiGroup": "rbac.authorization.k8s.io"})
    assert evaluate("rbac-no-secrets-access", stack(SECRETS_ROLE, exempt_pods, group)).messages, "a group is no workload"
    unused = edit(ROLE_BINDING, "subjects[0].name", "nobody")
    assert evaluate("rbac-no-secrets-access", stack(SECRETS_ROLE, exempt_pods, unused)).messages, "no workload runs as the account"
    never_exempt = edit(binding_to("ClusterRole", "cluster-admin"), "subjects[0]", {"kind": "Group", "name": "system:masters"})
    assert evaluate("rbac-no-cluster-admin", stack(never_exempt, annotated(DEPLOY, "rbac-no-cluster-admin", REASON))).messages


def test_an_rbac_exemption_on_another_kind_or_a_workload_exemption_on_a_role_has_no_effect():
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": "shop", "annotations": {EXEMPT + "rbac-no-wildcards": "why"}}}
    (note,) = run(BY_NAME["policy-exemptions"], resource_args(cm)).messages
    assert "only workloads may be exempted" in note
    role = annotated(ROLE, "run-as-non-root", "why")
    (note,) = run(BY_NAME["policy-exemptions"], resource_args(role)).messages
    assert "is on a Role; only workloads may be exempted" in note


PREVIEW = [
    ("role-ref", edit(CLUSTER_BINDING, "roleRef", UNKNOWN_OBJECT_VALUE)),
    ("role-name", edit(ROLE_BINDING, "roleRef.name", UNKNOWN_STRING_VALUE)),
    ("subjects", edit(ROLE_BINDING, "subjects", UNKNOWN_OBJECT_VALUE)),
    ("subject-name", edit(CLUSTER_BINDING, "subjects[0].name", UNKNOWN_STRING_VALUE)),
    ("rules", edit(ROLE, "rules", UNKNOWN_OBJECT_VALUE)),
    ("verbs", edit(CLUSTER_ROLE, "rules[0].verbs", UNKNOWN_OBJECT_VALUE)),
    ("one-verb", edit(CLUSTER_ROLE, "rules[0].verbs[0]", UNKNOWN_STRING_VALUE)),
    ("resource-names", edit(ROLE, "rules[1].resourceNames", UNKNOWN_OBJECT_VALUE)),
]


@pytest.mark.parametrize("what,doc", PREVIEW, ids=[p[0] for p in PREVIEW])
def test_values_unknown_during_preview_neither_crash_nor_fire(what, doc):
    for name in NAMES:
        assert evaluate(name, stack(doc)).messages == [], name
