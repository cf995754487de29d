"""NetworkPolicies of the logging namespaces: deny by default, then only the pipeline's own flows.

Kafka accepts clients only from Filebeat and Logstash (plus its peers and its topic Job),
Elasticsearch only from Logstash and Kibana (plus its peers and its setup Job), and Kibana
only from the configured namespaces. Every pod may resolve DNS.
"""

from __future__ import annotations

from components.k8s.network import API_SERVER_PORTS, DNS_EGRESS, NAMESPACE_NAME_LABEL, namespaces, tcp
from components.logging import elasticsearch, filebeat, kafka, kibana, logstash
from components.logging.config import LoggingSpec
from components.logging.pod import Part


def _pods(*parts: Part, seen_from: str | None = None) -> list[dict]:
    """Peers by pod labels; a peer in another namespace than `seen_from` is also selected by its namespace."""
    peers = []
    for p in parts:
        peer: dict = {"podSelector": {"matchLabels": dict(p.selector)}}
        if seen_from is not None and p.namespace != seen_from:
            peer["namespaceSelector"] = {"matchLabels": {NAMESPACE_NAME_LABEL: p.namespace}}
        peers.append(peer)
    return peers


def policy(target: Part, name: str, ingress: list[dict], egress: list[dict]) -> dict:
    """Isolates `target`'s pods both ways and allows `ingress` and `egress` (plus DNS). No ingress rule means no
    ingress, and the field is then left out, as the API server stores it (it drops an empty list)."""
    spec: dict = {"podSelector": {"matchLabels": dict(target.selector)}, "policyTypes": ["Ingress", "Egress"]}
    if ingress:
        spec["ingress"] = ingress
    spec["egress"] = [DNS_EGRESS, *egress]
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": target.metadata(name), "spec": spec}


def default_deny(name: str, namespace: str) -> dict:
    """Every pod of the namespace that no other policy selects gets no traffic at all."""
    anchor = Part("logging", name, namespace, "network")
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": anchor.metadata("default-deny"),
        "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
    }


def build(name: str, spec: LoggingSpec) -> dict[str, dict]:
    fb = filebeat.part(name, spec)
    broker = kafka.part(name, spec)
    topic_job = broker.with_role("topic-setup")
    ls = logstash.part(name, spec)
    es = elasticsearch.part(name, spec)
    es_setup = es.with_role("setup")
    kb = kibana.part(name, spec)
    kibana_from = [namespaces(*spec.kibana.ingress_namespaces)]
    tuning = {}
    if spec.elasticsearch.max_map_count == "daemonset":
        tuning["elasticsearch_node_tuning"] = policy(elasticsearch.node_tuning_part(name, spec), elasticsearch.NODE_TUNING, [], [])
    return {
        **tuning,
        "default_deny": default_deny(name, spec.namespace),
        "collector_default_deny": default_deny(name, spec.collector_namespace),
        "filebeat": policy(
            fb,
            "filebeat",
            [],
            [
                {"to": _pods(broker, seen_from=fb.namespace), "ports": tcp(kafka.CLIENT_PORT)},
                {"to": [{"ipBlock": {"cidr": spec.api_server_cidr}}], "ports": tcp(*API_SERVER_PORTS)},
            ],
        ),
        "kafka": policy(
            broker,
            "kafka",
            [
                {"from": _pods(fb, ls, topic_job, broker, seen_from=broker.namespace), "ports": tcp(kafka.CLIENT_PORT)},
                {"from": _pods(broker), "ports": tcp(kafka.CONTROLLER_PORT)},
            ],
            [{"to": _pods(broker), "ports": tcp(kafka.CLIENT_PORT, kafka.CONTROLLER_PORT)}],
        ),
        "kafka_topic_job": policy(topic_job, kafka.TOPIC_JOB, [], [{"to": _pods(broker), "ports": tcp(kafka.CLIENT_PORT)}]),
        "logstash": policy(
            ls,
            "logstash",
            [],
            [{"to": _pods(broker), "ports": tcp(kafka.CLIENT_PORT)}, {"to": _pods(es), "ports": tcp(elasticsearch.HTTP_PORT)}],
        ),
        "elasticsearch": policy(
            es,
            "elasticsearch",
            [
                {"from": _pods(ls, kb, es_setup), "ports": tcp(elasticsearch.HTTP_PORT)},
                {"from": _pods(es), "ports": tcp(elasticsearch.TRANSPORT_PORT)},
            ],
            [{"to": _pods(es), "ports": tcp(elasticsearch.TRANSPORT_PORT)}],
        ),
        "elasticsearch_setup_job": policy(es_setup, elasticsearch.SETUP_JOB, [], [{"to": _pods(es), "ports": tcp(elasticsearch.HTTP_PORT)}]),
        "kibana": policy(
            kb,
            "kibana",
            [{"from": kibana_from, "ports": tcp(kibana.HTTP_PORT)}] if spec.kibana.ingress_namespaces else [],
            [{"to": _pods(es), "ports": tcp(elasticsearch.HTTP_PORT)}],
        ),
    }
