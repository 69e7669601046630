"""The restart pipeline: every restart the controller makes, whatever triggered it, takes the
same steps.

A trigger (a configuration change, a schedule) decides *that* a workload should restart and what
to write; the pipeline then

1. **admits** it: outside its restart window, or while its previous rollout is in progress, or
   when the rollout limits are reached, it is held (:class:`Hold`) and looked at again later;
   nothing is written and nothing recorded, so the level-triggered trigger applies the newest
   content when the hold ends;
2. **writes** it under the write-rate limit, with the kind's restart verb
   (``workloads/restarts.py``); a failed write gives the rollout slot back;
3. keeps the **slots**: a rollout holds its slot until the workload reports it complete (the
   informer handler calls :meth:`finished`), or ``--rollout-timeout``; a Job holds none.

Conflicts are retried by the caller around plan + admit + write (``runtime/retry.py``), since a
fresh read must be planned again. Reporting stays with each trigger (its Event reasons differ),
on top of ``workloads/reporting.py``.

Under ``--dry-run`` the pipeline's restarter is ``workloads/dry_run.py``'s: admission decides as
always, and the write is reported instead of sent.

``reloader restart`` is an operator's explicit, one-shot request: it uses the same restart verbs
(``workloads/restarts.py``) and conflict retry, but no admission (it is never held by the
controller's limits or windows) and no write-rate limit (one write).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

from reloader.workloads.admission import (
    WINDOW,
    Hold,
    HoldReason,
    RolloutGate,
    WriteLimiter,
    window_for,
)
from reloader.workloads.dry_run import DryRunRestarter
from reloader.workloads.restarts import Restarter

if TYPE_CHECKING:
    from collections.abc import Mapping

    from reloader.core.annotations import AnnotationNames
    from reloader.core.objects import ObjectKey
    from reloader.kube.client import KubeClient
    from reloader.runtime.clock import Clock
    from reloader.settings import Settings
    from reloader.workloads.domain.kinds import WorkloadKind
    from reloader.workloads.pending_jobs import PendingJobs

T = TypeVar("T")


#: a held restart outside its window looks again at least this often (clock changes)
WINDOW_RECHECK = 300.0


class RestartPipeline:
    """Admission, the write and the rollout slots of one trigger's restarts."""

    def __init__(
        self,
        *,
        restarter: Restarter,
        gate: RolloutGate,
        writes: WriteLimiter,
        names: AnnotationNames,
        window: str = "",
        window_timezone: str = "UTC",
        on_change: Callable[[RestartPipeline], None] | None = None,
    ) -> None:
        self.restarter = restarter
        self.gate = gate
        self.writes = writes
        self.names = names
        self.window = window
        self.window_timezone = window_timezone
        self._on_change = on_change
        #: restarts held back, and why
        self.held: dict[ObjectKey, HoldReason] = {}

    @classmethod
    def build(
        cls,
        *,
        client: KubeClient,
        settings: Settings,
        limits: tuple[int, int],
        flap_max_wait: float,
        writes: WriteLimiter | None,
        pending: PendingJobs | None,
        on_change: Callable[[RestartPipeline], None],
        clock: Clock,
        precondition: bool = True,
    ) -> RestartPipeline:
        """A pipeline of the process's settings; ``writes`` is shared between triggers.

        ``limits``: rollouts in progress at once, cluster-wide and per namespace (0: no limit);
        a rollout counts until it completes or ``--rollout-timeout``.
        """
        safety = settings.safety
        gate = RolloutGate(
            global_limit=limits[0],
            namespace_limit=limits[1],
            timeout=safety.rollout_timeout,
            flap_max_wait=flap_max_wait,
            now=clock.monotonic,
        )
        restarter = (
            DryRunRestarter(client=client, names=settings.names, pending=pending)
            if settings.dry_run
            else Restarter(
                client=client, names=settings.names, precondition=precondition, pending=pending
            )
        )
        return cls(
            restarter=restarter,
            gate=gate,
            writes=writes
            or WriteLimiter(rate=safety.writes_per_second, burst=safety.write_burst, clock=clock),
            names=settings.names,
            window=safety.window,
            window_timezone=safety.window_timezone,
            on_change=on_change,
        )

    # ------------------------------------------------------------------ 1. admission
    def admit(
        self,
        key: ObjectKey,
        annotations: Mapping[str, str],
        *,
        rollout_complete: bool,
        last_change: float | None = None,
        now: float,
        windows: bool = True,
    ) -> tuple[Hold | None, tuple[str, ...]]:
        """None when ``key`` may restart now (its slot is then taken), else why it waits; and
        the problems found in its window annotations."""
        problems: tuple[str, ...] = ()
        if windows:
            window, problems = window_for(
                annotations,
                names=self.names,
                default=self.window,
                default_timezone=self.window_timezone,
            )
            if window is not None and (wait := window.wait(now)) > 0:
                return Hold(WINDOW, min(wait, WINDOW_RECHECK)), problems
        hold = self.gate.check(key, rollout_complete=rollout_complete, last_change=last_change)
        return hold, problems

    def hold(self, key: ObjectKey, reason: HoldReason) -> bool:
        """Mark ``key`` held; True when it was not held for that reason yet (report it)."""
        if self.held.get(key) == reason:
            return False
        self.held[key] = reason
        self._changed()
        return True

    def release(self, key: ObjectKey) -> HoldReason | None:
        """``key`` is no longer held: the reason it was held for (report it), or None."""
        reason = self.held.pop(key, None)
        if reason is not None:
            self._changed()
        return reason

    # ------------------------------------------------------------------ 2. the write
    async def write(
        self, key: ObjectKey, kind: WorkloadKind, action: Callable[[], Awaitable[T]], *, rolls: bool
    ) -> T:
        """Run ``action`` (a restart verb) under the write-rate limit; a failure frees the slot
        that admission took, and so does a restart that rolls nothing out (a Job, or any restart
        of a dry run). A restart (``rolls``) takes the next token before the writes that only
        record."""
        await self.writes.acquire(urgent=rolls)
        try:
            result = await action()
        except BaseException:
            self.gate.release(key)
            self._changed()
            raise
        if rolls and (not kind.rolls_out or self.restarter.dry_run):
            self.gate.release(key)
        self._changed()
        return result

    # ------------------------------------------------------------------ 3. the slots
    def adopt(self, key: ObjectKey) -> None:
        """A rollout of ours found under way (started before this process) holds a slot."""
        self.gate.adopt(key)
        self._changed()

    def finished(self, key: ObjectKey) -> list[ObjectKey]:
        """``key``'s rollout completed: the held keys to look at again."""
        return self._wake([key, *self.gate.finished(key)])

    def forget(self, key: ObjectKey) -> list[ObjectKey]:
        """``key`` is gone: the held keys to look at again."""
        self.release(key)
        return self._wake(self.gate.forget(key))

    def _wake(self, keys: list[ObjectKey]) -> list[ObjectKey]:
        self._changed()
        return [k for k in keys if k in self.held]

    def _changed(self) -> None:
        if self._on_change is not None:
            self._on_change(self)
