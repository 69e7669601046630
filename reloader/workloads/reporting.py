"""What every outcome about a workload leaves behind: one log line and one Kubernetes Event.

Each trigger's reporter (``reload/reporting.py``, ``schedule/reporting.py``) builds on
:class:`WorkloadReporter`: the Event body, the identity fields of log lines, and the "one warning
per distinct set of problems" rule live here once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from reloader.observability.events import NORMAL, WARNING, Identified, involved_object

if TYPE_CHECKING:
    from reloader.core.objects import ObjectKey
    from reloader.observability.events import EventRecorder
    from reloader.workloads.domain.kinds import WorkloadKind

__all__ = ["NORMAL", "WARNING", "WorkloadReporter", "ident"]


def ident(subject: Identified) -> dict[str, str]:
    """The fields that name a workload in every log line."""
    return {"kind": subject.kind, "namespace": subject.namespace, "name": subject.name}


class WorkloadReporter:
    def __init__(self, *, recorder: EventRecorder, logger: Any) -> None:
        self.recorder = recorder
        self.log = logger
        self._warned: dict[ObjectKey, tuple[str, ...]] = {}

    def forget(self, key: ObjectKey) -> None:
        self._warned.pop(key, None)

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
