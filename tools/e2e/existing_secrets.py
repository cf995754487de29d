"""What a platform team has in place before a LoggingPipeline with existing Secrets goes up: its namespaces,
labelled as the component would label them, and the Secrets it names, with fresh passwords and certificates."""

from __future__ import annotations

import secrets as random_source
from typing import Any

import kubernetes

from stacks import config as stack_config
from components.logging import component, elasticsearch
from components.logging import secrets as credential_secrets
from components.logging.config import LoggingSpec
from tools.e2e import pki

PIPELINE = "logging"
"""The name __main__.py gives its LoggingPipeline."""


def logging_spec(config: dict[str, Any]) -> LoggingSpec:
    spec = stack_config.load(config).logging
    if spec is None or not spec.enabled:
        raise ValueError("the stack config deploys no logging pipeline")
    return spec


def namespace_manifests(spec: LoggingSpec) -> list[dict]:
    return list(component.namespaces(PIPELINE, spec).values())


def secret_manifests(spec: LoggingSpec) -> list[dict]:
    """One Secret per credential the spec names as existing, holding exactly the keys docs/logging.md lists (Credentials)."""
    tls = pki.server_certificate("elasticsearch", elasticsearch.certificate_dns_names(spec))
    values = {
        credential_secrets.PASSWORD_KEY: None,
        credential_secrets.SECURITY_KEY: None,
        credential_secrets.SAVED_OBJECTS_KEY: None,
        credential_secrets.CA_KEY: tls.ca_cert,
        credential_secrets.CERT_KEY: tls.cert,
        credential_secrets.KEY_KEY: tls.key,
    }
    manifests = []
    for credential, keys in credential_secrets.REQUIRED_KEYS.items():
        name = getattr(spec.existing_secrets, credential)
        if name is None:
            continue
        data = {key: values[key] or random_source.token_hex(24) for key in keys}
        manifests.append(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": name, "namespace": spec.namespace},
                "type": "kubernetes.io/tls" if credential == "certificates" else "Opaque",
                "stringData": data,
            }
        )
    return manifests


def create(api: kubernetes.client.ApiClient, config: dict[str, Any]) -> LoggingSpec:
    """Creates the namespaces and Secrets a stack config's pipeline expects to find; returns its spec."""
    spec = logging_spec(config)
    core = kubernetes.client.CoreV1Api(api)
    for manifest in namespace_manifests(spec):
        core.create_namespace(manifest)
    for manifest in secret_manifests(spec):
        core.create_namespaced_secret(spec.namespace, manifest)
    return spec
