"""Reference policies over the compliant service's objects: ServiceAccounts, NetworkPolicy peers, Service target ports."""

from __future__ import annotations

import pytest
from policy_harness import DELETE, Case, edit, edits, evaluate, load, run, stack_args
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

from policies.rules import BY_NAME
from policies.rules.references import valid_port_name

SERVICE = load("compliant-service")
DEPLOY = SERVICE[0]
POD = "spec.template.spec"
APP = f"{POD}.containers[0]"
HELLO = {"app.kubernetes.io/name": "hello", "app.kubernetes.io/instance": "hello"}
EXEMPT = "policies.gosvc.dev/exempt-service-account-exists"


def changed(kind: str, changes: dict, docs: list[dict] | None = None) -> list[dict]:
    return [edits(d, changes) if d["kind"] == kind else d for d in (docs or SERVICE)]


def without(*kinds: str, docs: list[dict] | None = None) -> list[dict]:
    return [d for d in (docs or SERVICE) if d["kind"] not in kinds]


def netpol_with(ingress_from: list[dict] | None = None, egress_to: list[dict] | None = None) -> list[dict]:
    spec: dict = {}
    if ingress_from is not None:
        spec["spec.ingress"] = [{"from": ingress_from, "ports": [{"port": 8080}]}]
    if egress_to is not None:
        spec["spec.egress"] = [{"to": egress_to, "ports": [{"port": 8080}]}]
    return changed("NetworkPolicy", spec)


OTHER_NS_WORKER = edits(DEPLOY, {"metadata.name": "worker", "metadata.namespace": "jobs", f"{POD}.serviceAccountName": DELETE, "spec.selector.matchLabels": {"app": "worker"}, "spec.template.metadata.labels": {"app": "worker"}})
UNRENDERABLE = {"pulumiType": "kubernetes:helm.sh/v3:Release", "name": "mystery", "chart": "no-such-chart", "version": "0.0.0", "namespace": "shop"}

STATEFUL = edits(DEPLOY, {"kind": "StatefulSet", "spec.strategy": DELETE, "spec.serviceName": "hello-headless"})
HEADLESS = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "hello-headless", "namespace": "shop"}, "spec": {"clusterIP": "None", "selector": HELLO, "ports": [{"name": "http", "port": 8080}]}}

CASES = [
    Case("service-account-exists", "compliant", SERVICE),
    Case("service-account-exists", "missing", without("ServiceAccount"), ("Deployment shop/hello runs as ServiceAccount 'hello', which the stack does not create",)),
    Case("service-account-exists", "deprecated-field", edits(DEPLOY, {f"{POD}.serviceAccountName": DELETE, f"{POD}.serviceAccount": "ghost"}), ("runs as ServiceAccount 'ghost'",)),
    Case("service-account-exists", "other-namespace", changed("ServiceAccount", {"metadata.namespace": "elsewhere"}), ("runs as ServiceAccount 'hello'",)),
    Case("service-account-exists", "default-account", edit(DEPLOY, f"{POD}.serviceAccountName", "default")),
    Case("service-account-exists", "none-named", edit(DEPLOY, f"{POD}.serviceAccountName", DELETE)),
    Case("service-account-exists", "opaque-namespace", [*without("ServiceAccount"), UNRENDERABLE]),
    Case("service-account-exists", "exempted", [edit(DEPLOY, "metadata.annotations", {EXEMPT: "the platform team creates this account"})]),
    Case("service-account-exists", "exemption-without-reason", [edit(DEPLOY, "metadata.annotations", {EXEMPT: " "})], ("runs as ServiceAccount 'hello'",)),
    Case("networkpolicy-peers-select-pods", "compliant", SERVICE),
    Case("networkpolicy-peers-select-pods", "peer-selects-own-pods", netpol_with(ingress_from=[{"podSelector": {"matchLabels": HELLO}}])),
    Case("networkpolicy-peers-select-pods", "peer-selects-nothing", netpol_with(ingress_from=[{"podSelector": {"matchLabels": {"app": "frontend"}}}]), ("NetworkPolicy shop/hello: ingress[0] peer podSelector",)),
    Case("networkpolicy-peers-select-pods", "egress-peer-selects-nothing", netpol_with(egress_to=[{"podSelector": {"matchLabels": {"app": "db"}}}]), ("egress[0] peer podSelector {'matchLabels': {'app': 'db'}} selects no pod of any workload in namespace shop",)),
    Case("networkpolicy-peers-select-pods", "empty-selector-is-every-pod", netpol_with(ingress_from=[{"podSelector": {}}])),
    Case(
        "networkpolicy-peers-select-pods",
        "named-namespace-has-the-pods",
        [*netpol_with(egress_to=[{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "jobs"}}, "podSelector": {"matchLabels": {"app": "worker"}}}]), OTHER_NS_WORKER],
    ),
    Case(
        "networkpolicy-peers-select-pods",
        "named-namespace-lacks-the-pods",
        netpol_with(egress_to=[{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "jobs"}}, "podSelector": {"matchLabels": {"app": "worker"}}}]),
        ("in namespace jobs",),
    ),
    Case("networkpolicy-peers-select-pods", "any-namespace-is-not-judged", netpol_with(egress_to=[{"namespaceSelector": {}, "podSelector": {"matchLabels": {"app": "worker"}}}])),
    Case(
        "networkpolicy-peers-select-pods",
        "kube-system-is-the-clusters",
        netpol_with(egress_to=[{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}}, "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}]),
    ),
    Case(
        "networkpolicy-peers-select-pods",
        "external-namespaces-from-config",
        netpol_with(egress_to=[{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}}, "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}]),
        ("in namespace kube-system",),
        {"externalNamespaces": []},
    ),
    Case("statefulset-service-exists", "compliant", [STATEFUL, HEADLESS]),
    Case("statefulset-service-exists", "no-statefulsets", SERVICE),
    Case("statefulset-service-exists", "missing", [STATEFUL], ("StatefulSet shop/hello: serviceName 'hello-headless' names no Service in its namespace",)),
    Case("statefulset-service-exists", "not-headless", [STATEFUL, edit(HEADLESS, "spec.clusterIP", DELETE)], ("Service 'hello-headless' is not headless",)),
    Case("statefulset-service-exists", "other-namespace", [STATEFUL, edit(HEADLESS, "metadata.namespace", "elsewhere")], ("names no Service in its namespace",)),
    Case("statefulset-service-exists", "unset", [edit(STATEFUL, "spec.serviceName", DELETE)], ("StatefulSet shop/hello names no serviceName",)),
    Case("statefulset-service-exists", "exempted", [edit(STATEFUL, "metadata.annotations", {"policies.gosvc.dev/exempt-statefulset-service-exists": "a single replica nobody addresses by name"})]),
    Case("service-target-ports-exist", "compliant", SERVICE),
    Case("service-target-ports-exist", "undeclared-name", changed("Service", {"spec.ports[0].targetPort": "web"}), ("Service shop/hello: targetPort 'web' names no container port of the pods it selects (Deployment shop/hello)",)),
    Case("service-target-ports-exist", "number-is-not-judged", changed("Service", {"spec.ports[0].targetPort": 8081})),
    Case("service-target-ports-exist", "invalid-name", changed("Service", {"spec.ports[0].targetPort": "Http_Port"}), ("targetPort 'Http_Port' is not a valid IANA service name",)),
    Case("service-target-ports-exist", "container-port-name-too-long", changed("Deployment", {f"{APP}.ports[0].name": "http-for-the-world"}), ("port name 'http-for-the-world' is not a valid IANA service name", "targetPort 'http' names no container port")),
    Case("service-target-ports-exist", "selects-nothing-is-selectors-match", changed("Service", {"spec.selector": {"app": "nobody"}, "spec.ports[0].targetPort": "web"})),
    Case("service-target-ports-exist", "opaque-namespace", [*changed("Service", {"spec.ports[0].targetPort": "web"}), UNRENDERABLE]),
]


@pytest.mark.parametrize("case", [c.param() for c in CASES])
def test_reference_policy(case: Case):
    case.check()


@pytest.mark.parametrize("name,valid", [("http", True), ("metrics", True), ("web-8080", True), ("a" * 15, True), ("a" * 16, False), ("8080", False), ("-http", False), ("http-", False), ("h--p", False), ("HTTP", False), ("http_port", False)])
def test_port_names_follow_rfc_6335(name, valid):
    assert valid_port_name(name) is valid


def test_unknown_service_account_or_ports_during_preview_are_not_judged():
    unknown_account = [edit(DEPLOY, f"{POD}.serviceAccountName", UNKNOWN_STRING_VALUE)]
    assert run(BY_NAME["service-account-exists"], stack_args(unknown_account)).messages == []
    unknown_target = changed("Service", {"spec.ports[0].targetPort": UNKNOWN_STRING_VALUE})
    assert run(BY_NAME["service-target-ports-exist"], stack_args(unknown_target)).messages == []
    assert evaluate("service-account-exists", without("ServiceAccount")).urns == ["urn:pulumi:test::gosvc::gosvc:index:GoService$kubernetes:apps/v1:Deployment::deployment-hello"]
