"""reloader: a level-triggered Kubernetes restart controller, compatible with stakater/Reloader."""

from __future__ import annotations

__version__ = "0.1.0"
