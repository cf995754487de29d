"""Security policies: each with compliant and violating scenarios, run through real pulumi_policy argument objects."""

from __future__ import annotations

import pytest
from policy_harness import DELETE, Case, edit, edits, load, one, remediation_args, resource_args, run, serialized

from policies.rules import BY_NAME

SERVICE = load("compliant-service")
DEPLOY, SERVICE_ACCOUNT = SERVICE[0], SERVICE[1]
POD = "spec.template.spec"
APP = f"{POD}.containers[0]"
INIT = f"{POD}.initContainers[0]"
SC = f"{APP}.securityContext"
FILEBEAT = one("filebeat-daemonset-exempt")
HOST = {"name": "host", "hostPath": {"path": "/var/log"}}


def with_volume(volume: dict, read_only: bool) -> dict:
    doc = edit(DEPLOY, f"{POD}.volumes[1]", volume)
    return edit(doc, f"{APP}.volumeMounts[1]", {"name": volume["name"], "mountPath": "/host", "readOnly": read_only})


PROC = {"name": "proc", "hostPath": {"path": "/proc"}}


def exempt(doc: dict, policy: str, reason: str = "reads the node's own metrics") -> dict:
    return edit(doc, "metadata.annotations", {**doc["metadata"].get("annotations", {}), f"policies.gosvc.dev/exempt-{policy}": reason})


CASES = [
    Case("run-as-non-root", "compliant", DEPLOY),
    Case("run-as-non-root", "uid-zero", edit(DEPLOY, f"{SC}.runAsUser", 0), ("container 'app' runs as UID 0",)),
    Case("run-as-non-root", "run-as-non-root-false", edit(DEPLOY, f"{SC}.runAsNonRoot", False), ("container 'app' does not set runAsNonRoot",)),
    Case("run-as-non-root", "low-uid", edit(DEPLOY, f"{SC}.runAsUser", 1000), ("container 'app' runs as UID 1000",)),
    Case(
        "run-as-non-root",
        "no-uid-anywhere",
        edits(DEPLOY, {f"{SC}.runAsUser": DELETE, f"{POD}.securityContext.runAsUser": DELETE}),
        ("container 'app' sets no runAsUser",),
    ),
    Case("run-as-non-root", "low-gid", edit(DEPLOY, f"{SC}.runAsGroup", 100), ("container 'app' runs with GID 100",)),
    Case("run-as-non-root", "root-group-refused", edit(DEPLOY, f"{SC}.runAsGroup", 0), ("container 'app' runs with GID 0",)),
    Case("run-as-non-root", "root-group-allowed-by-config", edit(DEPLOY, f"{SC}.runAsGroup", 0), (), {"allowRootGroup": True}),
    Case("run-as-non-root", "gid-from-the-pod", edit(DEPLOY, f"{SC}.runAsGroup", DELETE)),
    Case(
        "run-as-non-root",
        "no-gid-anywhere",
        edits(DEPLOY, {f"{SC}.runAsGroup": DELETE, f"{POD}.securityContext.runAsGroup": DELETE}),
        ("container 'app' sets no runAsGroup",),
    ),
    Case("run-as-non-root", "no-gid-allowed-root-group-or-not", edits(DEPLOY, {f"{SC}.runAsGroup": DELETE, f"{POD}.securityContext.runAsGroup": DELETE}), ("container 'app' sets no runAsGroup",), {"allowRootGroup": True}),
    Case(
        "run-as-non-root",
        "min-uid-from-config-as-float",
        DEPLOY,
        (
            "container 'app' runs as UID 65532",
            "init container 'wait' runs as UID 65532",
            "container 'app' runs with GID 65532",
            "container 'wait' runs with GID 65532",
            "the pod's fsGroup 65532",
        ),
        {"minUid": 70000.0},
    ),
    Case("no-privilege-escalation", "compliant", DEPLOY),
    Case("no-privilege-escalation", "unset", edit(DEPLOY, f"{SC}.allowPrivilegeEscalation", DELETE), ("container 'app' does not set allowPrivilegeEscalation",)),
    Case("no-privilege-escalation", "true-on-init", edit(DEPLOY, f"{INIT}.securityContext.allowPrivilegeEscalation", True), ("init container 'wait'",)),
    Case("read-only-root-filesystem", "compliant", DEPLOY),
    Case("read-only-root-filesystem", "writable", edit(DEPLOY, f"{SC}.readOnlyRootFilesystem", False), ("container 'app' has a writable root filesystem",)),
    Case("drop-all-capabilities", "compliant", DEPLOY),
    Case("drop-all-capabilities", "drops-nothing", edit(DEPLOY, f"{SC}.capabilities", {}), ("container 'app' does not drop ALL",)),
    Case("drop-all-capabilities", "adds-net-bind-service", edit(DEPLOY, f"{SC}.capabilities.add", ["NET_BIND_SERVICE"]), ("container 'app' adds capability NET_BIND_SERVICE; allowed: none",)),
    Case("drop-all-capabilities", "adds-on-init", edit(DEPLOY, f"{INIT}.securityContext.capabilities.add", ["CAP_CHOWN"]), ("init container 'wait' adds capability CHOWN; allowed: none",)),
    Case("drop-all-capabilities", "configured-net-bind-service", edit(DEPLOY, f"{SC}.capabilities.add", ["NET_BIND_SERVICE"]), (), {"allowedCapabilities": ["NET_BIND_SERVICE"]}),
    Case("drop-all-capabilities", "adds-sys-admin", edit(DEPLOY, f"{SC}.capabilities.add", ["SYS_ADMIN"]), ("adds capability SYS_ADMIN (never allowed)",)),
    Case(
        "drop-all-capabilities",
        "net-raw-even-if-configured",
        edit(DEPLOY, f"{SC}.capabilities.add", ["CAP_NET_RAW"]),
        ("adds capability NET_RAW (never allowed)",),
        {"allowedCapabilities": ["NET_RAW"]},
    ),
    Case("drop-all-capabilities", "configured-extra", edit(DEPLOY, f"{SC}.capabilities.add", ["CHOWN"]), (), {"allowedCapabilities": ["CHOWN"]}),
    Case("seccomp-runtime-default", "compliant", DEPLOY),
    Case(
        "seccomp-runtime-default",
        "none-anywhere",
        edits(DEPLOY, {f"{POD}.securityContext.seccompProfile": DELETE, f"{SC}.seccompProfile": DELETE, f"{INIT}.securityContext.seccompProfile": DELETE}),
        ("container 'app' runs without a seccomp profile", "init container 'wait' runs without a seccomp profile"),
    ),
    Case(
        "seccomp-runtime-default",
        "pod-level-only",
        edits(DEPLOY, {f"{SC}.seccompProfile": DELETE, f"{INIT}.securityContext.seccompProfile": DELETE}),
    ),
    Case("seccomp-runtime-default", "localhost", edit(DEPLOY, f"{SC}.seccompProfile", {"type": "Localhost", "localhostProfile": "go.json"})),
    Case("seccomp-runtime-default", "container-unconfined", edit(DEPLOY, f"{SC}.seccompProfile.type", "Unconfined"), ("container 'app' sets seccompProfile Unconfined",)),
    Case("no-privileged", "compliant", DEPLOY),
    Case("no-privileged", "privileged", edit(DEPLOY, f"{SC}.privileged", True), ("container 'app' runs privileged",)),
    Case("no-host-namespaces", "compliant", DEPLOY),
    Case("no-host-namespaces", "host-network-and-pid", edits(DEPLOY, {f"{POD}.hostNetwork": True, f"{POD}.hostPID": True}), ("hostNetwork", "hostPID")),
    Case("no-host-namespaces", "host-port", edit(DEPLOY, f"{APP}.ports[0].hostPort", 8080), ("binds hostPort 8080",)),
    Case("no-host-path", "compliant", DEPLOY),
    Case("no-host-path", "read-only-log-dir-unexempted", with_volume(HOST, True), ("hostPath /var/log (read-only)",)),
    Case("no-host-path", "docker-socket", with_volume({"name": "sock", "hostPath": {"path": "/var/run/docker.sock"}}, True), ("sensitive node path",)),
    Case("no-host-path", "parent-of-sensitive", with_volume({"name": "var", "hostPath": {"path": "/var"}}, True), ("sensitive node path",)),
    Case("no-host-path", "writable", with_volume({"name": "data", "hostPath": {"path": "/data"}}, False), ("writable by container 'app'",)),
    # A node metrics agent (node-exporter) reads the node's /proc, /sys and root: read-only and with a reason, nothing else.
    Case("no-host-path", "node-agent-path-unexempted", with_volume(PROC, True), ("hostPath /proc (read-only), a node path only a node agent may read by exemption",)),
    Case("no-host-path", "node-agent-path-exempted", exempt(with_volume(PROC, True), "no-host-path")),
    Case("no-host-path", "node-agent-root-exempted", exempt(with_volume({"name": "root", "hostPath": {"path": "/"}}, True), "no-host-path")),
    Case("no-host-path", "node-agent-path-writable", exempt(with_volume(PROC, False), "no-host-path"), ("sensitive node path",)),
    Case("no-host-path", "below-a-node-agent-path", exempt(with_volume({"name": "p", "hostPath": {"path": "/proc/1/root"}}, True), "no-host-path"), ("sensitive node path",)),
    Case("no-host-path", "other-sensitive-read-only", exempt(with_volume({"name": "etc", "hostPath": {"path": "/etc"}}, True), "no-host-path"), ("sensitive node path",)),
    Case("no-host-path", "node-agent-paths-from-config", exempt(with_volume(PROC, True), "no-host-path"), ("sensitive node path",), {"readOnlyNodeAgentPaths": []}),
    Case("no-secrets-in-env", "compliant", DEPLOY),
    Case("no-secrets-in-env", "literal-password", edit(DEPLOY, f"{APP}.env[2]", {"name": "DB_PASSWORD", "value": "hunter2"}), ("env DB_PASSWORD looks like a secret",)),
    # Grafana reads a setting written `$__file{<path>}` from that file (the admin password from a mounted Secret).
    Case("no-secrets-in-env", "grafana-file-reference", edit(DEPLOY, f"{APP}.env[2]", {"name": "GF_SECURITY_ADMIN_PASSWORD", "value": "$__file{/etc/grafana/admin/admin-password}"})),
    Case(
        "no-secrets-in-env",
        "file-reference-and-more",
        edit(DEPLOY, f"{APP}.env[2]", {"name": "GF_SECURITY_ADMIN_PASSWORD", "value": "hunter2$__file{/etc/x}"}),
        ("env GF_SECURITY_ADMIN_PASSWORD looks like a secret",),
    ),
    Case(
        "no-secrets-in-env",
        "token-from-configmap",
        edit(DEPLOY, f"{APP}.env[2]", {"name": "API_TOKEN", "valueFrom": {"configMapKeyRef": {"name": "c", "key": "k"}}}),
        ("env API_TOKEN looks like a secret but comes from a ConfigMap",),
    ),
    Case(
        "no-secrets-in-env",
        "url-with-password",
        edit(DEPLOY, f"{APP}.env[2]", {"name": "DATABASE_URL", "value": "postgres://app:s3cret@db:5432/app"}),
        ("env DATABASE_URL holds a URL with a password",),
    ),
    Case("no-secrets-in-env", "path-to-secret-file", edit(DEPLOY, f"{APP}.env[2]", {"name": "DB_PASSWORD_FILE", "value": "/run/secrets/db"})),
    Case("no-secrets-in-env", "reviewed-name", edit(DEPLOY, f"{APP}.env[2]", {"name": "TOKEN_AUDIENCE", "value": "api"}), (), {"allowedNames": ["TOKEN_AUDIENCE"]}),
    Case("service-account-token-not-automounted", "compliant", DEPLOY),
    Case("service-account-token-not-automounted", "service-account-compliant", SERVICE_ACCOUNT),
    Case("service-account-token-not-automounted", "pod-mounts", edit(DEPLOY, f"{POD}.automountServiceAccountToken", True), ("the pod does not set automountServiceAccountToken",)),
    Case("service-account-token-not-automounted", "pod-unset", edit(DEPLOY, f"{POD}.automountServiceAccountToken", DELETE), ("the pod does not set",)),
    Case("service-account-token-not-automounted", "service-account-unset", edit(SERVICE_ACCOUNT, "automountServiceAccountToken", DELETE), ("the ServiceAccount does not set",)),
    Case("no-default-namespace", "compliant", DEPLOY),
    Case("no-default-namespace", "default", edit(DEPLOY, "metadata.namespace", "default"), ("is in the 'default' namespace",)),
    Case("no-default-namespace", "unset", edit(DEPLOY, "metadata.namespace", DELETE), ("sets no namespace",)),
    Case("no-default-namespace", "cluster-scoped", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}),
    Case(
        "no-default-namespace",
        "helm-release-default",
        {"pulumiType": "kubernetes:helm.sh/v3:Release", "name": "chart", "chart": "kube-prometheus-stack", "namespace": "default"},
        ("is in the 'default' namespace",),
    ),
    Case(
        "no-default-namespace",
        "configured-cluster-scoped-crd",
        {"apiVersion": "cert-manager.io/v1", "kind": "ClusterIssuer", "metadata": {"name": "letsencrypt"}},
        (),
        {"clusterScopedKinds": ["ClusterIssuer"]},
    ),
    Case("policy-exemptions", "no-annotations", DEPLOY),
    Case(
        "policy-exemptions",
        "filebeat",
        FILEBEAT,
        ("exempt from 'no-host-path' because", "exempt from 'no-host-path' because", "exempt from 'run-as-non-root' because"),
    ),
]


@pytest.mark.parametrize("case", [c.param() for c in CASES])
def test_security_policy(case: Case):
    case.check()


# -- exemptions ------------------------------------------------------------------------------------------------------


def test_exempted_filebeat_passes_the_policies_it_is_exempt_from():
    for policy in ("no-host-path", "run-as-non-root"):
        assert run(BY_NAME[policy], resource_args(FILEBEAT)).messages == [], policy


def test_exemptions_are_reported_as_advisory_notes_quoting_the_reason():
    notes = run(BY_NAME["policy-exemptions"], resource_args(FILEBEAT)).messages
    host = [n for n in notes if "exempt from 'no-host-path' because \"reads node logs from /var/log read-only" in n]
    assert len(host) == 2 and any("/var/log (read-only)" in n for n in host) and any("/var/lib/filebeat-data (writable)" in n for n in host)
    assert any("exempt from 'run-as-non-root' because \"node log files are readable by root only\": container 'filebeat' runs as UID 0" in n for n in notes)
    assert BY_NAME["policy-exemptions"].enforcement_level.value == "advisory"


def test_without_annotations_filebeat_violates_no_host_path_twice():
    bare = edit(FILEBEAT, "metadata.annotations", DELETE)
    assert len(run(BY_NAME["no-host-path"], resource_args(bare)).messages) == 2


def test_an_exemption_never_covers_a_writable_log_mount():
    writable = edit(FILEBEAT, "spec.template.spec.containers[0].volumeMounts[0].readOnly", False)
    messages = run(BY_NAME["no-host-path"], resource_args(writable)).messages
    assert len(messages) == 1 and "hostPath /var/log writable by container 'filebeat'" in messages[0]


def test_an_empty_reason_is_no_exemption():
    empty = edit(FILEBEAT, "metadata.annotations", {"policies.gosvc.dev/exempt-no-host-path": "  "})
    assert len(run(BY_NAME["no-host-path"], resource_args(empty)).messages) == 2
    notes = run(BY_NAME["policy-exemptions"], resource_args(empty)).messages
    assert notes and all("gives no reason" in n for n in notes)


@pytest.mark.parametrize(
    "annotation,fragment",
    [
        ("policies.gosvc.dev/exempt-no-such-policy", "names no resource policy"),
        ("policies.gosvc.dev/exempt-networkpolicy-per-workload", "a stack policy, which no annotation can waive"),
        ("policies.gosvc.dev/exempt-no-privileged", "waives nothing"),
    ],
)
def test_useless_exemptions_are_reported(annotation, fragment):
    doc = edit(DEPLOY, "metadata.annotations", {annotation: "because"})
    notes = run(BY_NAME["policy-exemptions"], resource_args(doc)).messages
    assert len(notes) == 1 and fragment in notes[0]


def test_a_workload_exemption_from_a_stack_policy_that_accepts_them_is_reported_with_its_reason():
    doc = edit(DEPLOY, "metadata.annotations", {"policies.gosvc.dev/exempt-replicas-at-least-two": "the operator has no leader election"})
    (note,) = run(BY_NAME["policy-exemptions"], resource_args(doc)).messages
    assert note.endswith("exempt from stack policy 'replicas-at-least-two' because \"the operator has no leader election\": its findings about this workload are waived")
    empty = edit(DEPLOY, "metadata.annotations", {"policies.gosvc.dev/exempt-replicas-at-least-two": ""})
    (note,) = run(BY_NAME["policy-exemptions"], resource_args(empty)).messages
    assert "gives no reason, so it is ignored and 'replicas-at-least-two' applies in full" in note


def test_an_exemption_on_a_non_workload_has_no_effect():
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": "a", "annotations": {"policies.gosvc.dev/exempt-no-host-path": "why"}}}
    notes = run(BY_NAME["policy-exemptions"], resource_args(cm)).messages
    assert len(notes) == 1 and "only workloads may be exempted" in notes[0]


def test_elasticsearch_sysctl_init_container_is_covered_only_by_its_exemptions():
    es = one("elasticsearch-sysctl-exempt")
    for policy in ("no-privileged", "no-privilege-escalation", "run-as-non-root"):
        assert run(BY_NAME[policy], resource_args(es)).messages == [], policy
    notes = run(BY_NAME["policy-exemptions"], resource_args(es)).messages
    assert any("exempt from 'no-privileged'" in n and "init container 'sysctl' runs privileged" in n for n in notes)
    # the exemption is per policy: a rule it does not name still applies to the same container
    assert run(BY_NAME["read-only-root-filesystem"], resource_args(edit(es, "spec.template.spec.initContainers[0].securityContext.readOnlyRootFilesystem", False))).messages


# -- remediation ---------------------------------------------------------------------------------------------------


def _fixed(policy: str, doc: dict, **kwargs) -> dict | None:
    result = BY_NAME[policy].remediate(remediation_args(doc, **kwargs))
    return None if result is None else serialized(result)


def test_seccomp_remediation_sets_runtime_default_and_replaces_unconfined():
    doc = edits(DEPLOY, {f"{POD}.securityContext.seccompProfile": DELETE, f"{SC}.seccompProfile.type": "Unconfined"})
    fixed = _fixed("seccomp-runtime-default", doc)
    assert fixed["spec"]["template"]["spec"]["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert fixed["spec"]["template"]["spec"]["containers"][0]["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert run(BY_NAME["seccomp-runtime-default"], resource_args(fixed)).messages == []


def test_privilege_escalation_remediation_fixes_every_container_but_privileged_ones():
    doc = edits(DEPLOY, {f"{SC}.allowPrivilegeEscalation": DELETE, f"{INIT}.securityContext": {"privileged": True}})
    fixed = _fixed("no-privilege-escalation", doc)
    pod = fixed["spec"]["template"]["spec"]
    assert pod["containers"][0]["securityContext"]["allowPrivilegeEscalation"] is False
    assert "allowPrivilegeEscalation" not in pod["initContainers"][0]["securityContext"]  # the API server refuses it with privileged


def test_token_remediation_on_pod_and_service_account():
    assert _fixed("service-account-token-not-automounted", edit(DEPLOY, f"{POD}.automountServiceAccountToken", True))["spec"]["template"]["spec"]["automountServiceAccountToken"] is False
    assert _fixed("service-account-token-not-automounted", edit(SERVICE_ACCOUNT, "automountServiceAccountToken", DELETE))["automountServiceAccountToken"] is False


def test_remediation_keeps_secrets_secret():
    doc = edits(DEPLOY, {f"{POD}.automountServiceAccountToken": True, f"{APP}.env[0].value": "token-value"})
    fixed = _fixed("service-account-token-not-automounted", doc, secret_paths=[f"{APP}.env[0].value"])
    env_value = fixed["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"]
    assert env_value == {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", "value": "token-value"}


def test_no_remediation_for_compliant_or_exempted_workloads():
    assert _fixed("seccomp-runtime-default", DEPLOY) is None
    exempt = edits(DEPLOY, {f"{SC}.allowPrivilegeEscalation": DELETE, "metadata.annotations": {"policies.gosvc.dev/exempt-no-privilege-escalation": "reason"}})
    assert _fixed("no-privilege-escalation", exempt) is None


def test_policies_without_remediation_offer_none():
    remediating = {p.name for p in BY_NAME.values() if getattr(p, "has_remediation", lambda: False)()}
    assert remediating == {
        "seccomp-runtime-default",
        "service-account-token-not-automounted",
        "no-privilege-escalation",
        "proc-mount-default",
        "apparmor-selinux-confined",
        "pdb-has-bound",
        "env-names-unique",
        "service-account-field-current",
    }
