"""gosvc: Pulumi components for shipping an optimized Go service on Kubernetes.

The public names load on first use (PEP 562), so importing one dependency-free module such as
`components.logging.durability` (as the policy pack does, in its own virtualenv) does not load
every component and its Pulumi providers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from components import lazy

__version__ = "0.1.0"
"""The package's version: pyproject.toml and the provider's schema read it from here."""

_PUBLIC = {
    "ConfigError": "components.errors",
    "GoImage": "components.image",
    "GoImageArgs": "components.image",
    "GoService": "components.service",
    "GoServiceArgs": "components.service",
    "PrometheusStack": "components.observability",
    "PrometheusStackArgs": "components.observability",
    "ServiceMonitoring": "components.observability",
    "ServiceMonitoringArgs": "components.observability",
    "LoggingPipeline": "components.logging",
    "LoggingPipelineArgs": "components.logging",
}
"""Each public name and the module it comes from."""

__all__ = list(_PUBLIC)

if TYPE_CHECKING:
    from components.errors import ConfigError
    from components.image import GoImage, GoImageArgs
    from components.logging import LoggingPipeline, LoggingPipelineArgs
    from components.observability import PrometheusStack, PrometheusStackArgs, ServiceMonitoring, ServiceMonitoringArgs
    from components.service import GoService, GoServiceArgs


__getattr__, __dir__ = lazy.exports(__name__, _PUBLIC)
