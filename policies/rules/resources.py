"""Container requests and limits, and the Go runtime's memory limit beneath the container's."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any, Iterator, Mapping

from pulumi_policy import EnforcementLevel, Severity

from .definition import ResourceRule, Subject
from .kube import Container, containers
from .props import UNKNOWN, get, items, mapping, quantity

FAMILY = "resources"
GO_SERVICE = "gosvc:index:GoService"
GO_RUNTIME_ENV = ("GOMEMLIMIT", "GOMAXPROCS", "GOGC", "GODEBUG")
RESOURCE_SECTIONS = ("initContainers", "containers")  # ephemeral containers may not set resources
_GO_SIZE = re.compile(r"^(\d+)(B|KiB|MiB|GiB|TiB)?$")
_GO_UNITS = {None: 1, "B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40}


def _resource_containers(subject: Subject) -> Iterator[tuple[Container, dict[str, Any], dict[str, Any]]]:
    """(container, requests, limits) for containers whose resources are known."""
    if subject.template is None:
        return
    for container in containers(subject.template[1], RESOURCE_SECTIONS):
        resources = container.spec.get("resources")
        if resources is UNKNOWN or get(resources, "requests") is UNKNOWN or get(resources, "limits") is UNKNOWN:
            continue
        yield container, mapping(get(resources, "requests")), mapping(get(resources, "limits"))


def _missing(value: Any) -> bool:
    return value is None or value == ""


def _required(subject: Subject, settings: Mapping[str, Any]) -> Iterator[str]:
    wanted = [("requests", "cpu"), ("requests", "memory"), ("limits", "memory")]
    if settings.get("requireCpuLimit"):
        wanted.append(("limits", "cpu"))
    for container, requests, limits in _resource_containers(subject):
        absent = [f"{part}.{name}" for part, name in wanted if _missing((requests if part == "requests" else limits).get(name))]
        if absent:
            yield f"{container.label} sets no {', '.join(absent)}; the scheduler and the OOM killer need them"


def _limits_not_below(subject: Subject, _: Mapping[str, Any]) -> Iterator[str]:
    for container, requests, limits in _resource_containers(subject):
        for name in sorted(set(requests) & set(limits)):
            request, limit = requests[name], limits[name]
            if request is UNKNOWN or limit is UNKNOWN:
                continue
            req_q, lim_q = quantity(request), quantity(limit)
            if req_q is None or lim_q is None:
                yield f"{container.label}: {name} request {request!r} or limit {limit!r} is not a Kubernetes quantity"
            elif lim_q < req_q:
                yield f"{container.label}: {name} limit {limit} is below its request {request}; the API server rejects it"


def _memory_limit_equals_request(subject: Subject, _: Mapping[str, Any]) -> Iterator[str]:
    for container, requests, limits in _resource_containers(subject):
        request, limit = requests.get("memory"), limits.get("memory")
        if _missing(request) or _missing(limit) or UNKNOWN in (request, limit):
            continue
        if quantity(request) != quantity(limit):
            yield f"{container.label}: memory limit {limit} differs from its request {request}; pods that use more than they requested are evicted first under node pressure"


def _is_go(subject: Subject, container: Container, settings: Mapping[str, Any]) -> bool:
    """A GoService's container, one that sets a Go runtime variable, or an image matching goImages."""
    if subject.within(GO_SERVICE) and container.section == "containers":
        return True
    names = {get(e, "name") for e in items(container.spec.get("env"))}
    if names & set(GO_RUNTIME_ENV):
        return True
    image = container.spec.get("image")
    return isinstance(image, str) and any(re.search(p, image) for p in settings.get("goImages") or [] if isinstance(p, str))


def go_size(text: str) -> int | None:
    """Bytes of a GOMEMLIMIT value ('230MiB', '1073741824'); None for 'off' or anything the Go runtime would reject."""
    match = _GO_SIZE.match(text.strip())
    return int(match.group(1)) * _GO_UNITS[match.group(2)] if match else None


def _go_memlimit(subject: Subject, settings: Mapping[str, Any]) -> Iterator[str]:
    max_percent = Decimal(str(settings.get("maxPercentOfLimit", 95)))
    for container, _, limits in _resource_containers(subject):
        if not _is_go(subject, container, settings):
            continue
        limit = quantity(limits.get("memory"))
        if limit is None:
            continue
        if container.spec.get("env") is UNKNOWN:
            continue
        entries = [e for e in items(container.spec.get("env")) if get(e, "name") == "GOMEMLIMIT"]
        if not entries:
            yield f"{container.label} is a Go program with a {limits['memory']} memory limit but no GOMEMLIMIT; the GC will not work harder before the OOM killer acts. Set GOMEMLIMIT to about 90% of the limit"
            continue
        entry = mapping(entries[-1])
        value = entry.get("value")
        if value is UNKNOWN:
            continue
        if not isinstance(value, str):
            source = ", ".join(mapping(entry.get("valueFrom"))) or "nowhere"
            yield f"{container.label}: GOMEMLIMIT comes from {source}, so it cannot be checked against the {limits['memory']} limit; set it as a literal value below the limit"
            continue
        size = go_size(value)
        if size is None:
            yield f"{container.label}: GOMEMLIMIT {value!r} is not a byte count the Go runtime accepts (e.g. '230MiB')"
        elif size >= limit:
            yield f"{container.label}: GOMEMLIMIT {value} is not below the {limits['memory']} memory limit; set it to about 90% of the limit"
        elif Decimal(size) * 100 > limit * max_percent:
            yield f"{container.label}: GOMEMLIMIT {value} is above {max_percent}% of the {limits['memory']} limit, leaving too little for non-heap memory"


RULES = [
    ResourceRule(
        "container-resources-required",
        "Every container, init containers included, requests CPU and memory and has a memory limit.",
        severity=Severity.HIGH,
        family=FAMILY,
        covers={
            "kube-linter": ["unset-cpu-requirements", "unset-memory-requirements"],
            "polaris": ["cpuRequestsMissing", "memoryRequestsMissing", "memoryLimitsMissing"],
            "checkov": ["CKV_K8S_10", "CKV_K8S_12", "CKV_K8S_13"],
        },
        # kube-score's check also demands a CPU limit, which the pack deliberately does not (policies/crosswalk/differences.yaml).
        partly={"kube-score": ["container-resources"]},
        check=_required,
        params={"requireCpuLimit": {"type": "boolean", "default": False, "description": "Also require a CPU limit (disputed: CFS throttling)."}},
        remediation_steps="Set resources.requests.cpu, resources.requests.memory and resources.limits.memory on every container "
        "(GoService: gosvc:cpuRequest, gosvc:memoryRequest, gosvc:memoryLimit).",
    ),
    ResourceRule(
        "container-limits-not-below-requests",
        "No container's limit is below its request.",
        severity=Severity.HIGH,
        family=FAMILY,
        check=_limits_not_below,
        remediation_steps="Raise the limit to at least the request, or lower the request.",
    ),
    ResourceRule(
        "container-memory-limit-equals-request",
        "A container's memory limit equals its request, so memory is guaranteed rather than overcommitted.",
        severity=Severity.LOW,
        family=FAMILY,
        covers={"kube-score": ["container-memory-requests-equal-limits"]},
        # kube-score's combined check also wants CPU requests equal to CPU limits.
        partly={"kube-score": ["container-resource-requests-equal-limits"]},
        level=EnforcementLevel.ADVISORY,
        check=_memory_limit_equals_request,
        remediation_steps="Set resources.limits.memory equal to resources.requests.memory (GoService does when gosvc:memoryLimit is empty).",
    ),
    ResourceRule(
        "go-memlimit-set",
        "A Go container with a memory limit sets GOMEMLIMIT below it.",
        severity=Severity.MEDIUM,
        family=FAMILY,
        check=_go_memlimit,
        params={
            "maxPercentOfLimit": {
                "type": "number",
                "exclusiveMinimum": 0,
                "maximum": 100,
                "default": 95,
                "description": "Highest GOMEMLIMIT as a percentage of the memory limit.",
            },
            "goImages": {
                "type": "array",
                "items": {"type": "string"},
                "default": [],
                "description": "Regular expressions of images known to be Go programs, besides GoService containers and containers that set GO* runtime variables.",
            },
        },
        remediation_steps="Set env GOMEMLIMIT to about 90% of the memory limit in MiB (GoService derives it from gosvc:goMemLimitPercent).",
    ),
]
