"""configmap-no-credentials: ConfigMaps whose key names or values hold credentials."""

from __future__ import annotations

import pytest
from policy_harness import Case, run, resource_args
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

from policies.rules import BY_NAME
from policies.rules.config_maps import key_name


def config_map(data: dict | None = None, binary: dict | None = None) -> dict:
    doc = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings", "namespace": "shop"}}
    if data is not None:
        doc["data"] = data
    if binary is not None:
        doc["binaryData"] = binary
    return doc


PEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIEow...\n-----END RSA PRIVATE KEY-----\n"

CASES = [
    Case("configmap-no-credentials", "compliant", config_map({"LOG_LEVEL": "info", "server.properties": "num.partitions=3\n", "password_file": "/run/secrets/db"})),
    Case("configmap-no-credentials", "empty", config_map()),
    Case("configmap-no-credentials", "password-key", config_map({"db.password": "hunter2"}), ("data key 'db.password' is named like a credential",)),
    Case("configmap-no-credentials", "api-key", config_map({"API_KEY": "abc123"}), ("data key 'API_KEY' is named like a credential",)),
    Case("configmap-no-credentials", "camel-case", config_map({"secretKey": "abc"}), ("data key 'secretKey' is named like a credential",)),
    Case("configmap-no-credentials", "binary-token", config_map(binary={"token": "c2VjcmV0"}), ("binaryData key 'token' is named like a credential",)),
    Case("configmap-no-credentials", "pem-under-an-innocent-key", config_map({"tls.pem": PEM}), ("data key 'tls.pem' holds a PEM private key",)),
    Case("configmap-no-credentials", "url-with-password", config_map({"upstream": "postgres://app:s3cret@db:5432/app"}), ("holds a URL with a password",)),
    Case("configmap-no-credentials", "empty-value-is-not-a-credential", config_map({"password": ""})),
    Case("configmap-no-credentials", "file-reference", config_map({"admin_password": "$__file{/etc/secrets/admin}"})),
    Case("configmap-no-credentials", "allowed-by-config", config_map({"token_ttl_hint": "x", "SESSION_SECRET_HEADER": "X-Session"}), (), {"allowedKeys": ["SESSION_SECRET_HEADER", "TOKEN_TTL_HINT"]}),
    Case("configmap-no-credentials", "other-kinds-are-not-judged", {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "shop"}, "stringData": {"password": "x"}}),
]


@pytest.mark.parametrize("case", [c.param() for c in CASES])
def test_config_map_policy(case: Case):
    case.check()


@pytest.mark.parametrize("key,name", [("db.password", "DB_PASSWORD"), ("api-key", "API_KEY"), ("plain", "PLAIN"), ("secretKey", "SECRET_KEY"), ("clientID", "CLIENT_ID")])
def test_keys_read_as_environment_names(key, name):
    assert key_name(key) == name


def test_an_unknown_value_during_preview_is_not_judged():
    doc = config_map({"password": UNKNOWN_STRING_VALUE})
    assert run(BY_NAME["configmap-no-credentials"], resource_args(doc)).messages == []
