"""Test helpers for the policy pack: real pulumi_policy argument objects, built the way the Analyzer server builds them.

Properties go through a protobuf Struct and the SDK's own deserializer and proxies, exactly
as in `Analyze`, `AnalyzeStack` and `Remediate`, so numbers reach the rules as floats and
unknown values as the SDK's sentinels. Fixtures are YAML documents under
tests/fixtures/policies/: Kubernetes objects, or `pulumiType:` documents for other resources
(a GoImage); `pulumiParent:` places a document under a component (its URN shows the parent).

The session fixture that runs the real pack process is in policy_pack_plugin.py.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import pytest
import yaml
from google.protobuf import json_format, struct_pb2
from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    StackValidationArgs,
)
from pulumi_policy.deserialize import deserialize_properties, serialize_properties
from pulumi_policy.policy import _NotApplicableError
from pulumi_policy.proxy import unknown_checking_proxy

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "policies"
PACK_DIR = ROOT / "policies"
BUILTIN_GROUPS = {
    "apps",
    "batch",
    "policy",
    "autoscaling",
    "networking.k8s.io",
    "rbac.authorization.k8s.io",
    "storage.k8s.io",
    "scheduling.k8s.io",
    "admissionregistration.k8s.io",
    "apiextensions.k8s.io",
    "coordination.k8s.io",
    "discovery.k8s.io",
}
DELETE = object()
_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


# -- fixtures as resources ---------------------------------------------------------------------------------------------


@dataclass
class Resource:
    """One fixture document as the engine would register it."""

    type: str
    name: str
    urn: str
    props: dict[str, Any]
    parent: str = ""


def type_token(api_version: str, kind: str) -> str:
    group, _, version = api_version.rpartition("/")
    if not group:
        return f"kubernetes:core/{version}:{kind}"
    if group in BUILTIN_GROUPS:
        return f"kubernetes:{group}/{version}:{kind}"
    return "kubernetes:apiextensions.k8s.io:CustomResource"


def resource(doc: dict[str, Any], stack: str = "test") -> Resource:
    doc = copy.deepcopy(doc)
    parent_type = doc.pop("pulumiParent", None)
    explicit_name = doc.pop("pulumiName", None)
    if "pulumiType" in doc:
        rtype = doc.pop("pulumiType")
        name = explicit_name or doc.pop("name", "subject")
    else:
        rtype = type_token(doc["apiVersion"], doc["kind"])
        name = explicit_name or f"{doc['kind'].lower()}-{doc.get('metadata', {}).get('name', 'subject')}"
    qualified = f"{parent_type}${rtype}" if parent_type else rtype
    parent = f"urn:pulumi:{stack}::gosvc::{parent_type}::parent" if parent_type else ""
    return Resource(rtype, name, f"urn:pulumi:{stack}::gosvc::{qualified}::{name}", doc, parent)


def load(name: str) -> list[dict[str, Any]]:
    """The documents of tests/fixtures/policies/<name>.yaml (YAML anchors unshared, so edits stay local)."""
    return [json.loads(json.dumps(d)) for d in yaml.safe_load_all((FIXTURES / f"{name}.yaml").read_text()) if d]


def one(name: str, kind: str | None = None) -> dict[str, Any]:
    docs = [d for d in load(name) if kind is None or d.get("kind", d.get("pulumiType")) == kind]
    assert len(docs) == 1, f"{name}: expected one {kind or 'document'}, found {len(docs)}"
    return docs[0]


def edit(doc: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A deep copy of `doc` with `path` ('spec.template.spec.containers[0].image') set, or removed with DELETE."""
    doc = copy.deepcopy(doc)
    steps = [m.group(1) if m.group(1) is not None else int(m.group(2)) for m in _STEP.finditer(path)]
    node: Any = doc
    for i, step in enumerate(steps[:-1]):
        nxt = steps[i + 1]
        if isinstance(step, str) and step not in node:
            node[step] = [] if isinstance(nxt, int) else {}
        elif isinstance(step, int) and step == len(node):
            node.append([] if isinstance(nxt, int) else {})
        node = node[step]
    last = steps[-1]
    if value is DELETE:
        if isinstance(last, int) or last in node:
            del node[last]
    elif isinstance(last, int) and last == len(node):
        node.append(value)  # one past the end appends
    else:
        node[last] = value
    return doc


def edits(doc: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    for path, value in changes.items():
        doc = edit(doc, path, value)
    return doc


# -- the SDK's argument objects ----------------------------------------------------------------------------------------


def wire(props: dict[str, Any]) -> dict[str, Any]:
    """What the server's json_format.MessageToDict yields for these props: a Struct round trip (ints become floats)."""
    struct = struct_pb2.Struct()
    struct.update(json.loads(json.dumps(props)))
    return json_format.MessageToDict(struct)


def _opts(parent: str = "") -> PolicyResourceOptions:
    return PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [], parent or None)


def resource_args(subject: Resource | dict[str, Any], config: dict[str, Any] | None = None) -> ResourceValidationArgs:
    """ResourceValidationArgs as `Analyze` builds them: deserialized Struct props behind the unknown-checking proxy."""
    r = subject if isinstance(subject, Resource) else resource(subject)
    props = unknown_checking_proxy(deserialize_properties(wire(r.props)))
    return ResourceValidationArgs(r.type, props, r.urn, r.name, _opts(r.parent), None, wire(config) if config else None)


def remediation_args(subject: Resource | dict[str, Any], config: dict[str, Any] | None = None, secret_paths: Iterable[str] = ()) -> ResourceValidationArgs:
    """ResourceValidationArgs as `Remediate` builds them: secrets kept in the SDK's secret-preserving proxy."""
    r = subject if isinstance(subject, Resource) else resource(subject)
    props = copy.deepcopy(r.props)
    for path in secret_paths:
        props = edit(props, path, {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", "value": _at(props, path)})
    deserialized = deserialize_properties(wire(props), True)
    return ResourceValidationArgs(r.type, unknown_checking_proxy(deserialized), r.urn, r.name, _opts(r.parent), None, wire(config) if config else None)


def _at(doc: Any, path: str) -> Any:
    for m in _STEP.finditer(path):
        doc = doc[m.group(1) if m.group(1) is not None else int(m.group(2))]
    return doc


def stack_args(docs: Iterable[dict[str, Any] | Resource], config: dict[str, Any] | None = None) -> StackValidationArgs:
    """StackValidationArgs as `AnalyzeStack` builds them, parents linked by URN."""
    found = [d if isinstance(d, Resource) else resource(d) for d in docs]
    policy_resources = [
        PolicyResource(r.type, unknown_checking_proxy(deserialize_properties(wire(r.props))), r.urn, r.name, _opts(r.parent), None, None, [], {})
        for r in found
    ]
    return StackValidationArgs(policy_resources, wire(config) if config else None)


def serialized(props: Any) -> dict[str, Any]:
    """Remediated props as the server sends them back (secrets in their envelope)."""
    return json.loads(json.dumps(serialize_properties(props)))


# -- running one policy ------------------------------------------------------------------------------------------------


@dataclass
class Outcome:
    messages: list[str] = field(default_factory=list)
    urns: list[str | None] = field(default_factory=list)
    not_applicable: str | None = None


def run(policy: Any, args: ResourceValidationArgs | StackValidationArgs) -> Outcome:
    """Calls the policy's validate with a collecting report_violation, as the server does."""
    outcome = Outcome()

    def report(message: str, urn: str | None = None) -> None:
        outcome.messages.append(message)
        outcome.urns.append(urn)

    try:
        policy.validate(args, report)
    except _NotApplicableError as err:
        outcome.not_applicable = err.reason or ""
    return outcome


def evaluate(policy_name: str, subject: Any, config: dict[str, Any] | None = None) -> Outcome:
    """Runs one policy of the pack: a stack policy over a list of documents, a resource policy over one."""
    from pulumi_policy import StackValidationPolicy

    from policies.rules import BY_NAME

    policy = BY_NAME[policy_name]
    if isinstance(policy, StackValidationPolicy):
        return run(policy, stack_args(subject if isinstance(subject, list) else [subject], config))
    return run(policy, resource_args(subject, config))


@dataclass(frozen=True)
class Case:
    """One scenario for one policy: the subject (a document, or a list for stack policies) and the expected fragments."""

    policy: str
    scenario: str
    subject: Any
    expected: tuple[str, ...] = ()
    config: dict[str, Any] | None = None

    @property
    def compliant(self) -> bool:
        return not self.expected

    def param(self) -> Any:
        return pytest.param(self, id=f"{self.policy}-{self.scenario}")

    def check(self) -> Outcome:
        outcome = evaluate(self.policy, self.subject, self.config)
        assert_messages(outcome.messages, list(self.expected))
        return outcome


def assert_messages(messages: list[str], expected: list[str]) -> None:
    """Exactly one message per expected fragment, each fragment found in its own message."""
    remaining = list(messages)
    for fragment in expected:
        match = next((m for m in remaining if fragment in m), None)
        assert match is not None, f"no message contains {fragment!r}; got {messages}"
        remaining.remove(match)
    assert not remaining, f"unexpected messages {remaining}"
