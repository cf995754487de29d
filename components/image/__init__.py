"""GoImage: a multi-stage, static, stripped Go image built with pulumi-docker."""

from components.image.component import GoImage, GoImageArgs

__all__ = ["GoImage", "GoImageArgs"]
