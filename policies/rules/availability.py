"""Availability: probes, replica counts, spreading, safe rollouts, autoscaler bounds, disruption budgets, selectors.

All but `probes-configured` are stack rules: whether a Deployment has enough replicas,
a budget or a safe rollout depends on the HPA and PDB that point at it.
"""

from __future__ import annotations

from typing import Any, Iterator, Mapping

from pulumi_policy import Severity

from .definition import Finding, ResourceRule, Stack, StackRule, Subject, Undecided
from .kube import SCALABLE_KINDS, Container, containers, declared, selector_matches
from .props import UNKNOWN, get, items, mapping, whole_number
from .relations import candidates, hpa_target, hpas_for, labels_known, may_select, pdbs_for, pod_labels, replica_range, selects

FAMILY = "availability"
REPLICATED = ("Deployment", "StatefulSet")


def _kinds_param(default: list[str], what: str) -> dict[str, Any]:
    return {"kinds": {"type": "array", "items": {"type": "string"}, "default": default, "description": what}}


_PROBES = ("readinessProbe", "livenessProbe", "startupProbe")


def _probes(subject: Subject, settings: Mapping[str, Any]) -> Iterator[str | Undecided]:
    if subject.template is None:
        return
    required = subject.kind in set(settings.get("kinds") or [])
    for c in containers(subject.template[1], ("initContainers", "containers")):
        if required and c.section == "containers":
            yield from _probes_present(c)
        yield from _probe_ports(c)


def _probes_present(c: Container) -> Iterator[str | Undecided]:
    """The probes a long-running container needs: readiness and liveness, and not the same check twice."""
    readiness, liveness = c.spec.get("readinessProbe"), c.spec.get("livenessProbe")
    if UNKNOWN in (readiness, liveness):
        yield Undecided(f"{c.label}: its probes are unknown until `pulumi up`")
        return
    if not readiness:
        yield f"{c.label} has no readinessProbe, so it receives traffic before it can serve"
    if not liveness:
        yield f"{c.label} has no livenessProbe, so a hung process is never restarted"
    if readiness and liveness and readiness == liveness:
        yield f"{c.label} has identical readiness and liveness probes; a slow dependency then restarts pods instead of taking them out of rotation"


def _probe_ports(c: Container) -> Iterator[str]:
    """Probes of any container, in any workload kind, that target a port the container does not declare.

    Probes connect over TCP, so a port declared for UDP or SCTP does not count.
    """
    ports = c.spec.get("ports")
    if ports is UNKNOWN:
        return
    tcp = [p for p in items(ports) if get(p, "protocol") not in ("UDP", "SCTP")]
    names = {get(p, "name") for p in tcp}
    numbers = {whole_number(get(p, "containerPort")) for p in tcp}
    for probe_name in _PROBES:
        probe = c.spec.get(probe_name)
        for handler in ("httpGet", "tcpSocket", "grpc"):
            port = get(probe, handler, "port")
            if isinstance(port, str) and whole_number(port) is None and port not in names:
                yield f"{c.label}: {probe_name} uses port '{port}', which the container does not declare"
            elif whole_number(port) is not None and whole_number(port) not in numbers:
                yield f"{c.label}: {probe_name} uses port {port}, which the container does not declare in its ports"


def _replicas_at_least_two(stack: Stack, settings: Mapping[str, Any]) -> Iterator[Finding]:
    wanted = whole_number(settings.get("minReplicas")) or 2
    for workload in stack.workloads(settings.get("kinds") or REPLICATED):
        bounds = replica_range(stack, workload)
        if bounds is not None and bounds[0] < wanted:
            source = "its HPA's minReplicas" if hpas_for(stack, workload) else "spec.replicas"
            yield Finding(f"{workload.describe()} can run {bounds[0]} replica(s) ({source}); run at least {wanted} so one pod can fail or be evicted", workload.urn)


def _term_selects_self(term: Any, workload: Subject, keys: set[str]) -> bool:
    return get(term, "topologyKey") in keys and selector_matches(get(term, "labelSelector"), pod_labels(workload)) is True


def _anti_affinity_or_spread(stack: Stack, settings: Mapping[str, Any]) -> Iterator[Finding | Undecided]:
    keys = set(settings.get("topologyKeys") or [])
    for workload in stack.workloads(REPLICATED):
        bounds = replica_range(stack, workload)
        if bounds is None or bounds[1] <= 1 or workload.template is None or not labels_known(workload):
            continue
        pod_spec = workload.template[1]
        anti = mapping(get(pod_spec, "affinity", "podAntiAffinity"))
        if get(pod_spec, "affinity") is UNKNOWN or UNKNOWN in anti.values():
            yield Undecided(f"{workload.describe()}: its pod affinity is unknown until `pulumi up`", workload.urn)
            continue
        terms = items(anti.get("requiredDuringSchedulingIgnoredDuringExecution"))
        terms += [get(t, "podAffinityTerm") for t in items(anti.get("preferredDuringSchedulingIgnoredDuringExecution"))]
        spread = items(pod_spec.get("topologySpreadConstraints"))
        if not any(_term_selects_self(t, workload, keys) for t in [*terms, *spread]):
            yield Finding(
                f"{workload.describe()} can run {bounds[1]} replicas but no pod anti-affinity or topology spread over "
                f"{' or '.join(sorted(keys))} selects its own pods, so one node failure can take them all",
                workload.urn,
            )


def _zero(value: Any) -> bool:
    return whole_number(value) == 0 or (isinstance(value, str) and value.strip() in ("0%", "0"))


def _rounds_to_none(value: Any, replicas: int) -> bool:
    """Whether a maxUnavailable percentage rounds down to no pod at up to `replicas` replicas, as the
    Deployment controller rounds it (a chart's default 25% of one replica stops no pod first)."""
    if not isinstance(value, str) or not value.strip().endswith("%"):
        return False
    percent = whole_number(value.strip()[:-1])
    return percent is not None and percent * replicas < 100


def _rolling_update_safe(stack: Stack, _: Mapping[str, Any]) -> Iterator[Finding | Undecided]:
    for workload in stack.kinds("Deployment"):
        strategy = mapping(get(workload.props, "spec", "strategy"))
        if strategy.get("type") == "Recreate":
            yield Finding(f"{workload.describe()} uses the Recreate strategy, which stops every pod before starting new ones; use RollingUpdate", workload.urn)
            continue
        max_unavailable = get(strategy, "rollingUpdate", "maxUnavailable", default="25%")
        if max_unavailable is UNKNOWN:
            yield Undecided(f"{workload.describe()}: its maxUnavailable is unknown until `pulumi up`", workload.urn)
            continue
        if _zero(max_unavailable) or not labels_known(workload) or pdbs_for(stack, workload):
            continue
        bounds = replica_range(stack, workload)
        surge = get(strategy, "rollingUpdate", "maxSurge", default="25%")
        # With no surge either, the controller stops one pod first whatever the rounding gives.
        if bounds is not None and not _zero(surge) and _rounds_to_none(max_unavailable, bounds[1]):
            continue
        yield Finding(
            f"{workload.describe()} rolls out with maxUnavailable {max_unavailable} and no PodDisruptionBudget; set "
            "strategy.rollingUpdate.maxUnavailable: 0 (with maxSurge) or add a PDB",
            workload.urn,
        )
    for workload in stack.kinds("StatefulSet"):
        if get(workload.props, "spec", "updateStrategy", "type") == "OnDelete":
            yield Finding(f"{workload.describe()} uses updateStrategy OnDelete, so changes roll out only when someone deletes pods; use RollingUpdate", workload.urn)


def _hpa_bounds(stack: Stack, settings: Mapping[str, Any]) -> Iterator[Finding | Undecided]:
    floor = whole_number(settings.get("minReplicas")) or 2
    for hpa in stack.kinds("HorizontalPodAutoscaler"):
        spec = mapping(get(hpa.props, "spec"))
        low_raw, high_raw = spec.get("minReplicas", 1), spec.get("maxReplicas")
        low, high = whole_number(low_raw), whole_number(high_raw)
        if low is not None and low < floor:
            yield Finding(f"{hpa.describe()} has minReplicas {low}; keep at least {floor} so scaling down never leaves a single pod", hpa.urn)
        if low is not None and high is not None and high <= low:
            yield Finding(f"{hpa.describe()} has maxReplicas {high} not above minReplicas {low}, so it can never scale", hpa.urn)
        target = hpa_target(stack, hpa)
        if target is None or target.template is None:
            continue
        metrics = spec.get("metrics")
        if metrics is UNKNOWN:
            yield Undecided(f"{hpa.describe()}: its metrics are unknown until `pulumi up`", hpa.urn)
            continue
        needs: list[tuple[str, str | None]] = []
        if not metrics:
            needs.append(("cpu", None))  # no metrics: the HPA defaults to 80% average CPU utilization
        for metric in items(metrics):
            kind = get(metric, "type")
            if kind == "Resource" and get(metric, "resource", "target", "type") == "Utilization":
                needs.append((get(metric, "resource", "name"), None))
            elif kind == "ContainerResource" and get(metric, "containerResource", "target", "type") == "Utilization":
                needs.append((get(metric, "containerResource", "name"), get(metric, "containerResource", "container")))
        for resource, only in needs:
            for c in containers(target.template[1], ("containers",)):
                if only is not None and c.name != only:
                    continue
                requests = get(c.spec, "resources", "requests")
                if requests is not UNKNOWN and get(requests, resource) in (None, ""):
                    yield Finding(
                        f"{hpa.describe()} targets {resource} utilization but {target.describe()} {c.label} requests no {resource}, "
                        "so utilization is undefined and the HPA cannot scale",
                        hpa.urn,
                    )


def _hpa_owns_replicas(stack: Stack, _: Mapping[str, Any]) -> Iterator[Finding]:
    for hpa in stack.kinds("HorizontalPodAutoscaler"):
        target = hpa_target(stack, hpa)
        if target is None:
            continue
        replicas = declared(target.props, "spec", "replicas")  # not the API server's default of 1
        if replicas is not None and replicas is not UNKNOWN:
            yield Finding(
                f"{target.describe()} sets spec.replicas {replicas} while {hpa.describe()} scales it, so every deploy resets "
                "the replica count; leave replicas unset",
                target.urn,
            )


def _pdb_for_multi_replica(stack: Stack, settings: Mapping[str, Any]) -> Iterator[Finding]:
    for workload in stack.workloads(settings.get("kinds") or REPLICATED):
        bounds = replica_range(stack, workload)
        if bounds is not None and bounds[1] > 1 and labels_known(workload) and not pdbs_for(stack, workload):
            yield Finding(f"{workload.describe()} can run {bounds[1]} replicas but no PodDisruptionBudget selects its pods; a node drain may evict them all at once", workload.urn)
    for pdb in stack.kinds("PodDisruptionBudget"):
        spec = mapping(get(pdb.props, "spec"))
        if spec.get("unhealthyPodEvictionPolicy") is None:
            yield Finding(f"{pdb.describe()} sets no unhealthyPodEvictionPolicy; use AlwaysAllow so crash-looping pods never block drains", pdb.urn)
        max_unavailable, min_available = spec.get("maxUnavailable"), spec.get("minAvailable")
        if max_unavailable is not None and _zero(max_unavailable):
            yield Finding(f"{pdb.describe()} has maxUnavailable {max_unavailable}, which blocks every eviction and every node drain", pdb.urn)
        if isinstance(min_available, str) and min_available.strip() == "100%":
            yield Finding(f"{pdb.describe()} has minAvailable 100%, which blocks every eviction and every node drain", pdb.urn)
        count = whole_number(min_available)
        if count is None:
            continue
        for workload in candidates(stack, pdb.namespace, spec.get("selector", {})):
            if workload.kind not in SCALABLE_KINDS:
                continue
            bounds = replica_range(stack, workload)
            if selects(spec.get("selector", {}), workload) is True and bounds is not None and count >= bounds[0]:
                yield Finding(
                    f"{pdb.describe()} has minAvailable {count}, not below the {bounds[0]} replica(s) {workload.describe()} may run, "
                    "so it blocks evictions then; use maxUnavailable: 1 or a lower minAvailable",
                    pdb.urn,
                )


def _selectors_match(stack: Stack, settings: Mapping[str, Any]) -> Iterator[Finding]:
    external = frozenset(n for n in settings.get("externalNamespaces") or [] if isinstance(n, str))
    workloads = stack.workloads()
    for workload in workloads:
        selector = get(workload.props, "spec", "selector")
        if workload.kind != "Job" and isinstance(selector, dict) and labels_known(workload) and selector_matches(selector, pod_labels(workload)) is False:
            yield Finding(f"{workload.describe()}: spec.selector does not match its pod template labels, so it manages no pods", workload.urn)

    for service in stack.kinds("Service"):
        selector = get(service.props, "spec", "selector")
        if get(service.props, "spec", "type") == "ExternalName" or not isinstance(selector, dict) or not selector:
            continue
        if not may_select(stack, service.namespace, selector, plain_map=True, external=external):
            yield Finding(f"{service.describe()} selects no pods of any workload in its namespace (selector {selector})", service.urn)
    for pdb in stack.kinds("PodDisruptionBudget"):
        selector = get(pdb.props, "spec", "selector", default={})
        if not may_select(stack, pdb.namespace, selector, external=external):
            yield Finding(f"{pdb.describe()} selects no pods of any workload in its namespace", pdb.urn)
    for netpol in stack.kinds("NetworkPolicy"):
        selector = get(netpol.props, "spec", "podSelector", default={})
        if mapping(selector) and not may_select(stack, netpol.namespace, selector, external=external):
            yield Finding(f"{netpol.describe()} podSelector selects no pods of any workload in its namespace", netpol.urn)
    for hpa in stack.kinds("HorizontalPodAutoscaler"):
        ref = mapping(get(hpa.props, "spec", "scaleTargetRef"))
        if UNKNOWN not in ref.values() and hpa_target(stack, hpa) is None:
            yield Finding(f"{hpa.describe()} targets {ref.get('kind')} '{ref.get('name')}', which does not exist in its namespace", hpa.urn)


RULES = [
    ResourceRule(
        "probes-configured",
        "Long-running containers have readiness and liveness probes that differ; every probe, in any workload, "
        "targets a port its container declares.",
        severity=Severity.HIGH,
        family=FAMILY,
        covers={
            "kube-linter": ["liveness-port", "readiness-port", "startup-port"],
            "kube-score": ["pod-probes"],
            "polaris": ["readinessProbeMissing", "livenessProbeMissing"],
            "checkov": ["CKV_K8S_8", "CKV_K8S_9"],
        },
        # Probes are required only in the long-running kinds, so Jobs, CronJobs and bare Pods need none; kube-linter
        # asks them of every kind with a pod spec. kube-score calls probes identical when they hit the same endpoint;
        # the rule accepts one endpoint with different thresholds.
        partly={"kube-linter": ["no-liveness-probe", "no-readiness-probe"], "kube-score": ["pod-probes-identical"]},
        check=_probes,
        params=_kinds_param(
            ["Deployment", "StatefulSet", "DaemonSet"], "Workload kinds whose containers need readiness and liveness probes; probe ports are checked in every kind."
        ),
        remediation_steps="Add a readinessProbe (can it serve now?) and a livenessProbe (is it hung?) with different checks or "
        "thresholds; add a startupProbe for slow starts instead of a long liveness delay.",
    ),
    StackRule(
        "replicas-at-least-two",
        "Deployments and StatefulSets run at least two replicas, counting an HPA's minimum.",
        severity=Severity.MEDIUM,
        family=FAMILY,
        covers={"kube-score": ["deployment-replicas"]},
        # kube-linter's optional check wants three replicas; the rule two.
        partly={"kube-linter": ["minimum-three-replicas"]},
        check=_replicas_at_least_two,
        params={
            "minReplicas": {"type": "integer", "minimum": 1, "default": 2, "description": "Fewest replicas a workload may run."},
            **_kinds_param(list(REPLICATED), "Workload kinds checked."),
        },
        # Some software must run alone (a controller without leader election, an exporter whose copies would
        # double its series); such a workload says why in its exemption annotation.
        workload_exemptions=True,
        remediation_steps="Set spec.replicas >= 2, or the HPA's minReplicas >= 2 (gosvc:replicas, gosvc:hpaMinReplicas).",
    ),
    StackRule(
        "anti-affinity-or-spread",
        "Workloads that can run more than one replica spread their pods over nodes or zones.",
        severity=Severity.MEDIUM,
        family=FAMILY,
        check=_anti_affinity_or_spread,
        params={
            "topologyKeys": {
                "type": "array",
                "items": {"type": "string"},
                "default": ["kubernetes.io/hostname", "topology.kubernetes.io/zone"],
                "description": "Topology keys that count as spreading.",
            }
        },
        remediation_steps="Add pod anti-affinity on kubernetes.io/hostname selecting the pods' own labels, or a "
        "topologySpreadConstraint (gosvc:antiAffinity, gosvc:zoneSpread).",
    ),
    StackRule(
        "rolling-update-safe",
        "Rollouts never drop capacity: Deployments roll with maxUnavailable 0 or under a PDB, and nothing waits for manual deletes.",
        severity=Severity.MEDIUM,
        family=FAMILY,
        covers={"kube-linter": ["no-rolling-update-strategy"], "kube-score": ["deployment-strategy"]},
        check=_rolling_update_safe,
        remediation_steps="Use strategy RollingUpdate with rollingUpdate.maxUnavailable: 0 and a maxSurge, or add a "
        "PodDisruptionBudget; StatefulSets use updateStrategy RollingUpdate.",
    ),
    StackRule(
        "hpa-bounds",
        "HPAs keep at least two replicas, can scale above their minimum, and their utilization targets have requests to measure against.",
        severity=Severity.HIGH,
        family=FAMILY,
        covers={"kube-score": ["horizontalpodautoscaler-replicas"], "polaris": ["hpaMinAvailability", "hpaMaxAvailability"]},
        # kube-linter's optional check wants minReplicas three; the rule two.
        partly={"kube-linter": ["hpa-minimum-three-replicas"]},
        check=_hpa_bounds,
        params={"minReplicas": {"type": "integer", "minimum": 1, "default": 2, "description": "Lowest minReplicas an HPA may set."}},
        remediation_steps="Set minReplicas >= 2 and maxReplicas > minReplicas; give every container of the target the requests "
        "(cpu, memory) its utilization metrics are measured against.",
    ),
    StackRule(
        "hpa-owns-replicas",
        "A workload scaled by an HPA leaves spec.replicas unset.",
        severity=Severity.HIGH,
        family=FAMILY,
        covers={"kube-score": ["deployment-targeted-by-hpa-does-not-have-replicas-configured"]},
        check=_hpa_owns_replicas,
        remediation_steps="Remove spec.replicas from the HPA's target; the HPA sets it (GoService does so when gosvc:hpaEnabled).",
    ),
    StackRule(
        "pdb-for-multi-replica",
        "Every multi-replica workload has a PodDisruptionBudget, and no budget blocks all evictions or keeps minAvailable at the minimum replica count.",
        severity=Severity.HIGH,
        family=FAMILY,
        covers={
            "kube-linter": ["pdb-max-unavailable", "pdb-min-available", "pdb-unhealthy-pod-eviction-policy"],
            "polaris": ["pdbDisruptionsIsZero", "pdbMinAvailableGreaterThanOrEqualToHPAMinReplicas"],
        },
        # kube-score wants a budget even when replicas is unset (one pod), Polaris one named <workload>-pdb; the rule
        # asks it of workloads that can run more than one replica.
        partly={
            "kube-score": ["deployment-has-poddisruptionbudget", "statefulset-has-poddisruptionbudget"],
            "polaris": ["missingPodDisruptionBudget"],
        },
        check=_pdb_for_multi_replica,
        params=_kinds_param(list(REPLICATED), "Workload kinds that need a PodDisruptionBudget when they can run several replicas."),
        remediation_steps="Add a PodDisruptionBudget selecting the pods with maxUnavailable: 1 and unhealthyPodEvictionPolicy: "
        "AlwaysAllow; a minAvailable must stay below the HPA's minReplicas.",
    ),
    StackRule(
        "selectors-match",
        "Workload, Service, PDB and NetworkPolicy selectors select existing pods, and HPAs name existing workloads.",
        severity=Severity.CRITICAL,
        family=FAMILY,
        covers={
            "kube-linter": ["dangling-service", "mismatching-selector", "dangling-networkpolicy", "dangling-horizontalpodautoscaler"],
            "kube-score": [
                "deployment-pod-selector-labels-match-template-metadata-labels",
                "statefulset-pod-selector-labels-match-template-metadata-labels",
                "service-targets-pod",
                "networkpolicy-targets-pod",
                "horizontalpodautoscaler-has-target",
            ],
        },
        check=_selectors_match,
        params={
            "externalNamespaces": {
                "type": "array",
                "items": {"type": "string"},
                "default": ["kube-system"],
                "description": "Namespaces whose pods the cluster runs itself (the control plane, CoreDNS, kube-proxy); "
                "a Service aimed at them, such as kube-prometheus-stack's scrape Services, is not judged.",
            }
        },
        remediation_steps="Make the selector's labels a subset of the pod template's labels (app.kubernetes.io/name and "
        "app.kubernetes.io/instance), and point scaleTargetRef at the workload's kind and name.",
    ),
]
