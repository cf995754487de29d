"""The pack over real program output: every stack passes with its config, the bad program trips every policy,
and the offline runner behind `python -m tools.offline.synth --policy-pack` reports, exits and cleans up as documented."""

from __future__ import annotations

import importlib.util
import io
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tools.offline import engine, policy_runner
from tools.offline.policy_runner import load_config, reconcile, registrations_from_json
from policies.rules import BY_NAME, EXEMPT_PREFIX, POLICIES

pytest_plugins = ["policy_pack_plugin"]

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "policies" / "config"
STACKS = ("dev", "staging", "prod")
# Who may carry an exemption, and for what (the contract between the issues).
EXEMPTIONS_ALLOWED = {
    ("DaemonSet", "filebeat"): {"no-host-path", "run-as-non-root"},
    # The node tuning that sets vm.max_map_count, in Filebeat's privileged namespace; Elasticsearch itself is restricted.
    ("DaemonSet", "elasticsearch"): {"no-privileged", "no-privilege-escalation", "run-as-non-root"},
}


def bad_program_run() -> engine.Run:
    spec = importlib.util.spec_from_file_location("bad_program", ROOT / "tests" / "fixtures" / "bad_program" / "program.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return engine.run(module.program, stack="bad")


@pytest.mark.parametrize("stack", STACKS)
def test_every_stack_has_no_mandatory_violation_under_its_config(synth, policy_pack, stack):
    out = synth(stack)
    regs = registrations_from_json(out.out / "resources.json")
    policy_pack.configure(load_config(CONFIG / f"{stack}.json"), stack=stack)
    report = policy_pack.evaluate(regs, stack=stack)
    assert not report.mandatory, "\n" + policy_runner.render(report)
    assert {"kubernetes:apps/v1:Deployment", "gosvc:index:GoImage"} <= {r.type for r in regs}
    # the rules about the other components really ran wherever those components are deployed
    objects = out.objects()
    if any(str(o.get("apiVersion", "")).startswith("monitoring.coreos.com/") for o in objects):
        assert "metrics-scraped" not in report.not_applicable
    if any("server.properties" in (o.get("data") or {}) for o in objects if o.get("kind") == "ConfigMap"):
        assert "kafka-durability" not in report.not_applicable


@pytest.mark.parametrize("stack", STACKS)
def test_only_filebeat_and_elasticsearch_carry_exemptions(synth, stack):
    for obj in synth(stack).objects():
        annotations = (obj.get("metadata") or {}).get("annotations") or {}
        exempted = {k[len(EXEMPT_PREFIX) :] for k in annotations if k.startswith(EXEMPT_PREFIX)}
        if not exempted:
            continue
        who = (obj.get("kind"), (obj.get("metadata") or {}).get("labels", {}).get("app.kubernetes.io/name"))
        assert who in EXEMPTIONS_ALLOWED, f"{stack}: {who} carries exemptions {exempted}"
        assert exempted <= EXEMPTIONS_ALLOWED[who], f"{stack}: {who} exempts {exempted - EXEMPTIONS_ALLOWED[who]}"
        assert all(annotations[EXEMPT_PREFIX + p].strip() for p in exempted)


def test_the_bad_program_trips_every_policy(policy_pack):
    policy_pack.configure({})
    report = policy_pack.evaluate(bad_program_run().registrations, stack="bad")
    assert {v.policy for v in report.violations} == {p.name for p in POLICIES}


def test_runner_exits_1_on_a_mandatory_violation_and_writes_the_report(tmp_path):
    stream = io.StringIO()
    code = policy_runner.check(bad_program_run(), stack="bad", pack_dir=ROOT / "policies", out=tmp_path, stream=stream)
    assert code == 1
    report = json.loads((tmp_path / "policy-report.json").read_text())
    assert report["summary"]["mandatory"] > 0 and report["stack"] == "bad"
    first = report["violations"][0]
    assert set(first) >= {"policy", "level", "severity", "resourceType", "resourceName", "message", "urn"}
    table = stream.getvalue()
    sections = [line.split(" (")[0] for line in table.splitlines() if line and line.split(" (")[0] in ("CRITICAL", "HIGH", "MEDIUM", "LOW")]
    assert sections == ["CRITICAL", "HIGH", "MEDIUM", "LOW"]  # grouped, most severe first


def _pack_processes_with(marker: str) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and marker.encode() in (proc / "environ").read_bytes():
                found.append(int(proc.name))
        except OSError:
            continue
    return found


def test_synth_cli_checks_a_stack_with_the_pack_and_stops_it(tmp_path):
    marker = f"GOSVC_POLICY_TEST={uuid.uuid4()}"
    out = tmp_path / "dev"
    proc = subprocess.run(
        [sys.executable, "-m", "tools.offline.synth", "--stack", "dev", "--out", str(out), "--policy-pack", "policies", "--policy-pack-config", "policies/config/dev.json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, marker.split("=")[0]: marker.split("=")[1]},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "policy pack gosvc-policies@0.1.0 on stack dev: 0 mandatory" in proc.stdout
    report = json.loads((out / "policy-report.json").read_text())
    assert report["summary"]["mandatory"] == 0 and report["policyPack"] == "gosvc-policies@0.1.0"
    assert (out / "resources.json").is_file()
    # the SARIF and Markdown reports beside it, of the same run (test_policy_reports checks their content)
    sarif = json.loads((out / "policy-report.sarif").read_text())
    assert len(sarif["runs"][0]["results"]) == len(report["violations"])
    assert f"#### Violations ({len(report['violations'])})" in (out / "policy-report.md").read_text()
    assert _pack_processes_with(marker) == []


def test_synth_cli_refuses_an_invalid_pack_config(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"run-as-non-root": {"enforcementLevel": "strict"}}))
    proc = subprocess.run(
        [sys.executable, "-m", "tools.offline.synth", "--stack", "dev", "--out", str(tmp_path / "dev"), "--policy-pack", "policies", "--policy-pack-config", str(bad)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 2 and "'strict' is not one of" in proc.stderr


@pytest.mark.parametrize("stack", STACKS)
def test_stack_configs_are_valid_for_the_pack(policy_pack, stack):
    given = load_config(CONFIG / f"{stack}.json")
    assert set(given) <= set(BY_NAME)
    settings = reconcile(policy_pack.info(), given)  # raises on anything the schemas refuse
    assert set(settings) == set(BY_NAME)


def test_dev_relaxes_a_few_rules_and_prod_relaxes_none(policy_pack):
    def levels(stack: str) -> dict[str, str]:
        return {name: s.level for name, s in reconcile(policy_pack.info(), load_config(CONFIG / f"{stack}.json")).items()}

    defaults = {p.name: p.enforcement_level.value for p in POLICIES}
    dev, prod = levels("dev"), levels("prod")
    relaxed_in_dev = {n for n, level in dev.items() if level == "advisory" and defaults[n] == "mandatory"}
    assert 0 < len(relaxed_in_dev) <= 3
    assert not {n for n, level in prod.items() if level != "mandatory" and defaults[n] == "mandatory"}
    assert prod["image-digest-pinned"] == "mandatory" and dev["image-digest-pinned"] == "advisory"
    assert set(prod.values()) <= {"mandatory", "advisory"}
