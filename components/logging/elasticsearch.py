"""Elasticsearch: a StatefulSet of master-eligible data nodes with security on, and the Job that prepares it.

One node runs with `discovery.type: single-node`; more nodes get seed hosts and initial
master nodes derived from the replica count. TLS on transport and HTTP uses the certificates
the component generates; the `elastic` password comes from a Secret. The setup Job sets the
kibana_system password, creates Logstash's writer role and user, and sets the log indices'
replica count.
"""

from __future__ import annotations

import json
from typing import Any

import yaml

from components.k8s import resources
from components.logging import versions
from components.logging.config import LoggingSpec
from components.logging.pod import (
    Part,
    checksum,
    cluster_service,
    config_map,
    container_security,
    empty_dir,
    exemptions,
    headless_service,
    jvm_heap,
    pod_disruption_budget,
    pod_security,
    secret_env,
    service_account,
    spread,
    stateful_workload,
    volume_claim,
)

HTTP_PORT = 9200
TRANSPORT_PORT = 9300
SERVICE = "elasticsearch"
HEADLESS = "elasticsearch-headless"
CONFIG_KEY = "elasticsearch.yml"
HOME = "/usr/share/elasticsearch"
CERTS_SECRET = "elasticsearch-certs"
"""kubernetes.io/tls Secret with the node certificate, its key and the CA certificate."""
CA_SECRET = "elasticsearch-ca"
"""Only the CA certificate, for clients (Logstash, Kibana, the setup Job)."""
ELASTIC_SECRET = "elasticsearch-elastic"
KIBANA_SECRET = "kibana-elasticsearch"
LOGSTASH_SECRET = "logstash-elasticsearch"
PASSWORD_KEY = "password"
LOGSTASH_USER = "gosvc_logstash"
LOGSTASH_ROLE = "gosvc_logstash_writer"
DATA_STREAM = "logs-gosvc-default"
DAILY_INDEX_PREFIX = "gosvc-logs-"
SETUP_JOB = "elasticsearch-setup"
SETUP_CONFIG = "elasticsearch-setup"
MAX_MAP_COUNT = 262144


def part(name: str, spec: LoggingSpec) -> Part:
    return Part("elasticsearch", name, spec.namespace, "search", versions.ELASTIC_VERSION)


def url(name: str, spec: LoggingSpec) -> str:
    return f"https://{part(name, spec).dns(SERVICE)}:{HTTP_PORT}"


def node_names(spec: LoggingSpec) -> list[str]:
    return [f"elasticsearch-{i}" for i in range(spec.elasticsearch.nodes)]


def certificate_dns_names(spec: LoggingSpec) -> list[str]:
    """Names the node certificate answers to: the client Service and every pod behind the headless one."""
    ns = spec.namespace
    return [
        SERVICE,
        f"{SERVICE}.{ns}",
        f"{SERVICE}.{ns}.svc",
        f"{SERVICE}.{ns}.svc.cluster.local",
        f"*.{HEADLESS}.{ns}.svc",
        f"*.{HEADLESS}.{ns}.svc.cluster.local",
        "localhost",
    ]


def settings(name: str, spec: LoggingSpec) -> dict:
    """elasticsearch.yml as a dict."""
    es = spec.elasticsearch
    conf: dict[str, Any] = {
        "cluster.name": f"gosvc-{name}",
        "node.name": "${POD_NAME}",
        "node.roles": ["master", "data", "ingest"],
        "network.host": "0.0.0.0",
        "http.port": HTTP_PORT,
        "transport.port": TRANSPORT_PORT,
        "path.data": f"{HOME}/data",
        "path.logs": f"{HOME}/logs",
        "action.destructive_requires_name": True,
        "xpack.security.enabled": True,
        "xpack.security.transport.ssl.enabled": True,
        # Peers connect by pod IP, which no certificate can name in advance; the CA check still applies.
        "xpack.security.transport.ssl.verification_mode": "certificate",
        "xpack.security.transport.ssl.key": "certs/tls.key",
        "xpack.security.transport.ssl.certificate": "certs/tls.crt",
        "xpack.security.transport.ssl.certificate_authorities": ["certs/ca.crt"],
        "xpack.security.http.ssl.enabled": True,
        "xpack.security.http.ssl.key": "certs/tls.key",
        "xpack.security.http.ssl.certificate": "certs/tls.crt",
        "xpack.security.http.ssl.certificate_authorities": ["certs/ca.crt"],
    }
    if es.nodes == 1:
        conf["discovery.type"] = "single-node"
    else:
        conf["discovery.seed_hosts"] = [f"{n}.{HEADLESS}.{spec.namespace}.svc.cluster.local:{TRANSPORT_PORT}" for n in node_names(spec)]
        # Only read when a brand-new cluster forms; ignored once the cluster state exists on disk.
        conf["cluster.initial_master_nodes"] = node_names(spec)
    return conf


def config_text(name: str, spec: LoggingSpec) -> str:
    return yaml.safe_dump(settings(name, spec), sort_keys=False, width=1000)


def writer_role() -> dict:
    """Least privilege for Logstash: write documents and create the log indices or data stream, nothing else."""
    return {
        "cluster": ["monitor"],
        "indices": [
            {
                "names": [f"{DATA_STREAM.rsplit('-', 1)[0]}-*", f"{DAILY_INDEX_PREFIX}*"],
                "privileges": ["create_doc", "create", "write", "create_index", "auto_configure", "view_index_metadata"],
            }
        ],
    }


def index_settings(spec: LoggingSpec) -> tuple[str, dict]:
    """Where the replica count goes: the `logs@custom` component template (composed into the built-in
    `logs` template behind every logs-*-* data stream), or an index template for daily indices."""
    index = {"number_of_replicas": spec.elasticsearch.index_replicas}
    if spec.logstash.index_mode == "data_stream":
        return "_component_template/logs@custom", {"template": {"settings": {"index": index}}}
    return "_index_template/gosvc-logs", {
        "index_patterns": [f"{DAILY_INDEX_PREFIX}*"],
        "priority": 200,
        "template": {"settings": {"index": index}},
    }


def setup_script(name: str, spec: LoggingSpec) -> str:
    """Idempotent: every call sets the same state, so re-running the Job is harmless."""
    endpoint, _ = index_settings(spec)
    return f"""#!/bin/bash
set -euo pipefail
es() {{ curl -fsS --cacert /certs/ca.crt -u "elastic:${{ELASTIC_PASSWORD}}" -H 'Content-Type: application/json' "$@"; echo; }}
until es "${{ES_URL}}/_cluster/health?wait_for_status=yellow&timeout=30s" >/dev/null; do
  echo "waiting for Elasticsearch at ${{ES_URL}}"; sleep 5
done
es -X POST "${{ES_URL}}/_security/user/kibana_system/_password" -d "{{\\"password\\":\\"${{KIBANA_PASSWORD}}\\"}}"
es -X PUT "${{ES_URL}}/_security/role/{LOGSTASH_ROLE}" --data-binary @/setup/writer-role.json
es -X PUT "${{ES_URL}}/_security/user/{LOGSTASH_USER}" -d "{{\\"password\\":\\"${{LOGSTASH_PASSWORD}}\\",\\"roles\\":[\\"{LOGSTASH_ROLE}\\"]}}"
es -X PUT "${{ES_URL}}/{endpoint}" --data-binary @/setup/index-settings.json
"""


def setup_files(name: str, spec: LoggingSpec) -> dict[str, str]:
    _, body = index_settings(spec)
    return {
        "setup.sh": setup_script(name, spec),
        "writer-role.json": json.dumps(writer_role(), indent=2) + "\n",
        "index-settings.json": json.dumps(body, indent=2) + "\n",
    }


def _sysctl_init(spec: LoggingSpec) -> dict:
    """Raises vm.max_map_count on the node, which needs a privileged container; the StatefulSet is exempted for exactly this."""
    return {
        "name": "max-map-count",
        "image": spec.image(versions.ELASTICSEARCH_IMAGE),
        "imagePullPolicy": "IfNotPresent",
        "command": [
            "/bin/bash",
            "-c",
            f"if [ \"$(cat /proc/sys/vm/max_map_count)\" -lt {MAX_MAP_COUNT} ]; then echo {MAX_MAP_COUNT} > /proc/sys/vm/max_map_count; fi",
        ],
        "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "32Mi"}},
        "securityContext": {
            "privileged": True,
            "runAsUser": 0,
            "runAsNonRoot": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
    }


SYSCTL_EXEMPTIONS = {
    "no-privileged": f"init container max-map-count writes vm.max_map_count={MAX_MAP_COUNT} on the node, which Elasticsearch's "
    "bootstrap checks require; the server container itself is restricted",
    "no-privilege-escalation": "the privileged max-map-count init container cannot also forbid escalation; it only writes one sysctl and exits",
    "run-as-non-root": "the max-map-count init container must be root to write /proc/sys; the server container runs as UID 10001",
}


def stateful_set(name: str, spec: LoggingSpec, config: str) -> dict:
    p = part(name, spec)
    es = spec.elasticsearch
    uid = versions.APP_UID
    copy_config = {
        "name": "config",
        "image": spec.image(versions.ELASTICSEARCH_IMAGE),
        "imagePullPolicy": "IfNotPresent",
        # Elasticsearch writes its keystore into the config directory, so it runs from a writable copy.
        "command": ["/bin/bash", "-c", f"cp -R {HOME}/config/. /mnt/config/ && cp /mnt/es-config/{CONFIG_KEY} /mnt/config/{CONFIG_KEY}"],
        "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "64Mi"}},
        "securityContext": container_security(uid),
        "volumeMounts": [{"name": "config", "mountPath": "/mnt/config"}, {"name": "es-config", "mountPath": "/mnt/es-config", "readOnly": True}],
    }
    health = f'curl -fsS --cacert {HOME}/config/certs/ca.crt -u "elastic:${{ELASTIC_PASSWORD}}" "https://127.0.0.1:{HTTP_PORT}/_cluster/health?local=true" >/dev/null'
    container = {
        "name": "elasticsearch",
        "image": spec.image(versions.ELASTICSEARCH_IMAGE),
        "imagePullPolicy": "IfNotPresent",
        "env": [
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "ES_JAVA_OPTS", "value": jvm_heap(es.heap_mib)},
            secret_env("ELASTIC_PASSWORD", ELASTIC_SECRET, PASSWORD_KEY),
        ],
        "ports": [
            {"name": "http", "containerPort": HTTP_PORT, "protocol": "TCP"},
            {"name": "transport", "containerPort": TRANSPORT_PORT, "protocol": "TCP"},
        ],
        "resources": resources.requirements(es.resources),
        "securityContext": container_security(uid),
        "startupProbe": {"tcpSocket": {"port": "http"}, "periodSeconds": 5, "failureThreshold": 60, "timeoutSeconds": 3},
        "readinessProbe": {"exec": {"command": ["/bin/bash", "-c", health]}, "periodSeconds": 10, "failureThreshold": 3, "timeoutSeconds": 5},
        "livenessProbe": {"tcpSocket": {"port": "transport"}, "periodSeconds": 20, "failureThreshold": 3, "timeoutSeconds": 5},
        "volumeMounts": [
            {"name": "config", "mountPath": f"{HOME}/config"},
            {"name": "certs", "mountPath": f"{HOME}/config/certs", "readOnly": True},
            {"name": "data", "mountPath": f"{HOME}/data"},
            {"name": "logs", "mountPath": f"{HOME}/logs"},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }
    init = ([_sysctl_init(spec)] if es.sysctl_init else []) + [copy_config]
    annotations = exemptions(SYSCTL_EXEMPTIONS) if es.sysctl_init else None
    return stateful_workload(
        p,
        service_name=HEADLESS,
        replicas=es.nodes,
        config_checksum=checksum(config),
        pod={
            "terminationGracePeriodSeconds": 120,
            "securityContext": pod_security(uid),
            "affinity": spread(p, required=es.nodes > 1),
            "initContainers": init,
            "containers": [container],
            "volumes": [
                {"name": "es-config", "configMap": {"name": p.app, "defaultMode": 0o444}},
                {"name": "certs", "secret": {"secretName": CERTS_SECRET, "defaultMode": 0o440}},
                empty_dir("config", "64Mi"),
                empty_dir("logs", "512Mi"),
                empty_dir("tmp", "256Mi"),
            ],
        },
        claims=[volume_claim("data", es.storage, spec.storage_class)],
        annotations=annotations,
    )


def setup_job(name: str, spec: LoggingSpec) -> dict:
    p = part(name, spec).with_role("setup")
    container = {
        "name": "setup",
        "image": spec.image(versions.ELASTICSEARCH_IMAGE),
        "imagePullPolicy": "IfNotPresent",
        "command": ["/bin/bash", "/setup/setup.sh"],
        "env": [
            {"name": "ES_URL", "value": url(name, spec)},
            secret_env("ELASTIC_PASSWORD", ELASTIC_SECRET, PASSWORD_KEY),
            secret_env("KIBANA_PASSWORD", KIBANA_SECRET, PASSWORD_KEY),
            secret_env("LOGSTASH_PASSWORD", LOGSTASH_SECRET, PASSWORD_KEY),
        ],
        "resources": {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"memory": "128Mi"}},
        "securityContext": container_security(versions.APP_UID),
        "volumeMounts": [
            {"name": "setup", "mountPath": "/setup", "readOnly": True},
            {"name": "ca", "mountPath": "/certs", "readOnly": True},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": p.metadata(SETUP_JOB),
        "spec": {
            "backoffLimit": 20,
            "activeDeadlineSeconds": 1800,
            "template": {
                "metadata": {"labels": dict(p.labels)},
                "spec": {
                    "restartPolicy": "OnFailure",
                    "serviceAccountName": "elasticsearch",
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "securityContext": pod_security(versions.APP_UID),
                    "containers": [container],
                    "volumes": [
                        {"name": "setup", "configMap": {"name": SETUP_CONFIG, "defaultMode": 0o444}},
                        {"name": "ca", "secret": {"secretName": CA_SECRET, "defaultMode": 0o444}},
                        empty_dir("tmp", "16Mi"),
                    ],
                },
            },
        },
    }


def secret(part_: Part, name: str, string_data: dict[str, Any], type_: str = "Opaque") -> dict:
    """A Secret whose values may be Pulumi Outputs; the component marks them secret in state."""
    return {"apiVersion": "v1", "kind": "Secret", "metadata": part_.metadata(name), "type": type_, "stringData": dict(string_data)}


def build(name: str, spec: LoggingSpec, creds: Any) -> dict[str, dict]:
    """Every Elasticsearch object by role; `creds` carries the generated passwords and certificates (Outputs)."""
    p = part(name, spec)
    config = config_text(name, spec)
    return {
        "service_account": service_account(p),
        "elastic_secret": secret(p, ELASTIC_SECRET, {PASSWORD_KEY: creds.elastic}),
        "kibana_secret": secret(p, KIBANA_SECRET, {PASSWORD_KEY: creds.kibana_system}),
        "logstash_secret": secret(p, LOGSTASH_SECRET, {PASSWORD_KEY: creds.logstash_writer}),
        "certs_secret": secret(p, CERTS_SECRET, {"ca.crt": creds.ca_cert, "tls.crt": creds.node_cert, "tls.key": creds.node_key}, "kubernetes.io/tls"),
        "ca_secret": secret(p, CA_SECRET, {"ca.crt": creds.ca_cert}),
        "config": config_map(p, p.app, {CONFIG_KEY: config}),
        "setup_config": config_map(p.with_role("setup"), SETUP_CONFIG, setup_files(name, spec)),
        "headless_service": headless_service(
            p,
            HEADLESS,
            [
                {"name": "http", "port": HTTP_PORT, "targetPort": "http", "protocol": "TCP"},
                {"name": "transport", "port": TRANSPORT_PORT, "targetPort": "transport", "protocol": "TCP"},
            ],
        ),
        "service": cluster_service(p, SERVICE, [{"name": "http", "port": HTTP_PORT, "targetPort": "http", "protocol": "TCP"}]),
        "stateful_set": stateful_set(name, spec, config),
        "pod_disruption_budget": pod_disruption_budget(p),
        "setup_job": setup_job(name, spec),
    }
