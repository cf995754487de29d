"""ConfigMaps hold configuration, not credentials: ConfigMaps are readable by anyone who may read config,
unencrypted at rest and shown in diffs, where a Secret is none of these."""

from __future__ import annotations

import re
from typing import Any, Iterator, Mapping

from pulumi_policy import Severity

from .definition import ResourceRule, Subject
from .props import UNKNOWN, mapping
from .security import FILE_REFERENCE, SECRET_VALUE, secret_name

FAMILY = "config-maps"
_KEY_SEPARATORS = re.compile(r"[.\-]")
_CAMEL_HUMP = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def key_name(key: str) -> str:
    """A ConfigMap key as an environment variable name ('db.password' -> 'DB_PASSWORD', 'secretKey' -> 'SECRET_KEY'),
    for the shared name patterns."""
    return _KEY_SEPARATORS.sub("_", _CAMEL_HUMP.sub("_", key)).upper()


def _no_credentials(subject: Subject, settings: Mapping[str, Any]) -> Iterator[str]:
    if subject.kind != "ConfigMap":
        return
    allowed = {str(n).upper() for n in settings.get("allowedKeys") or []}
    for section in ("data", "binaryData"):
        for key, value in mapping(subject.props.get(section)).items():
            if value is UNKNOWN:
                continue
            found = next((what for pattern, what in SECRET_VALUE if isinstance(value, str) and pattern.search(value)), None)
            if found:
                yield f"{section} key '{key}' holds {found}; put it in a Secret"
            elif value and secret_name(key_name(key), allowed) and not (isinstance(value, str) and FILE_REFERENCE.match(value)):
                yield f"{section} key '{key}' is named like a credential; put it in a Secret and read it with secretKeyRef or a secret volume"


RULES = [
    ResourceRule(
        "configmap-no-credentials",
        "No ConfigMap key is named like a credential, and no value holds a private key, token or password-bearing URL.",
        severity=Severity.HIGH,
        family=FAMILY,
        check=_no_credentials,
        params={
            "allowedKeys": {
                "type": "array",
                "items": {"type": "string"},
                "default": [],
                "description": "Key names (as NAME_WITH_UNDERSCORES) that look like credentials but are not.",
            }
        },
        # Both linters match credential words anywhere in a key (`dbpassword`); the rule matches whole words, camelCase
        # split, so a run-together key passes.
        partly={"kube-linter": ["configmap-with-credentials"], "polaris": ["sensitiveConfigmapContent"]},
        remediation_steps="Move the value into a Secret and reference it with env[].valueFrom.secretKeyRef or a secret volume.",
    ),
]
