"""gosvc: Pulumi components for shipping an optimized Go service on Kubernetes."""

__version__ = "0.1.0"
"""The package's version: pyproject.toml and the provider's schema read it from here."""

from components.errors import ConfigError
from components.image import GoImage, GoImageArgs
from components.service import GoService, GoServiceArgs
from components.observability import PrometheusStack, PrometheusStackArgs, ServiceMonitoring, ServiceMonitoringArgs
from components.logging import LoggingPipeline, LoggingPipelineArgs

__all__ = ["ConfigError", "GoImage", "GoImageArgs", "GoService", "GoServiceArgs", "PrometheusStack", "PrometheusStackArgs", "ServiceMonitoring", "ServiceMonitoringArgs", "LoggingPipeline", "LoggingPipelineArgs"]
