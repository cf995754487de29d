"""Elasticsearch: a StatefulSet of master-eligible data nodes with security on, and the Job that prepares it.

Every node gets the seed hosts of all nodes, and the initial master nodes only while its volume
has never joined a cluster (see `bootstrap_text`); one node is a cluster of one, not
`discovery.type: single-node`, which would refuse the nodes of a later growth. A node is Ready
once it is in a cluster with an elected master and, after each start, the cluster has been
green (see `readiness_script`), which paces the StatefulSet's rolling update the way ECK paces
its own. TLS on transport and HTTP uses the certificates the component generates; the
`elastic` password comes from a Secret. The setup Job sets the kibana_system password, creates
Logstash's writer role and user, and sets the log indices' replica count.
"""

from __future__ import annotations

import json
from typing import Any

import yaml

from components.k8s import resources
from components.k8s.exemptions import exemptions
from components.logging import secrets, versions
from components.logging.config import LoggingSpec
from components.logging.pod import (
    Part,
    checksum,
    cluster_service,
    config_map,
    container_security,
    empty_dir,
    headless_service,
    jvm_heap,
    pod_disruption_budget,
    pod_security,
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
BOOTSTRAP_KEY = "bootstrap.yml"
"""The ConfigMap key holding `cluster.initial_master_nodes`, appended to a node's config only before it first joins."""
READY_KEY = "ready.sh"
HOME = "/usr/share/elasticsearch"
SECRETS_DIR = "/run/secrets/gosvc"
"""Where pods mount the passwords they read as files."""
PASSWORD_FILE = f"{SECRETS_DIR}/elastic/password"
JOINED_FILE = ".gosvc-joined"
JOINED_MARKER = f"{HOME}/data/{JOINED_FILE}"
"""Written on the data volume by the readiness probe once the node has seen an elected master: from then on the
node's data is locked into its cluster, and the bootstrap setting is never given to it again."""
READY_SINCE = "/tmp/gosvc-ready-since"
"""The start time of the JVM that last passed the health gate: the gate applies once per start of the node."""
LOGSTASH_USER = "gosvc_logstash"
LOGSTASH_ROLE = "gosvc_logstash_writer"
DATA_STREAM = "logs-gosvc-default"
DAILY_INDEX_PREFIX = "gosvc-logs-"
INITIAL_MASTERS_ANNOTATION = "gosvc.dev/elasticsearch-initial-masters"
"""On the StatefulSet: the bootstrap node set, comma-separated (empty when it has none), which later `pulumi up`s keep."""
DISCOVERY_ANNOTATION = "gosvc.dev/elasticsearch-discovery-type"
"""On the StatefulSet: the discovery.type its nodes run with; a single-node cluster must restart as a cluster of one
before it grows (see upgrades.py)."""
MULTI_NODE = "multi-node"
"""Elasticsearch's default discovery.type, which the generated settings keep."""
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
    """elasticsearch.yml as a dict: what every node of the cluster runs with, whatever its history."""
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
    if es.max_map_count == "no-mmap":
        # Lucene reads index files through NIO instead of memory maps: no vm.max_map_count need, slower searches.
        conf["node.store.allow_mmap"] = False
    # Not discovery.type single-node for one node: such a node refuses every joining node, and the StatefulSet
    # controller starts the nodes of a growth (which must join) before it restarts the old one with new settings.
    conf["discovery.seed_hosts"] = [f"{n}.{HEADLESS}.{spec.namespace}.svc.cluster.local:{TRANSPORT_PORT}" for n in node_names(spec)]
    return conf


def config_text(name: str, spec: LoggingSpec) -> str:
    return yaml.safe_dump(settings(name, spec), sort_keys=False, width=1000)


def bootstrap_masters(spec: LoggingSpec, deployed: list[str] | None = None) -> list[str]:
    """The node set a new cluster bootstraps from: every node, or on a running cluster the set it was first
    deployed with (`deployed`, see `upgrades.initial_master_nodes`), so nodes added later never form a cluster of
    their own. Clusters first formed with `discovery.type: single-node` (before gosvc stopped generating it) have none."""
    return node_names(spec) if deployed is None else list(deployed)


def bootstrap_text(masters: list[str]) -> str:
    """`cluster.initial_master_nodes` as a settings file the config copy appends, only on a node whose data
    volume has never been in a cluster (`JOINED_MARKER`): Elastic documents the setting for the first formation
    only, and a node that restarts with it set warns of the data loss a second bootstrap could cause."""
    return yaml.safe_dump({"cluster.initial_master_nodes": list(masters)}, sort_keys=False, width=1000) if masters else ""


def gate_status(spec: LoggingSpec) -> str:
    """The health a restarted node waits for before it counts as Ready: green, so the next node stops only when
    every shard has all its copies again; yellow on a single node, which can hold no replica to wait for."""
    return "yellow" if spec.elasticsearch.nodes == 1 else "green"


def readiness_script(spec: LoggingSpec) -> str:
    """The readiness probe. Ready means: this node is in a cluster with an elected master (the non-local health
    call answers 503 without one, where `local=true` answered 200 on a node alone), and, once per start of the
    node, the cluster has reached `gate_status`. The gate holds the StatefulSet's rolling update on the
    restarted node until its shards have recovered, as ECK holds a restart until green; after it, the probe
    asks only for the master, so a cluster that turns yellow later does not take every node out of its Service."""
    status = gate_status(spec)
    return f"""#!/bin/bash
set -euo pipefail
es() {{ curl -fsS --max-time 3 --cacert {HOME}/config/certs/ca.crt -u "elastic:$(cat {PASSWORD_FILE})" "https://127.0.0.1:{HTTP_PORT}/$1"; }}
es "_cluster/health?master_timeout=2s&filter_path=status" >/dev/null
[ -e {JOINED_MARKER} ] || : >{JOINED_MARKER}
started="$(es "_nodes/_local/jvm?filter_path=nodes.*.jvm.start_time_in_millis" | grep -o '"start_time_in_millis":[0-9]*')"
if [ "$(cat {READY_SINCE} 2>/dev/null || true)" = "$started" ]; then exit 0; fi
es "_cluster/health?wait_for_status={status}&timeout=1s&filter_path=status" >/dev/null
echo "$started" >{READY_SINCE}
"""


def config_files(name: str, spec: LoggingSpec, masters: list[str]) -> dict[str, str]:
    """The Elasticsearch ConfigMap's files: the settings, the bootstrap set (when there is one) and the probe."""
    files = {CONFIG_KEY: config_text(name, spec), READY_KEY: readiness_script(spec)}
    if masters:
        files[BOOTSTRAP_KEY] = bootstrap_text(masters)
    return files


def copy_config_script() -> str:
    """The config copy's command: the image's config directory, the generated settings and the probe, plus the
    bootstrap setting when the ConfigMap has one and this node's volume has never joined a cluster."""
    return (
        "set -eu\n"
        f"cp -R {HOME}/config/. /mnt/config/\n"
        f"cp /mnt/es-config/{CONFIG_KEY} /mnt/es-config/{READY_KEY} /mnt/config/\n"
        f"if [ -s /mnt/es-config/{BOOTSTRAP_KEY} ] && [ ! -e /mnt/data/{JOINED_FILE} ]; then\n"
        f"  cat /mnt/es-config/{BOOTSTRAP_KEY} >>/mnt/config/{CONFIG_KEY}\n"
        "fi"
    )


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
ELASTIC_PASSWORD="$(cat {SECRETS_DIR}/elastic/password)"
KIBANA_PASSWORD="$(cat {SECRETS_DIR}/kibana-system/password)"
LOGSTASH_PASSWORD="$(cat {SECRETS_DIR}/logstash-writer/password)"
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


NODE_TUNING = "elasticsearch-node-tuning"
NODE_TUNING_EXEMPTIONS = {
    "no-privileged": f"writes vm.max_map_count={MAX_MAP_COUNT} on every node, which Elasticsearch's bootstrap checks require; "
    "it runs in the collector's privileged namespace so the Elasticsearch namespace can enforce 'restricted'",
    "no-privilege-escalation": "a privileged container cannot also forbid escalation; it only writes one sysctl, then sleeps",
    "run-as-non-root": "only root may write /proc/sys",
}


def node_tuning_part(name: str, spec: LoggingSpec) -> Part:
    return Part("elasticsearch", name, spec.collector_namespace, "node-tuning", versions.ELASTIC_VERSION)


def node_tuning(name: str, spec: LoggingSpec) -> dict:
    """A DaemonSet in the collector's (privileged) namespace that raises vm.max_map_count on every node, then sleeps.

    A DaemonSet rather than an init container: the sysctl is per node, and the Elasticsearch pods
    themselves then pass the 'restricted' Pod Security Standard.
    """
    p = node_tuning_part(name, spec)
    script = (
        f"if [ \"$(cat /proc/sys/vm/max_map_count)\" -lt {MAX_MAP_COUNT} ]; then echo {MAX_MAP_COUNT} > /proc/sys/vm/max_map_count; fi; "
        "exec sleep infinity"
    )
    applied = ["/bin/bash", "-c", f"[ \"$(cat /proc/sys/vm/max_map_count)\" -ge {MAX_MAP_COUNT} ]"]
    container = {
        "name": "max-map-count",
        "image": spec.image(versions.ELASTICSEARCH_IMAGE),
        "imagePullPolicy": "IfNotPresent",
        "command": ["/bin/bash", "-c", script],
        "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"memory": "16Mi"}},
        "securityContext": {
            "privileged": True,
            "runAsUser": 0,
            "runAsNonRoot": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "readinessProbe": {"exec": {"command": applied}, "periodSeconds": 30},
        # Should something lower the value again, the restart sets it again.
        "livenessProbe": {"exec": {"command": applied}, "periodSeconds": 60, "failureThreshold": 2},
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": p.metadata(NODE_TUNING, exemptions(NODE_TUNING_EXEMPTIONS)),
        "spec": {
            "selector": {"matchLabels": dict(p.selector)},
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}},
            "template": {
                "metadata": {"labels": dict(p.labels)},
                "spec": {
                    "serviceAccountName": NODE_TUNING,
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "terminationGracePeriodSeconds": 5,
                    "tolerations": [{"operator": "Exists"}],
                    "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
                    "containers": [container],
                },
            },
        },
    }


def node_tuning_objects(name: str, spec: LoggingSpec) -> dict[str, dict]:
    """The node tuning's ServiceAccount and DaemonSet, or nothing when nodes already set the sysctl or mmap is off."""
    if spec.elasticsearch.max_map_count != "daemonset":
        return {}
    p = node_tuning_part(name, spec)
    return {"node_tuning_service_account": service_account(p, NODE_TUNING), "node_tuning": node_tuning(name, spec)}


def config_copy_container(spec: LoggingSpec) -> dict:
    """The init container that gives each node a writable config directory (Elasticsearch writes its keystore there)."""
    uid = versions.APP_UID
    return {
        "name": "config",
        "image": spec.image(versions.ELASTICSEARCH_IMAGE),
        "imagePullPolicy": "IfNotPresent",
        # Elasticsearch writes its keystore into the config directory, so it runs from a writable copy.
        "command": ["/bin/bash", "-c", copy_config_script()],
        "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "64Mi"}},
        "securityContext": container_security(uid),
        "volumeMounts": [
            {"name": "config", "mountPath": "/mnt/config"},
            {"name": "es-config", "mountPath": "/mnt/es-config", "readOnly": True},
            {"name": "data", "mountPath": "/mnt/data", "readOnly": True},
        ],
    }


def node_container(spec: LoggingSpec) -> dict:
    """The Elasticsearch node: its heap, ports, probes and mounts."""
    es = spec.elasticsearch
    uid = versions.APP_UID
    return {
        "name": "elasticsearch",
        "image": spec.image(versions.ELASTICSEARCH_IMAGE),
        "imagePullPolicy": "IfNotPresent",
        "env": [
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "ES_JAVA_OPTS", "value": jvm_heap(es.heap_mib)},
            # The image's entrypoint reads the bootstrap password from this file.
            {"name": "ELASTIC_PASSWORD_FILE", "value": PASSWORD_FILE},
        ],
        "ports": [
            {"name": "http", "containerPort": HTTP_PORT, "protocol": "TCP"},
            {"name": "transport", "containerPort": TRANSPORT_PORT, "protocol": "TCP"},
        ],
        "resources": resources.requirements(es.resources),
        "securityContext": container_security(uid),
        "startupProbe": {"tcpSocket": {"port": "http"}, "periodSeconds": 5, "failureThreshold": 60, "timeoutSeconds": 3},
        # Three calls of at most 3 s each; a node that fails it leaves the Service, and is never restarted for it.
        "readinessProbe": {"exec": {"command": ["/bin/bash", f"{HOME}/config/{READY_KEY}"]}, "periodSeconds": 10, "failureThreshold": 3, "timeoutSeconds": 10},
        "livenessProbe": {"tcpSocket": {"port": "transport"}, "periodSeconds": 20, "failureThreshold": 3, "timeoutSeconds": 5},
        "volumeMounts": [
            {"name": "config", "mountPath": f"{HOME}/config"},
            {"name": "certs", "mountPath": f"{HOME}/config/certs", "readOnly": True},
            {"name": "data", "mountPath": f"{HOME}/data"},
            {"name": "logs", "mountPath": f"{HOME}/logs"},
            {"name": "tmp", "mountPath": "/tmp"},
            {"name": "elastic-password", "mountPath": f"{SECRETS_DIR}/elastic", "readOnly": True},
        ],
    }


def node_volumes(name: str, spec: LoggingSpec) -> list[dict]:
    """The pod's volumes besides its data claim: the generated config, the certificates, the password, scratch space."""
    names = secrets.refs(spec)
    return [
        {"name": "es-config", "configMap": {"name": part(name, spec).app, "defaultMode": 0o444}},
        {"name": "certs", "secret": {"secretName": names.certificates, "defaultMode": 0o440}},
        names.password_volume("elastic", "elastic-password"),
        empty_dir("config", "64Mi"),
        empty_dir("logs", "512Mi"),
        empty_dir("tmp", "256Mi"),
    ]


def state_annotations(name: str, spec: LoggingSpec, masters: list[str]) -> dict[str, str]:
    """What a later `pulumi up` must know of this cluster (see upgrades.py), on the StatefulSet's own metadata, which
    restarts no pod: the bootstrap set it keeps, and the discovery.type its nodes run with."""
    return {
        INITIAL_MASTERS_ANNOTATION: ",".join(masters),
        DISCOVERY_ANNOTATION: str(settings(name, spec).get("discovery.type", MULTI_NODE)),
    }


def stateful_set(name: str, spec: LoggingSpec, files: dict[str, str], masters: list[str]) -> dict:
    """The data nodes; `files` are the ConfigMap's (`config_files`), whose checksum rolls the pods when they change,
    and `masters` the bootstrap set they were made with (`bootstrap_masters`)."""
    p = part(name, spec)
    es = spec.elasticsearch
    uid = versions.APP_UID
    return stateful_workload(
        p,
        service_name=HEADLESS,
        replicas=es.nodes,
        config_checksum=checksum(*(files[key] for key in sorted(files))),
        pod={
            "terminationGracePeriodSeconds": 120,
            "securityContext": pod_security(uid),
            "affinity": spread(p, required=es.nodes > 1),
            "initContainers": [config_copy_container(spec)],
            "containers": [node_container(spec)],
            "volumes": node_volumes(name, spec),
        },
        claims=[volume_claim("data", es.storage, spec.storage_class)],
        annotations=state_annotations(name, spec, masters),
    )


def setup_job(name: str, spec: LoggingSpec) -> dict:
    p = part(name, spec).with_role("setup")
    names = secrets.refs(spec)
    users = (("elastic", "elastic"), ("kibana_system", "kibana-system"), ("logstash_writer", "logstash-writer"))
    container = {
        "name": "setup",
        "image": spec.image(versions.ELASTICSEARCH_IMAGE),
        "imagePullPolicy": "IfNotPresent",
        "command": ["/bin/bash", "/setup/setup.sh"],
        "env": [{"name": "ES_URL", "value": url(name, spec)}],
        "resources": {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"memory": "128Mi"}},
        "securityContext": container_security(versions.APP_UID),
        "volumeMounts": [
            {"name": "setup", "mountPath": "/setup", "readOnly": True},
            {"name": "ca", "mountPath": "/certs", "readOnly": True},
            {"name": "tmp", "mountPath": "/tmp"},
            *({"name": f"{volume}-password", "mountPath": f"{SECRETS_DIR}/{volume}", "readOnly": True} for _, volume in users),
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
                        names.ca_volume(),
                        empty_dir("tmp", "16Mi"),
                        *(names.password_volume(credential, f"{volume}-password") for credential, volume in users),
                    ],
                },
            },
        },
    }


def secret(part_: Part, name: str, string_data: dict[str, Any], type_: str = "Opaque") -> dict:
    """A Secret whose values may be Pulumi Outputs; the component marks them secret in state."""
    return {"apiVersion": "v1", "kind": "Secret", "metadata": part_.metadata(name), "type": type_, "stringData": dict(string_data)}


def generated_secrets(name: str, spec: LoggingSpec, creds: Any) -> dict[str, dict]:
    """The Secrets holding generated credentials (`creds` Outputs); none for those handed in as existing Secrets."""
    p = part(name, spec)
    wanted = secrets.refs(spec).generated
    found: dict[str, dict] = {}
    for credential, role, value in (
        ("elastic", "elastic_secret", creds.elastic),
        ("kibana_system", "kibana_secret", creds.kibana_system),
        ("logstash_writer", "logstash_secret", creds.logstash_writer),
    ):
        if credential in wanted:
            found[role] = secret(p, secrets.GENERATED[credential], {secrets.PASSWORD_KEY: value})
    if "certificates" in wanted:
        found["certs_secret"] = secret(
            p,
            secrets.GENERATED["certificates"],
            {secrets.CA_KEY: creds.ca_cert, secrets.CERT_KEY: creds.node_cert, secrets.KEY_KEY: creds.node_key},
            "kubernetes.io/tls",
        )
        found["ca_secret"] = secret(p, secrets.GENERATED_CA, {secrets.CA_KEY: creds.ca_cert})
    return found


def build(name: str, spec: LoggingSpec, creds: Any, deployed_masters: list[str] | None = None) -> dict[str, dict]:
    """Every Elasticsearch object by role; `creds` carries the generated passwords and certificates (Outputs);
    `deployed_masters` is the bootstrap set a running cluster was deployed with (None for a new cluster)."""
    p = part(name, spec)
    masters = bootstrap_masters(spec, deployed_masters)
    files = config_files(name, spec, masters)
    return {
        "service_account": service_account(p),
        **generated_secrets(name, spec, creds),
        "config": config_map(p, p.app, files),
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
        "stateful_set": stateful_set(name, spec, files, masters),
        "pod_disruption_budget": pod_disruption_budget(p),
        "setup_job": setup_job(name, spec),
    }
