"""How a rule is declared and turned into a pulumi_policy policy.

A rule is data (name, description, severity, remediation steps, default enforcement
level, parameters as a JSON schema with defaults) plus a pure `check` that yields
findings. `ResourceRule` and `StackRule` are the SDK's own policy classes; they only
adapt the SDK's arguments into `Subject`/`Stack` views of plain data, merge parameter
defaults under the configured values, and honour exemption annotations.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Callable, Iterable, Mapping

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UnknownValueError

from components.k8s.exemptions import EXEMPT_PREFIX  # the library writes it; standard library only, so the pack can import it

from . import charts, kube, outcomes
from .props import UNKNOWN, mapping, plain



@dataclass(frozen=True)
class Finding:
    """One violation: what is wrong and how to fix it; `urn` names the resource for stack rules."""

    message: str
    urn: str | None = None
    exemptable: bool = True
    """False for findings no annotation may waive (a writable or sensitive hostPath, for example)."""
    holders: tuple[str, ...] = ()
    """URNs of the workloads that hold what the finding is about (the pods a Role's permissions reach): when every one is
    exempt from the policy with a reason, so is the finding, as for a chart's Role that cannot carry an annotation."""


UNDECIDED_PREFIX = "undecidable at preview: "
"""Starts the not-applicable reason of a rule whose inputs are unknown until `pulumi up`; a JSON list of
{urn, reason} follows, so reports tell "not decidable yet" from "not about this resource"."""


@dataclass(frozen=True)
class Undecided:
    """Yielded by a check instead of a finding when what it needs is unknown during preview (set by `up`);
    `urn` names the resource for stack rules. Never a violation: `pulumi up` checks again with the value."""

    reason: str
    urn: str | None = None


def undecided_reason(pairs: Iterable[tuple[str, str]]) -> str:
    """The not-applicable reason that carries (urn, reason) pairs nobody can decide before `up` (the engine
    drops it: the real-engine reports read the pack's outcome record instead, see outcomes.py)."""
    records = [{"urn": urn, "reason": reason} for urn, reason in pairs]
    return UNDECIDED_PREFIX + json.dumps(records, sort_keys=True)


def parse_undecided(reason: str) -> list[dict[str, str]] | None:
    """The (urn, reason) records of an undecidable-at-preview reason; None for any other not-applicable reason."""
    if not reason.startswith(UNDECIDED_PREFIX):
        return None
    return [{"urn": str(r["urn"]), "reason": str(r["reason"])} for r in json.loads(reason[len(UNDECIDED_PREFIX):])]


LINTERS = ("kube-linter", "kube-score", "polaris", "checkov")
"""The linters whose default checks the pack is measured against (policies/crosswalk/)."""


def crosswalk(covers: Mapping[str, Iterable[str]] | None) -> dict[str, tuple[str, ...]]:
    """A rule's external check ids per linter, checked against LINTERS so a misspelt linter fails at import."""
    found = {linter: tuple(ids) for linter, ids in (covers or {}).items()}
    unknown = sorted(set(found) - set(LINTERS))
    if unknown:
        raise ValueError(f"covers names unknown linter(s) {unknown}; known: {list(LINTERS)}")
    return found


class NotApplicable(Exception):
    """Raised by a check when the stack has nothing the rule is about (no Kafka, no Prometheus Operator)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _ancestor_types(urn: str) -> tuple[str, ...]:
    """The types of a resource's parents, read from its URN (`...::parent$parent$type::name`)."""
    parts = urn.split("::")
    if len(parts) < 4:
        return ()
    return tuple(parts[2].split("$")[:-1])


@dataclass
class Subject:
    """One resource as rules see it: type, name, URN and its properties as plain data."""

    type: str
    name: str
    urn: str
    source: Any = field(repr=False)
    """The properties as the policy SDK hands them over (proxies that check for unknowns), or a plain dict."""
    parent: str | None = None
    via: Subject | None = field(default=None, repr=False)
    """The Helm release whose chart rendered this object (charts.py), None for declared resources."""

    @classmethod
    def of(cls, resource_type: str, name: str, urn: str, props: Any, parent: str | None, via: Subject | None = None) -> Subject:
        return cls(resource_type, name, urn, props, parent or None, via)

    @cached_property
    def props(self) -> dict[str, Any]:
        """The properties as plain data, copied on first use: most rules look at the kind first and
        skip most resources, and a deep copy through the SDK's proxies is the costliest step of a rule."""
        return mapping(plain(self.source))

    @cached_property
    def kind(self) -> str | None:
        if "props" in self.__dict__ or not isinstance(self.source, Mapping):
            return kube.kind_of(self.type, self.props)
        try:
            declared = plain(self.source["kind"]) if "kind" in self.source else None
        except Exception:  # the SDK's UnknownValueError: a kind unknown during preview
            declared = UNKNOWN
        return kube.kind_of(self.type, {"kind": declared})

    @property
    def meta(self) -> dict[str, Any]:
        return kube.metadata(self.props)

    @property
    def namespace(self) -> Any:
        return self.meta.get("namespace")

    @property
    def object_name(self) -> str:
        name = self.meta.get("name")
        return name if isinstance(name, str) else self.name

    @property
    def labels(self) -> dict[str, Any]:
        return kube.labels_of(self.meta)

    @property
    def annotations(self) -> dict[str, Any]:
        return kube.annotations_of(self.meta)

    @cached_property
    def template(self) -> tuple[dict[str, Any], dict[str, Any]] | None:
        return kube.pod_template(self.kind, self.props)

    @property
    def is_workload(self) -> bool:
        return self.kind in kube.WORKLOAD_KINDS

    @property
    def may_be_exempted(self) -> bool:
        """Workloads and RBAC objects (Roles, bindings) may carry exemption annotations; nothing else."""
        return self.is_workload or self.kind in kube.RBAC_KINDS

    def within(self, component_type: str) -> bool:
        """Whether a component of `component_type` is among this resource's parents."""
        return component_type in _ancestor_types(self.urn)

    def describe(self) -> str:
        """'Deployment gosvc-dev/hello' for Kubernetes objects, else 'gosvc:index:GoImage hello'."""
        if self.kind:
            ns = self.namespace if isinstance(self.namespace, str) else None
            return f"{self.kind} {ns + '/' if ns else ''}{self.object_name}"
        return f"{self.type} {self.name}"

    def chart_objects(self) -> list[Subject]:
        """What this Helm release's chart renders, each object a Subject `via` the release; [] for anything else."""
        if not charts.is_release(self.type) or self.via is not None:
            return []
        stack, project, types, name = (self.urn.split("::") + ["", "", "", ""])[:4]
        found = []
        for obj in charts.render(self.props).objects:
            rtype = charts.resource_type(obj)
            meta = kube.metadata(obj)
            label = f"{name}/{obj['kind']}/{meta.get('namespace', '')}/{meta.get('name', '')}"
            found.append(Subject.of(rtype, str(meta.get("name", "")), f"{stack}::{project}::{types}${rtype}::{label}", obj, self.urn, via=self))
        return found

    def reported(self, message: str, names_object: bool = False) -> str:
        """A finding's message as reported: for a chart object, with which object (unless the message names it) of which release."""
        if self.via is None:
            return message
        release = self.via.props.get("name") or self.via.object_name
        return f"{message} (rendered from Helm release '{release}')" if names_object else f"{self.describe()} (rendered from Helm release '{release}'): {message}"


@dataclass
class Stack:
    """Every resource of a stack, with the lookups stack rules need."""

    resources: list[Subject]
    by_urn: dict[str, Subject] = field(init=False)
    _memo: dict[Any, Any] = field(init=False, default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.by_urn = {r.urn: r for r in self.resources}

    def memo(self, key: Any, compute: Callable[[], Any]) -> Any:
        """`compute()` once per stack: relations looked up for every workload stay linear in the stack's size."""
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]

    @classmethod
    def of(cls, args: StackValidationArgs) -> Stack:
        declared = [Subject.of(r.resource_type, r.name, r.urn, r.props, r.parent.urn if r.parent is not None else r.opts.parent) for r in args.resources]
        return cls([*declared, *(obj for subject in declared for obj in subject.chart_objects())])

    def kinds(self, *kinds: str) -> list[Subject]:
        return list(self.memo(("kinds", kinds), lambda: [r for r in self.resources if r.kind in kinds]))

    def workloads(self, kinds: Iterable[str] = kube.WORKLOAD_KINDS) -> list[Subject]:
        wanted = frozenset(kinds)
        return list(self.memo(("workloads", wanted), lambda: [r for r in self.resources if r.kind in wanted]))

    def opaque_namespaces(self) -> set[Any]:
        """Namespaces a Helm release installs into without the pack seeing what (its chart could not be rendered)."""
        return set(self.memo("opaque", lambda: {r.props.get("namespace") for r in self.resources if charts.is_release(r.type) and r.via is None and charts.render(r.props).error}))

    def in_namespace(self, subjects: Iterable[Subject], namespace: Any) -> list[Subject]:
        """Those in `namespace`; a namespace unknown during preview might be any, so it matches."""
        return [s for s in subjects if same_namespace(s.namespace, namespace)]


def same_namespace(a: Any, b: Any) -> bool:
    """Whether two objects may share a namespace: equal, or either unknown during preview."""
    return a == b or UNKNOWN in (a, b)


def exemption(subject: Subject, policy: str) -> str | None:
    """The reason a workload or RBAC object gives for opting out of `policy`, or None (no annotation, or an empty reason)."""
    if not subject.may_be_exempted:
        return None
    reason = subject.annotations.get(EXEMPT_PREFIX + policy)
    return reason.strip() if isinstance(reason, str) and reason.strip() else None


Check = Callable[[Subject, Mapping[str, Any]], Iterable["Finding | Undecided | str"]]
StackCheck = Callable[[Stack, Mapping[str, Any]], Iterable["Finding | Undecided"]]
Fix = Callable[[Any, Subject, Mapping[str, Any]], bool]


def _schema(params: Mapping[str, dict[str, Any]] | None) -> PolicyConfigSchema | None:
    return PolicyConfigSchema(dict(params)) if params else None


def _settings(params: Mapping[str, dict[str, Any]], configured: Mapping[str, Any] | None) -> dict[str, Any]:
    """Parameter defaults from the schema, overlaid with what the engine configured."""
    values = {k: v["default"] for k, v in params.items() if "default" in v}
    values.update(mapping(plain(configured or {})))
    return values


class ResourceRule(ResourceValidationPolicy):
    """A policy over one resource at a time; findings on exempted workloads are left to `policy-exemptions`."""

    def __init__(
        self,
        name: str,
        description: str,
        *,
        severity: Severity,
        remediation_steps: str,
        check: Check,
        family: str,
        level: EnforcementLevel = EnforcementLevel.MANDATORY,
        params: Mapping[str, dict[str, Any]] | None = None,
        fix: Fix | None = None,
        covers: Mapping[str, Iterable[str]] | None = None,
        partly: Mapping[str, Iterable[str]] | None = None,
    ) -> None:
        self.covers = crosswalk(covers)
        """External checks (per linter) this rule flags the same violations as."""
        self.partly = crosswalk(partly)
        """External checks this rule flags some, not all, of the violations of (counted half)."""
        self.check = check
        self.params = dict(params or {})
        self.fix = fix
        super().__init__(
            name,
            description,
            validate=self._validate,
            enforcement_level=level,
            config_schema=_schema(self.params),
            remediate=self._remediate if fix is not None else None,
            severity=severity,
            tags=[family],
            remediation_steps=remediation_steps,
        )

    def settings(self, configured: Mapping[str, Any] | None = None) -> dict[str, Any]:
        return _settings(self.params, configured)

    def outcomes(self, subject: Subject, settings: Mapping[str, Any]) -> list[Finding | Undecided]:
        return [f if isinstance(f, (Finding, Undecided)) else Finding(f) for f in self.check(subject, settings)]

    def findings(self, subject: Subject, settings: Mapping[str, Any]) -> list[Finding]:
        return [f for f in self.outcomes(subject, settings) if isinstance(f, Finding)]

    def _validate(self, args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        """Checks the resource and, for a Helm release, every object its chart renders (charts.py)."""
        subject = Subject.of(args.resource_type, args.name, args.urn, args.props, args.opts.parent if args.opts else None)
        settings = self.settings(args.get_config())
        applicable = violated = False
        undecided: list[tuple[str, str]] = []
        try:
            for target in [subject, *subject.chart_objects()]:
                try:
                    found = self.outcomes(target, settings)
                except NotApplicable as err:
                    reason = err.reason
                    continue
                applicable = True
                for finding in found:
                    if isinstance(finding, Undecided):
                        if not exemption(target, self.name):
                            undecided.append((subject.urn, target.reported(finding.reason)))
                        continue
                    if finding.exemptable and exemption(target, self.name):
                        continue
                    violated = True
                    report_violation(target.reported(finding.message), None)
        except UnknownValueError as err:  # the SDK reports it as "can't run policy ... during preview"
            outcomes.record(self.name, args.urn, outcomes.VIOLATED if violated else outcomes.UNDECIDABLE, None if violated else err.message)
            raise
        if outcomes.enabled():
            if violated:
                outcomes.record(self.name, args.urn, outcomes.VIOLATED)
            elif not applicable:
                outcomes.record(self.name, args.urn, outcomes.NOT_APPLICABLE, reason)
            elif undecided:
                outcomes.record(self.name, args.urn, outcomes.UNDECIDABLE, "; ".join(r for _, r in undecided))
            else:
                outcomes.record(self.name, args.urn, outcomes.PASSED)
        if not applicable:
            args.not_applicable(reason)
        if undecided and not violated:
            args.not_applicable(undecided_reason(undecided))

    def _remediate(self, args: ResourceValidationArgs) -> Any:
        """Fixes the props in place through the SDK's secret-preserving proxies; None when nothing changed."""
        subject = Subject.of(args.resource_type, args.name, args.urn, args.props, args.opts.parent if args.opts else None)
        settings = self.settings(args.get_config())
        if self.fix is None or exemption(subject, self.name) or not self.findings(subject, settings):
            return None
        return args.props if self.fix(args.props, subject, settings) else None


class StackRule(StackValidationPolicy):
    """A policy over how resources relate (HPA to Deployment, PDB to replicas, ServiceMonitor to Service)."""

    def __init__(
        self,
        name: str,
        description: str,
        *,
        severity: Severity,
        remediation_steps: str,
        check: StackCheck,
        family: str,
        level: EnforcementLevel = EnforcementLevel.MANDATORY,
        params: Mapping[str, dict[str, Any]] | None = None,
        workload_exemptions: bool = False,
        covers: Mapping[str, Iterable[str]] | None = None,
        partly: Mapping[str, Iterable[str]] | None = None,
    ) -> None:
        self.covers = crosswalk(covers)
        """External checks (per linter) this rule flags the same violations as."""
        self.partly = crosswalk(partly)
        """External checks this rule flags some, not all, of the violations of (counted half)."""
        self.check = check
        self.params = dict(params or {})
        self.workload_exemptions = workload_exemptions
        """Whether a workload (or RBAC object) may opt out of this policy's findings about itself, or about what its
        ServiceAccount is granted (`Finding.holders`), as from a resource policy."""
        super().__init__(
            name,
            description,
            validate=self._validate,
            enforcement_level=level,
            config_schema=_schema(self.params),
            severity=severity,
            tags=[family],
            remediation_steps=remediation_steps,
        )

    def settings(self, configured: Mapping[str, Any] | None = None) -> dict[str, Any]:
        return _settings(self.params, configured)

    def _waived(self, stack: Stack, target: Subject | None, finding: Finding) -> bool:
        """Exempt by the object's own annotation, or by every holder's (none unknown to the stack)."""
        if target is not None and exemption(target, self.name):
            return True
        holders = [stack.by_urn.get(urn) for urn in finding.holders]
        return bool(holders) and all(h is not None and exemption(h, self.name) for h in holders)

    def _validate(self, args: StackValidationArgs, report_violation: ReportViolation) -> None:
        violated: set[str] = set()
        try:
            self._validate_stack(args, report_violation, violated)
        except UnknownValueError as err:  # the SDK reports it as "can't run policy ... during preview"
            outcomes.record(self.name, outcomes.STACK, outcomes.UNDECIDABLE, err.message)
            raise
        finally:
            for urn in sorted(violated):
                outcomes.record(self.name, urn, outcomes.VIOLATED)
            outcomes.flush()  # AnalyzeStack is the engine's last call to the pack

    def _validate_stack(self, args: StackValidationArgs, report_violation: ReportViolation, violated: set[str]) -> None:
        stack = Stack.of(args)
        try:
            found = list(self.check(stack, self.settings(args.get_config())))
        except NotApplicable as err:
            outcomes.record(self.name, outcomes.STACK, outcomes.NOT_APPLICABLE, err.reason)
            args.not_applicable(err.reason)
            return
        undecided: list[tuple[str, str]] = []
        for finding in found:
            target = stack.by_urn.get(finding.urn) if finding.urn else None
            if isinstance(finding, Undecided):
                # A chart object has no URN of its own in the engine: it is undecided on its release.
                where = target.via.urn if target is not None and target.via is not None else (finding.urn or "")
                undecided.append((where, target.reported(finding.reason, names_object=True) if target is not None else finding.reason))
                continue
            if self.workload_exemptions and finding.exemptable and self._waived(stack, target, finding):
                continue
            if target is not None and target.via is not None:
                # A chart object has no URN of its own in the engine: the finding goes to its release.
                violated.add(target.via.urn)
                report_violation(target.reported(finding.message, names_object=True), target.via.urn)
            else:
                violated.add(finding.urn or outcomes.STACK)
                report_violation(finding.message, finding.urn)
        for where, reason in undecided:
            outcomes.record(self.name, where, outcomes.UNDECIDABLE, reason)
        if not violated and not undecided:
            outcomes.record(self.name, outcomes.STACK, outcomes.PASSED)
        if undecided:
            # The SDK takes one not-applicable reason per stack policy; the violations reported above still stand.
            args.not_applicable(undecided_reason(undecided))
