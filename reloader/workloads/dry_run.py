"""``--dry-run``: every decision is made as usual, and no write is sent.

The restart pipeline writes through its :class:`~reloader.workloads.restarts.Restarter`, the one
place writes to workloads (and Jobs, and the Job journal) happen. :class:`DryRunRestarter` is the
switch: it takes the same calls, logs ``would_reload`` (a restart: pod-template change,
``restartAt``, a Job from a CronJob, a Job recreated) or ``would_write`` (a record, a pause, a
scale) with the patch it would send, and returns the workload as it is, unchanged. Patches hold
hashes and timestamps, never a Secret value.

Nothing is recorded, so the level-triggered controller finds the same difference again at its
next look at the workload (another update of it, a restart of reloader). A would-be write is
logged once per workload and content (:class:`Once`): the hashes a reload rolls for, the slot of
a scheduled restart, the bytes of any other patch.

:class:`DryRunEvents` is the Event recorder of a dry run: no Event at all, or, with
``--dry-run-events``, each Event with its reason prefixed ``DryRun`` (``DryRunReloaded``,
``DryRunScheduledRestart``, ...) so it is never mistaken for a real one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import structlog

from reloader.core.durations import format_time
from reloader.core.objects import ObjectKey
from reloader.kube import resources
from reloader.observability.events import EventRecorder
from reloader.workloads.domain.kinds import RestartMethod, restart_method
from reloader.workloads.domain.patches import merge_patches
from reloader.workloads.domain.verbs import restart_template_patch
from reloader.workloads.restarts import Restarter, record_only

if TYPE_CHECKING:
    from reloader.core.annotations import AnnotationNames
    from reloader.kube.client import KubeClient
    from reloader.settings import Settings
    from reloader.workloads.domain.kinds import WorkloadKind
    from reloader.workloads.pending_jobs import PendingJobs
    from reloader.workloads.restarts import Target

log = structlog.get_logger(__name__)

#: the prefix of every Event reason of a dry run
EVENT_PREFIX = "DryRun"


@dataclass(frozen=True, slots=True)
class WouldWrite:
    """A write a dry run did not send."""

    kind: str
    namespace: str
    name: str
    #: restarts the workload (``would_reload``), or only writes to it (``would_write``)
    restarts: bool
    #: the kind's restart verb (``template-patch``, ``restart-at``, ...)
    method: str
    patch: Mapping[str, Any]

    @property
    def event(self) -> str:
        return "would_reload" if self.restarts else "would_write"

    def fields(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "namespace": self.namespace,
            "name": self.name,
            "method": self.method,
            "patch": self.patch,
            "dry_run": True,
        }


def log_would_write(would: WouldWrite) -> None:
    log.info(would.event, **would.fields())


class Once:
    """Whether a (key, content) pair is new: the last content seen per key is kept."""

    def __init__(self) -> None:
        self._last: dict[ObjectKey, str] = {}

    def first(self, key: ObjectKey, content: object) -> bool:
        digest = hashlib.sha1(  # noqa: S324 - a fingerprint, not security
            json.dumps(content, sort_keys=True, default=str).encode()
        ).hexdigest()
        if self._last.get(key) == digest:
            return False
        self._last[key] = digest
        return True

    def forget(self, key: ObjectKey) -> None:
        self._last.pop(key, None)


class DryRunRestarter(Restarter):
    """A :class:`Restarter` that reports what it would write, and writes nothing."""

    dry_run = True

    def __init__(
        self,
        *,
        client: KubeClient,
        names: AnnotationNames,
        pending: PendingJobs | None = None,
        report: Callable[[WouldWrite], None] = log_would_write,
    ) -> None:
        super().__init__(client=client, names=names, pending=pending)
        self.report = report
        self.once = Once()
        self._notified = Once()  # apart: webhook mode also writes a record after the POST

    async def write(
        self,
        *,
        view: Target,
        kind: WorkloadKind,
        patch: Mapping[str, Any] | None,
        rolls: bool,
        job_seed: Sequence[str] = (),
        extra: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        method = restart_method(kind, annotations=view.annotations, names=self.names)
        sent = merge_patches(record_only(patch or {}, rolls, method), extra or {})
        if rolls and method is not RestartMethod.TEMPLATE_PATCH:
            sent = merge_patches(patch or {}, extra or {})  # the template of the Job it makes
        content = ("reload", list(job_seed)) if rolls else sent
        return await self._would(view, kind, WouldWrite(*_who(view), rolls, method, sent), content)

    async def restart(
        self,
        *,
        target: Target,
        kind: WorkloadKind,
        at: datetime,
        record: Mapping[str, Any],
        job_seed: str,
    ) -> tuple[dict[str, Any], str | None]:
        method = kind.immediate_restart
        template: Mapping[str, Any] = {}
        if method is RestartMethod.TEMPLATE_PATCH:
            template = restart_template_patch(kind, at)
        elif method is RestartMethod.RESTART_AT:
            template = {"spec": {"restartAt": format_time(at)}}
        sent = merge_patches(template, record)
        would = WouldWrite(*_who(target), True, method, sent)
        return await self._would(target, kind, would, ("restart", job_seed)), None

    async def patch(
        self, view: Target, kind: WorkloadKind, patch: Mapping[str, Any], *, restarts: bool = False
    ) -> dict[str, Any]:
        would = WouldWrite(*_who(view), restarts, "patch", dict(patch))
        return await self._would(view, kind, would, would.patch)

    async def patch_unconditionally(
        self, view: Target, kind: WorkloadKind, patch: Mapping[str, Any]
    ) -> dict[str, Any]:
        return await self.patch(view, kind, patch)

    async def notify(self, url: str, body: bytes, *, view: Target) -> None:
        """Webhook mode: the POST is not sent either."""
        if self._notified.first(ObjectKey(view.kind, view.namespace, view.name), body.decode()):
            who = dict(zip(("kind", "namespace", "name"), _who(view), strict=True))
            log.info("would_notify", **who, url=url, body=body.decode(), dry_run=True)

    async def _would(
        self, view: Target, kind: WorkloadKind, would: WouldWrite, content: object
    ) -> dict[str, Any]:
        """Report ``would`` (once per workload and ``content``); the workload as it is."""
        if self.once.first(ObjectKey(view.kind, view.namespace, view.name), content):
            self.report(would)
        return await resources.get(
            self.client, kind.resource, namespace=view.namespace, name=view.name
        )


def _who(view: Target) -> tuple[str, str, str]:
    return view.kind, view.namespace, view.name


def event_recorder(post: Any, settings: Settings) -> EventRecorder:
    """The controller's Event recorder: :class:`DryRunEvents` under ``--dry-run``."""
    if settings.dry_run:
        return DryRunEvents(post=post, post_events=settings.dry_run_events)
    return EventRecorder(post=post)


class DryRunEvents(EventRecorder):
    """The Event recorder of a dry run: nothing, or (``post_events``) every Event with its
    reason prefixed ``DryRun`` and its message prefixed ``Dry run:``."""

    def __init__(self, *, post: Any, post_events: bool) -> None:
        super().__init__(post=post)
        self.post_events = post_events

    async def record(
        self,
        *,
        involved: Mapping[str, Any],
        type_: str,
        reason: str,
        message: str,
        component: str | None = None,
    ) -> None:
        if not self.post_events:
            return
        await super().record(
            involved=involved,
            type_=type_,
            reason=f"{EVENT_PREFIX}{reason}",
            message=f"Dry run: {message}",
            component=component,
        )
