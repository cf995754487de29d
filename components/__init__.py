"""gosvc: Pulumi components for shipping an optimized Go service on Kubernetes."""

from components.errors import ConfigError
from components.image import GoImage, GoImageArgs
from components.service import GoService, GoServiceArgs
from components.observability import PrometheusStack, PrometheusStackArgs, ServiceMonitoring, ServiceMonitoringArgs
from components.logging import LoggingPipeline, LoggingPipelineArgs

__all__ = ["ConfigError", "GoImage", "GoImageArgs", "GoService", "GoServiceArgs", "PrometheusStack", "PrometheusStackArgs", "ServiceMonitoring", "ServiceMonitoringArgs", "LoggingPipeline", "LoggingPipelineArgs"]
