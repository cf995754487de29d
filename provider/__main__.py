"""Serves gosvc's components to every Pulumi language: the schema is derived from the classes."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from components.provider import serve  # noqa: E402  (the checkout's library, found through the path above)

if __name__ == "__main__":
    serve()
