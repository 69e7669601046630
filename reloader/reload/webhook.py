"""Webhook mode (``--webhook-url``): the POST replaces the restart, so it names what changed."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from reloader.reload.domain.plans import ReloadPlan
    from reloader.reload.domain.views import WorkloadView


def webhook_body(view: WorkloadView, plan: ReloadPlan) -> bytes:
    """Webhook mode's POST body: Reloader's constant field, plus what changed and where."""
    return json.dumps(
        {
            "webhook": "update successful",
            "workload": {"kind": view.kind, "namespace": view.namespace, "name": view.name},
            "sources": [
                {"type": r.source_kind.value, "name": r.name, "hash": r.hash} for r in plan.rolled
            ],
        }
    ).encode()
