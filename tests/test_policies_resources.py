"""Requests, limits and GOMEMLIMIT policies."""

from __future__ import annotations

import pytest
from policy_harness import DELETE, Case, edit, edits, load

from policies.rules.resources import go_size

DEPLOY = load("compliant-service")[0]
POD = "spec.template.spec"
APP = f"{POD}.containers[0]"
INIT = f"{POD}.initContainers[0]"
RES = f"{APP}.resources"
MEMLIMIT = f"{APP}.env[1]"
THIRD_PARTY = edits(DEPLOY, {"pulumiParent": DELETE, f"{APP}.env": [{"name": "LOG_LEVEL", "value": "info"}]})

CASES = [
    Case("container-resources-required", "compliant", DEPLOY),
    Case("container-resources-required", "no-cpu-request", edit(DEPLOY, f"{RES}.requests.cpu", DELETE), ("container 'app' sets no requests.cpu",)),
    Case("container-resources-required", "init-without-resources", edit(DEPLOY, f"{INIT}.resources", DELETE), ("init container 'wait' sets no requests.cpu, requests.memory, limits.memory",)),
    Case("container-resources-required", "no-memory-limit", edit(DEPLOY, f"{RES}.limits", {"cpu": "1"}), ("sets no limits.memory",)),
    Case("container-resources-required", "cpu-limit-required-by-config", DEPLOY, ("init container 'wait' sets no limits.cpu",), {"requireCpuLimit": True}),
    Case("container-limits-not-below-requests", "compliant", DEPLOY),
    Case("container-limits-not-below-requests", "memory-limit-below", edit(DEPLOY, f"{RES}.limits.memory", "128Mi"), ("memory limit 128Mi is below its request 256Mi",)),
    Case("container-limits-not-below-requests", "units-compared-as-quantities", edits(DEPLOY, {f"{RES}.requests.cpu": "0.5", f"{RES}.limits.cpu": "500m"})),
    Case("container-limits-not-below-requests", "numeric-quantities", edits(DEPLOY, {f"{RES}.requests.cpu": 1, f"{RES}.limits.cpu": 2})),
    Case("container-limits-not-below-requests", "not-a-quantity", edit(DEPLOY, f"{RES}.limits.cpu", "lots"), ("is not a Kubernetes quantity",)),
    Case("container-memory-limit-equals-request", "compliant", DEPLOY),
    Case("container-memory-limit-equals-request", "same-amount-other-unit", edits(DEPLOY, {f"{RES}.requests.memory": "1Gi", f"{RES}.limits.memory": "1024Mi"})),
    Case("container-memory-limit-equals-request", "burstable", edit(DEPLOY, f"{RES}.limits.memory", "512Mi"), ("memory limit 512Mi differs from its request 256Mi",)),
    Case("go-memlimit-set", "compliant", DEPLOY),
    Case("go-memlimit-set", "missing-in-go-service", edit(DEPLOY, MEMLIMIT, {"name": "LOG_FORMAT", "value": "json"}), ("no GOMEMLIMIT",)),
    Case("go-memlimit-set", "equal-to-limit", edit(DEPLOY, f"{MEMLIMIT}.value", "256MiB"), ("GOMEMLIMIT 256MiB is not below the 256Mi memory limit",)),
    Case("go-memlimit-set", "above-max-percent", edit(DEPLOY, f"{MEMLIMIT}.value", "250MiB"), ("above 95% of the 256Mi limit",)),
    Case("go-memlimit-set", "from-the-limit-itself", edit(DEPLOY, MEMLIMIT, {"name": "GOMEMLIMIT", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory"}}}), ("GOMEMLIMIT comes from resourceFieldRef",)),
    Case("go-memlimit-set", "not-a-go-size", edit(DEPLOY, f"{MEMLIMIT}.value", "230Mi"), ("'230Mi' is not a byte count",)),
    Case("go-memlimit-set", "plain-bytes", edit(DEPLOY, f"{MEMLIMIT}.value", str(200 * 1024 * 1024))),
    Case("go-memlimit-set", "not-a-go-program", THIRD_PARTY),
    Case("go-memlimit-set", "go-runtime-env-marks-go", edit(THIRD_PARTY, f"{APP}.env[1]", {"name": "GOGC", "value": "50"}), ("no GOMEMLIMIT",)),
    Case("go-memlimit-set", "go-image-pattern", THIRD_PARTY, ("no GOMEMLIMIT",), {"goImages": ["gosvc/hello"]}),
    Case("go-memlimit-set", "max-percent-from-config-as-float", DEPLOY, ("above 85% of the 256Mi limit",), {"maxPercentOfLimit": 85.0}),
]


@pytest.mark.parametrize("case", [c.param() for c in CASES])
def test_resources_policy(case: Case):
    case.check()


@pytest.mark.parametrize("text,size", [("230MiB", 230 << 20), ("1GiB", 1 << 30), ("1048576", 1 << 20), ("off", None), ("1.5GiB", None), ("230Mi", None)])
def test_go_size_reads_what_the_go_runtime_accepts(text, size):
    assert go_size(text) == size
