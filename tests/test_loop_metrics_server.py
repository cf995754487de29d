"""The metrics-server the e2e tier installs (tools/loop/metrics_server.py), checked offline."""

from __future__ import annotations

from tools.loop import metrics_server


def _by_kind(objects):
    return {(o["kind"], o["metadata"]["name"]): o for o in objects}


def test_it_serves_metrics_k8s_io_from_its_service_and_may_read_kubelets_and_request_headers():
    objects = _by_kind(metrics_server.objects("img@sha256:" + "0" * 64))
    api = objects[("APIService", "v1beta1.metrics.k8s.io")]["spec"]
    service = objects[("Service", "metrics-server")]
    assert api["service"] == {"name": service["metadata"]["name"], "namespace": metrics_server.NAMESPACE, "port": service["spec"]["ports"][0]["port"]}
    assert service["spec"]["selector"] == objects[("Deployment", "metrics-server")]["spec"]["template"]["metadata"]["labels"]
    reader = objects[("RoleBinding", "metrics-server-auth-reader")]
    assert reader["metadata"]["namespace"] == "kube-system" and reader["roleRef"]["name"] == "extension-apiserver-authentication-reader"
    rules = objects[("ClusterRole", "system:metrics-server")]["rules"]
    assert {"apiGroups": [""], "resources": ["nodes/metrics"], "verbs": ["get"]} in rules
    subjects = {s["name"] for kind, _ in objects if kind.endswith("Binding") for s in objects[(kind, _)]["subjects"]}
    assert subjects == {"metrics-server"}


def test_the_pod_is_restricted_and_trusts_kubelets_only_when_told():
    strict = metrics_server.deployment("img", kubelet_insecure_tls=False)["spec"]["template"]["spec"]
    lax = metrics_server.deployment("img", kubelet_insecure_tls=True)["spec"]["template"]["spec"]
    assert "--kubelet-insecure-tls" not in strict["containers"][0]["args"] and "--kubelet-insecure-tls" in lax["containers"][0]["args"]
    container = strict["containers"][0]
    assert container["securityContext"]["readOnlyRootFilesystem"] and container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert strict["securityContext"]["runAsNonRoot"] and strict["securityContext"]["runAsUser"] >= 10000
    assert f"--metric-resolution={metrics_server.RESOLUTION_SECONDS}s" in container["args"]
