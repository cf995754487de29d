"""RBAC: what Roles and ClusterRoles grant, and to whom their bindings hand it.

Rules about a role's own entries (wildcards, escalation verbs) report the role; a binding that hands
a ServiceAccount or node the means to bind itself roles is reported too, being where that happens. Rules about
access (exec into pods, Secrets, creating workloads, cluster-admin) report each binding with
the role it binds, once; a role no binding of the stack binds is reported itself, since whoever
binds it later gets the access. A binding of a role the stack does not hold is judged only for
the built-in roles whose grants are known (cluster-admin, admin, edit).

Exemptions: the annotation `policies.gosvc.dev/exempt-<policy>: <reason>` on the Role or binding,
or, for a chart whose values put no annotations on its RBAC objects, on every workload that runs
as a ServiceAccount the binding names (`Finding.holders`): the permission is the workload's need,
and its reason is shown by `policy-exemptions` like any other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Mapping

from pulumi_policy import Severity

from .definition import Finding, Stack, StackRule, Subject
from .props import UNKNOWN, items, mapping

FAMILY = "rbac"
RBAC_GROUP = "rbac.authorization.k8s.io"
ROLE_KINDS = ("Role", "ClusterRole")
BINDING_KINDS = ("RoleBinding", "ClusterRoleBinding")
EVERYONE = frozenset({"system:anonymous", "system:unauthenticated", "system:authenticated"})
"""Subjects that name every caller, or every signed-in one: a binding to them grants its role to the whole cluster."""
ALL_STANDARD_VERBS = frozenset({"get", "list", "watch", "create", "update", "patch", "delete"})
NAME_BOUND_VERBS = frozenset({"get", "update", "patch", "delete", "bind", "escalate", "impersonate", "approve"})
"""Verbs that resourceNames restrict; create, list, watch and deletecollection name no object when checked, so
resourceNames cannot limit them (Kubernetes RBAC docs, 'Referring to resources')."""

_EVERYTHING = [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}, {"nonResourceURLs": ["*"], "verbs": ["*"]}]
_EDIT = [
    {"apiGroups": [""], "resources": ["pods/exec", "pods/attach", "pods/portforward", "pods", "secrets", "replicationcontrollers"], "verbs": ["create", "get", "list", "watch", "update", "patch", "delete"]},
    {"apiGroups": ["apps"], "resources": ["deployments", "statefulsets", "daemonsets", "replicasets"], "verbs": ["create", "update", "patch", "delete"]},
    {"apiGroups": ["batch"], "resources": ["jobs", "cronjobs"], "verbs": ["create", "update", "patch", "delete"]},
    {"apiGroups": [""], "resources": ["serviceaccounts"], "verbs": ["impersonate"]},
]
BUILT_IN_CLUSTER_ROLES: dict[str, list[dict[str, Any]]] = {"cluster-admin": _EVERYTHING, "admin": _EDIT, "edit": _EDIT}
"""The parts of the user-facing built-in ClusterRoles these rules judge (Kubernetes RBAC docs, 'User-facing roles':
admin and edit read and write Secrets and pods, exec into them and run as any ServiceAccount of the namespace)."""


@dataclass(frozen=True)
class Access:
    """Something a role entry may let its holder do: any of `verbs` on any of `resources` of any of `groups`."""

    groups: frozenset[str]
    resources: frozenset[str]
    verbs: frozenset[str]
    what: str
    """What the holder can do with it, for the message."""

    @classmethod
    def of(cls, groups: Iterable[str], resources: Iterable[str], verbs: Iterable[str], what: str) -> Access:
        return cls(frozenset(groups), frozenset(resources), frozenset(verbs), what)

    def granted_by(self, entry: Mapping[str, Any]) -> list[str]:
        """The verbs of `entry` that give this access ([] if none): a '*' matches any group, resource or verb,
        '*/<sub>' any resource's subresource, and resourceNames hold only the verbs they restrict."""
        groups = {g for g in items(entry.get("apiGroups")) if isinstance(g, str)}
        if "*" not in groups and not groups & self.groups:
            return []
        if not any(_resource_matches(r, self.resources) for r in items(entry.get("resources")) if isinstance(r, str)):
            return []
        verbs = [v for v in items(entry.get("verbs")) if isinstance(v, str) and (v == "*" or v in self.verbs)]
        names = entry.get("resourceNames")
        if items(names) or names is UNKNOWN:  # names unknown during preview may restrict it: not decidable yet
            verbs = [v for v in verbs if v == "*" or v not in NAME_BOUND_VERBS]
        return verbs


def _resource_matches(granted: str, wanted: frozenset[str]) -> bool:
    if granted == "*" or granted in wanted:
        return True
    return granted.startswith("*/") and any(w.partition("/")[2] == granted[2:] for w in wanted)


# -- roles, bindings and who holds them -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Grant:
    """A role's entries as one binding hands them out (or as a role no binding of the stack binds hands them to nobody yet)."""

    role_kind: str
    role_name: str
    entries: tuple[Mapping[str, Any], ...]
    binding: Subject | None
    role: Subject | None

    @property
    def reported(self) -> Subject:
        """The binding, or the role when no binding of the stack binds it (a Grant always has one of the two)."""
        subject = self.binding or self.role
        assert subject is not None
        return subject

    def names(self) -> str:
        """'ClusterRoleBinding x binds ClusterRole y, which' or 'Role ns/y, bound by no binding of this stack,'."""
        if self.binding is None:
            return f"{self.reported.describe()}, bound by no binding of this stack,"
        return f"{self.binding.describe()} binds {self.role_kind} {self.role_name}, which"

    def scope(self) -> str:
        if self.binding is None:
            return "wherever it is bound"
        if self.binding.kind == "ClusterRoleBinding":
            return "in every namespace"
        return f"in namespace {self.binding.namespace}"


def _entries(role: Subject) -> tuple[Mapping[str, Any], ...]:
    return tuple(mapping(e) for e in items(role.props.get("rules")))


def _role_ref(binding: Subject) -> tuple[Any, Any]:
    ref = mapping(binding.props.get("roleRef"))
    return ref.get("kind"), ref.get("name")


def _roles_by_key(stack: Stack) -> dict[tuple[str, Any, Any], Subject]:
    def build() -> dict[tuple[str, Any, Any], Subject]:
        return {(r.kind, r.namespace if r.kind == "Role" else None, r.object_name): r for r in stack.kinds(*ROLE_KINDS)}

    return stack.memo("rbac_roles", build)


def _bound_role(stack: Stack, binding: Subject) -> Subject | None:
    kind, name = _role_ref(binding)
    namespace = binding.namespace if kind == "Role" else None
    return _roles_by_key(stack).get((kind, namespace, name))


def grants(stack: Stack) -> list[Grant]:
    """Every binding with the role it binds (a built-in one where its grants are known), then every unbound role."""

    def build() -> list[Grant]:
        found: list[Grant] = []
        bound: set[str] = set()
        for binding in stack.kinds(*BINDING_KINDS):
            kind, name = _role_ref(binding)
            if not isinstance(kind, str) or not isinstance(name, str):
                continue  # unknown during preview
            role = _bound_role(stack, binding)
            if role is not None:
                bound.add(role.urn)
                found.append(Grant(kind, name, _entries(role), binding, role))
            elif kind == "ClusterRole" and name in BUILT_IN_CLUSTER_ROLES:
                found.append(Grant(kind, name, tuple(BUILT_IN_CLUSTER_ROLES[name]), binding, None))
        for role in stack.kinds(*ROLE_KINDS):
            if role.urn not in bound:
                found.append(Grant(role.kind or "", role.object_name, _entries(role), None, role))
        return found

    return stack.memo("rbac_grants", build)


def _account_users(stack: Stack) -> dict[tuple[Any, Any], list[Subject]]:
    """(namespace, ServiceAccount name) -> the workloads whose pods run as it."""

    def build() -> dict[tuple[Any, Any], list[Subject]]:
        users: dict[tuple[Any, Any], list[Subject]] = {}
        for workload in stack.workloads():
            if workload.template is None:
                continue
            pod = workload.template[1]
            account = pod.get("serviceAccountName") or pod.get("serviceAccount") or "default"
            users.setdefault((workload.namespace, account), []).append(workload)
        return users

    return stack.memo("rbac_account_users", build)


def binding_holders(stack: Stack, binding: Subject) -> tuple[str, ...]:
    """URNs of the workloads running as the binding's ServiceAccounts; () when a subject is a user or group, or an
    account no workload of the stack uses, since then no workload can answer for the grant."""
    users = _account_users(stack)
    found: list[str] = []
    subjects = items(binding.props.get("subjects"))
    for subject in subjects:
        subject = mapping(subject)
        if subject.get("kind") != "ServiceAccount":
            return ()
        workloads = users.get((subject.get("namespace") or binding.namespace, subject.get("name")), [])
        if not workloads:
            return ()
        found.extend(w.urn for w in workloads)
    return tuple(dict.fromkeys(found)) if subjects else ()


def role_holders(stack: Stack, role: Subject) -> tuple[str, ...]:
    """The holders of every binding of `role` in the stack; () when it is bound nowhere or any binding has none."""

    def build() -> dict[str, list[Subject]]:
        bindings: dict[str, list[Subject]] = {}
        for grant in grants(stack):
            if grant.role is not None and grant.binding is not None:
                bindings.setdefault(grant.role.urn, []).append(grant.binding)
        return bindings

    found: list[str] = []
    for binding in stack.memo("rbac_bindings_by_role", build).get(role.urn, []):
        holders = binding_holders(stack, binding)
        if not holders:
            return ()
        found.extend(holders)
    return tuple(dict.fromkeys(found))


def _holders(stack: Stack, grant: Grant) -> tuple[str, ...]:
    return binding_holders(stack, grant.binding) if grant.binding is not None else ()


def entry_text(index: int, entry: Mapping[str, Any]) -> str:
    """'rule 2 (apiGroups [""], resources [secrets], verbs [get, list])' for messages."""
    parts = []
    for key in ("apiGroups", "resources", "resourceNames", "nonResourceURLs", "verbs"):
        if key in entry:
            values = ", ".join('""' if v == "" else str(v) for v in items(entry.get(key)))
            parts.append(f"{key} [{values}]")
    return f"rule {index + 1} ({', '.join(parts)})"


# -- the rules ----------------------------------------------------------------------------------------------------------


def _no_wildcards(stack: Stack, _: Mapping[str, Any]) -> Iterator[Finding]:
    for role in stack.kinds(*ROLE_KINDS):
        holders = role_holders(stack, role)
        for i, entry in enumerate(_entries(role)):
            fields = [key for key in ("apiGroups", "resources", "verbs") if any(isinstance(v, str) and "*" in v for v in items(entry.get(key)))]
            if "*" in items(entry.get("nonResourceURLs")):
                fields.append("nonResourceURLs")
            if fields:
                yield Finding(
                    f"{role.describe()}: {entry_text(i, entry)} uses '*' in {' and '.join(fields)}, which grants everything that "
                    "matches now and whatever the API adds later; list the API groups, resources and verbs it needs",
                    role.urn,
                    holders=holders,
                )


ESCALATION = (
    Access.of([RBAC_GROUP], ["roles", "clusterroles", "rolebindings", "clusterrolebindings"], ["bind"], "bind any role to anyone, including roles with more than it holds"),
    Access.of([RBAC_GROUP], ["roles", "clusterroles"], ["escalate"], "write roles granting more than it holds"),
    Access.of(["", "authentication.k8s.io"], ["users", "groups", "serviceaccounts", "uids", "userextras"], ["impersonate"], "act as other users, groups or ServiceAccounts, system:masters included"),
    Access.of([""], ["serviceaccounts/token"], ["create"], "mint API tokens for ServiceAccounts"),
    Access.of(["certificates.k8s.io"], ["certificatesigningrequests/approval"], ["update", "patch"], "approve certificate requests, client certificates for any user included"),
    Access.of(["certificates.k8s.io"], ["signers"], ["approve"], "approve certificates for any signer"),
    Access.of(["admissionregistration.k8s.io"], ["mutatingwebhookconfigurations", "validatingwebhookconfigurations"], ["create", "update", "patch"], "send API requests to a webhook of its choosing, which may read or rewrite them"),
    Access.of([""], ["services/status"], ["update", "patch"], "set a Service's load-balancer IP and capture its traffic (CVE-2020-8554)"),
)


def _granted(entry: Mapping[str, Any], checks: Iterable[Access]) -> tuple[list[str], list[str]]:
    """The verbs of `entry` that give any of `checks`, and what each given access lets its holder do."""
    verbs: list[str] = []
    whats: list[str] = []
    for access in checks:
        found = access.granted_by(entry)
        if found:
            verbs.extend(v for v in found if v not in verbs)
            whats.append(access.what)
    return verbs, whats


BINDING_WRITES = Access.of([RBAC_GROUP], ["rolebindings", "clusterrolebindings"], ["create", "update", "patch"], "write bindings")
ROLE_BINDS = Access.of([RBAC_GROUP], ["roles", "clusterroles"], ["bind"], "bind roles")


def _machine_identities(binding: Subject) -> list[str]:
    """The binding's subjects that are workloads or nodes (ServiceAccounts, their groups, kubelets): credentials
    that sit on a node or in a pod, where whoever takes one over acts with its grants."""
    found = []
    for subject in items(binding.props.get("subjects")):
        subject = mapping(subject)
        kind, name = subject.get("kind"), subject.get("name")
        if not isinstance(name, str):
            continue
        if kind == "ServiceAccount":
            found.append(f"ServiceAccount {subject.get('namespace') or binding.namespace}/{name}")
        elif (kind == "Group" and (name == "system:nodes" or name.startswith("system:serviceaccounts"))) or (kind == "User" and name.startswith("system:node:")):
            found.append(f"{kind} {name}")
    return found


def _binds_itself(grant: Grant) -> str | None:
    """'rule 1 (...) and rule 2 (...)' when the role lets its holder write bindings and bind roles, resourceNames
    or not: a binding it writes may then name a role with more than it holds and itself as the subject."""
    unnamed = [{k: v for k, v in e.items() if k != "resourceNames"} for e in grant.entries]
    writes = next((i for i, e in enumerate(unnamed) if BINDING_WRITES.granted_by(e)), None)
    binds = next((i for i, e in enumerate(unnamed) if ROLE_BINDS.granted_by(e)), None)
    if writes is None or binds is None:
        return None
    if writes == binds:
        return entry_text(writes, grant.entries[writes])
    return f"{entry_text(writes, grant.entries[writes])} and {entry_text(binds, grant.entries[binds])}"


def _escalation_by_binding(stack: Stack) -> Iterator[Finding]:
    """Bindings that hand a ServiceAccount or node the means to bind itself any role it may bind (Checkov CKV2_K8S_1)."""
    for grant in grants(stack):
        if grant.binding is None:
            continue
        who = _machine_identities(grant.binding)
        entries = _binds_itself(grant) if who else None
        if entries is not None:
            yield Finding(
                f"{grant.binding.describe()} hands {', '.join(who)} {grant.role_kind} {grant.role_name}, which lets it write "
                f"bindings and bind roles by {entries}: whoever holds its token can bind itself any role it may bind, roles "
                f"granting more than it holds included, {grant.scope()}; leave writing bindings to the deployment, or bind the role to people",
                grant.binding.urn,
                holders=_holders(stack, grant),
            )


def _no_escalation(stack: Stack, _: Mapping[str, Any]) -> Iterator[Finding]:
    for role in stack.kinds(*ROLE_KINDS):
        holders = role_holders(stack, role)
        for i, entry in enumerate(_entries(role)):
            verbs, whats = _granted(entry, ESCALATION)
            if verbs:
                yield Finding(
                    f"{role.describe()}: {entry_text(i, entry)} grants {', '.join(verbs)}, so its holder can {'; and '.join(whats)}; "
                    "remove it, or limit it with resourceNames to the objects the workload manages",
                    role.urn,
                    holders=holders,
                )
    yield from _escalation_by_binding(stack)


def _grant_findings(stack: Stack, checks: Iterable[Access], instead: str) -> Iterator[Finding]:
    for grant in grants(stack):
        holders = _holders(stack, grant)
        for i, entry in enumerate(grant.entries):
            verbs, whats = _granted(entry, checks)
            if verbs:
                yield Finding(
                    f"{grant.names()} grants {', '.join(verbs)} by {entry_text(i, entry)}: its holder can {'; and '.join(whats)} "
                    f"{grant.scope()}; {instead}",
                    grant.reported.urn,
                    holders=holders,
                )


POD_EXEC = (
    Access.of([""], ["pods/exec", "pods/attach"], ["get", "create"], "run commands in, or attach to, the pods"),
    Access.of([""], ["pods/portforward"], ["get", "create"], "open connections to the pods' ports past their NetworkPolicies"),
    Access.of([""], ["nodes/proxy"], ["get", "create"], "reach every node's kubelet API, which runs commands in any pod on the node"),
)
SECRETS = (
    Access.of([""], ["secrets"], ["get", "list", "watch"], "read the Secrets, every credential stored there"),
    Access.of([""], ["secrets"], ["create"], "create Secrets, a service-account-token one included, which hands it that account's token"),
    Access.of([""], ["secrets"], ["update", "patch", "delete", "deletecollection"], "replace or delete the Secrets"),
)
WORKLOADS = (
    Access.of([""], ["pods", "replicationcontrollers"], ["create"], "start pods that run as any ServiceAccount and mount any Secret of the namespace"),
    Access.of(["apps"], ["deployments", "statefulsets", "daemonsets", "replicasets"], ["create"], "start pods that run as any ServiceAccount and mount any Secret of the namespace"),
    Access.of(["batch"], ["jobs", "cronjobs"], ["create"], "start pods that run as any ServiceAccount and mount any Secret of the namespace"),
)


def _no_pod_exec(stack: Stack, _: Mapping[str, Any]) -> Iterator[Finding]:
    yield from _grant_findings(stack, POD_EXEC, "debug with an ephemeral container or logs instead, and grant exec to people, not workloads")


def _no_secrets_access(stack: Stack, _: Mapping[str, Any]) -> Iterator[Finding]:
    yield from _grant_findings(stack, SECRETS, "name the Secrets it needs in resourceNames, in a Role of their namespace, or mount them instead")


def _no_workload_creation(stack: Stack, _: Mapping[str, Any]) -> Iterator[Finding]:
    yield from _grant_findings(stack, WORKLOADS, "leave creating workloads to the deployment pipeline, or to a controller in a namespace of its own")


def _grants_everything(entries: Iterable[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    for entry in entries:
        verbs = set(items(entry.get("verbs")))
        if "*" in items(entry.get("apiGroups")) and "*" in items(entry.get("resources")) and ("*" in verbs or ALL_STANDARD_VERBS <= verbs):
            return entry
    return None


def _no_cluster_admin(stack: Stack, _: Mapping[str, Any]) -> Iterator[Finding]:
    for grant in grants(stack):
        if grant.binding is None:
            continue
        everything = _grants_everything(grant.entries)
        if grant.role_kind == "ClusterRole" and grant.role_name == "cluster-admin":
            what = "is cluster-admin"
        elif everything is not None:
            what = f"grants every verb on every resource by {entry_text(grant.entries.index(everything), everything)}, as cluster-admin does"
        else:
            continue
        yield Finding(
            f"{grant.binding.describe()} binds {grant.role_kind} {grant.role_name}, which {what}, {grant.scope()}; bind a role "
            "listing only what its subjects need",
            grant.binding.urn,
            holders=_holders(stack, grant),
        )


def _no_everyone(stack: Stack, _: Mapping[str, Any]) -> Iterator[Finding]:
    for binding in stack.kinds(*BINDING_KINDS):
        kind, name = _role_ref(binding)
        for subject in items(binding.props.get("subjects")):
            subject = mapping(subject)
            who = subject.get("name")
            if subject.get("kind") in ("Group", "User") and who in EVERYONE:
                yield Finding(
                    f"{binding.describe()} grants {kind} {name} to {subject.get('kind')} {who}, which is every caller of the API "
                    f"{'that signs in' if who == 'system:authenticated' else 'anonymous ones included'}; name the users, groups "
                    "or ServiceAccounts that need it",
                    binding.urn,
                )
            elif subject.get("kind") == "ServiceAccount" and who == "default":
                namespace = subject.get("namespace") or binding.namespace
                yield Finding(
                    f"{binding.describe()} grants {kind} {name} to ServiceAccount {namespace}/default, which every pod of "
                    f"namespace {namespace} without an account of its own runs as; create a ServiceAccount for the workload "
                    "that needs it",
                    binding.urn,
                )


REMEDIATION_NOTE = (
    " No automatic fix: removing a permission can break the workload that uses it. A Role or binding opts out with the "
    "annotation policies.gosvc.dev/exempt-<policy>: <reason>; a chart's, whose values put no annotations on it, through the "
    "same annotation on every workload running as the ServiceAccount it is bound to."
)

RULES = [
    StackRule(
        "rbac-no-wildcards",
        "Roles and ClusterRoles name the API groups, resources and verbs they grant, with no '*'.",
        severity=Severity.HIGH,
        family=FAMILY,
        check=_no_wildcards,
        workload_exemptions=True,
        remediation_steps="Replace each '*' with the API groups, resources and verbs the workload uses (kubectl auth can-i "
        "--list --as=system:serviceaccount:<ns>:<name> shows what it is granted)." + REMEDIATION_NOTE,
        covers={"kube-linter": ["wildcard-in-rules", "wildcard-resource-verb-combo"], "checkov": ["CKV_K8S_49"]},
    ),
    StackRule(
        "rbac-no-escalation",
        "No role grants a way past RBAC (bind, escalate, impersonate, tokens, certificates, webhooks, Service status); no "
        "binding lets a ServiceAccount or node bind itself roles.",
        severity=Severity.CRITICAL,
        family=FAMILY,
        check=_no_escalation,
        workload_exemptions=True,
        remediation_steps="Remove the entry; a controller that must manage RBAC, webhooks or certificates gets it with "
        "resourceNames naming exactly the objects it owns." + REMEDIATION_NOTE,
        covers={
            "kube-linter": ["bind-verb-in-role", "escalate-verb-in-role", "impersonate-without-resource-names", "approve-signers-without-resource-names"],
            "checkov": ["CKV_K8S_156", "CKV_K8S_157", "CKV_K8S_158", "CKV2_K8S_1", "CKV2_K8S_4"],
        },
        # CKV2_K8S_1 also fails a role whose rules touch bindings in one entry and grant bind or '*' in another, or '*'
        # in a group that holds no bindings; such a role grants no way past RBAC, and rbac-no-wildcards flags the '*'.
        partly={"checkov": ["CKV_K8S_155", "CKV2_K8S_3"]},
    ),
    StackRule(
        "rbac-no-cluster-admin",
        "No binding grants cluster-admin, or a role with every verb on every resource.",
        severity=Severity.CRITICAL,
        family=FAMILY,
        check=_no_cluster_admin,
        workload_exemptions=True,
        remediation_steps="Bind a Role (or ClusterRole) that lists the resources and verbs the subjects use, in the "
        "namespaces they use them in." + REMEDIATION_NOTE,
        covers={
            "kube-linter": ["cluster-admin-role-binding"],
            "polaris": ["clusterrolebindingClusterAdmin", "rolebindingClusterAdminClusterRole", "rolebindingClusterAdminRole"],
        },
    ),
    StackRule(
        "rbac-no-pod-exec",
        "No binding lets its subjects exec into, attach to or port-forward to pods, or reach the kubelet through nodes/proxy.",
        severity=Severity.HIGH,
        family=FAMILY,
        check=_no_pod_exec,
        workload_exemptions=True,
        remediation_steps="Drop pods/exec, pods/attach, pods/portforward and nodes/proxy from the role; people who debug get "
        "them through a role of their own, bound for the time they need it." + REMEDIATION_NOTE,
        covers={
            "polaris": ["clusterrolePodExecAttach", "rolePodExecAttach", "clusterrolebindingPodExecAttach", "rolebindingClusterRolePodExecAttach", "rolebindingRolePodExecAttach"],
            "checkov": ["CKV2_K8S_2"],
        },
    ),
    StackRule(
        "rbac-no-secrets-access",
        "No binding grants access to Secrets beyond the ones it names in resourceNames.",
        severity=Severity.HIGH,
        family=FAMILY,
        check=_no_secrets_access,
        workload_exemptions=True,
        remediation_steps="Mount the Secrets the workload reads, or grant get on them by resourceNames in a Role of their "
        "namespace; never list or watch Secrets cluster-wide." + REMEDIATION_NOTE,
        covers={"kube-linter": ["access-to-secrets", "cluster-wide-secrets-access"], "checkov": ["CKV2_K8S_5"]},
    ),
    StackRule(
        "rbac-no-workload-creation",
        "No binding lets its subjects create pods or the workloads that make them.",
        severity=Severity.MEDIUM,
        family=FAMILY,
        check=_no_workload_creation,
        workload_exemptions=True,
        remediation_steps="Remove create on pods, replicationcontrollers, deployments, statefulsets, daemonsets, replicasets, "
        "jobs and cronjobs; workloads are created by the deployment, not from inside the cluster." + REMEDIATION_NOTE,
        covers={"kube-linter": ["access-to-create-pods"]},
    ),
    StackRule(
        "rbac-no-broad-subjects",
        "No binding grants a role to everyone (system:anonymous, system:unauthenticated, system:authenticated) or to a "
        "namespace's default ServiceAccount.",
        severity=Severity.HIGH,
        family=FAMILY,
        check=_no_everyone,
        workload_exemptions=True,
        remediation_steps="Name the users, groups or dedicated ServiceAccounts that need the role in the binding's subjects."
        + REMEDIATION_NOTE,
        covers={"checkov": ["CKV_K8S_42"]},
    ),
]
NAMES = [rule.name for rule in RULES]
