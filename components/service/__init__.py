"""GoService: a Go HTTP service on Kubernetes with safe defaults. Pure spec builders live beside the component."""

from components.service.component import GoService, GoServiceArgs

__all__ = ["GoService", "GoServiceArgs"]
