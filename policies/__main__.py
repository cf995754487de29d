"""The gosvc policy pack's entry point: builds the PolicyPack, which serves the Analyzer protocol until stopped.

The Pulumi engine (and `python -m tools.offline.synth --policy-pack policies`) starts this as
`python -u -m pulumi.policy <engine-address> .` in this directory; constructing the
PolicyPack starts the gRPC server and prints its port, so nothing else may construct one.
"""

import sys
from pathlib import Path

PACK_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(PACK_DIR))  # `rules` also resolves under `python -m policies`
# The repository root, for the library's standard-library-only rule modules the pack shares
# (components/logging/durability.py); the library's package __init__s load nothing else eagerly.
sys.path.insert(1, str(PACK_DIR.parent))

from pulumi_policy import EnforcementLevel, PolicyPack  # noqa: E402

from rules import PACK_NAME, POLICIES  # noqa: E402

PolicyPack(
    name=PACK_NAME,
    policies=POLICIES,
    enforcement_level=EnforcementLevel.MANDATORY,
    description="Best practices for Go services on Kubernetes: images, security, resources, availability, network, logging durability.",
)
