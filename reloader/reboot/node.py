"""The agent's own Node: read it, cordon it with a record, restore it, drain it.

The drain goes through the Eviction API (``POST pods/NAME/eviction``, policy/v1), so the API
server enforces PodDisruptionBudgets. Unlike kured's drain (one pod list at the start, 429s
retried with no pause), the pods are listed again on every round, so a pod re-created under the
same name is seen, and a refused eviction (429) waits its own exponential backoff (1 s doubling
to 30 s, or the server's Retry-After) before it is asked again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import structlog

from reloader.core.objects import NODES, PODS, RawObject
from reloader.errors import Conflict, KubeError, NotFound, TooManyRequests
from reloader.kube import resources
from reloader.kube.client import KubeClient
from reloader.reboot.domain import coordination as rules
from reloader.reboot.domain import marks as mark_rules
from reloader.reboot.domain import pods as pod_rules
from reloader.reboot.settings import DrainSettings
from reloader.runtime.backoff import Backoff
from reloader.runtime.clock import Clock

log = structlog.get_logger(__name__)

ATTEMPTS = 5
POLL_S = 1.0


@dataclass(frozen=True, slots=True)
class DrainResult:
    ok: bool
    #: why it failed ("" when ok)
    reason: str = ""
    #: pods still on the node when it failed
    remaining: tuple[str, ...] = ()
    seconds: float = 0.0


async def list_all(
    client: KubeClient, *, field_selector: str, label_selector: str = ""
) -> list[RawObject]:
    """Every pod matching the selectors, in all namespaces (paged)."""
    return list(
        await resources.list_all(
            client, PODS, field_selector=field_selector, label_selector=label_selector or None
        )
    )


class NodeOps:
    def __init__(
        self, *, client: KubeClient, clock: Clock, node: str, drain: DrainSettings
    ) -> None:
        self.client = client
        self.clock = clock
        self.name = node
        self.settings = drain

    async def get(self) -> rules.NodeView:
        """:raises KubeError: e.g. NotFound when the node does not exist."""
        return rules.node_view(
            await resources.get(self.client, NODES, namespace=None, name=self.name)
        )

    async def patch(self, body: dict[str, Any]) -> rules.NodeView:
        """A merge patch of this Node."""
        raw = await resources.patch(
            self.client, NODES, namespace=None, name=self.name, body=body, patch_type="merge"
        )
        return rules.node_view(raw)

    async def update(
        self,
        build: Callable[[rules.NodeView], dict[str, Any] | None],
        *,
        what: str,
        read: rules.NodeView | None = None,
    ) -> tuple[rules.NodeView, rules.NodeView | None]:
        """Read, modify, write: ``build`` makes a patch carrying the resourceVersion of the
        Node it is given (None: nothing to write); on 409 the Node is read again, up to
        ATTEMPTS times. Starts from ``read`` when the caller has a fresh view.

        Returns the Node the patch was built from, and the Node written (None if nothing was).
        :raises KubeError: "could not WHAT node NAME" when it kept changing.
        """
        node = read
        for _ in range(ATTEMPTS):
            if node is None:
                node = await self.get()
            body = build(node)
            if body is None:
                return node, None
            try:
                return node, await self.patch(body)
            except Conflict:
                node = None
        raise KubeError(f"could not {what} node {self.name}: it kept changing")

    async def cordon(self) -> rules.NodeView:
        """Record whether the node was schedulable, and cordon it, in one write."""
        _, written = await self.update(rules.cordon_patch, what="cordon")
        assert written is not None  # noqa: S101 - cordon_patch always writes
        return written

    async def restore(
        self, *, history: Sequence[float] | None = None, post_labels: mark_rules.Labels = ()
    ) -> tuple[rules.NodeView, bool]:
        """Undo our cordon (uncordon only a node recorded as schedulable), drop the record,
        optionally write the loop history. ``post_labels`` (--post-reboot-node-labels) are set
        in the same write as an uncordon, so they appear exactly when it succeeds. Returns the
        node and whether it was uncordoned."""

        def build(node: rules.NodeView) -> dict[str, Any] | None:
            body = rules.restore_patch(node, history=history)
            if body is None:
                return None
            body["metadata"]["resourceVersion"] = node.resource_version
            if rules.uncordons(node) and post_labels:
                body["metadata"]["labels"] = mark_rules.missing_labels(node.labels, post_labels)
            return body

        read, written = await self.update(build, what="restore")
        if written is None:
            return read, False
        return written, rules.uncordons(read)

    # ------------------------------------------------------------------------------ drain

    async def drain(self) -> DrainResult:
        """Evict every pod that must go, until none is left or ``--drain-timeout`` passes.

        Never raises for API errors: they are retried until the deadline.
        """
        s = self.settings
        started = self.clock.monotonic()
        deadline = started + s.timeout if s.timeout > 0 else None
        backoff: Backoff[str] = Backoff(base=1.0, cap=30.0, jitter=0.2)
        next_try: dict[str, float] = {}
        refused: set[str] = set()
        remaining: tuple[str, ...] = ()
        while True:
            now = self.clock.monotonic()
            try:
                pods = await list_all(
                    self.client,
                    field_selector=f"spec.nodeName={self.name}",
                    label_selector=s.pod_selector,
                )
            except KubeError as exc:
                log.warning("reboot.drain_list_failed", node=self.name, error=str(exc))
                pods = None
            if pods is not None:
                wall = self.clock.wall()
                views = [pod_rules.pod_view(p) for p in pods]
                actions = {
                    v.uid: pod_rules.drain_action(
                        v, now=wall, skip_wait_after=s.skip_wait_for_delete_timeout
                    )
                    for v in views
                }
                pending = [v for v in views if actions[v.uid] != pod_rules.DrainAction.SKIP]
                remaining = tuple(sorted(f"{v.namespace}/{v.name}" for v in pending))
                if not pending:
                    return DrainResult(ok=True, seconds=now - started)
            if deadline is not None and now >= deadline:
                reason = "evictions refused (PodDisruptionBudget)" if refused else "timed out"
                return DrainResult(
                    ok=False, reason=reason, remaining=remaining, seconds=now - started
                )
            if pods is not None:
                for view in pending:
                    if actions[view.uid] != pod_rules.DrainAction.EVICT:
                        continue
                    if next_try.get(view.uid, 0.0) > now:
                        continue
                    delay = await self._evict(view, backoff)
                    if delay is None:
                        refused.discard(view.uid)
                    else:
                        refused.add(view.uid)
                        next_try[view.uid] = self.clock.monotonic() + delay
            wait = POLL_S
            if deadline is not None:
                wait = min(wait, max(0.0, deadline - self.clock.monotonic()))
            await self.clock.sleep(wait)

    async def _evict(self, pod: pod_rules.PodView, backoff: Backoff[str]) -> float | None:
        """Ask for one eviction; None when accepted (or the pod is gone), else the delay
        before asking again."""
        path = PODS.path(namespace=pod.namespace, name=pod.name) + "/eviction"
        body = pod_rules.eviction_body(pod, grace_period=self.settings.grace_period)
        try:
            await self.client.request("POST", path, body=body)
        except NotFound:
            return None
        except TooManyRequests as exc:
            delay = backoff.next_delay(pod.uid, retry_after=exc.retry_after)
            log.info(
                "reboot.eviction_refused",
                node=self.name,
                namespace=pod.namespace,
                name=pod.name,
                reason=exc.message,
                delay_s=round(delay, 2),
            )
            return delay
        except KubeError as exc:
            delay = backoff.next_delay(pod.uid)
            log.warning(
                "reboot.eviction_failed",
                node=self.name,
                namespace=pod.namespace,
                name=pod.name,
                error=str(exc),
                delay_s=round(delay, 2),
            )
            return delay
        backoff.forget(pod.uid)
        log.info("reboot.pod_evicted", node=self.name, namespace=pod.namespace, name=pod.name)
        return None
