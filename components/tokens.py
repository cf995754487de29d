"""Type tokens of the components: `gosvc:index:<ClassName>`, the scheme Pulumi's schema derivation produces.

Earlier releases registered the observability and logging components under modules of their
own (`gosvc:observability:*`, `gosvc:logging:*`). Each keeps its former token as an alias, so
a stack deployed by such a release updates in place instead of replacing every child.
"""

from __future__ import annotations

import pulumi

PACKAGE = "gosvc"


def token(class_name: str) -> str:
    return f"{PACKAGE}:index:{class_name}"


GO_IMAGE = token("GoImage")
GO_SERVICE = token("GoService")
PROMETHEUS_STACK = token("PrometheusStack")
SERVICE_MONITORING = token("ServiceMonitoring")
LOGGING_PIPELINE = token("LoggingPipeline")
_LOGGING_PARTS = (
    # part, class name now, its name under the former `gosvc:logging` module
    ("filebeat", "Filebeat", "Filebeat"),
    ("kafka", "Kafka", "Kafka"),
    ("logstash", "Logstash", "Logstash"),
    ("elasticsearch", "Elasticsearch", "Elasticsearch"),
    ("kibana", "Kibana", "Kibana"),
    ("network", "LoggingNetworkPolicies", "NetworkPolicies"),
)
LOGGING_PARTS = {part: token(class_name) for part, class_name, _ in _LOGGING_PARTS}
"""The LoggingPipeline's internal grouping components (not served to other languages)."""

FORMER: dict[str, str] = {
    PROMETHEUS_STACK: "gosvc:observability:PrometheusStack",
    SERVICE_MONITORING: "gosvc:observability:ServiceMonitoring",
    LOGGING_PIPELINE: "gosvc:logging:LoggingPipeline",
    **{token(class_name): f"gosvc:logging:{former}" for _, class_name, former in _LOGGING_PARTS},
}
"""Current token -> the token releases before the one-scheme change registered."""


def options(type_token: str, opts: pulumi.ResourceOptions | None) -> pulumi.ResourceOptions | None:
    """`opts` plus an alias to the component's former token, when it had one."""
    former = FORMER.get(type_token)
    if former is None:
        return opts
    return pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(aliases=[pulumi.Alias(type_=former)]))
