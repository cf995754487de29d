"""Offline policy check: the real policy pack, driven over the Analyzer protocol the way the Pulumi engine drives it.

    python -m tools.offline.synth --stack dev --policy-pack policies --policy-pack-config policies/config/dev.json
    python -m tools.offline.policy_runner --resources build/dev/resources.json --stack dev --policy-pack policies

The pack runs as its own process, started as the engine starts a Python policy pack
(`python -u -m pulumi.policy <engine-address> .` in the pack directory, with the pack's
virtualenv when it has one); it prints the port of its gRPC Analyzer server. Over the
generated stubs of `pulumi.runtime.proto` this module then calls GetAnalyzerInfo,
Configure (the config file reconciled with the policies' schema defaults and validated
against their schemas, as the engine does), Remediate (when a policy is at level
`remediate`), Analyze for every resource and AnalyzeStack once, and always stops the
process. Properties travel as a protobuf Struct, so the pack sees numbers as floats and
secrets in the engine's secret envelope, exactly as under `pulumi preview`.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import re
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, TextIO

import grpc
import jsonschema
import yaml
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime import rpc
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

from tools.offline import policy_report
from tools.offline.engine import Registration, Run
from tools.offline.policy_report import Report, Undecidable, Violation
from policies.rules.definition import parse_undecided

ENGINE_ADDRESS = "127.0.0.1:0"
"""Passed where the engine passes its own address; the Python policy SDK never dials it."""
LEVELS = {
    "advisory": analyzer_pb2.ADVISORY,
    "mandatory": analyzer_pb2.MANDATORY,
    "remediate": analyzer_pb2.REMEDIATE,
    "disabled": analyzer_pb2.DISABLED,
}
LEVEL_NAMES = {v: k for k, v in LEVELS.items()}
SEVERITY_NAMES = {
    analyzer_pb2.POLICY_SEVERITY_UNSPECIFIED: "unspecified",
    analyzer_pb2.POLICY_SEVERITY_LOW: "low",
    analyzer_pb2.POLICY_SEVERITY_MEDIUM: "medium",
    analyzer_pb2.POLICY_SEVERITY_HIGH: "high",
    analyzer_pb2.POLICY_SEVERITY_CRITICAL: "critical",
}
SEVERITY_ORDER = ("critical", "high", "medium", "low", "unspecified")
_MAX_MESSAGE = 400 * 1024 * 1024
_PATH_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


class PolicyPackError(RuntimeError):
    """The pack could not be started, or its config is invalid."""


# -- the pack's config file, reconciled the way the engine does before Configure -----------------------------------


@dataclass
class PolicySetting:
    level: str | None = None
    properties: dict[str, Any] | None = None


def load_config(path: Path | None) -> dict[str, PolicySetting]:
    """Parses a policy pack config file: each key maps to a level string or {enforcementLevel?, ...properties}."""
    if path is None:
        return {}
    text = Path(path).read_text()
    if not text.strip():
        return {}
    raw = json.loads(text)
    if not isinstance(raw, dict):
        raise PolicyPackError(f"{path}: must be a JSON object of policy name -> level or settings")
    result: dict[str, PolicySetting] = {}
    for name, value in raw.items():
        if isinstance(value, str):
            if value not in LEVELS:
                raise PolicyPackError(f"{path}: {name}: {value!r} is not an enforcement level ({', '.join(LEVELS)})")
            result[name] = PolicySetting(value, None)
        elif isinstance(value, dict):
            props = dict(value)
            level = props.pop("enforcementLevel", None)
            if level is not None and level not in LEVELS:
                raise PolicyPackError(f"{path}: {name}: enforcementLevel {level!r} is not one of {', '.join(LEVELS)}")
            if level is not None or props:
                result[name] = PolicySetting(level, props or None)
        else:
            raise PolicyPackError(f"{path}: {name}: {value!r} must be a string or an object")
    return result


def _apply(result: dict[str, PolicySetting], given: dict[str, PolicySetting]) -> None:
    if "all" in given and given["all"].level:
        for setting in result.values():
            setting.level = given["all"].level
    for name, setting in given.items():
        current = result.setdefault(name, PolicySetting())
        if setting.level:
            current.level = setting.level
        if setting.properties:
            current.properties = {**(current.properties or {}), **setting.properties}


def reconcile(info: analyzer_pb2.AnalyzerInfo, given: dict[str, PolicySetting]) -> dict[str, PolicySetting]:
    """Schema defaults, then the pack's initial config, then the file; validated against each policy's schema."""
    result: dict[str, PolicySetting] = {}
    schemas: dict[str, dict[str, Any]] = {}
    for policy in info.policies:
        properties = json_format.MessageToDict(policy.configSchema.properties)
        schemas[policy.name] = {"type": "object", "properties": properties, **({"required": list(policy.configSchema.required)} if policy.configSchema.required else {})}
        defaults = {k: v["default"] for k, v in properties.items() if isinstance(v, dict) and "default" in v}
        result[policy.name] = PolicySetting(LEVEL_NAMES[policy.enforcementLevel], defaults or None)
    initial = {
        name: PolicySetting(LEVEL_NAMES.get(cfg.enforcementLevel), json_format.MessageToDict(cfg.properties) or None)
        for name, cfg in info.initialConfig.items()
    }
    _apply(result, initial)
    _apply(result, given)
    errors = []
    for name, schema in schemas.items():
        if not schema["properties"] and "required" not in schema:
            continue
        validator = jsonschema.Draft7Validator(schema)
        for error in validator.iter_errors(result[name].properties or {}):
            where = ".".join(str(p) for p in error.absolute_path)
            errors.append(f"{name}: {where + ': ' if where else ''}{error.message}")
    if errors:
        raise PolicyPackError("policy pack config is invalid:\n  " + "\n  ".join(errors))
    return result


# -- registrations as the engine sends them ----------------------------------------------------------------------------


def _without_internal_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_internal_keys(v) for k, v in value.items() if not k.startswith("__")}
    if isinstance(value, list):
        return [_without_internal_keys(v) for v in value]
    return value


def _wrap_secrets(inputs: dict[str, Any], paths: Iterable[str]) -> dict[str, Any]:
    """Puts every recorded secret path back in the engine's secret envelope (the value stays masked)."""
    for path in paths:
        steps = [m.group(1) if m.group(1) is not None else int(m.group(2)) for m in _PATH_STEP.finditer(path)]
        if not steps or path == "$":
            continue
        parent: Any = inputs
        try:
            for step in steps[:-1]:
                parent = parent[step]
            parent[steps[-1]] = {rpc._special_sig_key: rpc._special_secret_sig, "value": parent[steps[-1]]}  # noqa: SLF001
        except (KeyError, IndexError, TypeError):
            continue
    return inputs


def to_struct(props: dict[str, Any]) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(props)
    return struct


def analyzer_resource(reg: Registration) -> analyzer_pb2.AnalyzerResource:
    """One registration as an AnalyzerResource: type, name, URN, properties, parent, dependencies."""
    props = _wrap_secrets(_without_internal_keys(json.loads(json.dumps(reg.inputs))), reg.secret_paths)
    return analyzer_pb2.AnalyzerResource(
        type=reg.type,
        name=reg.name,
        urn=reg.urn,
        properties=to_struct(props),
        options=analyzer_pb2.AnalyzerResourceOptions(parent=reg.parent or ""),
        parent=reg.parent or "",
        dependencies=list(reg.dependencies),
    )


def analyze_request(resource: analyzer_pb2.AnalyzerResource) -> analyzer_pb2.AnalyzeRequest:
    return analyzer_pb2.AnalyzeRequest(
        type=resource.type, name=resource.name, urn=resource.urn, properties=resource.properties, options=resource.options
    )


def registrations_from_json(path: Path) -> list[Registration]:
    """The registrations a synth wrote to resources.json."""
    return [
        Registration(
            type=r["type"],
            name=r["name"],
            urn=r["urn"],
            parent=r.get("parent", ""),
            custom=r.get("custom", True),
            dependencies=r.get("dependencies", []),
            inputs=r.get("inputs", {}),
            secret_paths=r.get("secretPaths", []),
        )
        for r in json.loads(Path(path).read_text())
    ]


# -- the pack process --------------------------------------------------------------------------------------------------


def pack_python(pack_dir: Path) -> str:
    """The interpreter the engine would use: the pack's virtualenv from PulumiPolicy.yaml when it exists, else this one."""
    manifest = yaml.safe_load((pack_dir / "PulumiPolicy.yaml").read_text()) or {}
    runtime = manifest.get("runtime")
    venv = runtime.get("options", {}).get("virtualenv") if isinstance(runtime, dict) else None
    if venv:
        candidate = (pack_dir / venv / "bin" / "python").resolve()
        if candidate.is_file():
            return str(candidate)
    return sys.executable


class PolicyPackProcess:
    """A running policy pack and a client of its Analyzer service; use as a context manager so it always stops."""

    def __init__(self, pack_dir: Path, *, python: str | None = None, project: str = "gosvc", stack: str = "offline", timeout: float = 60):
        self.pack_dir = Path(pack_dir).resolve()
        if not (self.pack_dir / "PulumiPolicy.yaml").is_file():
            raise PolicyPackError(f"{pack_dir}: no PulumiPolicy.yaml; not a policy pack directory")
        self.python = python or pack_python(self.pack_dir)
        self.project, self.stack, self.timeout = project, stack, timeout
        self.process: subprocess.Popen[bytes] | None = None
        self.channel: grpc.Channel | None = None
        self.stub: analyzer_pb2_grpc.AnalyzerStub | None = None
        self.levels: dict[str, str] = {}
        self._stderr = tempfile.TemporaryFile()
        self._drain: threading.Thread | None = None
        self._info: analyzer_pb2.AnalyzerInfo | None = None

    def __enter__(self) -> PolicyPackProcess:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def start(self) -> None:
        """Starts the pack and connects to it; on any failure the process is stopped before the error propagates."""
        try:
            self._launch()
        except BaseException:
            self.stop()
            raise

    def _launch(self) -> None:
        env = {**os.environ, "PULUMI_PROJECT": self.project, "PULUMI_STACK": self.stack, "PULUMI_DRY_RUN": "true"}
        self.process = subprocess.Popen(
            [self.python, "-u", "-m", "pulumi.policy", ENGINE_ADDRESS, "."],
            cwd=self.pack_dir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
        )
        lines: queue.Queue[bytes] = queue.Queue()

        def drain(stream: Any) -> None:  # keeps reading so the pack never blocks on a full pipe
            for line in iter(stream.readline, b""):
                lines.put(line)
            lines.put(b"")

        self._drain = threading.Thread(target=drain, args=(self.process.stdout,), daemon=True)
        self._drain.start()
        try:
            first = lines.get(timeout=self.timeout).decode().strip()
        except queue.Empty:
            first = ""
        if not first.isdigit():
            if self.process.poll() is None:
                self.process.terminate()
            self.process.wait(timeout=10)
            raise PolicyPackError(f"policy pack {self.pack_dir} did not print its port (got {first!r}):\n{self.stderr()}")
        self.channel = grpc.insecure_channel(f"127.0.0.1:{first}", options=[("grpc.max_receive_message_length", _MAX_MESSAGE)])
        grpc.channel_ready_future(self.channel).result(timeout=self.timeout)
        self.stub = analyzer_pb2_grpc.AnalyzerStub(self.channel)
        try:
            self.stub.Handshake(
                analyzer_pb2.AnalyzerHandshakeRequest(engine_address=ENGINE_ADDRESS, root_directory=str(self.pack_dir), program_directory=str(self.pack_dir))
            )
        except grpc.RpcError as err:
            if err.code() != grpc.StatusCode.UNIMPLEMENTED:  # older SDKs have no Handshake; the engine carries on too
                raise

    def stop(self) -> None:
        if self.channel is not None:
            self.channel.close()
            self.channel = None
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._drain is not None:
            self._drain.join(timeout=10)  # the pipe ends with the process; then it can be closed
        if self.process is not None and self.process.stdout is not None:
            self.process.stdout.close()
        self._stderr.close()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stderr(self) -> str:
        """What the pack wrote to stderr so far (empty once stopped)."""
        if self._stderr.closed:
            return ""
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")

    def _rpc(self) -> analyzer_pb2_grpc.AnalyzerStub:
        if self.stub is None:
            raise PolicyPackError("the policy pack is not running")
        return self.stub

    def info(self) -> analyzer_pb2.AnalyzerInfo:
        if self._info is None:
            self._info = self._rpc().GetAnalyzerInfo(empty_pb2.Empty())
        return self._info

    def version(self) -> str:
        """The pack's version as the CLI reports it: PulumiPolicy.yaml's, else what the pack says (the Python SDK says 0.0.1)."""
        manifest = yaml.safe_load((self.pack_dir / "PulumiPolicy.yaml").read_text()) or {}
        return str(manifest.get("version") or self.info().version)

    def plugin_version(self) -> str:
        return self._rpc().GetPluginInfo(empty_pb2.Empty()).version

    def configure(self, given: dict[str, PolicySetting] | None = None, *, stack: str | None = None, dry_run: bool = True) -> dict[str, PolicySetting]:
        """Reconciles and validates `given` like the engine, then sends Configure and ConfigureStack."""
        settings = reconcile(self.info(), given or {})
        request = analyzer_pb2.ConfigureAnalyzerRequest(
            policyConfig={
                name: analyzer_pb2.PolicyConfig(enforcementLevel=LEVELS[s.level or "advisory"], properties=to_struct(s.properties or {}))
                for name, s in settings.items()
            }
        )
        self._rpc().Configure(request)
        self._rpc().ConfigureStack(analyzer_pb2.AnalyzerStackConfigureRequest(stack=stack or self.stack, project=self.project, dry_run=dry_run))
        self.levels = {name: s.level or "advisory" for name, s in settings.items()}
        return settings

    def analyze(self, resource: analyzer_pb2.AnalyzerResource) -> analyzer_pb2.AnalyzeResponse:
        return self._rpc().Analyze(analyze_request(resource))

    def remediate(self, resource: analyzer_pb2.AnalyzerResource) -> analyzer_pb2.RemediateResponse:
        return self._rpc().Remediate(analyze_request(resource))

    def analyze_stack(self, resources: list[analyzer_pb2.AnalyzerResource]) -> analyzer_pb2.AnalyzeResponse:
        return self._rpc().AnalyzeStack(analyzer_pb2.AnalyzeStackRequest(resources=resources))

    def evaluate(self, registrations: Iterable[Registration], *, stack: str) -> Report:
        """Remediate (if any policy is at that level), Analyze each resource, then AnalyzeStack; as the engine orders
        them. Each enabled policy ends up violated, passed or undecidable on each resource it concerns."""
        report = Report(stack, f"{self.info().name}@{self.version()}")
        regs = list(registrations)
        report.objects = {r.urn: described for r in regs if (described := kubernetes_object(r))}
        resources = [analyzer_resource(r) for r in regs]
        by_urn = {r.urn: r for r in resources}
        enabled = {name for name, level in self.levels.items() if level != "disabled"} if self.levels else {p.name for p in self.info().policies}
        of_type = {
            kind: [p.name for p in self.info().policies if p.policy_type == kind and p.name in enabled]
            for kind in (analyzer_pb2.POLICY_TYPE_RESOURCE, analyzer_pb2.POLICY_TYPE_STACK)
        }

        def where(urn: str) -> tuple[str, str]:
            target = by_urn.get(urn)
            return (target.type, target.name) if target else ("", "")

        def record(response: analyzer_pb2.AnalyzeResponse, policies: list[str], default_urn: str = "") -> None:
            decided: set[str] = set()
            for d in response.diagnostics:
                urn = d.urn or default_urn
                decided.add(d.policyName)
                if policy_report.is_preview_unknown(d.message):
                    report.undecidable.append(Undecidable(d.policyName, urn, d.message, *where(urn)))
                    continue
                report.violations.append(
                    Violation(
                        policy=d.policyName,
                        level=LEVEL_NAMES.get(d.enforcementLevel, str(d.enforcementLevel)),
                        severity=SEVERITY_NAMES.get(d.severity, "unspecified"),
                        message=d.message,
                        urn=urn,
                        resourceType=where(urn)[0],
                        resourceName=where(urn)[1],
                    )
                )
            for n in response.not_applicable:
                decided.add(n.policy_name)
                pairs = parse_undecided(n.reason)
                if pairs is None:
                    report.not_applicable[n.policy_name] = n.reason
                    continue
                for pair in pairs:
                    report.undecidable.append(Undecidable(n.policy_name, pair["urn"], pair["reason"], *where(pair["urn"])))
            for name in policies:
                if name not in decided:
                    report.passed.setdefault(name, []).append(default_urn)

        if "remediate" in self.levels.values():
            for resource in resources:
                for remediation in self.remediate(resource).remediations:
                    if remediation.HasField("properties"):
                        resource.properties.CopyFrom(remediation.properties)
                        report.remediations.append({"policy": remediation.policyName, "urn": resource.urn, "resourceType": resource.type, "resourceName": resource.name})
        for resource in resources:
            record(self.analyze(resource), of_type[analyzer_pb2.POLICY_TYPE_RESOURCE], resource.urn)
        record(self.analyze_stack(resources), of_type[analyzer_pb2.POLICY_TYPE_STACK], policy_report.STACK)
        return report


def kubernetes_object(reg: Registration) -> str:
    """'Deployment gosvc-dev/hello' for a Kubernetes object's registration, '' for anything else."""
    if not reg.type.startswith("kubernetes:") or not isinstance(reg.inputs, dict):
        return ""
    meta = reg.inputs.get("metadata") if isinstance(reg.inputs.get("metadata"), dict) else {}
    name, namespace = meta.get("name"), meta.get("namespace")
    kind = reg.type.rsplit(":", 1)[-1]
    if not isinstance(name, str):
        return ""
    return f"{kind} {namespace + '/' if isinstance(namespace, str) and namespace else ''}{name}"


# -- output ------------------------------------------------------------------------------------------------------------


def render(report: Report) -> str:
    """The violations as a table per severity, most severe first."""
    lines = [
        f"policy pack {report.pack} on stack {report.stack}: {len(report.mandatory)} mandatory, "
        f"{len(report.violations) - len(report.mandatory)} advisory, {len(report.remediations)} remediated"
    ]
    for severity in SEVERITY_ORDER:
        rows = [v for v in report.violations if v.severity == severity]
        if not rows:
            continue
        rows.sort(key=lambda v: (v.level != "mandatory", v.policy, v.resourceName))
        header = ("LEVEL", "POLICY", "RESOURCE", "MESSAGE")
        table = [(v.level, v.policy, f"{v.resourceType.rsplit(':', 1)[-1]} {v.resourceName}".strip() or "stack", v.detail.replace("\n", " ")) for v in rows]
        widths = [max(len(r[i]) for r in [header, *table]) for i in range(3)]
        lines += ["", f"{severity.upper()} ({len(rows)})"]
        for row in [header, *table]:
            lines.append("  " + "  ".join(c.ljust(w) for c, w in zip(row[:3], widths, strict=True)) + "  " + row[3])
    for r in report.remediations:
        lines.append(f"remediated by {r['policy']}: {r['resourceType'].rsplit(':', 1)[-1]} {r['resourceName']}")
    return "\n".join(lines)


def check(
    registrations: Iterable[Registration] | Run,
    *,
    stack: str,
    pack_dir: Path,
    config_file: Path | None = None,
    out: Path | None = None,
    python: str | None = None,
    stream: TextIO | None = None,
) -> int:
    """Runs the pack over a stack's registrations; writes out/policy-report.{json,sarif,md}; 1 if a mandatory violation remains."""
    stream = stream or sys.stdout
    regs = registrations.registrations if isinstance(registrations, Run) else list(registrations)
    try:
        given = load_config(config_file)
        with PolicyPackProcess(pack_dir, python=python, stack=stack) as pack:
            unknown = sorted(set(given) - {p.name for p in pack.info().policies} - {"all"})
            if unknown:
                print(f"warning: {config_file} configures policies the pack does not have: {', '.join(unknown)}", file=stream)
            pack.configure(given, stack=stack)
            report = pack.evaluate(regs, stack=stack)
    except (PolicyPackError, json.JSONDecodeError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if out is not None:
        policy_report.write(report, out)
    print(render(report), file=stream)
    return 1 if report.mandatory else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.offline.policy_runner", description=__doc__.splitlines()[0])
    parser.add_argument("--resources", type=Path, required=True, help="a synth's resources.json")
    parser.add_argument("--stack", required=True, help="stack name, for the report")
    parser.add_argument("--policy-pack", type=Path, default=Path("policies"), help="policy pack directory")
    parser.add_argument("--policy-pack-config", type=Path, help="the pack's config JSON, e.g. policies/config/dev.json")
    parser.add_argument("--out", type=Path, help="directory for policy-report.json/.sarif/.md, default the resources file's")
    args = parser.parse_args(argv)
    return check(
        registrations_from_json(args.resources),
        stack=args.stack,
        pack_dir=args.policy_pack,
        config_file=args.policy_pack_config,
        out=args.out or args.resources.parent,
    )


if __name__ == "__main__":
    sys.exit(main())
