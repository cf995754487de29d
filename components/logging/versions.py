"""The one place that pins the logging pipeline's images, and why each runs as the user it does.

Elastic releases Elasticsearch, Kibana, Logstash and Filebeat together under one version,
so they share `ELASTIC_VERSION`; mixing minor versions across the stack is unsupported.
Tags are pinned here; digests are added per stack (`gosvc:loggingImageDigests`), because a
digest must be read from the registry that serves the image and cannot be verified offline.
"""

from __future__ import annotations

ELASTIC_VERSION = "9.5.2"
"""Elastic Stack release used by every Elastic image (Elasticsearch, Kibana, Logstash, Filebeat)."""

KAFKA_VERSION = "4.2.1"
"""Apache Kafka release of the official `apache/kafka` image (KRaft only since 4.0)."""

ELASTICSEARCH_IMAGE = f"docker.elastic.co/elasticsearch/elasticsearch:{ELASTIC_VERSION}"
KIBANA_IMAGE = f"docker.elastic.co/kibana/kibana:{ELASTIC_VERSION}"
LOGSTASH_IMAGE = f"docker.elastic.co/logstash/logstash:{ELASTIC_VERSION}"
FILEBEAT_IMAGE = f"docker.elastic.co/beats/filebeat:{ELASTIC_VERSION}"
KAFKA_IMAGE = f"docker.io/apache/kafka:{KAFKA_VERSION}"

IMAGES = (ELASTICSEARCH_IMAGE, KIBANA_IMAGE, LOGSTASH_IMAGE, FILEBEAT_IMAGE, KAFKA_IMAGE)
REPOSITORIES = tuple(image.rsplit(":", 1)[0] for image in IMAGES)


def pinned(image: str, digests: list[str] | tuple[str, ...]) -> str:
    """`image` with the digest given for its repository (`<repository>@sha256:<hex>`), or unchanged when none is."""
    repository = image.rsplit(":", 1)[0]
    for ref in digests:
        repo, _, digest = ref.partition("@")
        if repo == repository:
            return f"{image}@{digest}"
    return image


FILEBEAT_KAFKA_PROTOCOL = "2.1.0"
"""Kafka protocol version Filebeat requests; Kafka 4 removed the older protocols, so it must be at least 2.1.0."""

# Users the containers run as. Every image below only needs to *read* its install tree, and
# every path it writes (data, logs, config copies, /tmp) is a volume here, so an arbitrary
# non-root UID works as long as fsGroup makes the volumes writable.
APP_UID = 10001
"""UID/GID/fsGroup for Kafka, Logstash, Elasticsearch and Kibana.

- apache/kafka: image user `appuser` (1000) on Alpine; /opt/kafka is world-readable; we
  write server.properties to an emptyDir and logs to PVC/emptyDir, so 10001 works.
- Elasticsearch: image `USER 1000:0`; Elastic sets every file 0444/0664 and directories
  0555/0775, i.e. world-readable. The writable dirs (config copy, data, logs, tmp) are
  volumes owned through fsGroup, so neither UID 1000 nor GID 0 is needed.
- Kibana and Logstash: image user 1000 in group 0 (OpenShift-style arbitrary-UID support);
  their install trees are world-readable and only `data` and /tmp are written.
"""

FILEBEAT_UID = 0
"""Filebeat runs as root, with every capability dropped: containerd writes
/var/log/pods/**/N.log as root:root mode 0640, so only their owner (UID 0) can read them, and
the registry hostPath is created root-owned by the kubelet. The DaemonSet carries the
`run-as-non-root` and `no-host-path` exemptions that say so."""
