"""The one error type that bad configuration raises, so callers can tell it from a bug."""

from __future__ import annotations

from typing import Any

import pulumi


class ConfigError(pulumi.RunError, ValueError):
    """A configuration value is invalid.

    It is a `pulumi.RunError`, so `pulumi up` prints the message without a Python
    traceback, and a `ValueError`, so plain callers can catch it as one.
    """

    def __init__(self, key: str, value: Any, allowed: str):
        self.key = key
        self.value = value
        self.allowed = allowed
        super().__init__(f"{key}: invalid value {value!r}; {allowed}")

    def __reduce__(self):
        return (type(self), (self.key, self.value, self.allowed))
