"""The pack's own record of what it decided on each (policy, resource) pair, for reports the engine's events cannot make.

The Pulumi CLI passes violations on as events, but no not-applicable reason, and its passed lists only in
summary events that the Automation API drops. With `GOSVC_POLICY_OUTCOMES` naming a file, the pack appends
one JSON line per pair it evaluated: policy, urn ("" for a stack policy's outcome on the whole stack),
state and, for undecidable and not-applicable pairs, the reason. Unset, nothing is written; set, lines
are buffered and flushed after every stack policy (the engine's last call) and at exit.
"""

from __future__ import annotations

import atexit
import json
import os
from pathlib import Path
from typing import Any, BinaryIO

ENV = "GOSVC_POLICY_OUTCOMES"
VIOLATED, PASSED, UNDECIDABLE, NOT_APPLICABLE = "violated", "passed", "undecidable", "not-applicable"
STATES = (VIOLATED, PASSED, UNDECIDABLE, NOT_APPLICABLE)
STACK = ""
"""The urn of a stack policy's outcome on the whole stack."""


def _open() -> BinaryIO | None:
    path = os.environ.get(ENV)
    if not path:
        return None
    log = open(path, "ab")  # noqa: SIM115 (kept open for the process's life, closed at exit)
    atexit.register(log.close)
    return log


_LOG = _open()
"""Opened once at import: the pack process's environment does not change, and a rule checks only this."""


def enabled() -> bool:
    return _LOG is not None


def record(policy: str, urn: str, state: str, reason: str | None = None) -> None:
    """Appends one pair's outcome (a no-op unless the variable is set); one write, so the server's threads do not interleave."""
    if _LOG is None:
        return
    entry: dict[str, Any] = {"policy": policy, "urn": urn, "state": state}
    if reason is not None:
        entry["reason"] = reason
    _LOG.write((json.dumps(entry, sort_keys=True) + "\n").encode())


def flush() -> None:
    if _LOG is not None:
        _LOG.flush()


def read(path: Path) -> list[dict[str, str]] | None:
    """The records in `path`, None when the file does not exist (the pack never started with the variable set)."""
    if not path.is_file():
        return None
    entries = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    unknown = sorted({e.get("state") for e in entries} - set(STATES), key=str)
    if unknown:
        raise ValueError(f"{path}: unknown outcome state(s) {unknown}")
    return entries
