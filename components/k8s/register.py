"""Registers a plain Kubernetes dict as the matching pulumi_kubernetes resource: the one thin step after the pure specs."""

import importlib
import re
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

_SECRET_FIELDS = ("stringData", "data")


def resource_class(api_version: str, kind: str) -> type | None:
    """The typed pulumi_kubernetes class for apiVersion/kind, or None for kinds it has no class for (CRDs)."""
    group, _, version = api_version.rpartition("/")
    if "." in group and not group.endswith(".k8s.io"):
        return None  # a CRD's group is a domain of its own
    module_name = group.split(".")[0] if group else "core"
    try:
        module = importlib.import_module(f"pulumi_kubernetes.{module_name}.{version}")
    except ImportError:
        return None
    return getattr(module, kind, None)


def _snake(key: str) -> str:
    """Top-level fields are constructor keywords (snake_case); nested dicts pass through in camelCase."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", key).lower()


def register(obj: dict[str, Any], logical_name: str, opts: pulumi.ResourceOptions) -> pulumi.CustomResource:
    """Registers `obj` with its typed class, or as a CustomResource when Kubernetes' core API lacks its kind.

    Secrets keep their values secret in Pulumi state; Jobs are deleted before being
    replaced, because a Job's pod template cannot change in place.
    """
    kind = obj["kind"]
    if kind == "Secret":
        opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(additional_secret_outputs=list(_SECRET_FIELDS)))
        obj = {**obj, **{f: {k: pulumi.Output.secret(v) for k, v in obj[f].items()} for f in _SECRET_FIELDS if f in obj}}
    elif kind == "Job":
        opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(delete_before_replace=True))
    cls = resource_class(obj["apiVersion"], kind)
    if cls is None:
        fields = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata")}
        return k8s.apiextensions.CustomResource(
            logical_name, api_version=obj["apiVersion"], kind=kind, metadata=obj.get("metadata"), opts=opts, **fields
        )
    fields = {_snake(k): v for k, v in obj.items() if k not in ("apiVersion", "kind")}
    return cls(logical_name, opts=opts, **fields)
