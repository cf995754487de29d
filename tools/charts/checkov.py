"""Checkov over a synth's rendered Helm charts, held to the documented exceptions.

    python -m tools.charts.checkov --stack prod build/prod    # after `synth --stack prod --charts DIR`

Checkov runs from a virtualenv of its own (`checkov-requirements.txt`, in `$GOSVC_CHECKOV`, default
`~/.cache/gosvc/checkov/<hash>`), over the whole synth output so that the stack's own NetworkPolicies
count, and only findings on `helm/` files (the charts' objects) are judged: each must be listed in
`checkov_exceptions.yaml` with its reason, and each listed one must still fire. Exit 1 otherwise.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tools.e2e import build as e2e_build
from tools.e2e.build import BuildError

HERE = Path(__file__).resolve().parent
REQUIREMENTS = HERE / "checkov-requirements.txt"
EXCEPTIONS = HERE / "checkov_exceptions.yaml"
CACHE_ENV = "GOSVC_CHECKOV"


@dataclass(frozen=True, order=True)
class Finding:
    check: str
    resource: str
    file: str = ""


def install() -> Path:
    """The checkov executable of the pinned version, installed into its own virtualenv first if needed."""
    root = e2e_build.cache_dir(CACHE_ENV, "checkov") / hashlib.sha256(REQUIREMENTS.read_bytes() + sys.version.encode()).hexdigest()[:16]
    binary = root / "bin" / "checkov"
    if binary.is_file():
        return binary
    partial = root.with_name(root.name + ".partial")
    for cmd in ([sys.executable, "-m", "venv", "--clear", str(partial)], [str(partial / "bin" / "pip"), "install", "--quiet", "-r", str(REQUIREMENTS)]):
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise BuildError(f"install checkov: `{' '.join(cmd)}` exited {proc.returncode}\n{proc.stderr[-4000:]}")
    partial.rename(root)
    # The venv's scripts name the interpreter by its path at creation; run checkov through it instead.
    return binary


def scan(directory: Path, checkov: Path) -> tuple[list[Finding], dict[str, Any]]:
    """Checkov's failed checks on `directory` (as Findings with paths relative to it) and its summary."""
    cmd = [str(checkov.parent / "python"), str(checkov), "-d", ".", "--framework", "kubernetes", "-o", "json", "--quiet", "--compact"]
    proc = subprocess.run(cmd, cwd=directory, capture_output=True, text=True, timeout=900)
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"checkov exited {proc.returncode}: {proc.stderr[-3000:]}")
    report = json.loads(proc.stdout)
    if isinstance(report, list):
        report = next(r for r in report if r.get("check_type") == "kubernetes")
    failed = [Finding(f["check_id"], f["resource"], f["file_path"].removeprefix("./").lstrip("/")) for f in report["results"]["failed_checks"]]
    return sorted(failed), report["summary"]


def documented(stack: str, path: Path = EXCEPTIONS) -> dict[tuple[str, str], str]:
    """(check, resource) -> reason, for the exceptions that hold for `stack`."""
    allowed: dict[tuple[str, str], str] = {}
    for entry in yaml.safe_load(path.read_text()):
        if not str(entry.get("reason", "")).strip():
            raise ValueError(f"{path}: the exception for {entry.get('check')} gives no reason")
        if stack in entry.get("stacks", [stack]):
            for resource in entry["resources"]:
                allowed[(entry["check"], resource)] = entry["reason"]
    return allowed


def judge(findings: list[Finding], allowed: dict[tuple[str, str], str]) -> tuple[list[Finding], list[tuple[str, str]]]:
    """Chart findings no exception covers, and exceptions no chart finding needs."""
    charts = [f for f in findings if f.file.startswith("helm/")]
    seen = {(f.check, f.resource) for f in charts}
    return [f for f in charts if (f.check, f.resource) not in allowed], sorted(set(allowed) - seen)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.charts.checkov", description=__doc__.splitlines()[0])
    parser.add_argument("--stack", required=True, help="the stack the directory was synthesized for")
    parser.add_argument("directory", type=Path, help="a synth output directory rendered with --charts")
    args = parser.parse_args(argv)
    if not (args.directory / "helm").is_dir():
        print(f"error: {args.directory}/helm does not exist; run the synth with --charts first", file=sys.stderr)
        return 2
    findings, summary = scan(args.directory, install())
    unlisted, stale = judge(findings, documented(args.stack))
    charts = [f for f in findings if f.file.startswith("helm/")]
    print(f"checkov {summary.get('checkov_version')}: {summary['passed']} passed, {summary['failed']} failed; {len(charts)} on the charts")
    for f in unlisted:
        print(f"  NOT DOCUMENTED  {f.check}  {f.resource}  ({f.file})")
    for check, resource in stale:
        print(f"  STALE EXCEPTION {check}  {resource}: no longer fires; remove it from {EXCEPTIONS.name}")
    return 1 if unlisted or stale else 0


if __name__ == "__main__":
    sys.exit(main())
