"""What every outcome about a workload leaves behind: one log line and one Kubernetes Event.

Each trigger's reporter (``reload/reporting.py``, ``schedule/reporting.py``) builds on
:class:`WorkloadReporter`: the Event body, the identity fields of log lines, and the "one warning
per distinct set of problems" rule live here once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from reloader.core.objects import ObjectKey
from reloader.observability.events import NORMAL, WARNING, Identified, involved_object
from reloader.workloads.dry_run import Once

if TYPE_CHECKING:
    from reloader.observability.events import EventRecorder
    from reloader.workloads.domain.kinds import WorkloadKind

__all__ = ["NORMAL", "WARNING", "WorkloadReporter", "ident"]


def ident(subject: Identified) -> dict[str, str]:
    """The fields that name a workload in every log line."""
    return {"kind": subject.kind, "namespace": subject.namespace, "name": subject.name}


class WorkloadReporter:
    def __init__(self, *, recorder: EventRecorder, logger: Any, dry_run: bool = False) -> None:
        self.recorder = recorder
        self.log = logger
        #: --dry-run: the restarter logged the write it did not send; the reporter counts it
        #: (dry_run="true") once per workload and content, and its Events go to DryRunEvents
        self.dry_run = dry_run
        self._dry_runs = Once()
        self._warned: dict[ObjectKey, tuple[str, ...]] = {}

    def forget(self, key: ObjectKey) -> None:
        self._warned.pop(key, None)
        self._dry_runs.forget(key)

    def first_dry_run(self, subject: Identified, content: object) -> bool:
        """Whether a dry run's would-be restart of ``subject`` with ``content`` (the hashes it
        rolls for, the slot it restarts for) is new: repeats are not counted again."""
        return self._dry_runs.first(
            ObjectKey(subject.kind, subject.namespace, subject.name), content
        )

    def new_warnings(self, key: ObjectKey, warnings: tuple[str, ...]) -> bool:
        """Whether ``warnings`` differ from what was last reported for ``key`` (then report)."""
        if self._warned.get(key, ()) == warnings:
            return False
        self._warned[key] = warnings
        return True

    async def invalid(
        self, subject: Identified, kind: WorkloadKind, warnings: tuple[str, ...], *, event: str
    ) -> None:
        """One ``InvalidAnnotation`` Warning Event and log line per problem."""
        for text in warnings:
            self.log.warning(event, **ident(subject), problem=text)
            await self.event(subject, kind, WARNING, "InvalidAnnotation", text)

    async def outcome(
        self,
        subject: Identified,
        kind: WorkloadKind,
        type_: str,
        reason: str,
        message: str,
        /,
        *,
        log_event: str,
        **fields: Any,
    ) -> None:
        """The usual pair: one log line (a warning for a Warning Event) and one Event."""
        write = self.log.warning if type_ == WARNING else self.log.info
        write(log_event, **ident(subject), **fields)
        await self.event(subject, kind, type_, reason, message)

    async def event(
        self,
        subject: Identified,
        kind: WorkloadKind,
        type_: str,
        reason: str,
        message: str,
        component: str | None = None,
    ) -> None:
        await self.recorder.record(
            involved=involved_object(kind.resource.api_version, subject),
            type_=type_,
            reason=reason,
            message=message,
            component=component,
        )
