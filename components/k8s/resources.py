"""Container resource requirements and the Go runtime settings derived from them."""

from __future__ import annotations

from components.config import ResourcesSpec, quantity

MIB = 1024 * 1024


def requirements(spec: ResourcesSpec) -> dict:
    requests = {"cpu": spec.cpu_request, "memory": spec.memory_request}
    limits = {"memory": spec.effective_memory_limit}
    if spec.cpu_limit is not None:
        limits["cpu"] = spec.cpu_limit
    return {"requests": requests, "limits": limits}


def with_ephemeral_storage(requirements_: dict, size: str) -> dict:
    """`requirements_` with an ephemeral-storage request and limit of `size`: the kubelet evicts the pod when its
    emptyDirs, writable layers and logs outgrow the sum of its containers' limits, instead of the node's disk filling."""
    return {part: {**values, "ephemeral-storage": size} for part, values in requirements_.items()}


def gomemlimit(memory_limit: str, percent: int) -> str:
    """GOMEMLIMIT as whole MiB at `percent` of the container limit, so the GC works harder before the OOM killer acts."""
    limit_bytes = quantity(memory_limit)
    mib = int(limit_bytes * percent / 100 // MIB)
    if mib < 1:
        raise ValueError(f"memory limit {memory_limit} is too small for a GOMEMLIMIT")
    return f"{mib}MiB"


GO_SIZES_GOMAXPROCS = (1, 25)
"""From Go 1.25 the runtime sets GOMAXPROCS from the container's CPU limit and follows changes to it; an explicit
GOMAXPROCS switches that off, so the env is only for older Go."""


def runtime_sizes_gomaxprocs(go_version: str | None) -> bool:
    """Whether a binary built with `go_version` sizes GOMAXPROCS itself; unknown (None) counts as older."""
    if go_version is None:
        return False
    major, minor = (int(part) for part in go_version.split(".")[:2])
    return (major, minor) >= GO_SIZES_GOMAXPROCS


def go_runtime_env(container: str, spec: ResourcesSpec, percent: int, go_version: str | None = None) -> list[dict]:
    """GOMEMLIMIT from the memory limit, and for Go before 1.25 GOMAXPROCS from the CPU limit through the downward API."""
    env = [{"name": "GOMEMLIMIT", "value": gomemlimit(spec.effective_memory_limit, percent)}]
    if spec.cpu_limit is not None and not runtime_sizes_gomaxprocs(go_version):
        env.append(
            {
                "name": "GOMAXPROCS",
                "valueFrom": {"resourceFieldRef": {"containerName": container, "resource": "limits.cpu", "divisor": "1"}},
            }
        )
    return env
