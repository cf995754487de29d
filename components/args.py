"""Argument shapes more than one component takes. No `from __future__ import annotations` here: Pulumi's schema
analyzer reads these annotations as real types."""

from typing import TypedDict

from typing_extensions import NotRequired


class ResourcesArgs(TypedDict):
    """CPU and memory of a container, as Kubernetes quantities; each component documents its own defaults."""

    cpu_request: NotRequired[str]
    """CPU request."""
    cpu_limit: NotRequired[str]
    """CPU limit; unset for none. In a Go container it also sets GOMAXPROCS."""
    memory_request: NotRequired[str]
    """Memory request."""
    memory_limit: NotRequired[str]
    """Memory limit, default equal to the request; GOMEMLIMIT and JVM heaps are derived from it."""
