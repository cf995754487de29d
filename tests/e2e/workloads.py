"""What the real-node modules ask of running workloads: their pods, a Service's address from this machine, a load."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import kubernetes


def pods(cluster, namespace: str, selector: str) -> list[Any]:
    """The pods `selector` matches that are not being deleted."""
    found = kubernetes.client.CoreV1Api(cluster.api()).list_namespaced_pod(namespace, label_selector=selector).items
    return [p for p in found if p.metadata.deletion_timestamp is None]


def ready(pod: Any) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in (pod.status.conditions or []))


def service_url(cluster, namespace: str, name: str, port_name: str, path: str = "") -> str:
    """`http://<cluster IP>:<port><path>`: kube-proxy on the real node makes Services reachable from this machine."""
    service = kubernetes.client.CoreV1Api(cluster.api()).read_namespaced_service(name, namespace)
    port = next(p.port for p in service.spec.ports if p.name == port_name)
    return f"http://{service.spec.cluster_ip}:{port}{path}"


def load(loadgen: Path, url: str, rate: int, seconds: float, keepalive: bool = True) -> dict[str, Any]:
    """`rate` requests per second for `seconds` (tools/size's load generator): what it achieved, and what failed.
    kube-proxy balances connections, not requests: without `keepalive` each request opens its own, as requests from
    many clients do, so they spread over the Service's pods."""
    argv = [str(loadgen), f"-rate={rate}", f"-duration={seconds}s", f"-targets={url}", "-max-workers=512", f"-keepalive={str(keepalive).lower()}"]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout)
    ok = result["status_codes"].get("200", 0)
    return {**{k: result[k] for k in ("offered_rps", "achieved_rps", "requests", "p99_seconds", "status_codes")}, "failed": result["requests"] - ok, "errors": result["errors"][:10]}
