"""Pod Security Standards controls the restricted profile of security.py does not read: sysctls, the /proc mount,
AppArmor and SELinux, Windows HostProcess, low container ports and volume types.

The allowed values are the Standards' own (kubernetes.io/docs/concepts/security/pod-security-standards, for
Kubernetes 1.33, the oldest version this project supports; read 2026-12-07). Two rules can fix what they find
at level `remediate`, through the SDK's secret-preserving proxies as in security.py.
"""

from __future__ import annotations

from typing import Any, Iterator, Mapping

from pulumi_policy import Severity

from . import remediation
from .definition import ResourceRule, Subject
from .kube import containers
from .props import UNKNOWN, get, items, mapping, whole_number

FAMILY = "security"

SAFE_SYSCTLS = frozenset(
    {
        "kernel.shm_rmid_forced",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.ip_unprivileged_port_start",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.ping_group_range",
        "net.ipv4.ip_local_reserved_ports",
        "net.ipv4.tcp_keepalive_time",
        "net.ipv4.tcp_fin_timeout",
        "net.ipv4.tcp_keepalive_intvl",
        "net.ipv4.tcp_keepalive_probes",
    }
)
"""The baseline profile's safe sysctls: namespaced per pod and isolated from the node and the other pods."""
APPARMOR_TYPES = ("RuntimeDefault", "Localhost")
APPARMOR_ANNOTATION = "container.apparmor.security.beta.kubernetes.io/"
"""The annotation (`<prefix><container>: <profile>`) that set a container's AppArmor profile before the field did."""
SELINUX_TYPES = frozenset({"container_t", "container_init_t", "container_kvm_t", "container_engine_t"})
"""The SELinux types the baseline profile allows; it allows no SELinux user or role at all."""
RESTRICTED_VOLUME_TYPES = frozenset({"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret"})
HOST_PATH = "hostPath"
"""Outside the restricted types too, but judged by no-host-path, which reads the path and the mounts."""
SSH_PORT = 22
FIRST_UNPRIVILEGED_PORT = 1024


def _pod(subject: Subject) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(pod metadata, pod spec) of a workload; None for any other object, decided before its props are copied."""
    return subject.template if subject.is_workload else None


def _unsafe_sysctls(subject: Subject, settings: Mapping[str, Any]) -> Iterator[str]:
    pod = _pod(subject)
    if pod is None:
        return
    allowed = {str(n) for n in settings.get("allowedSysctls") or []}
    for entry in items(get(pod[1], "securityContext", "sysctls")):
        name = get(entry, "name")
        if not isinstance(name, str):
            continue
        if name not in SAFE_SYSCTLS:
            yield f"the pod sets sysctl {name}, outside the Pod Security Standards' safe set: it is not isolated from the node and the other pods, so it is never allowed"
        elif name not in allowed:
            yield f"the pod sets sysctl {name}, a safe one that allowedSysctls ({', '.join(sorted(allowed)) or 'none'}) does not list"


def _proc_mount(subject: Subject, _: Mapping[str, Any]) -> Iterator[str]:
    pod = _pod(subject)
    if pod is None:
        return
    for c in containers(pod[1]):
        value = c.security_context.get("procMount")
        if value is not None and value is not UNKNOWN and value != "Default":
            yield f"{c.label} sets procMount {value}, which unmasks the kernel paths under /proc; use Default"


def _apparmor(who: str, context: Mapping[str, Any]) -> Iterator[str]:
    kind = get(context, "appArmorProfile", "type")
    if isinstance(kind, str) and kind not in APPARMOR_TYPES:
        yield f"{who} sets appArmorProfile {kind}; use RuntimeDefault (or a Localhost profile)"


def _apparmor_annotation_allowed(value: str) -> bool:
    return value == "runtime/default" or value.startswith("localhost/")


def _selinux(who: str, context: Mapping[str, Any]) -> Iterator[str]:
    options = mapping(context.get("seLinuxOptions"))
    for key in ("user", "role"):
        value = options.get(key)
        if isinstance(value, str) and value:
            yield f"{who} sets seLinuxOptions.{key} {value}; no pod may choose its SELinux {key}"
    kind = options.get("type")
    if isinstance(kind, str) and kind and kind not in SELINUX_TYPES:
        yield f"{who} sets SELinux type {kind}; only {', '.join(sorted(SELINUX_TYPES))} keep a container confined"


def _confined(subject: Subject, _: Mapping[str, Any]) -> Iterator[str]:
    pod = _pod(subject)
    if pod is None:
        return
    meta, spec = pod
    pod_context = mapping(spec.get("securityContext"))
    yield from _apparmor("the pod", pod_context)
    yield from _selinux("the pod", pod_context)
    for c in containers(spec):
        yield from _apparmor(c.label, c.security_context)
        yield from _selinux(c.label, c.security_context)
    for key, value in mapping(meta.get("annotations")).items():
        if key.startswith(APPARMOR_ANNOTATION) and isinstance(value, str) and not _apparmor_annotation_allowed(value):
            name = key[len(APPARMOR_ANNOTATION) :]
            yield f"the pod's annotation gives container '{name}' AppArmor profile {value}; use runtime/default (or a localhost/ profile)"


def _host_process(subject: Subject, _: Mapping[str, Any]) -> Iterator[str]:
    pod = _pod(subject)
    if pod is None:
        return
    if get(pod[1], "securityContext", "windowsOptions", "hostProcess") is True:
        yield "the pod sets windowsOptions.hostProcess: true, so its containers run as processes of the Windows node, with its access"
    for c in containers(pod[1]):
        if get(c.security_context, "windowsOptions", "hostProcess") is True:
            yield f"{c.label} sets windowsOptions.hostProcess: true, so it runs as a process of the Windows node, with its access"


def _privileged_ports(subject: Subject, _: Mapping[str, Any]) -> Iterator[str]:
    pod = _pod(subject)
    if pod is None:
        return
    for c in containers(pod[1]):
        for port in items(c.spec.get("ports")):
            number = whole_number(get(port, "containerPort"))
            protocol = get(port, "protocol") or "TCP"
            if number == SSH_PORT and protocol == "TCP":
                yield f"{c.label} declares port 22, SSH's: run no SSH server in a container (use kubectl exec or debug)"
            elif number is not None and 0 < number < FIRST_UNPRIVILEGED_PORT:
                yield f"{c.label} declares port {number}, which only root or NET_BIND_SERVICE may bind; listen on a port >= {FIRST_UNPRIVILEGED_PORT} and let the Service map {number} to it"


def _volume_types(subject: Subject, _: Mapping[str, Any]) -> Iterator[str]:
    pod = _pod(subject)
    if pod is None:
        return
    for volume in items(pod[1].get("volumes")):
        for source, value in mapping(volume).items():
            if source in ("name", HOST_PATH) or source in RESTRICTED_VOLUME_TYPES or value is None or value is UNKNOWN:
                continue
            yield f"volume '{get(volume, 'name')}' is of type {source}, which the restricted profile does not admit; use a PersistentVolumeClaim (or one of {', '.join(sorted(RESTRICTED_VOLUME_TYPES))})"


# -- remediation ------------------------------------------------------------------------------------------------


def _fix_proc_mount(props: Any, subject: Subject, _: Mapping[str, Any]) -> bool:
    pod_spec = remediation.pod_spec(props, subject.kind)
    changed = False
    for container in remediation.containers_of(pod_spec) if pod_spec is not None else ():
        context = remediation.child(container, "securityContext")
        if context is not None and remediation.value(context, "procMount") not in (None, UNKNOWN, "Default"):
            context["procMount"] = "Default"
            changed = True
    return changed


def _fix_apparmor(props: Any, subject: Subject, _: Mapping[str, Any]) -> bool:
    """Unconfined (or any profile outside the allowed ones) becomes RuntimeDefault; SELinux options are left to a person."""
    pod_spec = remediation.pod_spec(props, subject.kind)
    if pod_spec is None:
        return False
    changed = False
    contexts = [remediation.child(pod_spec, "securityContext")]
    contexts += [remediation.child(c, "securityContext") for c in remediation.containers_of(pod_spec)]
    for context in contexts:
        profile = remediation.child(context, "appArmorProfile") if context is not None else None
        if profile is not None and remediation.value(profile, "type") not in (UNKNOWN, *APPARMOR_TYPES):
            context["appArmorProfile"] = {"type": "RuntimeDefault"}
            changed = True
    annotations = remediation.child(remediation.pod_metadata(props, subject.kind), "annotations")
    for key in list(annotations or ()):
        value = remediation.value(annotations, key)
        if key.startswith(APPARMOR_ANNOTATION) and isinstance(value, str) and not _apparmor_annotation_allowed(value):
            annotations[key] = "runtime/default"
            changed = True
    return changed


RULES = [
    ResourceRule(
        "no-unsafe-sysctls",
        "Pods set no sysctls but the Pod Security Standards' safe ones that the pack's config allows (none by default).",
        severity=Severity.HIGH,
        family=FAMILY,
        check=_unsafe_sysctls,
        params={
            "allowedSysctls": {
                "type": "array",
                "items": {"type": "string", "enum": sorted(SAFE_SYSCTLS)},
                "default": [],
                "description": "Safe sysctls a pod may set (the Pod Security Standards' safe set; any other is never allowed).",
            }
        },
        remediation_steps="Remove spec.securityContext.sysctls; a node-wide kernel setting belongs in node provisioning. A program that "
        "needs a safe sysctl (net.ipv4.ip_unprivileged_port_start, say) names it in the pack's allowedSysctls.",
        covers={"kube-linter": ["unsafe-sysctls"]},
    ),
    ResourceRule(
        "proc-mount-default",
        "Every container keeps the runtime's masked /proc (procMount unset or Default).",
        severity=Severity.HIGH,
        family=FAMILY,
        check=_proc_mount,
        fix=_fix_proc_mount,
        remediation_steps="Remove securityContext.procMount or set it to Default; at level 'remediate' the pack sets Default.",
        covers={"kube-linter": ["unsafe-proc-mount"], "polaris": ["procMount"]},
    ),
    ResourceRule(
        "apparmor-selinux-confined",
        "AppArmor stays on (RuntimeDefault or Localhost, by field or annotation) and SELinux options name no user or role and only "
        "a container type.",
        severity=Severity.HIGH,
        family=FAMILY,
        check=_confined,
        fix=_fix_apparmor,
        remediation_steps="Set securityContext.appArmorProfile.type: RuntimeDefault (or drop the Unconfined annotation "
        f"{APPARMOR_ANNOTATION}<container>); remove seLinuxOptions.user and .role and any type but container_t. At level "
        "'remediate' the pack replaces an Unconfined AppArmor profile with RuntimeDefault.",
    ),
    ResourceRule(
        "no-host-process",
        "No Windows pod or container runs as a HostProcess.",
        severity=Severity.CRITICAL,
        family=FAMILY,
        check=_host_process,
        remediation_steps="Remove securityContext.windowsOptions.hostProcess from the pod and its containers; a node agent belongs in "
        "node provisioning.",
        covers={"polaris": ["hostProcess"]},
    ),
    ResourceRule(
        "no-privileged-ports",
        "No container declares a port below 1024, SSH's port 22 above all.",
        severity=Severity.MEDIUM,
        family=FAMILY,
        check=_privileged_ports,
        remediation_steps="Listen on a port >= 1024 (GoService serves 8080) and let the Service's port map 80 or 443 to it; run no "
        "SSH server in a container.",
        covers={"kube-linter": ["ssh-port", "privileged-ports"]},
    ),
    ResourceRule(
        "restricted-volume-types",
        "Pods mount only the restricted profile's volume types: configMap, csi, downwardAPI, emptyDir, ephemeral, "
        "persistentVolumeClaim, projected, secret (hostPath is no-host-path's).",
        severity=Severity.MEDIUM,
        family=FAMILY,
        check=_volume_types,
        remediation_steps="Reach storage through a PersistentVolumeClaim (its StorageClass names the NFS, iSCSI or cloud disk), "
        "code through the image rather than a gitRepo volume.",
    ),
]
