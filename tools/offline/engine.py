"""Runs a Pulumi program under Pulumi's own mock engine and records every registration.

This is what the offline synth and the tests use in place of `pulumi up`: the real
program and components run, and each resource the engine would be asked to create is
captured with its inputs, parent, dependencies and which values are secret. Values only
a real engine can know get explicit placeholders (see PLACEHOLDERS).
"""

from __future__ import annotations

import json
import logging
import os
import runpy
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import pulumi
import yaml
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc, settings

SECRET = "<secret>"
PLACEHOLDERS = {
    "digest": "sha256:<digest-known-after-push>",
    "registry_digest": "sha256:<digest-resolved-from-registry-at-pulumi-up>",
    "password": "<generated-by-random-at-pulumi-up>",
    "tls": "<generated-by-tls-at-pulumi-up>",
    "id": "<id-known-after-pulumi-up>",
}

TLS_OUTPUTS = {
    "tls:index/privateKey:PrivateKey": ("privateKeyPem", "privateKeyPemPkcs8", "publicKeyPem"),
    "tls:index/selfSignedCert:SelfSignedCert": ("certPem",),
    "tls:index/certRequest:CertRequest": ("certRequestPem",),
    "tls:index/locallySignedCert:LocallySignedCert": ("certPem",),
}
"""PEM outputs the tls provider computes at `pulumi up`; the mocks answer with the tls placeholder."""


@dataclass
class Registration:
    """One resource registration as the engine would receive it."""

    type: str
    name: str
    urn: str
    parent: str
    custom: bool
    dependencies: list[str]
    inputs: dict[str, Any]
    secret_paths: list[str] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    aliases: list[str] = field(default_factory=list)
    """Former identities: alias URNs, or the type an alias spec names."""
    ignore_changes: list[str] = field(default_factory=list)
    retain_on_delete: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "name": self.name,
            "urn": self.urn,
            "parent": self.parent,
            "custom": self.custom,
            "dependencies": sorted(self.dependencies),
            "inputs": self.inputs,
            "secretPaths": self.secret_paths,
        }


def _normalize(value: Any, path: str, secrets: list[str]) -> Any:
    """Unwraps secrets (recording their paths and masking them) and turns integral floats back into ints."""
    if rpc.is_rpc_secret(value):
        secrets.append(path or "$")
        inner = rpc.unwrap_rpc_secret(value)
        # A secret map (a Secret's stringData) keeps its keys, so the written manifest keeps its shape.
        return {k: SECRET for k in inner} if isinstance(inner, dict) else SECRET
    if isinstance(value, dict):
        return {k: _normalize(v, f"{path}.{k}" if path else k, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalize(v, f"{path}[{i}]", secrets) for i, v in enumerate(value)]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


READ_STATE = "pulumi:pulumi:readStackResourceOutputs"
"""The engine's built-in invoke returning a stack's resource outputs by URN."""


class RecordingMocks(pulumi.runtime.Mocks):
    """Answers like a provider would on create: inputs echo back, engine-only values are placeholders.

    `state` is what the engine's readStackResourceOutputs returns (URN -> type and outputs): empty,
    as for a stack's first `up`, unless a test plays a later one.
    """

    def __init__(self, state: dict[str, Any] | None = None) -> None:
        self.outputs_by_name: dict[tuple[str, str], dict[str, Any]] = {}
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.state = dict(state or {})

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict]:
        outputs = dict(args.inputs)
        if args.typ == "docker:index/image:Image":
            repo = str(outputs.get("imageName", "")).rsplit(":", 1)[0]
            outputs["repoDigest"] = "" if outputs.get("skipPush") else f"{repo}@{PLACEHOLDERS['digest']}"
        elif args.typ == "random:index/randomPassword:RandomPassword":
            outputs["result"] = PLACEHOLDERS["password"]
        elif args.typ in TLS_OUTPUTS:
            outputs.update({key: PLACEHOLDERS["tls"] for key in TLS_OUTPUTS[args.typ]})
        elif args.typ.startswith("kubernetes:") and isinstance(outputs.get("metadata"), dict):
            outputs["metadata"] = {"name": args.name, **outputs["metadata"]}
        self.outputs_by_name[(args.typ, args.name)] = outputs
        return (f"{args.name}-id" if args.custom else None), outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict, list]:
        self.calls.append((args.token, dict(args.args)))
        if args.token == READ_STATE:
            return {"name": args.args.get("stackName"), "outputs": self.state}, []
        if args.token == "docker:index/getRegistryImage:getRegistryImage":
            return {"name": args.args.get("name"), "sha256Digest": PLACEHOLDERS["registry_digest"]}, []
        return {}, []


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """The mock monitor, keeping what each RegisterResource request carried."""

    def __init__(self, mocks: RecordingMocks) -> None:
        super().__init__(mocks)
        self.registrations: list[Registration] = []

    def RegisterResource(self, request):  # noqa: N802 (gRPC method name)
        response = super().RegisterResource(request)
        if request.type == "pulumi:pulumi:Stack":
            return response
        secrets: list[str] = []
        inputs = _normalize(rpc.deserialize_properties(request.object, keep_unknowns=True), "", secrets)
        self.registrations.append(
            Registration(
                type=request.type,
                name=request.name,
                urn=response.urn,
                parent=request.parent,
                custom=bool(request.custom),
                dependencies=list(request.dependencies),
                inputs=inputs,
                secret_paths=secrets,
                aliases=[a.urn or a.spec.type for a in request.aliases] + list(request.aliasURNs),
                ignore_changes=list(request.ignoreChanges),
                retain_on_delete=bool(request.retainOnDelete),
            )
        )
        return response


@dataclass
class Run:
    """What one program run under mocks registered and exported."""

    stack: str
    registrations: list[Registration]
    outputs: dict[str, Any]
    error: BaseException | None = None
    messages: list[tuple[str, str]] = field(default_factory=list)
    """What the program logged through pulumi.log, as (level, message)."""
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    """Provider functions the program invoked, as (token, args)."""

    def warnings(self) -> list[str]:
        return [message for level, message in self.messages if level == "WARNING"]

    def provider_calls(self) -> list[tuple[str, dict[str, Any]]]:
        """Calls that a provider plugin would answer: all but the engine's own reads of the stack's state."""
        return [(token, args) for token, args in self.calls if token != READ_STATE]

    def state(self) -> dict[str, Any]:
        """This run as readStackResourceOutputs would return it after an `up`: URN -> type and outputs."""
        return {r.urn: {"type": r.type, "outputs": r.outputs} for r in self.registrations}

    def of_type(self, type_: str) -> list[Registration]:
        return [r for r in self.registrations if r.type == type_]

    def kubernetes_objects(self) -> list[dict[str, Any]]:
        """Every Kubernetes object (typed classes carry apiVersion and kind in their inputs)."""
        return [r.inputs for r in self.registrations if r.type.startswith("kubernetes:") and "kind" in r.inputs]


def stack_config(project_dir: Path, stack: str) -> dict[str, str]:
    """The config the engine would pass: Pulumi.yaml defaults under the stack file's values, as strings."""
    project = yaml.safe_load((project_dir / "Pulumi.yaml").read_text())
    name = project["name"]
    values: dict[str, Any] = {}
    for key, decl in (project.get("config") or {}).items():
        if isinstance(decl, dict) and "default" in decl:
            values[key if ":" in key else f"{name}:{key}"] = decl["default"]
    stack_dir = project_dir / project.get("stackConfigDir", ".")
    stack_file = stack_dir / f"Pulumi.{stack}.yaml"
    if not stack_file.is_file():
        known = sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in stack_dir.glob("Pulumi.*.yaml"))
        raise FileNotFoundError(f"no stack config {stack_file}; known stacks: {', '.join(known)}")
    for key, value in (yaml.safe_load(stack_file.read_text()).get("config") or {}).items():
        values[key if ":" in key else f"{name}:{key}"] = value
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in values.items()}


class _ListHandler(logging.Handler):
    def __init__(self, sink: list[tuple[str, str]]) -> None:
        super().__init__(logging.DEBUG)
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        self.sink.append((record.levelname, record.getMessage()))


def _collector(sink: list[tuple[str, str]]) -> logging.Logger:
    """A logger of its own per run, so messages from one run never leak into another."""
    logger = logging.getLogger(f"gosvc.engine.run{id(sink)}")
    logger.handlers = [_ListHandler(sink)]
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    return logger


@contextmanager
def _cwd(path: Path) -> Iterator[None]:
    before = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


def run(
    program: Callable[[], Any],
    *,
    stack: str = "test",
    project: str = "gosvc",
    config: dict[str, str] | None = None,
    preview: bool = False,
    raise_errors: bool = True,
    state: dict[str, Any] | None = None,
) -> Run:
    """Runs `program` under the mock engine with `config`, `state` standing for the stack's last deployment.

    An exception from the program propagates, or with `raise_errors=False` is returned in
    `Run.error` beside whatever was registered before it, so tests can prove nothing was.
    """
    mocks = RecordingMocks(state)
    monitor = RecordingMonitor(mocks)
    messages: list[tuple[str, str]] = []
    settings.ROOT.set(None)
    pulumi.runtime.set_mocks(mocks, project=project, stack=stack, preview=preview, monitor=monitor, logger=_collector(messages))
    pulumi.runtime.set_all_config(dict(config or {}), [])

    exported: dict[str, Any] = {}

    @pulumi.runtime.test
    def _body() -> pulumi.Output:
        program()
        root = settings.get_root_resource()
        outputs = dict(getattr(root, "outputs", {}) or {})
        return pulumi.Output.all(**outputs).apply(exported.update)

    error: BaseException | None = None
    try:
        _body()
    except Exception as err:  # noqa: BLE001 handed back to the caller
        if raise_errors:
            raise
        error = err
    for reg in monitor.registrations:
        reg.outputs = mocks.outputs_by_name.get((reg.type, reg.name), {})
    return Run(stack=stack, registrations=monitor.registrations, outputs=_normalize(exported, "", []), error=error, messages=messages, calls=mocks.calls)


def run_project(project_dir: Path, stack: str) -> Run:
    """Runs the project's `__main__.py` with that stack's config, as `pulumi up -s <stack>` would."""
    project_dir = project_dir.resolve()
    config = stack_config(project_dir, stack)
    with _cwd(project_dir):
        return run(lambda: runpy.run_path(str(project_dir / "__main__.py"), run_name="__main__"), stack=stack, config=config)
