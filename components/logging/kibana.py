"""Kibana: a Deployment wired to Elasticsearch as `kibana_system`, every credential from a Secret.

The password and the encryption keys reach the container only through secretKeyRef; the
shared encryption keys let several replicas read each other's sessions and saved objects.
"""

from __future__ import annotations

from typing import Any

from components.k8s import resources
from components.logging import elasticsearch, secrets, versions
from components.logging.config import LoggingSpec
from components.logging.pod import (
    Part,
    cluster_service,
    container_security,
    empty_dir,
    pod_disruption_budget,
    pod_security,
    secret_env,
    service_account,
    spread,
)

HTTP_PORT = 5601
HOME = "/usr/share/kibana"


def part(name: str, spec: LoggingSpec) -> Part:
    return Part("kibana", name, spec.namespace, "ui", versions.ELASTIC_VERSION)


def url(name: str, spec: LoggingSpec) -> str:
    return f"http://{part(name, spec).dns('kibana')}:{HTTP_PORT}"


def env(name: str, spec: LoggingSpec) -> list[dict]:
    """Settings as the image's environment variables; the secret ones by reference only.

    Secrets as env: Kibana reads these settings from kibana.yml, its keystore or the environment,
    never from a file named by a variable, so a file would mean assembling kibana.yml or the
    keystore from the Secret at every start onto an emptyDir, the same value in a less guarded place.
    """
    names = secrets.refs(spec)
    return [
        {"name": "SERVER_HOST", "value": "0.0.0.0"},
        {"name": "SERVER_NAME", "value": "kibana"},
        {"name": "ELASTICSEARCH_HOSTS", "value": f'["{elasticsearch.url(name, spec)}"]'},
        {"name": "ELASTICSEARCH_USERNAME", "value": "kibana_system"},
        secret_env("ELASTICSEARCH_PASSWORD", names.kibana_system, secrets.PASSWORD_KEY),
        {"name": "ELASTICSEARCH_SSL_CERTIFICATEAUTHORITIES", "value": f"{HOME}/certs/ca.crt"},
        secret_env("XPACK_SECURITY_ENCRYPTIONKEY", names.kibana_encryption_keys, secrets.SECURITY_KEY),
        secret_env("XPACK_ENCRYPTEDSAVEDOBJECTS_ENCRYPTIONKEY", names.kibana_encryption_keys, secrets.SAVED_OBJECTS_KEY),
        # /api/status answers without credentials, so the readiness probe can use it.
        {"name": "STATUS_ALLOWANONYMOUS", "value": "true"},
        {"name": "TELEMETRY_OPTIN", "value": "false"},
    ]


def deployment(name: str, spec: LoggingSpec) -> dict:
    p = part(name, spec)
    kb = spec.kibana
    container = {
        "name": "kibana",
        "image": spec.image(versions.KIBANA_IMAGE),
        "imagePullPolicy": "IfNotPresent",
        "env": env(name, spec),
        "ports": [{"name": "http", "containerPort": HTTP_PORT, "protocol": "TCP"}],
        "resources": resources.requirements(kb.resources),
        "securityContext": container_security(versions.APP_UID),
        "startupProbe": {"tcpSocket": {"port": "http"}, "periodSeconds": 5, "failureThreshold": 60, "timeoutSeconds": 3},
        "readinessProbe": {"httpGet": {"path": "/api/status", "port": "http"}, "periodSeconds": 10, "failureThreshold": 3, "timeoutSeconds": 5},
        "livenessProbe": {"tcpSocket": {"port": "http"}, "periodSeconds": 20, "failureThreshold": 3, "timeoutSeconds": 5},
        "volumeMounts": [
            {"name": "data", "mountPath": f"{HOME}/data"},
            {"name": "ca", "mountPath": f"{HOME}/certs", "readOnly": True},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": p.metadata(),
        "spec": {
            "replicas": kb.replicas,
            "selector": {"matchLabels": dict(p.selector)},
            "revisionHistoryLimit": 5,
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "template": {
                "metadata": {"labels": dict(p.labels)},
                "spec": {
                    "serviceAccountName": p.app,
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "terminationGracePeriodSeconds": 30,
                    "securityContext": pod_security(versions.APP_UID),
                    "affinity": spread(p),
                    "containers": [container],
                    "volumes": [
                        empty_dir("data", "256Mi"),
                        secrets.refs(spec).ca_volume(),
                        empty_dir("tmp", "256Mi"),
                    ],
                },
            },
        },
    }


def build(name: str, spec: LoggingSpec, creds: Any) -> dict[str, dict]:
    """Every Kibana object by role; `creds` carries the generated encryption keys (Outputs)."""
    p = part(name, spec)
    generated = {}
    if "kibana_encryption_keys" in secrets.refs(spec).generated:
        keys = {secrets.SECURITY_KEY: creds.kibana_security_key, secrets.SAVED_OBJECTS_KEY: creds.kibana_saved_objects_key}
        generated["encryption_secret"] = elasticsearch.secret(p, secrets.GENERATED["kibana_encryption_keys"], keys)
    return {
        "service_account": service_account(p),
        **generated,
        "service": cluster_service(p, "kibana", [{"name": "http", "port": HTTP_PORT, "targetPort": "http", "protocol": "TCP"}]),
        "deployment": deployment(name, spec),
        "pod_disruption_budget": pod_disruption_budget(p, stateful=False),
    }
