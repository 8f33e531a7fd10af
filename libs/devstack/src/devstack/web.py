"""The dashboard's static export (``web/out``), built when missing or stale by ``web/build.sh``."""

from __future__ import annotations

import subprocess
import sys

from .engine import ROOT

__all__ = ["BUILD_SCRIPT", "WEB_EXPORT", "ensure_web"]

BUILD_SCRIPT = ROOT / "web" / "build.sh"
WEB_EXPORT = ROOT / "web" / "out"
NO_NODE = 3
"""``web/build.sh``'s exit status when Node.js or npm is missing."""


def ensure_web() -> str | None:
    """Build the export unless it is up to date (its progress goes to stderr); the folder to
    give the gateway as ``GATEWAY_WEB_DIR``, or None when it cannot be built (the script said
    why: the gateway then serves the API alone)."""
    result = subprocess.run(["bash", str(BUILD_SCRIPT)], check=False)
    if result.returncode == 0 and (WEB_EXPORT / "index.html").is_file():
        return str(WEB_EXPORT)
    if result.returncode != NO_NODE:
        print(
            f"[web] the dashboard did not build (exit {result.returncode}); the API is served"
            " without it",
            file=sys.stderr,
            flush=True,
        )
    return None
