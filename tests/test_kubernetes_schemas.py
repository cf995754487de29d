"""Every synthesized Kubernetes object passes kubernetes-validate --strict, for 1.33 and the newest schema it ships."""

import re
import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import pytest

from tests.conftest import STACKS

CLI = Path(sys.executable).parent / "kubernetes-validate"
OLDEST = "1.33.0"


def newest_version():
    schemas = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
    versions = [m.group(1) for p in schemas.iterdir() if (m := re.fullmatch(r"v(\d+\.\d+\.\d+)-local-strict", p.name))]
    return max(versions, key=lambda v: tuple(map(int, v.split("."))))


CUSTOM_KINDS = ("servicemonitor-", "prometheusrule-", "podmonitor-")


@pytest.mark.parametrize("version", [OLDEST, newest_version()])
@pytest.mark.parametrize("stack", STACKS)
def test_strict_schema_validation(synth, stack, version):
    """Every file in k8s/; the Prometheus Operator's kinds have no schema here (the e2e tier's API server checks them)."""
    files = sorted(str(p) for p in (synth(stack).out / "k8s").glob("*.yaml"))
    custom = [f for f in files if Path(f).name.startswith(CUSTOM_KINDS)]
    assert files and custom, "nothing to validate"
    proc = subprocess.run([str(CLI), "--strict", "-k", version, *files], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count(" passed for resource ") == len(files) - len(custom), proc.stdout
    assert proc.stdout.count("Couldn't find schema for kind") == len(custom) and "ERROR" not in proc.stdout, proc.stdout


def test_strict_validation_catches_a_typo(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec:\n  replica: 2\n  selector: {matchLabels: {a: b}}\n  template: {metadata: {labels: {a: b}}, spec: {containers: [{name: c, image: i:1}]}}\n")
    proc = subprocess.run([str(CLI), "--strict", "-k", OLDEST, str(bad)], capture_output=True, text=True)
    assert proc.returncode != 0
