"""pytest plugin (`pytest_plugins = ["policy_pack_plugin"]`): the real policy pack process, once per test session.

A plugin rather than a fixture imported into test modules, so every module that asks for
`policy_pack` shares the one process; it is always stopped when the session ends.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tools.offline.policy_runner import PolicyPackProcess

PACK_DIR = Path(__file__).resolve().parent.parent / "policies"


@pytest.fixture(scope="session")
def policy_pack():
    """policies/__main__.py started as the engine starts it, with a client of its Analyzer service."""
    pack = PolicyPackProcess(PACK_DIR, stack="test")
    pack.start()
    try:
        yield pack
    finally:
        pack.stop()
        assert not pack.running
