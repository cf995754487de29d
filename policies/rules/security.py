"""Pod and container security: Pod Security Standards 'restricted' and the checks the public scanners agree on.

Three rules can also fix what they find when their level is `remediate`: the fix writes
through the SDK's secret-preserving proxies, so a secret elsewhere in the object stays a
secret.
"""

from __future__ import annotations

import re
from typing import Any, Iterator, Mapping

from pulumi_policy import Severity

from . import kube, remediation
from .definition import Finding, ResourceRule, Subject, exemption
from .kube import Container, containers, effective
from .props import UNKNOWN, get, items, mapping, whole_number

FAMILY = "security"
SECCOMP_ALLOWED = ("RuntimeDefault", "Localhost")
NEVER_ADDED = frozenset({"SYS_ADMIN", "NET_RAW"})
SENSITIVE_HOST_PATHS = (
    "/boot",
    "/dev",
    "/etc",
    "/home",
    "/proc",
    "/root",
    "/run",
    "/sys",
    "/var/run",
    "/var/lib/kubelet",
    "/var/lib/etcd",
)
SECRET_NAME = re.compile(
    r"(^|_)(PASSWORD|PASSWD|PASS|SECRET|TOKEN|API_?KEY|PRIVATE_?KEY|CREDENTIALS?|ACCESS_?KEY|AUTH_?KEY|SIGNING_?KEY|ENCRYPTION_?KEY)($|_)"
)
NOT_A_SECRET_SUFFIX = ("_FILE", "_PATH", "_DIR", "_NAME", "_REF", "_TTL", "_TIMEOUT", "_URL_ENV")
FILE_REFERENCE = re.compile(r"^\$__file\{/[^}]+\}$")
"""Grafana's `$__file{<path>}`: the setting is read from that file, so the value names a path, not a secret."""
SECRET_VALUE = (
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"), "a PEM private key"),
    (re.compile(r"\bAKIA[0-9A-Z]{16}\b"), "an AWS access key id"),
    (re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}\b"), "a GitHub token"),
    (re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}"), "a Slack token"),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\."), "a JSON web token"),
    (re.compile(r"[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@]+@"), "a URL with a password"),
)


def _pod(subject: Subject) -> Iterator[tuple[dict[str, Any], list[Container]]]:
    if subject.template is not None:
        pod_spec = subject.template[1]
        yield pod_spec, list(containers(pod_spec))


def _low_gid(gid: int | None, min_uid: int, settings: Mapping[str, Any]) -> bool:
    """A GID below the floor; GID 0 passes only where the stack's config sets allowRootGroup, for images built for
    arbitrary UIDs that need the root group to own their files."""
    return gid is not None and gid < min_uid and not (gid == 0 and settings.get("allowRootGroup"))


def _run_as_non_root(subject: Subject, settings: Mapping[str, Any]) -> Iterator[str]:
    min_uid = whole_number(settings.get("minUid")) or 0
    for pod_spec, found in _pod(subject):
        pod_context = mapping(pod_spec.get("securityContext"))
        fs_group = whole_number(pod_context.get("fsGroup"))
        if _low_gid(fs_group, min_uid, settings):
            yield f"the pod's fsGroup {fs_group} owns its volumes; use a GID >= {min_uid}"
        for gid in sorted({g for g in map(whole_number, items(pod_context.get("supplementalGroups"))) if _low_gid(g, min_uid, settings)}):
            yield f"the pod adds supplemental group {gid}; use GIDs >= {min_uid}"
        for c in found:
            non_root, uid_raw, gid_raw = (effective(c, pod_spec, k) for k in ("runAsNonRoot", "runAsUser", "runAsGroup"))
            uid, gid = whole_number(uid_raw), whole_number(gid_raw)
            if uid == 0:
                yield f"{c.label} runs as UID 0 (root); run as a UID >= {min_uid}"
                continue
            if non_root is not True and non_root is not UNKNOWN:
                yield f"{c.label} does not set runAsNonRoot: true, so the kubelet would start it as root if the image says so"
            if uid_raw is None:
                yield f"{c.label} sets no runAsUser, so the image's USER decides; set runAsUser >= {min_uid}"
            elif uid is not None and uid < min_uid:
                yield f"{c.label} runs as UID {uid}; use a UID >= {min_uid} so it cannot collide with a host user"
            if gid_raw is None:
                yield f"{c.label} sets no runAsGroup, so it runs with the image's group (GID 0 unless the image says otherwise); set runAsGroup >= {min_uid}"
            elif _low_gid(gid, min_uid, settings):
                yield f"{c.label} runs with GID {gid}; use a GID >= {min_uid}"


def _no_privilege_escalation(subject: Subject, _: Mapping[str, Any]) -> Iterator[str]:
    for _pod_spec, found in _pod(subject):
        for c in found:
            value = c.security_context.get("allowPrivilegeEscalation")
            if value is not False and value is not UNKNOWN and c.spec.get("securityContext") is not UNKNOWN:
                yield f"{c.label} does not set allowPrivilegeEscalation: false, so setuid binaries can gain privileges"


def _read_only_root(subject: Subject, _: Mapping[str, Any]) -> Iterator[str]:
    for _pod_spec, found in _pod(subject):
        for c in found:
            value = c.security_context.get("readOnlyRootFilesystem")
            if value is not True and value is not UNKNOWN and c.spec.get("securityContext") is not UNKNOWN:
                yield f"{c.label} has a writable root filesystem; set readOnlyRootFilesystem: true and mount an emptyDir where it writes"


def _capability(name: Any) -> str:
    return str(name).upper().removeprefix("CAP_")


def _drop_all(subject: Subject, settings: Mapping[str, Any]) -> Iterator[str]:
    allowed = {_capability(c) for c in settings.get("allowedCapabilities") or []} - NEVER_ADDED
    for _pod_spec, found in _pod(subject):
        for c in found:
            caps = c.security_context.get("capabilities")
            if caps is UNKNOWN or c.spec.get("securityContext") is UNKNOWN:
                continue
            drop = items(get(caps, "drop"))
            if UNKNOWN not in drop and "ALL" not in {_capability(d) for d in drop}:
                yield f"{c.label} does not drop ALL capabilities; set capabilities.drop: [ALL]"
            for added in items(get(caps, "add")):
                cap = _capability(added)
                if added is not UNKNOWN and cap not in allowed:
                    why = " (never allowed)" if cap in NEVER_ADDED else ""
                    yield f"{c.label} adds capability {cap}{why}; allowed: {', '.join(sorted(allowed)) or 'none'}"


def _seccomp(subject: Subject, _: Mapping[str, Any]) -> Iterator[str]:
    for pod_spec, found in _pod(subject):
        pod_type = get(pod_spec, "securityContext", "seccompProfile", "type")
        if pod_type == "Unconfined":
            yield "the pod sets seccompProfile Unconfined; use RuntimeDefault"
        for c in found:
            own = get(c.security_context, "seccompProfile", "type")
            kind = own if own is not None else pod_type
            if UNKNOWN in (kind, pod_type, c.spec.get("securityContext")):
                continue
            if own == "Unconfined":
                yield f"{c.label} sets seccompProfile Unconfined; use RuntimeDefault"
            elif kind not in SECCOMP_ALLOWED and pod_type != "Unconfined":
                yield f"{c.label} runs without a seccomp profile; set securityContext.seccompProfile.type: RuntimeDefault on the pod"


def _no_privileged(subject: Subject, _: Mapping[str, Any]) -> Iterator[str]:
    for _pod_spec, found in _pod(subject):
        for c in found:
            if c.security_context.get("privileged") is True:
                yield f"{c.label} runs privileged, with every device and capability of the node"


def _no_host_namespaces(subject: Subject, _: Mapping[str, Any]) -> Iterator[str]:
    for pod_spec, found in _pod(subject):
        for key in ("hostNetwork", "hostPID", "hostIPC"):
            if pod_spec.get(key) is True:
                yield f"the pod sets {key}: true and shares the node's namespace"
        for c in found:
            for port in items(c.spec.get("ports")):
                host_port = whole_number(get(port, "hostPort"))
                if host_port:
                    yield f"{c.label} binds hostPort {host_port} on the node; expose it through a Service"


def _sensitive(path: str) -> bool:
    """The node's root, system directories, container runtime state and sockets, or any directory holding them."""
    path = "/" + path.strip("/")
    if path == "/" or path.endswith(".sock"):
        return True
    return any(path == s or path.startswith(s + "/") or s.startswith(path + "/") for s in SENSITIVE_HOST_PATHS)


def _no_host_path(subject: Subject, settings: Mapping[str, Any]) -> Iterator[Finding]:
    writable_ok = [p.rstrip("/") for p in settings.get("writableExemptPaths") or [] if isinstance(p, str)]
    node_agent_paths = {"/" + p.strip("/") for p in settings.get("readOnlyNodeAgentPaths") or [] if isinstance(p, str)}
    for pod_spec, found in _pod(subject):
        for volume in items(pod_spec.get("volumes")):
            path = get(volume, "hostPath", "path")
            if path is None or path is UNKNOWN:
                continue
            name = get(volume, "name")
            mounts = [(c, m) for c in found for m in items(c.spec.get("volumeMounts")) if get(m, "name") == name]
            writers = [c.label for c, m in mounts if get(m, "readOnly") is not True]
            where = f"volume '{name}' mounts hostPath {path}"
            if _sensitive(str(path)) and not (mounts and not writers and "/" + str(path).strip("/") in node_agent_paths):
                yield Finding(f"{where}, a sensitive node path no exemption may cover; remove it", exemptable=False)
            elif _sensitive(str(path)):
                yield Finding(f"{where} (read-only), a node path only a node agent may read by exemption")
            elif writers and not any(str(path).rstrip("/") == p or str(path).startswith(p + "/") for p in writable_ok):
                yield Finding(f"{where} writable by {', '.join(writers)}; only read-only hostPaths may be exempted, so mount it readOnly: true", exemptable=False)
            else:
                mode = "writable" if writers else "read-only"
                yield Finding(f"{where} ({mode}); a hostPath ties the pod to the node and exposes its files")


def secret_name(name: str, allowed: frozenset[str] | set[str] = frozenset()) -> bool:
    """Whether an environment variable or key name says it holds a credential (DB_PASSWORD, api_key), not a path to one."""
    upper = name.upper()
    return upper not in allowed and not upper.endswith(NOT_A_SECRET_SUFFIX) and bool(SECRET_NAME.search(upper))


def _no_secrets_in_env(subject: Subject, settings: Mapping[str, Any]) -> Iterator[str]:
    allowed = {str(n).upper() for n in settings.get("allowedNames") or []}
    for _pod_spec, found in _pod(subject):
        for c in found:
            for entry in items(c.spec.get("env")):
                name, value, source = get(entry, "name"), get(entry, "value"), get(entry, "valueFrom")
                if not isinstance(name, str):
                    continue
                if isinstance(value, str):
                    for pattern, what in SECRET_VALUE:
                        if pattern.search(value):
                            yield f"{c.label}: env {name} holds {what} as a literal value; put it in a Secret and use valueFrom.secretKeyRef"
                            break
                    else:
                        if value and secret_name(name, allowed) and not FILE_REFERENCE.match(value):
                            yield f"{c.label}: env {name} looks like a secret but has a literal value; use valueFrom.secretKeyRef"
                elif isinstance(source, dict) and "configMapKeyRef" in source and secret_name(name, allowed):
                    yield f"{c.label}: env {name} looks like a secret but comes from a ConfigMap; use valueFrom.secretKeyRef"


TOKEN_RULE = "service-account-token-not-automounted"


def _chart_pods_all_exempt(account: Subject) -> bool:
    """Whether a chart's ServiceAccount serves only workloads of the same chart that are exempt from the token rule
    with a reason: a chart without a pod-level switch can only hand them the token through the account."""
    if account.via is None:
        return False
    users = [
        w
        for w in account.via.chart_objects()
        if w.is_workload
        and w.template is not None
        and w.namespace == account.namespace
        and (w.template[1].get("serviceAccountName") or w.template[1].get("serviceAccount") or "default") == account.object_name
    ]
    return bool(users) and all(exemption(w, TOKEN_RULE) for w in users)


def _token_not_automounted(subject: Subject, _: Mapping[str, Any]) -> Iterator[str]:
    if subject.kind == "ServiceAccount":
        if subject.props.get("automountServiceAccountToken") not in (False, UNKNOWN) and not _chart_pods_all_exempt(subject):
            yield "the ServiceAccount does not set automountServiceAccountToken: false, so every pod using it gets an API token"
        return
    for pod_spec, _found in _pod(subject):
        if pod_spec.get("automountServiceAccountToken") not in (False, UNKNOWN):
            yield "the pod does not set automountServiceAccountToken: false, so it carries an API token it does not need"


def _no_default_namespace(subject: Subject, settings: Mapping[str, Any]) -> Iterator[str]:
    if subject.type.startswith("kubernetes:helm.sh/"):
        namespace = subject.props.get("namespace")
    elif subject.kind is None:
        return
    elif subject.kind in kube.CLUSTER_SCOPED_KINDS or subject.kind in set(settings.get("clusterScopedKinds") or []):
        return
    else:
        namespace = subject.namespace
    if namespace is UNKNOWN:
        return
    if not namespace:
        yield "sets no namespace, so it lands in the kubeconfig's default namespace; set metadata.namespace"
    elif namespace == "default":
        yield "is in the 'default' namespace; give every workload a namespace of its own"


# -- remediation ------------------------------------------------------------------------------------------------


def _fix_privilege_escalation(props: Any, subject: Subject, _: Mapping[str, Any]) -> bool:
    pod_spec = remediation.pod_spec(props, subject.kind)
    changed = False
    for container in remediation.containers_of(pod_spec) if pod_spec is not None else ():
        sc = remediation.ensure(container, "securityContext")
        if sc is None or sc.get("privileged") is True:
            continue  # the API server refuses allowPrivilegeEscalation: false on a privileged container
        caps = remediation.child(sc, "capabilities")
        added = {_capability(c) for c in (caps.get("add") or [])} if caps is not None else set()
        if "SYS_ADMIN" in added or sc.get("allowPrivilegeEscalation") is False:
            continue
        sc["allowPrivilegeEscalation"] = False
        changed = True
    return changed


def _fix_seccomp(props: Any, subject: Subject, _: Mapping[str, Any]) -> bool:
    pod_spec = remediation.pod_spec(props, subject.kind)
    if pod_spec is None:
        return False
    changed = False
    pod_sc = remediation.ensure(pod_spec, "securityContext")
    profile = remediation.child(pod_sc, "seccompProfile") if pod_sc is not None else None
    if pod_sc is not None and (profile is None or profile.get("type") not in SECCOMP_ALLOWED):
        pod_sc["seccompProfile"] = {"type": "RuntimeDefault"}
        changed = True
    for container in remediation.containers_of(pod_spec):
        sc = remediation.child(container, "securityContext")
        own = remediation.child(sc, "seccompProfile") if sc is not None else None
        if own is not None and own.get("type") not in SECCOMP_ALLOWED:
            sc["seccompProfile"] = {"type": "RuntimeDefault"}
            changed = True
    return changed


def _fix_token(props: Any, subject: Subject, _: Mapping[str, Any]) -> bool:
    target = props if subject.kind == "ServiceAccount" else remediation.pod_spec(props, subject.kind)
    if target is None or target.get("automountServiceAccountToken") is False:
        return False
    target["automountServiceAccountToken"] = False
    return True


_UID = {"minUid": {"type": "integer", "minimum": 1, "default": 10000, "description": "Lowest UID (and GID) a container may run as."}}

RULES = [
    ResourceRule(
        "run-as-non-root",
        "Every container runs as non-root with an explicit UID and runAsGroup of at least 10000, as do the pod's groups "
        "(GID 0 only with allowRootGroup).",
        severity=Severity.CRITICAL,
        family=FAMILY,
        covers={
            "kube-linter": ["run-as-non-root"],
            "kube-score": ["container-security-context-user-group-id"],
            "polaris": ["runAsRootAllowed"],
            "checkov": ["CKV_K8S_23", "CKV_K8S_40"],
        },
        check=_run_as_non_root,
        params={
            **_UID,
            "allowRootGroup": {
                "type": "boolean",
                "default": False,
                "description": "Allow GID 0, which some images built for arbitrary UIDs (Elastic, OpenShift-style) need to own their files.",
            },
        },
        remediation_steps="Set securityContext.runAsNonRoot: true and runAsUser/runAsGroup >= 10000 on the pod "
        "(GoService uses 65532, distroless 'nonroot').",
    ),
    ResourceRule(
        "no-privilege-escalation",
        "Every container sets allowPrivilegeEscalation: false.",
        severity=Severity.CRITICAL,
        family=FAMILY,
        covers={"kube-linter": ["privilege-escalation-container"], "polaris": ["privilegeEscalationAllowed"], "checkov": ["CKV_K8S_20"]},
        check=_no_privilege_escalation,
        fix=_fix_privilege_escalation,
        remediation_steps="Set securityContext.allowPrivilegeEscalation: false on every container; at level 'remediate' the pack sets it "
        "(except on privileged containers, where the API server forbids it).",
    ),
    ResourceRule(
        "read-only-root-filesystem",
        "Every container has a read-only root filesystem.",
        severity=Severity.HIGH,
        family=FAMILY,
        covers={
            "kube-linter": ["no-read-only-root-fs"],
            "kube-score": ["container-security-context-readonlyrootfilesystem"],
            "polaris": ["notReadOnlyRootFilesystem"],
            "checkov": ["CKV_K8S_22", "CKV_K8S_30"],
        },
        check=_read_only_root,
        remediation_steps="Set securityContext.readOnlyRootFilesystem: true and mount an emptyDir (or a volume) at each path the "
        "program writes, such as /tmp.",
    ),
    ResourceRule(
        "drop-all-capabilities",
        "Every container drops ALL capabilities and adds none back, unless the stack allows it; never SYS_ADMIN or NET_RAW.",
        severity=Severity.CRITICAL,
        family=FAMILY,
        covers={
            "kube-linter": ["drop-net-raw-capability"],
            "polaris": ["dangerousCapabilities", "insecureCapabilities"],
            "checkov": ["CKV_K8S_25", "CKV_K8S_28", "CKV_K8S_37", "CKV_K8S_39"],
        },
        check=_drop_all,
        params={
            "allowedCapabilities": {
                "type": "array",
                "items": {"type": "string"},
                "default": [],
                "description": "Capabilities a container may add back (SYS_ADMIN and NET_RAW are never allowed). None by "
                "default: NET_BIND_SERVICE, the usual one, is needed only below port 1024, which no-privileged-ports forbids.",
            }
        },
        remediation_steps="Set securityContext.capabilities.drop: [ALL] and add nothing back: listen on a port >= 1024 instead "
        "of adding NET_BIND_SERVICE. A capability the program cannot do without goes in the stack's allowedCapabilities.",
    ),
    ResourceRule(
        "seccomp-runtime-default",
        "Every container runs under the RuntimeDefault (or a Localhost) seccomp profile.",
        severity=Severity.MEDIUM,
        family=FAMILY,
        covers={"kube-score": ["container-seccomp-profile"], "polaris": ["linuxHardening"]},
        # CKV_K8S_29 wants a pod-level securityContext and CKV_K8S_31 RuntimeDefault alone; the rule also accepts
        # profiles set on every container, and Localhost profiles (as Pod Security Standards 'restricted' does).
        partly={"checkov": ["CKV_K8S_29", "CKV_K8S_31"]},
        check=_seccomp,
        fix=_fix_seccomp,
        remediation_steps="Set securityContext.seccompProfile.type: RuntimeDefault on the pod; at level 'remediate' the pack sets it "
        "and replaces Unconfined container profiles.",
    ),
    ResourceRule(
        "no-privileged",
        "No container runs privileged.",
        severity=Severity.CRITICAL,
        family=FAMILY,
        covers={
            "kube-linter": ["privileged-container"],
            "kube-score": ["container-security-context-privileged"],
            "polaris": ["runAsPrivileged"],
            "checkov": ["CKV_K8S_16"],
        },
        check=_no_privileged,
        remediation_steps="Remove securityContext.privileged; grant the one capability needed instead. A node setting such as "
        "vm.max_map_count belongs in node provisioning, or in an init container exempted with a reason.",
    ),
    ResourceRule(
        "no-host-namespaces",
        "No pod shares the node's network, PID or IPC namespace, and no container binds a host port.",
        severity=Severity.CRITICAL,
        family=FAMILY,
        covers={
            "kube-linter": ["host-ipc", "host-network", "host-pid"],
            "polaris": ["hostIPCSet", "hostNetworkSet", "hostPIDSet", "hostPortSet"],
            "checkov": ["CKV_K8S_17", "CKV_K8S_18", "CKV_K8S_19", "CKV_K8S_26"],
        },
        check=_no_host_namespaces,
        remediation_steps="Remove hostNetwork, hostPID, hostIPC and hostPort; expose ports through a Service.",
    ),
    ResourceRule(
        "no-host-path",
        "No pod mounts a hostPath volume; an exemption may cover only read-only, non-sensitive paths, and the "
        "node's /proc, /sys and root read-only by a node agent.",
        severity=Severity.CRITICAL,
        family=FAMILY,
        covers={
            "kube-linter": ["docker-sock", "sensitive-host-mounts", "writable-host-mount"],
            "polaris": ["hostPathSet"],
            "checkov": ["CKV_K8S_27"],
        },
        check=_no_host_path,
        params={
            "writableExemptPaths": {
                "type": "array",
                "items": {"type": "string"},
                "default": ["/var/lib/filebeat-data"],
                "description": "hostPaths an exemption may cover even though they are mounted writable (a log shipper's registry).",
            },
            "readOnlyNodeAgentPaths": {
                "type": "array",
                "items": {"type": "string"},
                "default": ["/proc", "/sys", "/"],
                "description": "Sensitive hostPaths (exactly these, not below them) an exemption may cover when every mount is "
                "read-only: what a node metrics agent such as node-exporter reads. Sockets, /etc, /var/lib/kubelet and the rest never.",
            },
        },
        remediation_steps="Use an emptyDir, a PersistentVolumeClaim or a projected volume. A log collector that must read node logs "
        "mounts them readOnly: true and carries the annotation policies.gosvc.dev/exempt-no-host-path with its reason.",
    ),
    ResourceRule(
        "no-secrets-in-env",
        "Environment values that look like secrets come from a Secret through secretKeyRef, never a literal or a ConfigMap.",
        severity=Severity.CRITICAL,
        family=FAMILY,
        # Secret-looking names are matched as whole words (DB_PASSWORD, API_TOKEN), and only literal or ConfigMap values are
        # flagged: Polaris also flags secretKeyRef values, which the pack allows (CKV_K8S_35 in differences.yaml).
        partly={"kube-linter": ["env-var-secret"], "polaris": ["sensitiveContainerEnvVar"]},
        check=_no_secrets_in_env,
        params={
            "allowedNames": {
                "type": "array",
                "items": {"type": "string"},
                "default": [],
                "description": "Variable names that look like secrets but are not (reviewed false positives).",
            }
        },
        remediation_steps="Store the value in a Secret (GoService: secret_env NAME: 'secret/key') and reference it with "
        "env[].valueFrom.secretKeyRef.",
    ),
    ResourceRule(
        TOKEN_RULE,
        "Pods and ServiceAccounts set automountServiceAccountToken: false (a chart's account may mount it when every "
        "workload of the chart using it is exempt with a reason).",
        severity=Severity.MEDIUM,
        family=FAMILY,
        covers={"polaris": ["automountServiceAccountToken"], "checkov": ["CKV_K8S_38", "CKV_K8S_41"]},
        check=_token_not_automounted,
        fix=_fix_token,
        remediation_steps="Set automountServiceAccountToken: false; a pod that calls the API mounts a projected "
        "serviceAccountToken volume with a short expiry instead. At level 'remediate' the pack sets it.",
    ),
    ResourceRule(
        "no-default-namespace",
        "Namespaced objects and Helm releases name a namespace other than 'default'.",
        severity=Severity.LOW,
        family=FAMILY,
        covers={"kube-linter": ["use-namespace"], "checkov": ["CKV_K8S_21"]},
        check=_no_default_namespace,
        params={
            "clusterScopedKinds": {
                "type": "array",
                "items": {"type": "string"},
                "default": [],
                "description": "Custom resource kinds that are cluster-scoped, besides the built-in ones.",
            }
        },
        remediation_steps="Set metadata.namespace (GoService: gosvc:namespace).",
    ),
]
