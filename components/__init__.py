"""gosvc: Pulumi components for shipping an optimized Go service on Kubernetes."""

from components.errors import ConfigError
from components.image import GoImage, GoImageArgs
from components.service import GoService, GoServiceArgs

__all__ = ["ConfigError", "GoImage", "GoImageArgs", "GoService", "GoServiceArgs"]
