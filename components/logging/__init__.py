"""LoggingPipeline: Filebeat -> Kafka -> Logstash -> Elasticsearch -> Kibana, one module per part.

Each part's module holds pure builders of its Kubernetes objects and config files;
`config` validates the whole spec and its cross-part rules; `durability` holds Kafka's
durability rules; `component` registers it all. The public names load on first use (PEP 562),
so the policy pack can import `durability` without the library's dependencies.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from components import lazy

_PUBLIC = {
    "ExistingSecretsArgs": "components.logging.component",
    "LoggingPipeline": "components.logging.component",
    "LoggingPipelineArgs": "components.logging.component",
    "LoggingSpec": "components.logging.config",
    "parse_logging": "components.logging.config",
    "warnings": "components.logging.config",
}
"""Each public name and the module it comes from."""

__all__ = list(_PUBLIC)

if TYPE_CHECKING:
    from components.logging.component import ExistingSecretsArgs, LoggingPipeline, LoggingPipelineArgs
    from components.logging.config import LoggingSpec, parse_logging, warnings


__getattr__, __dir__ = lazy.exports(__name__, _PUBLIC)
