"""The node agent's loop: recover, check, gate, lock, cordon, drain, reboot (docs/node-reboots.md).

Every ``--period`` (the first check after 0.5-1.5 periods, as kured's delaytick) one *tick*:

1. **Recovery.** If this node holds a lock slot, or carries our cordon record, an earlier
   attempt is unfinished. A new boot ID means the node rebooted: uncordon it if it was
   schedulable before, count the reboot for the loop guard, and release the slot (after
   ``--lock-release-delay``). The same boot ID means the attempt stopped before the reboot
   (agent restarted, command without effect): restore the node and release. A fresh process
   does this at once, without waiting for the first period.
2. **Checks.** Sentinel, loop guard, window, gates (blocking pods, alerts, rollouts); then
   kured's marks (taint, annotations) follow where the check ended (``reboot_marks.py``).
3. **Lock.** Take a slot, or wait for the next tick.
4. **Cycle.** With the slot renewed in the background: pre-reboot labels, record + cordon in
   one write, drain through the Eviction API, ``--reboot-delay``, a last renewal (which also
   proves we still hold the slot), notify, reboot. A failed drain or reboot command restores
   the node *before* releasing the slot, so at most ``--concurrency`` nodes are ever cordoned.

Errors of the API server or the host never end the process: the tick is logged and retried.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime

import structlog

from reloader.errors import KubeError
from reloader.kube.client import KubeClient
from reloader.observability.metrics import RebootMetrics
from reloader.reboot.domain import coordination as rules
from reloader.reboot.domain.coordination import Phase
from reloader.reboot.domain.marks import Stage
from reloader.reboot.events import NORMAL, WARNING, NodeEvents
from reloader.reboot.gates import Gates
from reloader.reboot.host import Host, HostError, Notifier
from reloader.reboot.lock import Acquired, LockLost, RebootLock
from reloader.reboot.marks import NodeMarks
from reloader.reboot.node import DrainResult, NodeOps
from reloader.reboot.settings import NodeAgentSettings
from reloader.runtime.clock import Clock

log = structlog.get_logger(__name__)

WAIT_LOG_S = 60.0


class RebootAgent:
    def __init__(
        self,
        *,
        settings: NodeAgentSettings,
        client: KubeClient,
        clock: Clock,
        metrics: RebootMetrics,
        events: NodeEvents,
        notifier: Notifier,
        host: Host | None = None,
    ) -> None:
        s = settings
        self.settings = s
        self.node = s.node
        self.clock = clock
        self.metrics = metrics
        self.events = events
        self.notifier = notifier
        self.host = host or Host(s.host)
        self.lock = RebootLock(
            client=client,
            clock=clock,
            node=s.node,
            namespace=s.lock.namespace,
            name=s.lock.name,
            concurrency=s.lock.concurrency,
            ttl=s.lock.ttl,
        )
        self.nodes = NodeOps(client=client, clock=clock, node=s.node, drain=s.drain)
        self.gates = Gates(client=client, node=s.node, settings=s.gates)
        self.marks = NodeMarks(
            nodes=self.nodes,
            clock=clock,
            settings=s.marks,
            event=self._event,
            failed=self.metrics.errors.labels(step="mark").inc,
        )
        self.ready = False
        self._uid = ""
        self._last_block: tuple[str, str] | None = None

    # ------------------------------------------------------------------------------- loop

    async def run(self) -> None:
        await self._tick_safely(recovery_only=True)
        await self.clock.sleep(self.settings.period * (0.5 + random.random()))  # noqa: S311
        while True:
            if await self._tick_safely():
                await self._wait_for_reboot()
            await self.clock.sleep(self.settings.period)

    async def _tick_safely(self, *, recovery_only: bool = False) -> bool:
        try:
            rebooting = await self.tick(recovery_only=recovery_only)
        except (KubeError, HostError) as exc:
            log.warning("reboot.check_failed", node=self.node, error=str(exc))
            self.metrics.errors.labels(step="check").inc()
            return False
        except Exception:  # the worker boundary: a bug must not stop the agent
            log.exception("reboot.check_crashed", node=self.node)
            self.metrics.errors.labels(step="crash").inc()
            return False
        self.ready = True
        return rebooting

    async def _wait_for_reboot(self) -> None:
        """The reboot was issued: wait for it (without renewing the slot). If the node is
        still up after ``--lock-ttl``, go back to the loop, whose recovery sorts it out."""
        limit = self.settings.lock.ttl if self.settings.lock.ttl > 0 else float("inf")
        waited = 0.0
        while waited < limit:
            step = min(WAIT_LOG_S, limit - waited)
            await self.clock.sleep(step)
            waited += step
            log.info("reboot.waiting", node=self.node, waited_s=round(waited))

    async def tick(self, *, recovery_only: bool = False) -> bool:
        """One check; True when a reboot was issued. :raises KubeError, HostError:"""
        node = await self.nodes.get()
        self._uid = node.uid
        held = await self.lock.held()
        self.metrics.lock_held.labels(node=self.node).set(int(held is not None))
        if held is not None or node.record is not None:
            await self._recover(node, held)
            return False
        if recovery_only:
            await self.marks.settle(node, Stage.STARTUP)
            return False
        stage, outcome = await self._check(node)
        await self.marks.settle(node, stage)
        if outcome is None:
            return False
        self._last_block = None
        if outcome.took_over:
            await self._written_off(outcome)
        return await self._cycle(outcome.slot)

    async def _check(self, node: rules.NodeView) -> tuple[Stage, Acquired | None]:
        """Sentinel, loop guard, window, gates, lock: where the check ended, and the slot
        taken (None: no reboot now)."""
        required = await self.host.reboot_required()
        self.metrics.set_required(required)
        if not required:
            self._last_block = None
            self.metrics.loop_stopped.labels(node=self.node).set(0)
            return Stage.NOT_NEEDED, None
        s = self.settings
        now = self.clock.wall()
        stopped = rules.loop_stopped(
            node.loop_history, now=now, window=s.loop_window, limit=s.loop_limit
        )
        self.metrics.loop_stopped.labels(node=self.node).set(int(stopped))
        if stopped:
            await self._block(
                "loop_guard",
                f"the reboot sentinel was still present after {s.loop_limit} reboots; remove "
                f"the {rules.NODE_LOOP_HISTORY} annotation to allow reboots again",
            )
            return Stage.HELD_BACK, None
        if not s.window.contains(datetime.fromtimestamp(now, UTC)):
            await self._block("window", f"outside the reboot window ({s.window.describe()})")
            return Stage.HELD_BACK, None
        if (gate := await self.gates.check()) is not None:
            await self._block(gate.reason, gate.detail)
            return Stage.GATED, None
        outcome = await self.lock.acquire(boot_id=node.boot_id)
        if isinstance(outcome, rules.Busy):
            holders = ", ".join(outcome.holders) or "a concurrent writer"
            await self._block("lock", f"reboot lock held by {holders}")
            return Stage.LOCK_BUSY, None
        return Stage.LOCKED, outcome

    async def _block(self, reason: str, detail: str) -> None:
        self.metrics.blocked.labels(reason=reason).inc()
        log.info("reboot.blocked", node=self.node, reason=reason, detail=detail)
        if self._last_block == (reason, detail):
            return
        self._last_block = (reason, detail)
        if reason == "loop_guard":
            await self._event(WARNING, "RebootLoopStopped", detail)
        else:
            await self._event(NORMAL, "RebootBlocked", f"reboot required but held: {detail}")

    # ------------------------------------------------------------------------------ cycle

    async def _cycle(self, slot: rules.SlotView) -> bool:
        self.metrics.lock_held.labels(node=self.node).set(1)
        log.info("reboot.lock_acquired", node=self.node, slot=slot.name)
        await self._event(NORMAL, "RebootLockAcquired", f"holds reboot lock {slot.name}")
        result = DrainResult(ok=False, reason="cancelled")
        async with self.lock.renewing(Phase.DRAINING) as renewal:
            result = await self._prepare()
        if renewal.lost:
            await self._lost_lock()
            return False
        if not result.ok and not self.settings.drain.force_reboot:
            await self._abort("drain_failed", "DrainFailed", f"drain failed: {result.reason}")
            return False
        try:
            await self.lock.renew(Phase.REBOOTING)
        except LockLost:
            await self._lost_lock()
            return False
        except KubeError as exc:
            await self._abort("command_failed", "RebootFailed", f"could not renew lock: {exc}")
            return False
        await self.notifier.send_now(
            "reboot", rules.render_message(self.settings.notify.reboot, self.node)
        )
        await self._event(NORMAL, "Rebooting", "rebooting the node")
        try:
            await self.host.reboot()
        except HostError as exc:
            await self._abort("command_failed", "RebootFailed", str(exc))
            return False
        log.info("reboot.commanded", node=self.node, method=self.settings.host.method)
        return True

    async def _prepare(self) -> DrainResult:
        """Cordon and drain (under the renewed lock); the outcome decides whether to reboot."""
        s = self.settings
        try:
            await self.marks.pre_labels()
        except KubeError as exc:
            return DrainResult(ok=False, reason=f"--pre-reboot-node-labels failed: {exc}")
        await self.clock.sleep(s.drain.delay)
        self.notifier.send("drain", rules.render_message(s.notify.drain, self.node))
        try:
            node = await self.nodes.cordon()
        except KubeError as exc:
            return DrainResult(ok=False, reason=f"cordon failed: {exc}")
        was = node.record.was_schedulable if node.record else True
        log.info("reboot.cordoned", node=self.node, was_schedulable=was)
        await self._event(NORMAL, "Cordoned", f"cordoned for reboot (was schedulable: {was})")
        await self._event(NORMAL, "Draining", "evicting pods")
        result = await self.nodes.drain()
        label = "success" if result.ok else "failed"
        self.metrics.drain_duration.labels(result=label).observe(result.seconds)
        log.info(
            "reboot.drained" if result.ok else "reboot.drain_failed",
            node=self.node,
            seconds=round(result.seconds, 2),
            reason=result.reason or None,
            remaining=list(result.remaining[:10]) or None,
        )
        if result.ok:
            await self._event(NORMAL, "Drained", f"drained in {result.seconds:.0f}s")
            await self.clock.sleep(s.reboot_delay)
        elif s.drain.force_reboot:
            await self._event(WARNING, "DrainFailed", f"{result.reason}; rebooting anyway")
        return result

    async def _abort(self, result: str, reason: str, message: str) -> None:
        """The attempt failed before the reboot: restore the node, then release the slot."""
        self.metrics.reboots.labels(result=result).inc()
        log.warning("reboot.aborted", node=self.node, result=result, detail=message)
        await self._event(WARNING, reason, message)
        await self._restore()
        await self._release()

    async def _lost_lock(self) -> None:
        self.metrics.reboots.labels(result="lock_lost").inc()
        self.metrics.lock_held.labels(node=self.node).set(0)
        log.warning("reboot.lock_lost", node=self.node)
        await self._event(
            WARNING, "RebootLockLost", "another node wrote off this node's reboot lock; aborted"
        )
        await self._restore()

    async def _restore(self, history: tuple[float, ...] | None = None) -> bool:
        post = self.settings.marks.post_labels
        _, uncordoned = await self.nodes.restore(history=history, post_labels=post)
        if uncordoned:
            log.info("reboot.uncordoned", node=self.node)
            await self._event(NORMAL, "Uncordoned", "uncordoned (it was schedulable before)")
            await self.marks.post_labelled()
        return uncordoned

    async def _release(self) -> None:
        await self.lock.release()
        self.metrics.lock_held.labels(node=self.node).set(0)
        await self._event(NORMAL, "RebootLockReleased", "released the reboot lock")

    async def _written_off(self, outcome: Acquired) -> None:
        dead = outcome.took_over
        self.metrics.reboots.labels(result="lock_expired").inc()
        message = outcome.written_off_message(self.node, ttl=self.settings.lock.ttl)
        log.warning("reboot.lock_expired", node=self.node, dead_node=dead, slot=outcome.slot.name)
        await self._event(WARNING, "RebootLockExpired", message, node=dead)

    # --------------------------------------------------------------------------- recovery

    async def _recover(self, node: rules.NodeView, held: rules.SlotView | None) -> None:
        record_boot = (
            held.boot_id if held is not None else (node.record.boot_id if node.record else "")
        )
        if record_boot != node.boot_id:
            await self._back_after_reboot(node, held, record_boot)
            return
        if held is not None and held.phase == Phase.REBOOTING:
            self.metrics.reboots.labels(result="not_rebooted").inc()
            await self._event(
                WARNING,
                "RebootFailed",
                f"the reboot was issued but the node did not reboot (boot ID {node.boot_id})",
            )
        log.info("reboot.restoring", node=self.node, held=held is not None)
        await self._restore()
        await self.marks.settle(node, Stage.RECOVERED)
        if held is not None:
            await self._release()

    async def _back_after_reboot(
        self, node: rules.NodeView, held: rules.SlotView | None, old_boot: str
    ) -> None:
        s = self.settings
        try:
            sentinel = await self.host.reboot_required()
        except HostError as exc:
            log.warning("reboot.sentinel_failed", node=self.node, error=str(exc))
            sentinel = False
        self.metrics.set_required(sentinel)
        history = rules.record_reboot(
            node.loop_history,
            now=self.clock.wall(),
            sentinel_present=sentinel,
            window=s.loop_window,
            limit=s.loop_limit,
        )
        if held is not None:
            try:
                await self.lock.renew(Phase.RECOVERING)
            except LockLost:
                held = None
        result = "sentinel_remains" if sentinel else "success"
        self.metrics.reboots.labels(result=result).inc()
        log.info("reboot.completed", node=self.node, boot_id=node.boot_id, sentinel=sentinel)
        await self._event(
            NORMAL if not sentinel else WARNING,
            "Rebooted",
            f"back with boot ID {node.boot_id} (was {old_boot or 'unknown'})"
            + (
                f"; the reboot sentinel is still present ({len(history)} time(s))"
                if sentinel
                else ""
            ),
        )
        if await self._restore(history):
            self.notifier.send("uncordon", rules.render_message(s.notify.uncordon, self.node))
        await self.marks.settle(node, Stage.RECOVERED if sentinel else Stage.DONE)
        if held is None:
            return
        if s.lock.release_delay > 0:
            async with self.lock.renewing(Phase.RECOVERING):
                await self.clock.sleep(s.lock.release_delay)
        await self._release()

    # ----------------------------------------------------------------------------- events

    async def _event(
        self, type_: str, reason: str, message: str, *, node: str | None = None
    ) -> None:
        """An Event on this node (or on ``node``, e.g. one written off)."""
        uid = self._uid if node is None else ""
        await self.events.record(
            node=node or self.node, uid=uid, type_=type_, reason=reason, message=message
        )
