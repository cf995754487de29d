"""The gosvc program: validate the stack's config, build the image (or take a prebuilt one), deploy the service."""

import pulumi

from components import GoImage, GoService
from stacks import config as stack_config
from components.observability import PrometheusStack, ServiceMonitoring
from components.logging import LoggingPipeline

cfg = stack_config.from_pulumi()  # raises ConfigError before any resource is registered

# Logging first: Filebeat -> Kafka -> Logstash -> Elasticsearch -> Kibana in its own namespaces, sized per
# stack. It refuses a change that would lose logs in flight before registering anything, so coming first
# means such a change leaves the service untouched too.
if cfg.logging is not None and cfg.logging.enabled:
    logging_pipeline = LoggingPipeline("logging", cfg.logging.model_dump(exclude={"enabled"}))
    pulumi.export("loggingNamespace", logging_pipeline.namespace)
    pulumi.export("kafkaBootstrapServers", logging_pipeline.kafka_bootstrap_servers)
    pulumi.export("elasticsearchUrl", logging_pipeline.elasticsearch_url)
    pulumi.export("kibanaUrl", logging_pipeline.kibana_url)

# gosvc:image deploys what a CI pipeline already built and pushed; otherwise the program builds it.
image = None if cfg.prebuilt_image else GoImage(cfg.service.service_name, cfg.image.model_dump(exclude_none=True))
image_ref = cfg.prebuilt_image or image.image_ref
go_version = image.go_version if image else cfg.image.go_version

service = GoService(cfg.service.service_name, {**cfg.service.model_dump(), "image": image_ref, "go_version": go_version})

pulumi.export("image", image_ref)
pulumi.export("namespace", service.namespace)
pulumi.export("url", service.url)
pulumi.export("pprofPortForward", service.pprof_port_forward)

# Observability: the cluster's Prometheus stack (where the service's monitoring namespace is), then the
# service's ServiceMonitor, alerts and dashboard, which wait for the stack's CRDs and the service's namespace.
monitoring = cfg.monitoring
needs: list = [service.resources["namespace"]] if "namespace" in service.resources else []
if monitoring.stack_enabled:
    prometheus = PrometheusStack(
        "monitoring", {**monitoring.stack.model_dump(), "namespace": cfg.service.network.monitoring_namespace}
    )
    needs.append(prometheus.release)
    pulumi.export("prometheusUrl", prometheus.prometheus_url)
    pulumi.export("grafanaService", prometheus.grafana_service)
    pulumi.export("grafanaPortForward", prometheus.grafana_port_forward)
    pulumi.export("customMetrics", prometheus.custom_metrics)
if monitoring.service_enabled:
    service_monitoring = ServiceMonitoring(
        cfg.service.service_name,
        {
            **monitoring.service.model_dump(),
            "service_name": cfg.service.service_name,
            "namespace": cfg.service.namespace,
            "instance": cfg.service.service_name,
            "hpa_enabled": cfg.service.autoscaling.enabled,
        },
        opts=pulumi.ResourceOptions(depends_on=needs),
    )
    pulumi.export("alerts", service_monitoring.alerts)
