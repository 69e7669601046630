"""The controllers wired as ``reloader/app.py`` wires them, against a :class:`FakeCluster`, on a
:class:`FakeClock`.

:meth:`Harness.running` runs the Event recorder, every informer (real LIST and WATCH over HTTP),
waits for the caches, queues every workload (``enqueue_all``) and starts the workers, as ``lead``
does in production; each reconcile's outcome is logged in :attr:`Harness.reconciles`, and a
reconcile that raised fails the test when it leaves ``running``.

Time moves only when a test calls :meth:`Harness.advance`. Between steps a test calls
:meth:`Harness.settle`: it returns once every cache holds what the server holds and no key is
ready or being reconciled (a bounded loop of checkpoints: the informers' events arrive over a
socket, so "every task is blocked" is not enough). Keys requeued for later stay delayed until the
clock reaches them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

import anyio
from anyio.lowlevel import checkpoint

from reloader.app import controller_metrics
from reloader.core.objects import DEPLOYMENTS, ObjectKey
from reloader.kube import resources
from reloader.observability.notify import Alerter
from reloader.reload.controller import ReloadController
from reloader.runtime.controller import Requeue, run_workers
from reloader.schedule.controller import ScheduleController
from reloader.workloads.admission import WriteLimiter
from reloader.workloads.dry_run import event_recorder
from reloader.workloads.scope import Scope

if TYPE_CHECKING:
    from reloader.kube.client import KubeClient
    from reloader.runtime.clock import FakeClock
    from reloader.runtime.queue import WorkQueue
    from reloader.settings import Settings
    from tests.unit.controllers.fake_cluster import FakeCluster

#: real seconds any wait of a test may take before it fails (the tests take milliseconds)
DEADLINE = 10.0
#: consecutive quiet checkpoints that make :meth:`Harness.settle` return
QUIET_CHECKPOINTS = 20


@dataclass(frozen=True)
class Reconciled:
    controller: str
    key: ObjectKey
    result: Requeue | None


class Harness:
    def __init__(
        self,
        *,
        cluster: FakeCluster,
        client: KubeClient,
        clock: FakeClock,
        settings: Settings,
        reload: bool = True,
        schedule: bool = False,
    ) -> None:
        self.cluster = cluster
        self.clock = clock
        self.metrics = controller_metrics()
        self.scope = Scope(client=client, settings=settings.scope)
        self.recorder = event_recorder(partial(resources.post_event, client), settings)
        safety = settings.safety
        writes = WriteLimiter(rate=safety.writes_per_second, burst=safety.write_burst, clock=clock)
        self.reload = (
            ReloadController(
                client=client,
                settings=settings,
                metrics=self.metrics,
                recorder=self.recorder,
                scope=self.scope,
                alerter=Alerter(settings.alerts),
                writes=writes,
                clock=clock,
            )
            if reload
            else None
        )
        self.schedule = (
            ScheduleController(
                client=client,
                settings=settings,
                metrics=self.metrics,
                recorder=self.recorder,
                scope=self.scope,
                writes=writes,
                clock=clock,
            )
            if schedule
            else None
        )
        self.reconciles: list[Reconciled] = []
        #: reconciles that raised (the workers retry them with backoff, as in production)
        self.failures: list[tuple[ObjectKey, Exception]] = []
        self._workers = 0
        self._fences = 0

    # ------------------------------------------------------------------ running
    def _controllers(self) -> list[tuple[str, ReloadController | ScheduleController]]:
        named = (("reload", self.reload), ("schedule", self.schedule))
        return [(name, c) for name, c in named if c is not None]

    def _queues(self) -> list[WorkQueue[ObjectKey]]:
        return [c.queue for _, c in self._controllers()]

    @asynccontextmanager
    async def running(self, *, workers: int = 4) -> AsyncIterator[Harness]:
        """Informers, Event recorder and workers in one task group (``workers=0``: none, the
        test calls ``reconcile`` itself); cancelled on exit."""
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self.recorder.run)
                informers = self.scope.all_informers()
                for informer in informers:
                    tg.start_soon(informer.run)
                with anyio.fail_after(DEADLINE):
                    for informer in informers:
                        await informer.synced.wait()
                self._workers = workers
                for name, controller in self._controllers():
                    controller.enqueue_all()
                    if workers:
                        tg.start_soon(
                            partial(
                                run_workers,
                                name=name,
                                queue=controller.queue,
                                reconcile=self._logged(name, controller.reconcile),
                                workers=workers,
                            )
                        )
                try:
                    yield self
                finally:
                    tg.cancel_scope.cancel()
            assert not self.failures, f"reconciles failed: {self.failures}"
        except BaseExceptionGroup as group:  # a failed assertion of the test: show it alone
            if len(group.exceptions) == 1:
                raise group.exceptions[0] from None
            raise

    def _logged(
        self, name: str, reconcile: Callable[[ObjectKey], Awaitable[Requeue | None]]
    ) -> Callable[[ObjectKey], Awaitable[Requeue | None]]:
        async def logged(key: ObjectKey) -> Requeue | None:
            try:
                result = await reconcile(key)
            except Exception as exc:
                self.failures.append((key, exc))
                raise
            self.reconciles.append(Reconciled(name, key, result))
            return result

        return logged

    # ------------------------------------------------------------------ time and waiting
    async def advance(self, seconds: float) -> None:
        """Move the clock; the requeued keys now due are reconciled before this returns."""
        self.clock.advance(seconds)
        await self.settle()

    async def settle(self) -> None:
        """Return once every informer holds what the server holds and, when workers run, no key
        is ready or being reconciled."""
        quiet = 0
        with anyio.fail_after(DEADLINE):
            while quiet < QUIET_CHECKPOINTS:
                await checkpoint()
                quiet = quiet + 1 if self._caught_up() and self._idle() else 0

    async def fence(self) -> None:
        """Settle once every watch event sent so far has reached the caches: a change to a
        bystander Deployment travels the same stream as the echoes of earlier writes, after them
        (``settle`` alone cannot tell: a controller caches what its write returned)."""
        self._fences += 1
        labels = {"fence": str(self._fences)}
        meta = {"name": "fence", "namespace": "fence", "labels": labels}
        self.cluster.put(DEPLOYMENTS, {"metadata": meta, "spec": {}})
        await self.settle()

    async def until(self, condition: Callable[[], bool]) -> None:
        """Return once ``condition()`` holds (something that arrives over a socket)."""
        with anyio.fail_after(DEADLINE):
            while not condition():
                await checkpoint()

    def _idle(self) -> bool:
        if not self._workers:
            return True  # the test reconciles itself
        return all(q.depth == 0 and q.statistics().processing == 0 for q in self._queues())

    def _caught_up(self) -> bool:
        """Every cached object is at the server's resourceVersion, and no other is cached."""
        by_kind: dict[str, dict[ObjectKey, str]] = {}
        for collection in self.cluster.store.values():
            for obj in collection.values():
                meta = obj["metadata"]
                key = ObjectKey(obj["kind"], meta.get("namespace", ""), meta["name"])
                by_kind.setdefault(obj["kind"], {})[key] = meta["resourceVersion"]
        for informers in self.scope.informer_sets:
            for informer in informers.members.values():
                want = by_kind.get(informer.kind, {})
                if len(informer) != len(want):
                    return False
                for key, version in want.items():
                    cached: Any = informer.get(key)
                    if cached is None or cached.resource_version != version:
                        return False
        return True

    # ------------------------------------------------------------------ reading results
    def results(self, key: ObjectKey, controller: str = "reload") -> list[Requeue | None]:
        """What each reconcile of ``key`` by ``controller`` returned, oldest first."""
        return [r.result for r in self.reconciles if r.key == key and r.controller == controller]

    def sample(self, name: str, **labels: str) -> float | None:
        return self.metrics.registry.get_sample_value(name, labels)
