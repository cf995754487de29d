"""The real Pulumi engine, driven through the Automation API with inline programs.

The CLI and the Kubernetes provider are the binaries `tools.e2e.build` made; the program runs
inside this Python process (the Automation API hosts the language runtime, so no Python
language host is needed); the policy pack runs as its own process, started by the CLI through
a launcher script; state lives in a local file backend with a passphrase secrets provider.
Each operation returns an `Operation` with what the engine reported step by step. A preview under
the pack also writes the three policy reports (tools/offline/policy_report.py) when the engine has a
directory for them: the CLI's policy events joined with the outcome record the pack keeps
(policies/rules/outcomes.py), which must agree on the violations.
"""

from __future__ import annotations

import os
import runpy
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import yaml
from pulumi import automation as auto

from policies.rules import PACK_NAME, outcomes
from tools.e2e import policy_events
from tools.e2e.build import Toolset
from tools.offline import policy_report

PASSPHRASE = "gosvc-e2e-throwaway"  # encrypts the secrets of a local test backend that is deleted after the run
OPERATION_TIMEOUT = 300.0
"""Seconds one engine command may take here (an up of a stack takes about 15): a stuck readiness wait fails fast."""
REPLACE_OPS = ("replace", "create-replacement", "delete-replaced")
NO_CHANGE_OPS = ("same", "read", "refresh")


@dataclass
class PolicyViolation:
    """One policy the pack reported against one resource."""

    policy: str
    level: str
    message: str
    urn: str | None

    def to_json(self) -> dict[str, Any]:
        return {"policy": self.policy, "level": self.level, "message": self.message, "urn": self.urn}


@dataclass
class Operation:
    """What one engine command did: each resource step, policy violations, the summary, output and error."""

    command: str
    succeeded: bool = False
    steps: list[tuple[str, str, str]] = field(default_factory=list)
    """(op, resource type, urn) for every step the engine announced."""
    violations: list[PolicyViolation] = field(default_factory=list)
    summary: dict[str, int] = field(default_factory=dict)
    output: str = ""
    error: str = ""
    seconds: float = 0.0
    timed_out: bool = False
    policy_log: list[dict[str, Any]] = field(default_factory=list)
    """The resource and policy events in the CLI's `--event-log` form, for the policy reports."""
    policy_report: Path | None = None
    """The directory the three policy reports of this preview were written to, if any."""

    @property
    def changes(self) -> int:
        """Steps that would change the stack: everything but same, read and refresh."""
        return sum(count for op, count in self.summary.items() if op not in NO_CHANGE_OPS)

    @property
    def changed_steps(self) -> list[tuple[str, str]]:
        """(op, resource type) of every step that changes the stack, in order."""
        return [(op, type_) for op, type_, _ in self.steps if op not in NO_CHANGE_OPS]

    def types(self, *ops: str) -> list[str]:
        return sorted({type_ for op, type_, _ in self.steps if op in ops})

    @property
    def replaced_types(self) -> list[str]:
        return self.types(*REPLACE_OPS)

    @property
    def updated_types(self) -> list[str]:
        return self.types("update")

    def record(self, event: auto.EngineEvent) -> None:
        if (logged := policy_events.logged(event)) is not None:
            self.policy_log.append(logged)
        if event.resource_pre_event is not None:
            meta = event.resource_pre_event.metadata
            self.steps.append((str(meta.op.value), meta.type, meta.urn))
        if event.policy_event is not None:
            p = event.policy_event
            self.violations.append(PolicyViolation(p.policy_name, p.enforcement_level, p.message.strip(), p.resource_urn))
        if event.summary_event is not None:
            self.summary = {str(op.value if hasattr(op, "value") else op): n for op, n in event.summary_event.resource_changes.items()}


def cli_children(cli: Path) -> list[int]:
    """PIDs of this process's children that run `cli`: the commands the Automation API started."""
    me, target, found = os.getpid(), cli.resolve(), []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            if parent == me and Path(os.readlink(entry / "exe")) == target:
                found.append(int(entry.name))
        except (OSError, ValueError, IndexError):
            continue
    return found


class Watchdog:
    """Interrupts the CLI after a timeout as Ctrl-C would (it cancels and saves state), then kills it if it lingers."""

    GRACE = 60.0

    def __init__(self, cli: Path, timeout: float, operation: Operation) -> None:
        self.cli, self.operation = cli, operation
        self.timers = [threading.Timer(timeout, self._signal, (signal.SIGINT,)), threading.Timer(timeout + self.GRACE, self._signal, (signal.SIGKILL,))]

    def _signal(self, sig: int) -> None:
        self.operation.timed_out = True
        for pid in cli_children(self.cli):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass

    def __enter__(self) -> "Watchdog":
        for timer in self.timers:
            timer.daemon = True
            timer.start()
        return self

    def __exit__(self, *_: object) -> None:
        for timer in self.timers:
            timer.cancel()


def project_program(project: Path) -> Callable[[], None]:
    """The project's own `__main__.py` as an inline program, run as `pulumi up` would run it."""

    def program() -> None:
        runpy.run_path(str(project / "__main__.py"), run_name="__main__")

    return program


def write_policy_launcher(path: Path, pack_dir: Path, python: str = sys.executable) -> Path:
    """An executable the CLI starts as the policy pack, with the engine's address as its only argument.

    It runs the real pack (`policies/__main__.py`) with this interpreter, exactly as the CLI's
    Python policy host would; the CLI cannot host a Python pack itself without the language host.
    """
    path.write_text(
        "#!/bin/sh\n"
        "# Started by the Pulumi CLI as a policy pack: $1 is the engine's address.\n"
        f"cd '{pack_dir}' && exec '{python}' -u -m pulumi.policy \"$1\" .\n"
    )
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


class RealEngine:
    """The built CLI and provider, a local backend, and the project's policy pack, for any number of stacks."""

    def __init__(self, toolset: Toolset, kubeconfig: Path, workdir: Path, project: Path, policy_reports: Path | None = None) -> None:
        self.toolset = toolset
        self.workdir = workdir.resolve()
        self.project = project.resolve()
        self.policy_reports = policy_reports.resolve() if policy_reports else None
        """Where each preview under the pack writes its reports, `<stack>/policy-report.*` (the stack's latest preview); None: none."""
        state = self.workdir / "state"
        shutil.rmtree(state, ignore_errors=True)
        state.mkdir(parents=True)
        self.env = {
            # the CLI finds the gosvc provider's launcher as an ambient plugin, run with this Python
            "PATH": os.pathsep.join([str(toolset.bin_dir), str(self.project / "provider" / "bin"), os.environ.get("PATH", "")]),
            "GOSVC_PYTHON": sys.executable,
            "PULUMI_HOME": str(self.workdir / "pulumi-home"),
            "PULUMI_BACKEND_URL": state.as_uri(),
            "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE,
            "PULUMI_SKIP_UPDATE_CHECK": "true",
            "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",  # the provider is the ambient one on PATH
            "KUBECONFIG": str(kubeconfig),
        }
        self.command = auto.PulumiCommand(root=str(toolset.root))
        self.policy_pack = write_policy_launcher(self.workdir / "policy-pack", self.project / "policies")

    def version(self) -> str:
        return str(self.command.version)

    def stack(self, name: str, config: dict[str, Any], program: Callable[[], None] | None = None, pack_config: str | None = None) -> "EngineStack":
        """A stack of the project (Pulumi.yaml copied as is) with `config` as its stack file.

        The stack file is written to a work directory of its own, never to `stacks/`: `stack init`
        adds an `encryptionsalt` to the file it reads.
        """
        workdir = self.workdir / "stacks" / name
        shutil.rmtree(workdir, ignore_errors=True)
        (workdir / "stacks").mkdir(parents=True)
        shutil.copyfile(self.project / "Pulumi.yaml", workdir / "Pulumi.yaml")
        (workdir / "stacks" / f"Pulumi.{name}.yaml").write_text(yaml.safe_dump({"config": config}, sort_keys=True))
        program = program or project_program(self.project)
        counted = _Counted(program)
        opts = auto.LocalWorkspaceOptions(work_dir=str(workdir), env_vars=self.env, pulumi_command=self.command, pulumi_home=self.env["PULUMI_HOME"])
        stack = auto.create_or_select_stack(stack_name=name, project_name="gosvc", program=counted, opts=opts)
        return EngineStack(self, stack, counted, pack_config or name)


    def program_stack(self, name: str, program_dir: Path, config: dict[str, Any] | None = None, pack_config: str = "dev") -> "EngineStack":
        """A stack of a program in another language (its own Pulumi.yaml), copied to a work directory of its own."""
        workdir = self.workdir / "programs" / program_dir.name / name
        shutil.rmtree(workdir, ignore_errors=True)
        shutil.copytree(program_dir, workdir)
        (workdir / f"Pulumi.{name}.yaml").write_text(yaml.safe_dump({"config": config or {}}, sort_keys=True))
        opts = auto.LocalWorkspaceOptions(env_vars=self.env, pulumi_command=self.command, pulumi_home=self.env["PULUMI_HOME"])
        stack = auto.create_or_select_stack(stack_name=name, work_dir=str(workdir), opts=opts)
        return EngineStack(self, stack, None, pack_config)

    def cli(self, *args: str, cwd: Path | None = None, timeout: float = OPERATION_TIMEOUT) -> subprocess.CompletedProcess:
        """The built CLI with this engine's environment, for commands the Automation API does not wrap."""
        return subprocess.run(
            [str(self.toolset.bin("pulumi")), *args], cwd=cwd or self.workdir, env={**os.environ, **self.env},
            capture_output=True, text=True, timeout=timeout,
        )


class _Counted:
    """An inline program that counts its runs, so a test can tell the engine refused before running it."""

    def __init__(self, program: Callable[[], None]) -> None:
        self.program = program
        self.runs = 0
        self.__name__ = getattr(program, "__name__", "program")  # the Automation API names programs in its reprs

    def __call__(self) -> None:
        self.runs += 1
        self.program()


@dataclass
class EngineStack:
    """One stack under the real engine."""

    engine: RealEngine
    stack: auto.Stack
    program: _Counted | None
    """The inline program, counting its runs; None for a program in another language."""
    pack_config: str

    @property
    def name(self) -> str:
        return self.stack.name

    def _policy(self, policy: bool) -> dict[str, Any]:
        if not policy:
            return {}
        config = self.engine.project / "policies" / "config" / f"{self.pack_config}.json"
        return {"policy_packs": [str(self.engine.policy_pack)], "policy_pack_configs": [str(config)]}

    def _run(self, command: str, call: Callable[..., Any], timeout: float = OPERATION_TIMEOUT, **kwargs: Any) -> Operation:
        operation = Operation(command)
        lines: list[str] = []
        started = time.monotonic()
        try:
            with Watchdog(self.engine.toolset.bin("pulumi"), timeout, operation):
                result = call(on_event=operation.record, on_output=lines.append, color="never", **kwargs)
            operation.succeeded = True
            if not operation.summary:
                summary = getattr(result, "change_summary", None) or getattr(getattr(result, "summary", None), "resource_changes", None) or {}
                operation.summary = {str(getattr(k, "value", k)): v for k, v in summary.items()}
        except auto.errors.CommandError as err:
            operation.error = (f"{command} timed out after {timeout:.0f} s and was interrupted\n" if operation.timed_out else "") + str(err)
        operation.output = "\n".join(lines)
        operation.seconds = round(time.monotonic() - started, 3)
        return operation

    def up(self, policy: bool = True) -> Operation:
        return self._run("up", self.stack.up, **self._policy(policy))

    def preview(self, policy: bool = True) -> Operation:
        """A preview; under the pack, with the engine's report directory, it writes the three policy reports
        (raises policy_events.Disagreement when the CLI's events and the pack's record disagree)."""
        out = self.engine.policy_reports / self.name if policy and self.engine.policy_reports else None
        if out is None:
            return self._run("preview", self.stack.preview, diff=True, **self._policy(policy))
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        record = out / "outcomes.jsonl"
        shared = self.stack.workspace.env_vars
        self.stack.workspace.env_vars = {**shared, outcomes.ENV: str(record)}  # this preview's pack process only
        try:
            op = self._run("preview", self.stack.preview, diff=True, **self._policy(policy))
        finally:
            self.stack.workspace.env_vars = shared
        found = outcomes.read(record)
        if found is None and not any("policyEvent" in e for e in op.policy_log):
            return op  # the engine refused before it started the pack
        report = policy_events.report(op.policy_log, stack=self.name, outcomes_record=found or [])
        report.pack = report.pack or PACK_NAME
        policy_report.write(report, out)
        op.policy_report = out
        return op

    def destroy(self) -> Operation:
        return self._run("destroy", self.stack.destroy)

    @property
    def stack_file(self) -> Path:
        return Path(self.stack.workspace.work_dir) / "stacks" / f"Pulumi.{self.name}.yaml"

    def write_config(self, config: dict[str, Any]) -> None:
        """Replaces the stack file's config, typed as a user writes it (the engine keeps its encryptionsalt)."""
        document = yaml.safe_load(self.stack_file.read_text()) or {}
        document["config"] = config
        self.stack_file.write_text(yaml.safe_dump(document, sort_keys=True))

    def kubernetes_objects(self) -> list[dict[str, str]]:
        """apiVersion, kind, namespace and name of every Kubernetes object in the stack's state."""
        found = []
        for resource in self.stack.export_stack().deployment.get("resources", []):
            if not resource["type"].startswith("kubernetes:"):  # providers are "pulumi:providers:kubernetes"
                continue
            outputs = resource.get("outputs") or {}
            meta = outputs.get("metadata") or {}
            found.append(
                {"type": resource["type"], "apiVersion": outputs.get("apiVersion"), "kind": outputs.get("kind"), "namespace": meta.get("namespace"), "name": meta.get("name")}
            )
        return found

    def remove(self) -> None:
        self.stack.workspace.remove_stack(self.name)
