"""LoggingPipeline: Filebeat -> Kafka -> Logstash -> Elasticsearch -> Kibana, one module per part.

Each part's module holds pure builders of its Kubernetes objects and config files;
`config` validates the whole spec and its cross-part rules; `component` registers it all.
"""

from components.logging.component import ExistingSecretsArgs, LoggingPipeline, LoggingPipelineArgs
from components.logging.config import LoggingSpec, parse_logging, warnings

__all__ = ["ExistingSecretsArgs", "LoggingPipeline", "LoggingPipelineArgs", "LoggingSpec", "parse_logging", "warnings"]
