"""The real pack process (policies/__main__.py) over the Analyzer protocol, as the engine drives it.

One pack process serves the whole session (policy_harness.policy_pack); every test
configures it first, since Configure replaces the previous configuration.
"""

from __future__ import annotations

import pytest
from google.protobuf import json_format
from policy_harness import DELETE, edit, edits, load, one, resource
from pulumi.runtime.proto import analyzer_pb2
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

from tools.offline.engine import Registration
from tools.offline.policy_runner import PolicyPackError, PolicyPackProcess, PolicySetting, analyzer_resource
from policies.rules import POLICIES

pytest_plugins = ["policy_pack_plugin"]

SERVICE = load("compliant-service")
DEPLOY = SERVICE[0]
SC = "spec.template.spec.containers[0].securityContext"


def registration(doc: dict) -> Registration:
    r = resource(doc)
    return Registration(type=r.type, name=r.name, urn=r.urn, parent=r.parent, custom=True, dependencies=[], inputs=r.props)


def analyze(pack, doc: dict) -> list[analyzer_pb2.AnalyzeDiagnostic]:
    return list(pack.analyze(analyzer_resource(registration(doc))).diagnostics)


def by_policy(diagnostics) -> dict[str, list]:
    found: dict[str, list] = {}
    for d in diagnostics:
        found.setdefault(d.policyName, []).append(d)
    return found


def test_analyzer_info_lists_every_policy_with_description_level_and_severity(policy_pack):
    info = policy_pack.info()
    assert info.name == "gosvc-policies" and info.supportsConfig
    served = {p.name: p for p in info.policies}
    assert set(served) == {p.name for p in POLICIES}
    for policy in POLICIES:
        got = served[policy.name]
        assert got.description == policy.description
        assert got.enforcementLevel == {"advisory": analyzer_pb2.ADVISORY, "mandatory": analyzer_pb2.MANDATORY}[policy.enforcement_level.value]
        assert got.severity != analyzer_pb2.POLICY_SEVERITY_UNSPECIFIED
        assert got.remediation_steps == policy.remediation_steps
        kind = analyzer_pb2.POLICY_TYPE_STACK if type(policy).__name__ == "StackRule" else analyzer_pb2.POLICY_TYPE_RESOURCE
        assert got.policy_type == kind
    schema = json_format.MessageToDict(served["run-as-non-root"].configSchema.properties)
    assert schema["minUid"]["default"] == 10000


def test_a_violating_resource_comes_back_with_its_diagnostics(policy_pack):
    policy_pack.configure({})
    bad = edits(DEPLOY, {f"{SC}.privileged": True, "spec.template.spec.containers[0].image": "registry.example.com/gosvc/hello:latest"})
    found = by_policy(analyze(policy_pack, bad))
    assert set(found) == {"no-privileged", "image-tag-pinned", "image-digest-pinned"}
    privileged = found["no-privileged"][0]
    assert privileged.enforcementLevel == analyzer_pb2.MANDATORY and privileged.severity == analyzer_pb2.POLICY_SEVERITY_CRITICAL
    assert privileged.message == "No container runs privileged.\ncontainer 'app' runs privileged, with every device and capability of the node"
    assert privileged.policyPackName == "gosvc-policies"
    assert found["image-digest-pinned"][0].enforcementLevel == analyzer_pb2.ADVISORY


def test_compliant_resources_come_back_clean(policy_pack):
    policy_pack.configure({})
    for doc in [*SERVICE, one("compliant-go-image")]:
        assert analyze(policy_pack, doc) == [], doc.get("kind", doc.get("pulumiType"))


def test_configure_sets_levels_and_parameters(policy_pack):
    policy_pack.configure({"no-privileged": PolicySetting("disabled"), "image-tag-pinned": PolicySetting("advisory"), "run-as-non-root": PolicySetting(None, {"minUid": 70000})})
    bad = edits(DEPLOY, {f"{SC}.privileged": True, "spec.template.spec.containers[0].image": "registry.example.com/gosvc/hello:latest"})
    found = by_policy(analyze(policy_pack, bad))
    assert "no-privileged" not in found
    assert found["image-tag-pinned"][0].enforcementLevel == analyzer_pb2.ADVISORY
    assert any("runs as UID 65532; use a UID >= 70000" in d.message for d in found["run-as-non-root"])


@pytest.mark.parametrize(
    "given,fragment",
    [
        ({"run-as-non-root": PolicySetting(None, {"minUid": "ten thousand"})}, "run-as-non-root: minUid: 'ten thousand' is not of type 'integer'"),
        ({"kafka-durability": PolicySetting(None, {"minInsyncReplicas": 0})}, "kafka-durability: minInsyncReplicas: 0 is less than the minimum of 1"),
        ({"image-registry-allowed": PolicySetting(None, {"allowedRegistries": "docker.io/"})}, "is not of type 'array'"),
    ],
)
def test_configure_validates_parameters_against_each_policys_schema(policy_pack, given, fragment):
    with pytest.raises(PolicyPackError, match="policy pack config is invalid") as err:
        policy_pack.configure(given)
    assert fragment in str(err.value)


def test_remediate_returns_the_fixed_props(policy_pack):
    policy_pack.configure({"seccomp-runtime-default": PolicySetting("remediate"), "service-account-token-not-automounted": PolicySetting("remediate")})
    bad = edits(DEPLOY, {"spec.template.spec.securityContext.seccompProfile": DELETE, f"{SC}.seccompProfile": {"type": "Unconfined"}, "spec.template.spec.automountServiceAccountToken": True})
    response = policy_pack.remediate(analyzer_resource(registration(bad)))
    assert [r.policyName for r in response.remediations] == ["seccomp-runtime-default", "service-account-token-not-automounted"]
    fixed = json_format.MessageToDict(response.remediations[-1].properties)  # each remediation builds on the one before
    pod = fixed["spec"]["template"]["spec"]
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["containers"][0]["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    assert pod["containers"][0]["securityContext"]["runAsUser"] == 65532  # the rest is untouched
    fixed_resource = analyzer_resource(registration(bad))
    fixed_resource.properties.CopyFrom(response.remediations[-1].properties)
    assert analyze_resource(policy_pack, fixed_resource) == []


def analyze_resource(pack, resource_msg) -> list:
    return [d.policyName for d in pack.analyze(resource_msg).diagnostics]


def test_evaluate_remediates_before_analyzing_like_the_engine(policy_pack):
    policy_pack.configure({"no-privilege-escalation": PolicySetting("remediate")})
    bad = edit(DEPLOY, f"{SC}.allowPrivilegeEscalation", DELETE)
    report = policy_pack.evaluate([registration(bad)], stack="test")
    assert [r["policy"] for r in report.remediations] == ["no-privilege-escalation"]
    assert not [v for v in report.violations if v.policy == "no-privilege-escalation"]


def test_analyze_stack_reports_against_the_offending_resource(policy_pack):
    policy_pack.configure({})
    docs = [edit(d, "spec.replicas", 3) if d["kind"] == "Deployment" else d for d in SERVICE]
    regs = [registration(d) for d in docs]
    response = policy_pack.analyze_stack([analyzer_resource(r) for r in regs])
    found = by_policy(response.diagnostics)
    assert set(found) == {"hpa-owns-replicas"}
    assert found["hpa-owns-replicas"][0].urn == regs[0].urn


def test_exemptions_over_the_protocol_become_advisory_notes(policy_pack):
    policy_pack.configure({})
    found = by_policy(analyze(policy_pack, one("filebeat-daemonset-exempt")))
    assert "no-host-path" not in found and "run-as-non-root" not in found
    notes = found["policy-exemptions"]
    assert all(n.enforcementLevel == analyzer_pb2.ADVISORY for n in notes)
    assert any('exempt from \'no-host-path\' because "reads node logs from /var/log read-only' in n.message for n in notes)


def test_unknown_values_travel_the_protocol_without_failing_a_policy(policy_pack):
    policy_pack.configure({})
    preview = edit(DEPLOY, "spec.template.spec.containers[0].image", UNKNOWN_STRING_VALUE)
    assert analyze(policy_pack, preview) == []


def test_secrets_reach_the_pack_in_their_envelope(policy_pack):
    policy_pack.configure({})
    reg = registration(edit(DEPLOY, "spec.template.spec.containers[0].env[0]", {"name": "API_TOKEN", "value": "<secret>"}))
    reg.secret_paths = ["spec.template.spec.containers[0].env[0].value"]
    message = analyzer_resource(reg)
    envelope = json_format.MessageToDict(message.properties)["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"]
    assert envelope == {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", "value": "<secret>"}
    found = by_policy(policy_pack.analyze(message).diagnostics)
    assert "env API_TOKEN looks like a secret but has a literal value" in found["no-secrets-in-env"][0].message


def test_a_pack_that_fails_to_start_is_reported_and_stopped(tmp_path):
    (tmp_path / "PulumiPolicy.yaml").write_text("runtime: python\n")
    (tmp_path / "__main__.py").write_text("raise RuntimeError('no policies here')\n")
    pack = PolicyPackProcess(tmp_path, timeout=30)
    with pytest.raises(PolicyPackError, match="did not print its port") as err:
        pack.start()
    assert "no policies here" in str(err.value)
    assert not pack.running
