"""Gates checked before a node takes the reboot lock; any one of them holds the reboot.

- **Blocking pods** (``--blocking-pod-selector``, repeatable; selectors OR, commas AND): a pod
  on this node matching one, not Succeeded, Failed or Unknown.
- **Alerts** (``--prometheus-url``): ``GET /api/v1/alerts``; any alert left after the filters
  (``--alert-filter-regexp``, ``--alert-filter-match-only``, ``--alert-firing-only``).
- **Rollouts** (``--wait-for-rollouts``, on by default): a Deployment or StatefulSet with pods on
  this node whose rollout is in progress (a reload, a scheduled restart, a deploy). Rebooting
  then would take out pods of a workload that is already short of ready replicas.

A gate that cannot be evaluated (API or Prometheus error) holds the reboot: when in doubt, don't.
"""

from __future__ import annotations

import json
import urllib.request
from dataclasses import dataclass
from typing import Any

import anyio
import structlog

from reloader.core.objects import DEPLOYMENTS, REPLICASETS, STATEFULSETS, ResourceType
from reloader.errors import KubeError, NotFound
from reloader.kube import resources
from reloader.kube.client import KubeClient
from reloader.reboot.domain import pods as pod_rules
from reloader.reboot.node import list_all
from reloader.reboot.settings import GateSettings

log = structlog.get_logger(__name__)

PROMETHEUS_TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True)
class Block:
    """Why the reboot is held: a metric reason (pods, alerts, rollouts) and a detail."""

    reason: str
    detail: str


def _get_json_blocking(url: str, timeout: float) -> Any:
    request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310 - operator's URL
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
        return json.loads(response.read())


async def fetch_alerts(base_url: str) -> list[dict[str, Any]]:
    """The alerts Prometheus evaluates now. :raises OSError / ValueError: no usable answer."""
    url = base_url.rstrip("/") + "/api/v1/alerts"
    answer = await anyio.to_thread.run_sync(
        _get_json_blocking, url, PROMETHEUS_TIMEOUT_S, abandon_on_cancel=True
    )
    if not isinstance(answer, dict) or answer.get("status") != "success":
        raise ValueError(f"unexpected answer from {url}")
    alerts = (answer.get("data") or {}).get("alerts")
    if not isinstance(alerts, list):
        raise ValueError(f"no alerts list in the answer from {url}")  # noqa: TRY004 - bad data
    return [a for a in alerts if isinstance(a, dict)]


class Gates:
    def __init__(self, *, client: KubeClient, node: str, settings: GateSettings) -> None:
        self.client = client
        self.node = node
        self.settings = settings

    async def check(self) -> Block | None:
        """The first gate that holds the reboot, or None when all let it through."""
        for gate in (self._pods, self._alerts, self._rollouts):
            block = await gate()
            if block is not None:
                return block
        return None

    async def _pods(self) -> Block | None:
        for selector in self.settings.blocking_pod_selectors:
            try:
                pods = await list_all(
                    self.client,
                    field_selector=f"spec.nodeName={self.node}",
                    label_selector=selector,
                )
            except KubeError as exc:
                return Block("pods", f"listing pods for {selector!r} failed: {exc}")
            if found := pod_rules.blocking_pods(pods):
                return Block("pods", f"{selector}: {', '.join(found[:10])}")
        return None

    async def _alerts(self) -> Block | None:
        s = self.settings
        if not s.prometheus_url:
            return None
        try:
            alerts = await fetch_alerts(s.prometheus_url)
        except (OSError, ValueError) as exc:
            return Block("alerts", f"querying Prometheus failed: {exc}")
        names = pod_rules.blocking_alerts(
            alerts,
            filter_regexp=s.alert_filter,
            match_only=s.alert_filter_match_only,
            firing_only=s.alert_firing_only,
        )
        return Block("alerts", ", ".join(names)) if names else None

    async def _rollouts(self) -> Block | None:
        if not self.settings.wait_for_rollouts:
            return None
        try:
            return await self._rollout_block()
        except KubeError as exc:
            return Block("rollouts", f"reading workloads failed: {exc}")

    async def _rollout_block(self) -> Block | None:
        pods = await list_all(self.client, field_selector=f"spec.nodeName={self.node}")
        owners: set[tuple[str, str, str]] = set()
        for pod in map(pod_rules.pod_view, pods):
            owners.update((pod.namespace, kind, name) for kind, name in pod.owners)
        seen: set[tuple[str, str, str]] = set()
        for namespace, kind, name in sorted(owners):
            if kind == "ReplicaSet":
                rs = await self._get(REPLICASETS, namespace, name)
                if rs is None:
                    continue
                for ref in (rs.get("metadata") or {}).get("ownerReferences") or []:
                    if ref.get("kind") == "Deployment" and ref.get("controller"):
                        seen.add((namespace, "Deployment", str(ref.get("name"))))
            elif kind == "StatefulSet":
                seen.add((namespace, kind, name))
        for namespace, kind, name in sorted(seen):
            rt = DEPLOYMENTS if kind == "Deployment" else STATEFULSETS
            obj = await self._get(rt, namespace, name)
            if obj is None:
                continue
            if why := pod_rules.rollout_in_progress(kind, obj):
                return Block("rollouts", f"{kind} {namespace}/{name}: {why}")
        return None

    async def _get(self, rt: ResourceType, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return await resources.get(self.client, rt, namespace=namespace, name=name)
        except NotFound:
            return None
