"""Package attributes loaded on first use (PEP 562), so importing one dependency-free module of a package
(the policy pack imports `components.logging.durability` in its own virtualenv) does not load the rest."""

from __future__ import annotations

import importlib
import sys
from typing import Any, Callable


def exports(package: str, public: dict[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """`__getattr__` and `__dir__` for `package`, whose public names (name -> defining module) load on first use."""

    def getattr_(name: str) -> Any:
        if name not in public:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(public[name]), name)
        setattr(sys.modules[package], name, value)
        return value

    def dir_() -> list[str]:
        return sorted({*vars(sys.modules[package]), *public})

    return getattr_, dir_
