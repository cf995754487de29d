"""Reads a Dockerfile's stages the way BuildKit resolves them: continuation lines, ARG scoping, stage references.

Only what the Go image rules need: each stage's base image (with `${ARG}` substituted from
the global ARG defaults and the build args), its instructions, and the variables a RUN
line sees (stage ARGs and ENVs, inherited from a stage it builds FROM).
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field

_DIRECTIVE = re.compile(r"^#\s*([a-zA-Z][a-zA-Z0-9_-]*)\s*=\s*(\S+)\s*$")
_HEREDOC = re.compile(r"<<-?\s*[\"']?([A-Za-z_][A-Za-z0-9_]*)[\"']?")
_VAR = re.compile(r"\$(?:\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?P<op>:[-+])?(?P<word>[^}]*)\}|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))")


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str
    line: int
    variables: dict[str, str] = field(default_factory=dict, compare=False)
    """The ARG and ENV values this instruction sees."""

    @property
    def expanded(self) -> str:
        return substitute(self.args, self.variables)


@dataclass
class Stage:
    index: int
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)
    variables: dict[str, str] = field(default_factory=dict)
    """ARG and ENV values in effect at the end of the stage (including those inherited from a parent stage)."""

    def of(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]


@dataclass
class Dockerfile:
    stages: list[Stage]

    @property
    def final(self) -> Stage | None:
        return self.stages[-1] if self.stages else None

    def stage(self, ref: str) -> Stage | None:
        """The earlier stage a FROM or COPY --from names (by name or index), if any."""
        for stage in self.stages:
            if stage.name and stage.name.lower() == ref.lower():
                return stage
        if ref.isdigit() and int(ref) < len(self.stages):
            return self.stages[int(ref)]
        return None

    def lineage(self, stage: Stage) -> list[Stage]:
        """The stage and the stages it builds FROM, nearest first."""
        chain = [stage]
        while (parent := self.stage(chain[-1].base)) is not None and parent.index < chain[-1].index and parent not in chain:
            chain.append(parent)
        return chain

    def image_of(self, stage: Stage) -> str:
        """The external image a stage finally builds on."""
        return self.lineage(stage)[-1].base


def substitute(text: str, variables: dict[str, str]) -> str:
    """Expands $VAR, ${VAR}, ${VAR:-word} and ${VAR:+word}; unknown variables are left as written."""

    def expand(match: re.Match[str]) -> str:
        name = match.group("braced") or match.group("bare")
        value = variables.get(name)
        op = match.group("op")
        if op == ":-":
            return value if value else match.group("word")
        if op == ":+":
            return match.group("word") if value else ""
        return value if value is not None else match.group(0)

    return _VAR.sub(expand, text)


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """(line number, instruction text) with continuations joined, comments and heredoc bodies folded in."""
    raw = text.splitlines()
    escape = "\\"
    for line in raw:
        match = _DIRECTIVE.match(line)
        if not match:
            break
        if match.group(1).lower() == "escape":
            escape = match.group(2)
    out: list[tuple[int, str]] = []
    i = 0
    while i < len(raw):
        start, current = i + 1, ""
        while i < len(raw):
            line = raw[i]
            i += 1
            if line.lstrip().startswith("#"):
                continue
            stripped = line.rstrip()
            if stripped.endswith(escape):
                current += stripped[: -len(escape)] + " "
                continue
            current += line
            break
        if not current.strip():
            continue
        for terminator in _HEREDOC.findall(current):
            body = []
            while i < len(raw) and raw[i].strip() != terminator:
                body.append(raw[i])
                i += 1
            i += 1
            current += "\n" + "\n".join(body)
        out.append((start, current.strip()))
    return out


def _arg(args: str) -> tuple[str, str | None]:
    name, eq, default = args.strip().partition("=")
    return name.strip(), (shlex.split(default)[0] if default.strip() else "") if eq else None


def _env(args: str) -> dict[str, str]:
    """ENV KEY=value ... or the legacy ENV KEY value."""
    try:
        words = shlex.split(args)
    except ValueError:
        return {}
    if words and "=" not in words[0]:
        return {words[0]: " ".join(words[1:])}
    return dict(w.split("=", 1) for w in words if "=" in w)


def parse(text: str, build_args: dict[str, str] | None = None) -> Dockerfile:
    build_args = dict(build_args or {})
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for number, line in _logical_lines(text):
        keyword, _, args = line.partition(" ")
        keyword, args = keyword.upper(), args.strip()
        if keyword == "FROM":
            words = [w for w in args.split() if not w.startswith("--")]
            base = substitute(words[0], global_args) if words else ""
            name = words[2] if len(words) >= 3 and words[1].lower() == "as" else None
            stage = Stage(len(stages), base, name)
            parent = next((s for s in stages if s.name and s.name.lower() == base.lower()), None)
            if parent is not None:
                stage.variables.update(parent.variables)
            stages.append(stage)
            continue
        if not stages:
            if keyword == "ARG":
                key, default = _arg(args)
                global_args[key] = build_args.get(key, default if default is not None else "")
            continue
        stage = stages[-1]
        if keyword == "ARG":
            key, default = _arg(args)
            if key in build_args:
                stage.variables[key] = build_args[key]
            elif default is not None:
                stage.variables[key] = substitute(default, stage.variables)
            elif key in global_args:
                stage.variables[key] = global_args[key]
        elif keyword == "ENV":
            stage.variables.update({k: substitute(v, stage.variables) for k, v in _env(args).items()})
        stage.instructions.append(Instruction(keyword, args, number, dict(stage.variables)))
    return Dockerfile(stages)
