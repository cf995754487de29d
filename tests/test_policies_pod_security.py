"""Pod Security Standards controls (policies/rules/pod_security.py) and the root group of run-as-non-root: compliant and
violating scenarios through real pulumi_policy argument objects, their fixes, exemptions and configuration."""

from __future__ import annotations

import pytest
from policy_harness import Case, edit, edits, load, remediation_args, resource_args, run, serialized

from policies.rules import BY_NAME
from policies.rules.pod_security import SAFE_SYSCTLS

DEPLOY = load("compliant-service")[0]
POD = "spec.template.spec"
APP = f"{POD}.containers[0]"
INIT = f"{POD}.initContainers[0]"
SC = f"{APP}.securityContext"
ANNOTATIONS = "spec.template.metadata.annotations"
APPARMOR = "container.apparmor.security.beta.kubernetes.io/app"
CRONJOB = {
    "apiVersion": "batch/v1",
    "kind": "CronJob",
    "metadata": {"name": "nightly", "namespace": "shop"},
    "spec": {"schedule": "0 3 * * *", "jobTemplate": {"spec": {"template": {"spec": DEPLOY["spec"]["template"]["spec"]}}}},
}
CRON_POD = "spec.jobTemplate.spec.template.spec"


def sysctls(*names: str) -> dict:
    return edit(DEPLOY, f"{POD}.securityContext.sysctls", [{"name": n, "value": "1"} for n in names])


def volume(source: dict) -> dict:
    return edit(DEPLOY, f"{POD}.volumes[1]", {"name": "extra", **source})


def port(number: int, protocol: str | None = None) -> dict:
    return edit(DEPLOY, f"{APP}.ports[2]", {"name": "extra", "containerPort": number, **({"protocol": protocol} if protocol else {})})


CASES = [
    Case("no-unsafe-sysctls", "compliant", DEPLOY),
    Case("no-unsafe-sysctls", "unsafe", sysctls("net.core.somaxconn", "kernel.msgmax"), ("sysctl net.core.somaxconn, outside", "sysctl kernel.msgmax, outside")),
    Case("no-unsafe-sysctls", "safe-but-not-allowed", sysctls("net.ipv4.ip_unprivileged_port_start"), ("a safe one that allowedSysctls (none) does not list",)),
    Case("no-unsafe-sysctls", "safe-and-allowed", sysctls("net.ipv4.ip_unprivileged_port_start"), (), {"allowedSysctls": ["net.ipv4.ip_unprivileged_port_start"]}),
    Case(
        "no-unsafe-sysctls",
        "unsafe-even-if-configured",
        sysctls("vm.max_map_count"),
        ("sysctl vm.max_map_count, outside the Pod Security Standards' safe set",),
        {"allowedSysctls": ["vm.max_map_count"]},
    ),
    Case("no-unsafe-sysctls", "cronjob", edit(CRONJOB, f"{CRON_POD}.securityContext.sysctls", [{"name": "kernel.sem", "value": "1"}]), ("sysctl kernel.sem",)),
    Case("proc-mount-default", "compliant", DEPLOY),
    Case("proc-mount-default", "default-spelled-out", edit(DEPLOY, f"{SC}.procMount", "Default")),
    Case("proc-mount-default", "unmasked", edit(DEPLOY, f"{SC}.procMount", "Unmasked"), ("container 'app' sets procMount Unmasked",)),
    Case("proc-mount-default", "unmasked-init", edit(DEPLOY, f"{INIT}.securityContext.procMount", "Unmasked"), ("init container 'wait' sets procMount Unmasked",)),
    Case("apparmor-selinux-confined", "compliant", DEPLOY),
    Case(
        "apparmor-selinux-confined",
        "allowed-profiles",
        edits(
            DEPLOY,
            {
                f"{POD}.securityContext.appArmorProfile": {"type": "RuntimeDefault"},
                f"{SC}.appArmorProfile": {"type": "Localhost", "localhostProfile": "k8s-app"},
                ANNOTATIONS: {APPARMOR: "localhost/k8s-app", "container.apparmor.security.beta.kubernetes.io/wait": "runtime/default"},
                f"{SC}.seLinuxOptions": {"type": "container_t", "level": "s0:c123,c456"},
            },
        ),
    ),
    Case(
        "apparmor-selinux-confined",
        "apparmor-unconfined-field",
        edits(DEPLOY, {f"{POD}.securityContext.appArmorProfile": {"type": "Unconfined"}, f"{INIT}.securityContext.appArmorProfile": {"type": "Unconfined"}}),
        ("the pod sets appArmorProfile Unconfined", "init container 'wait' sets appArmorProfile Unconfined"),
    ),
    Case("apparmor-selinux-confined", "apparmor-unconfined-annotation", edit(DEPLOY, ANNOTATIONS, {APPARMOR: "unconfined"}), ("container 'app' AppArmor profile unconfined",)),
    Case(
        "apparmor-selinux-confined",
        "selinux-user-role-type",
        edits(DEPLOY, {f"{POD}.securityContext.seLinuxOptions": {"user": "system_u", "role": "system_r"}, f"{SC}.seLinuxOptions": {"type": "spc_t"}}),
        ("the pod sets seLinuxOptions.user system_u", "the pod sets seLinuxOptions.role system_r", "container 'app' sets SELinux type spc_t"),
    ),
    Case("no-host-process", "compliant", DEPLOY),
    Case("no-host-process", "explicitly-off", edit(DEPLOY, f"{SC}.windowsOptions", {"hostProcess": False})),
    Case(
        "no-host-process",
        "pod-and-container",
        edits(DEPLOY, {f"{POD}.securityContext.windowsOptions": {"hostProcess": True}, f"{SC}.windowsOptions": {"hostProcess": True}}),
        ("the pod sets windowsOptions.hostProcess: true", "container 'app' sets windowsOptions.hostProcess: true"),
    ),
    Case("no-privileged-ports", "compliant", DEPLOY),
    Case("no-privileged-ports", "ssh", port(22), ("container 'app' declares port 22, SSH's",)),
    Case("no-privileged-ports", "ssh-udp-is-still-privileged", port(22, "UDP"), ("container 'app' declares port 22, which only root or NET_BIND_SERVICE may bind",)),
    Case("no-privileged-ports", "http", port(80), ("container 'app' declares port 80, which only root",)),
    Case("no-privileged-ports", "first-unprivileged", port(1024)),
    Case("restricted-volume-types", "compliant", DEPLOY),
    Case(
        "restricted-volume-types",
        "every-admitted-type",
        edits(
            DEPLOY,
            {
                f"{POD}.volumes[1]": {"name": "claim", "persistentVolumeClaim": {"claimName": "data"}},
                f"{POD}.volumes[2]": {"name": "token", "projected": {"sources": [{"serviceAccountToken": {"path": "token"}}]}},
                f"{POD}.volumes[3]": {"name": "info", "downwardAPI": {"items": []}},
                f"{POD}.volumes[4]": {"name": "scratch", "ephemeral": {"volumeClaimTemplate": {"spec": {}}}},
                f"{POD}.volumes[5]": {"name": "csi", "csi": {"driver": "secrets-store.csi.k8s.io"}},
                f"{POD}.volumes[6]": {"name": "conf", "configMap": {"name": "hello"}},
                f"{POD}.volumes[7]": {"name": "cert", "secret": {"secretName": "hello"}},
            },
        ),
    ),
    Case("restricted-volume-types", "nfs", volume({"nfs": {"server": "nfs.example.com", "path": "/export"}}), ("volume 'extra' is of type nfs",)),
    Case("restricted-volume-types", "git-repo", volume({"gitRepo": {"repository": "https://example.com/x.git"}}), ("volume 'extra' is of type gitRepo",)),
    # hostPath is outside the restricted types too, but no-host-path judges it (by path and mount); one finding, not two
    Case("restricted-volume-types", "host-path-is-no-host-paths", volume({"hostPath": {"path": "/var/log"}})),
    Case("run-as-non-root", "root-fs-group-allowed-by-config", edit(DEPLOY, f"{POD}.securityContext.fsGroup", 0), (), {"allowRootGroup": True}),
    Case("run-as-non-root", "root-fs-group-refused", edit(DEPLOY, f"{POD}.securityContext.fsGroup", 0), ("the pod's fsGroup 0",)),
    Case("run-as-non-root", "low-fs-group", edit(DEPLOY, f"{POD}.securityContext.fsGroup", 100), ("the pod's fsGroup 100",)),
    Case(
        "run-as-non-root",
        "supplemental-groups",
        edit(DEPLOY, f"{POD}.securityContext.supplementalGroups", [0, 65532, 4, 4]),
        ("the pod adds supplemental group 0", "the pod adds supplemental group 4"),
    ),
    Case("run-as-non-root", "root-supplemental-group-allowed-by-config", edit(DEPLOY, f"{POD}.securityContext.supplementalGroups", [0]), (), {"allowRootGroup": True}),
]


@pytest.mark.parametrize("case", [c.param() for c in CASES])
def test_pod_security_policy(case: Case):
    case.check()


NEW_RULES = ["no-unsafe-sysctls", "proc-mount-default", "apparmor-selinux-confined", "no-host-process", "no-privileged-ports", "restricted-volume-types"]
VIOLATING = {
    "no-unsafe-sysctls": sysctls("net.core.somaxconn"),
    "proc-mount-default": edit(DEPLOY, f"{SC}.procMount", "Unmasked"),
    "apparmor-selinux-confined": edit(DEPLOY, f"{SC}.seLinuxOptions", {"user": "system_u"}),
    "no-host-process": edit(DEPLOY, f"{SC}.windowsOptions", {"hostProcess": True}),
    "no-privileged-ports": port(22),
    "restricted-volume-types": volume({"nfs": {"server": "nfs", "path": "/"}}),
}


@pytest.mark.parametrize("policy", NEW_RULES)
def test_an_exemption_with_a_reason_waives_the_finding_and_is_reported(policy):
    doc = VIOLATING[policy]
    assert run(BY_NAME[policy], resource_args(doc)).messages, "the scenario violates the policy"
    exempt = edit(doc, "metadata.annotations", {f"policies.gosvc.dev/exempt-{policy}": "reviewed: the node image needs it"})
    assert run(BY_NAME[policy], resource_args(exempt)).messages == []
    notes = run(BY_NAME["policy-exemptions"], resource_args(exempt)).messages
    assert len(notes) == 1 and f"exempt from '{policy}' because \"reviewed: the node image needs it\"" in notes[0]


@pytest.mark.parametrize("policy", NEW_RULES)
def test_objects_without_a_pod_are_left_alone(policy):
    service = load("compliant-service")[2]
    assert service["kind"] == "Service"
    assert run(BY_NAME[policy], resource_args(service)).messages == []


@pytest.mark.parametrize("policy", NEW_RULES)
def test_the_rules_declare_the_linter_checks_they_cover(policy):
    rule = BY_NAME[policy]
    assert set(rule.covers) | set(rule.partly) <= {"kube-linter", "kube-score", "polaris", "checkov"}


def test_the_crosswalk_of_the_new_rules():
    covered = {name: BY_NAME[name].covers for name in NEW_RULES}
    assert covered["no-unsafe-sysctls"] == {"kube-linter": ("unsafe-sysctls",)}
    assert covered["proc-mount-default"] == {"kube-linter": ("unsafe-proc-mount",), "polaris": ("procMount",)}
    assert covered["no-host-process"] == {"polaris": ("hostProcess",)}
    assert covered["no-privileged-ports"] == {"kube-linter": ("ssh-port", "privileged-ports")}


def test_only_safe_sysctls_can_be_configured():
    schema = BY_NAME["no-unsafe-sysctls"].config_schema.properties["allowedSysctls"]
    assert set(schema["items"]["enum"]) == set(SAFE_SYSCTLS) and schema["default"] == []
    assert "net.ipv4.ip_local_port_range" in SAFE_SYSCTLS and not any(n.startswith(("vm.", "kernel.msg", "kernel.sem", "fs.")) for n in SAFE_SYSCTLS)


# -- remediation -------------------------------------------------------------------------------------------------


def _fixed(policy: str, doc: dict, **kwargs) -> dict | None:
    result = BY_NAME[policy].remediate(remediation_args(doc, **kwargs))
    return None if result is None else serialized(result)


def test_proc_mount_remediation_sets_default_on_every_container_that_changed_it():
    doc = edits(DEPLOY, {f"{SC}.procMount": "Unmasked", f"{INIT}.securityContext.procMount": "Unmasked"})
    fixed = _fixed("proc-mount-default", doc)
    pod = fixed["spec"]["template"]["spec"]
    assert pod["containers"][0]["securityContext"]["procMount"] == pod["initContainers"][0]["securityContext"]["procMount"] == "Default"
    assert run(BY_NAME["proc-mount-default"], resource_args(fixed)).messages == []
    assert _fixed("proc-mount-default", DEPLOY) is None


def test_proc_mount_remediation_reaches_a_cronjobs_pod():
    fixed = _fixed("proc-mount-default", edit(CRONJOB, f"{CRON_POD}.containers[0].securityContext.procMount", "Unmasked"))
    assert fixed["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["securityContext"]["procMount"] == "Default"


def test_apparmor_remediation_replaces_unconfined_fields_and_annotations_and_leaves_selinux_alone():
    doc = edits(
        DEPLOY,
        {
            f"{POD}.securityContext.appArmorProfile": {"type": "Unconfined"},
            f"{SC}.appArmorProfile": {"type": "Unconfined"},
            f"{INIT}.securityContext.appArmorProfile": {"type": "Localhost", "localhostProfile": "wait"},
            ANNOTATIONS: {APPARMOR: "unconfined", "owner": "shop"},
            f"{SC}.seLinuxOptions": {"user": "system_u"},
        },
    )
    fixed = _fixed("apparmor-selinux-confined", doc)
    pod = fixed["spec"]["template"]["spec"]
    assert pod["securityContext"]["appArmorProfile"] == pod["containers"][0]["securityContext"]["appArmorProfile"] == {"type": "RuntimeDefault"}
    assert pod["initContainers"][0]["securityContext"]["appArmorProfile"] == {"type": "Localhost", "localhostProfile": "wait"}
    assert fixed["spec"]["template"]["metadata"]["annotations"] == {APPARMOR: "runtime/default", "owner": "shop"}
    (left,) = run(BY_NAME["apparmor-selinux-confined"], resource_args(fixed)).messages
    assert "seLinuxOptions.user system_u" in left, "SELinux options are a person's decision"
    assert _fixed("apparmor-selinux-confined", edit(DEPLOY, f"{SC}.seLinuxOptions", {"user": "system_u"})) is None


def test_remediation_keeps_secrets_secret_and_skips_exempted_workloads():
    doc = edits(DEPLOY, {f"{SC}.procMount": "Unmasked", f"{APP}.env[0].value": "token-value"})
    fixed = _fixed("proc-mount-default", doc, secret_paths=[f"{APP}.env[0].value"])
    assert fixed["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"]["value"] == "token-value"
    assert "4dabf18193072939515e22adb298388d" in fixed["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"]
    exempt = edit(doc, "metadata.annotations", {"policies.gosvc.dev/exempt-proc-mount-default": "a nested container runtime"})
    assert _fixed("proc-mount-default", exempt) is None


def test_unknown_values_during_preview_are_not_findings():
    from pulumi_policy.proxy import UNKNOWN_STRING_VALUE  # the engine's sentinel, which the SDK's proxies raise on

    doc = edits(DEPLOY, {f"{SC}.procMount": UNKNOWN_STRING_VALUE, f"{APP}.ports[0].containerPort": UNKNOWN_STRING_VALUE, f"{POD}.volumes[0].emptyDir": UNKNOWN_STRING_VALUE})
    for policy in ("proc-mount-default", "no-privileged-ports", "restricted-volume-types"):
        assert run(BY_NAME[policy], resource_args(doc)).messages == [], policy
    assert _fixed("proc-mount-default", doc) is None
