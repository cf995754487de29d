"""The components as a Pulumi provider, so programs in any language can use them.

Pulumi derives the package schema from the classes' type annotations and docstrings and puts
every type in the `index` module (see `components.tokens`). `provider/` holds the plugin that
runs `serve()` and the committed schema; `python -m components.provider <file>` rewrites it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pulumi

import components
from components import tokens
from components.image import GoImage
from components.logging import LoggingPipeline
from components.observability import PrometheusStack, ServiceMonitoring
from components.service import GoService

COMPONENTS: tuple[type[pulumi.ComponentResource], ...] = (GoImage, GoService, PrometheusStack, ServiceMonitoring, LoggingPipeline)
"""Every public component, in schema order."""


def schema() -> dict:
    """The package schema the provider serves."""
    from pulumi.provider.experimental.component import ComponentProvider

    return json.loads(ComponentProvider(list(COMPONENTS), tokens.PACKAGE, None, components.__version__).schema)


def schema_text() -> str:
    """The schema as the committed file holds it: sorted keys, two-space indent, final newline."""
    return json.dumps(schema(), indent=2, sort_keys=True) + "\n"


def serve() -> None:
    """Runs the provider; the engine passes its address on the command line."""
    from pulumi.provider.experimental import component_provider_host

    component_provider_host(list(COMPONENTS), tokens.PACKAGE, version=components.__version__)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m components.provider <schema.json to write>")
    Path(sys.argv[1]).write_text(schema_text())
