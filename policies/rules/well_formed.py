"""Fields that leave an object doing less than it says, or that the API server refuses only at apply: a
PodDisruptionBudget with no bound, an environment variable set twice, an emptyDir that may fill the node's
disk, a label value Kubernetes does not accept, the deprecated serviceAccount field, a topology spread constraint the
scheduler cannot apply."""

from __future__ import annotations

import re
from collections.abc import Mapping as MappingABC, Sequence
from typing import Any, Iterator, Mapping

from pulumi_policy import Severity

from . import remediation
from .definition import ResourceRule, Subject
from .kube import containers
from .props import UNKNOWN, get, items, mapping, whole_number

FAMILY = "well-formed"
_WHEN_UNSATISFIABLE = ("DoNotSchedule", "ScheduleAnyway")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
"""A label value as the API server validates it: at most 63 characters (checked apart), alphanumeric at both ends."""


def _pdb_has_bound(subject: Subject, _: Mapping[str, Any]) -> Iterator[str]:
    if subject.kind != "PodDisruptionBudget":
        return
    spec = get(subject.props, "spec")
    if spec is UNKNOWN:
        return
    spec = mapping(spec)
    if spec.get("minAvailable") is None and spec.get("maxUnavailable") is None:
        yield "sets neither minAvailable nor maxUnavailable, so it does not say how many pods may be disrupted; set maxUnavailable: 1"


def _fix_pdb(props: Any, _subject: Subject, __: Mapping[str, Any]) -> bool:
    spec = remediation.ensure(props, "spec")
    if spec is None:
        return False
    spec["maxUnavailable"] = 1
    return True


def _duplicates(env: list[Any]) -> list[str]:
    names = [get(e, "name") for e in env]
    return sorted({n for n in names if isinstance(n, str) and names.count(n) > 1})


def _env_names_unique(subject: Subject, _: Mapping[str, Any]) -> Iterator[str]:
    if subject.template is None:
        return
    for c in containers(subject.template[1]):
        twice = _duplicates(items(c.spec.get("env")))
        if twice:
            yield f"{c.label} sets env {', '.join(twice)} more than once; only the last value counts, so the others mislead"


def _fix_env(props: Any, subject: Subject, _: Mapping[str, Any]) -> bool:
    """Keeps each name's last entry, the one the kubelet uses, so the pod's environment does not change."""
    spec = remediation.pod_spec(props, subject.kind)
    changed = False
    for container in remediation.containers_of(spec) if spec is not None else ():
        env = container.get("env") if isinstance(container, MappingABC) else None
        if not isinstance(env, Sequence) or isinstance(env, str):
            continue
        entries = [env[i] for i in range(len(env))]
        names = [e.get("name") if isinstance(e, MappingABC) else None for e in entries]
        kept = [e for i, e in enumerate(entries) if names[i] is None or names[i] not in names[i + 1 :]]
        if len(kept) != len(entries):
            container["env"] = kept
            changed = True
    return changed


def _emptydir_size_limited(subject: Subject, _: Mapping[str, Any]) -> Iterator[str]:
    if subject.template is None:
        return
    pod_spec = subject.template[1]
    for volume in items(pod_spec.get("volumes")):
        empty = get(volume, "emptyDir")
        if empty is None or empty is UNKNOWN or get(empty, "medium") == "Memory":
            continue  # a memory-backed emptyDir counts against the containers' memory limits
        if get(empty, "sizeLimit") not in (None, ""):
            continue
        name = get(volume, "name")
        every = list(containers(pod_spec, ("initContainers", "containers")))
        if every and all(get(c.spec, "resources", "limits", "ephemeral-storage") not in (None, "") for c in every):
            continue  # the pod's ephemeral-storage limit (the sum of its containers') bounds it
        yield f"emptyDir volume '{name}' has no sizeLimit and not every container of the pod has an ephemeral-storage limit, so it can fill the node's disk and get other pods evicted"


def valid_label_value(value: str) -> bool:
    return len(value) <= 63 and bool(_LABEL_VALUE.match(value))


def _label_values(subject: Subject, _: Mapping[str, Any]) -> Iterator[str]:
    if subject.kind is None:
        return
    sources = [("metadata.labels", subject.labels)]
    if subject.template is not None:
        sources.append(("the pod template's labels", mapping(subject.template[0].get("labels"))))
    for where, labels in sources:
        for key, value in labels.items():
            if isinstance(value, str) and not valid_label_value(value):
                yield f"{where}: {key}={value!r} is not a valid label value (at most 63 letters, digits, '-', '_' or '.', alphanumeric at both ends), so the API server rejects the object"


def _service_account_field(subject: Subject, _: Mapping[str, Any]) -> Iterator[str]:
    if subject.template is None:
        return
    pod_spec = subject.template[1]
    old, current = pod_spec.get("serviceAccount"), pod_spec.get("serviceAccountName")
    if isinstance(old, str) and old:
        effective = current if isinstance(current, str) and current else old
        yield f"sets the deprecated serviceAccount '{old}'; set serviceAccountName '{effective}' (the account the pod gets) and drop serviceAccount"


def _spread_faults(constraint: Any) -> Iterator[str]:
    """What makes one topology spread constraint unusable; unknown fields (preview) are left undecided."""
    if constraint is UNKNOWN or not isinstance(constraint, dict):
        return
    if constraint.get("labelSelector") is None:
        yield "has no labelSelector, so it counts no pods and spreads nothing"
    skew = constraint.get("maxSkew")
    if skew is not UNKNOWN and ((number := whole_number(skew)) is None or number < 1):
        yield f"maxSkew {skew!r} is not a whole number of at least 1"
    domains = constraint.get("minDomains")
    if domains not in (None, UNKNOWN) and ((number := whole_number(domains)) is None or number < 1):
        yield f"minDomains {domains!r} is not a whole number of at least 1"
    if constraint.get("topologyKey") in (None, ""):
        yield "has no topologyKey, the node label whose values are the domains to spread over"
    when = constraint.get("whenUnsatisfiable")
    if when is not UNKNOWN and when not in _WHEN_UNSATISFIABLE:
        yield f"whenUnsatisfiable {when!r} is neither DoNotSchedule nor ScheduleAnyway"
    elif domains not in (None, UNKNOWN) and when == "ScheduleAnyway":
        yield "sets minDomains with whenUnsatisfiable ScheduleAnyway; minDomains applies only to DoNotSchedule"


def _topology_spread_valid(subject: Subject, _: Mapping[str, Any]) -> Iterator[str]:
    if subject.template is None:
        return
    for index, constraint in enumerate(items(subject.template[1].get("topologySpreadConstraints"))):
        for fault in _spread_faults(constraint):
            yield f"topologySpreadConstraints[{index}] {fault}; the API server rejects it or the scheduler ignores it"


def _fix_service_account_field(props: Any, subject: Subject, _: Mapping[str, Any]) -> bool:
    """Moves the value to serviceAccountName unless that is set (it wins over serviceAccount), so the pod keeps its
    account; the old field is emptied, which the API server reads as unset (the SDK's proxies cannot delete a key)."""
    spec = remediation.pod_spec(props, subject.kind)
    if spec is None or not isinstance(spec.get("serviceAccount"), str):
        return False
    if not spec.get("serviceAccountName"):
        spec["serviceAccountName"] = spec["serviceAccount"]
    spec["serviceAccount"] = ""
    return True


RULES = [
    ResourceRule(
        "pdb-has-bound",
        "A PodDisruptionBudget sets minAvailable or maxUnavailable.",
        severity=Severity.MEDIUM,
        family=FAMILY,
        check=_pdb_has_bound,
        fix=_fix_pdb,
        covers={"kube-score": ["poddisruptionbudget-has-policy"]},
        remediation_steps="Set spec.maxUnavailable: 1 (at level 'remediate' the pack sets it).",
    ),
    ResourceRule(
        "env-names-unique",
        "No container sets the same environment variable twice.",
        severity=Severity.LOW,
        family=FAMILY,
        check=_env_names_unique,
        fix=_fix_env,
        covers={"kube-linter": ["duplicate-env-var"], "kube-score": ["environment-variable-key-duplication"]},
        remediation_steps="Remove all but one entry per name; the kubelet uses the last (at level 'remediate' the pack keeps the last).",
    ),
    ResourceRule(
        "emptydir-size-limited",
        "Every disk-backed emptyDir has a sizeLimit, or every container of its pod an ephemeral-storage limit.",
        severity=Severity.MEDIUM,
        family=FAMILY,
        check=_emptydir_size_limited,
        partly={"kube-score": ["container-ephemeral-storage-request-and-limit"], "kube-linter": ["unset-ephemeral-storage-requirements"]},
        remediation_steps="Set emptyDir.sizeLimit to what the program may write there (the logging parts use empty_dir(name, size)); "
        "with readOnlyRootFilesystem, emptyDirs are the only disk a container writes besides its logs.",
    ),
    ResourceRule(
        "label-values-valid",
        "Label values, the pod template's included, are values the API server accepts.",
        severity=Severity.MEDIUM,
        family=FAMILY,
        check=_label_values,
        covers={"kube-score": ["label-values"]},
        remediation_steps="Shorten the value to 63 characters and keep to letters, digits, '-', '_' and '.', starting and ending "
        "with a letter or digit (a version such as '1.2.3+build' becomes '1.2.3-build').",
    ),
    ResourceRule(
        "service-account-field-current",
        "Pods name their ServiceAccount with serviceAccountName, not the deprecated serviceAccount.",
        severity=Severity.LOW,
        family=FAMILY,
        check=_service_account_field,
        fix=_fix_service_account_field,
        covers={"kube-linter": ["deprecated-service-account-field"]},
        remediation_steps="Replace spec.serviceAccount with spec.serviceAccountName (at level 'remediate' the pack moves it and empties "
        "the old field, keeping the account the pod gets).",
    ),
    ResourceRule(
        "topology-spread-valid",
        "Topology spread constraints have a labelSelector, a topologyKey, maxSkew and minDomains of at least 1, and "
        "whenUnsatisfiable DoNotSchedule (or ScheduleAnyway without minDomains).",
        severity=Severity.MEDIUM,
        family=FAMILY,
        check=_topology_spread_valid,
        covers={"kube-score": ["pod-topology-spread-constraints"]},
        remediation_steps="Give each constraint labelSelector.matchLabels equal to the workload's selector, topologyKey "
        "kubernetes.io/hostname or topology.kubernetes.io/zone, maxSkew: 1 and whenUnsatisfiable: ScheduleAnyway (or "
        "DoNotSchedule with minDomains). No automatic fix: which pods to count and which domains to spread over are choices.",
    ),
]
