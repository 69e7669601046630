"""The local cluster's script (tools/cluster/cluster.py), to stop and start its processes."""

from __future__ import annotations

import sys
from pathlib import Path

_TOOLS = str(Path(__file__).resolve().parents[2] / "tools" / "cluster")
if _TOOLS not in sys.path:
    sys.path.insert(0, _TOOLS)

import cluster as local_cluster  # type: ignore[import-not-found]  # noqa: E402

__all__ = ["local_cluster"]
