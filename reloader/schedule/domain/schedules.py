"""Scheduled restarts: which slot of a cron schedule is due, restarted once, never twice.

A workload asks for restarts on a schedule with annotations (names in :class:`ScheduleNames`):
a cron expression (five fields, or ``@hourly`` … ``@yearly``), an optional IANA time zone
(default UTC), a method (``rolling``, the default, or ``stop-start``) and an optional catch-up
deadline. The controller keeps its state *on the workload*, so that a restart of the controller
changes nothing:

- ``last-scheduled-restart``: the slot (RFC 3339, UTC) of the last restart it performed;
- ``restart-schedule-baseline``: slots at or before this instant are never restarted. Written when
  a schedule is first seen (so adding a schedule does not restart at once, as a new CronJob does
  not run for the slots before it existed) and when a slot is skipped.

The *watermark* is the later of the two. At ``now``, the latest slot that is due (its time plus
the workload's jitter is not after ``now``) is restarted if it is after the watermark and at most
``deadline`` seconds late; if it is later than that, it is skipped (recorded, reported, not
restarted). Only the latest due slot is considered, so any number of slots missed while the
controller was down give one catch-up restart, or one skip. A slot is identified by its instant:
when clocks go back, a wall-clock time that occurs twice fires once (the first time); when they
go forward, a time that does not exist fires at the first instant after the gap (croniter's rule,
as cron does).

Everything here is pure: the time is a parameter, never read from a clock.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from reloader.core.annotations import annotation_warning, quote
from reloader.core.durations import parse_duration
from reloader.workloads.domain.kinds import KINDS

if TYPE_CHECKING:
    from collections.abc import Mapping
    from datetime import tzinfo


#: what ``kubectl rollout restart`` writes on the pod template: the restart time, RFC 3339
#: shorthands accepted besides five fields (croniter would accept more forms; we do not)
SHORTHANDS: Mapping[str, str] = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}

#: a fixed instant from which a schedule must fire at least once in croniter's search window
#: (50 years), or it never fires (``0 0 30 2 *``)
_REFERENCE = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class ScheduleNames:
    """The annotation keys of scheduled restarts (all on the workload's metadata)."""

    schedule: str = "reloader.stakater.com/restart-schedule"
    timezone: str = "reloader.stakater.com/restart-timezone"
    method: str = "reloader.stakater.com/restart-method"
    deadline: str = "reloader.stakater.com/restart-deadline"
    #: written: the slot of the last scheduled restart performed
    last_restart: str = "reloader.stakater.com/last-scheduled-restart"
    #: written: slots at or before this instant are not restarted (adoption, skips)
    baseline: str = "reloader.stakater.com/restart-schedule-baseline"
    #: written during a stop-start restart: the replica count to scale back to
    stop_start_replicas: str = "reloader.stakater.com/stop-start-replicas"

    def keys(self) -> frozenset[str]:
        return frozenset(
            (
                self.schedule,
                self.timezone,
                self.method,
                self.deadline,
                self.last_restart,
                self.baseline,
                self.stop_start_replicas,
            )
        )


class RestartStyle(StrEnum):
    """How a scheduled restart is done."""

    ROLLING = "rolling"  # the kind's own restart: template annotation, Job, restartAt
    STOP_START = "stop-start"  # scale to zero, wait until the pods are gone, scale back


@dataclass(frozen=True, slots=True)
class Schedule:
    """A valid schedule read from a workload's annotations."""

    #: as written in the annotation
    expression: str
    #: five fields (a shorthand expanded)
    cron: str
    timezone: str
    zone: tzinfo
    method: RestartStyle = RestartStyle.ROLLING
    #: the workload's own catch-up deadline in seconds (None: the controller's default)
    deadline: float | None = None


def parse_cron(text: str) -> str:
    """Five cron fields (a shorthand expanded).

    :raises ValueError: with a message saying what is wrong (field count, a value out of
        range, a schedule that never fires).
    """
    value = " ".join(text.split())
    cron = SHORTHANDS.get(value.lower(), value)
    if cron.startswith("@"):
        raise ValueError(f"unknown shorthand (use one of {', '.join(sorted(SHORTHANDS))})")
    if len(cron.split()) != 5:
        raise ValueError("expected five fields (minute hour day-of-month month day-of-week)")
    # croniter (and dateutil, which it imports) is imported on the first schedule read, not at
    # start: 1.5 MB of RSS that a controller whose workloads have no schedule never needs
    from croniter import CroniterBadDateError, CroniterError, croniter

    try:
        croniter(cron, _REFERENCE).get_next(datetime)
    except CroniterBadDateError:
        raise ValueError("never fires") from None
    except (CroniterError, ValueError, KeyError, IndexError) as exc:
        raise ValueError(str(exc) or type(exc).__name__) from None
    return cron


def load_zone(name: str) -> tzinfo:
    """The IANA time zone ``name``. :raises ValueError: unknown or malformed name."""
    if name.upper() == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError("unknown time zone (use an IANA name such as Europe/Berlin)") from None


def parse_schedule(
    annotations: Mapping[str, str], *, kind: str, names: ScheduleNames
) -> tuple[Schedule | None, tuple[str, ...]]:
    """The workload's schedule (None: none, or unusable) and warnings for bad values.

    An invalid expression or time zone leaves no schedule. A bad method falls back to a rolling
    restart, a bad deadline to the controller's default: the workload still restarts on time.
    """
    text = annotations.get(names.schedule)
    if text is None or not text.strip():
        return None, ()
    warnings: list[str] = []
    try:
        cron = parse_cron(text)
    except ValueError as exc:
        problem = f"invalid cron expression {quote(text)}: {exc}; no scheduled restarts"
        warnings.append(annotation_warning(names.schedule, problem))
        cron = ""
    tz_name = annotations.get(names.timezone, "").strip() or "UTC"
    try:
        zone = load_zone(tz_name)
    except ValueError as exc:
        problem = f"invalid time zone {quote(tz_name)}: {exc}; no scheduled restarts"
        warnings.append(annotation_warning(names.timezone, problem))
        zone = None
    method = _method(annotations, kind=kind, names=names, warnings=warnings)
    deadline = _deadline(annotations, names=names, warnings=warnings)
    if not cron or zone is None:
        return None, tuple(warnings)
    return Schedule(text, cron, tz_name, zone, method, deadline), tuple(warnings)


def _plural_list(names: list[str]) -> str:
    """``As, Bs and Cs``."""
    plurals = [f"{name}s" for name in names]
    return " and ".join(filter(None, (", ".join(plurals[:-1]), plurals[-1])))


#: the kinds a stop-start restart applies to, for messages: Deployments, StatefulSets and Rollouts
_SCALING = _plural_list([k.kind for k in KINDS.values() if k.scales])


def _method(
    annotations: Mapping[str, str], *, kind: str, names: ScheduleNames, warnings: list[str]
) -> RestartStyle:
    raw = annotations.get(names.method, "").strip()
    if not raw:
        return RestartStyle.ROLLING
    try:
        method = RestartStyle(raw.lower())
    except ValueError:
        problem = f"invalid method {quote(raw)} (use rolling or stop-start): restarting rolling"
        warnings.append(annotation_warning(names.method, problem))
        return RestartStyle.ROLLING
    if method is RestartStyle.STOP_START and not (kind in KINDS and KINDS[kind].scales):
        problem = f"stop-start applies to {_SCALING}, not a {kind}: restarting rolling"
        warnings.append(annotation_warning(names.method, problem))
        return RestartStyle.ROLLING
    return method


def _deadline(
    annotations: Mapping[str, str], *, names: ScheduleNames, warnings: list[str]
) -> float | None:
    raw = annotations.get(names.deadline)
    if raw is None:
        return None
    try:
        seconds = parse_duration(raw)
    except ValueError:
        seconds = -1.0
    if seconds <= 0:
        problem = f"invalid duration {quote(raw)} (use e.g. 30m, 2h): using the default"
        warnings.append(annotation_warning(names.deadline, problem))
        return None
    return seconds


# ---------------------------------------------------------------------- slots


def _ambiguous(local: datetime) -> bool:
    """Whether this wall-clock time occurs twice (clocks went back)."""
    return local.replace(fold=0).utcoffset() != local.replace(fold=1).utcoffset()


def latest_slot(schedule: Schedule, at: datetime) -> datetime | None:
    """The latest fire time at or before ``at`` (UTC), or None if there is none."""
    from croniter import CroniterBadDateError, croniter  # lazy: see parse_cron

    start = (at + timedelta(microseconds=1)).astimezone(schedule.zone)
    try:
        local: datetime = croniter(schedule.cron, start).get_prev(datetime)
    except CroniterBadDateError:
        return None
    if local.fold == 1 and _ambiguous(local):
        local = local.replace(fold=0)  # the repeated wall time: its slot is the first one
    return local.astimezone(UTC)


def next_slot(schedule: Schedule, after: datetime) -> datetime | None:
    """The first fire time strictly after ``after`` (UTC), or None if there is none."""
    from croniter import CroniterBadDateError, croniter  # lazy: see parse_cron

    it = croniter(schedule.cron, after.astimezone(schedule.zone))
    try:
        for _ in range(4):  # at most a few repeats of a wall time when clocks go back
            local: datetime = it.get_next(datetime)
            if local.fold == 1 and _ambiguous(local):
                continue
            return local.astimezone(UTC)
    except CroniterBadDateError:
        return None
    return None  # pragma: no cover - a schedule does not repeat four times in one hour


def jitter_seconds(namespace: str, name: str, max_seconds: int) -> int:
    """A delay in ``[0, max_seconds]`` fixed per workload (a hash of ``namespace/name``).

    Stable across controller restarts and replicas, so a workload restarts at the same offset
    after every slot, and workloads sharing a schedule are spread over the interval.
    """
    if max_seconds <= 0:
        return 0
    digest = hashlib.sha256(f"{namespace}/{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % (max_seconds + 1)


# ---------------------------------------------------------------------- state and decision


def parse_time(value: str) -> datetime | None:
    """An RFC 3339 instant (UTC when no offset is given), or None when unparsable."""
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class ScheduleState:
    """What the workload records about its schedule."""

    last_restart: datetime | None = None
    baseline: datetime | None = None
    warnings: tuple[str, ...] = ()

    @property
    def watermark(self) -> datetime | None:
        """Slots at or before this instant have been handled (restarted, skipped, adopted)."""
        known = [t for t in (self.last_restart, self.baseline) if t is not None]
        return max(known) if known else None


def read_state(annotations: Mapping[str, str], *, names: ScheduleNames) -> ScheduleState:
    """The recorded instants; an unparsable one is ignored with a warning."""
    values: dict[str, datetime | None] = {}
    warnings: list[str] = []
    for key in (names.last_restart, names.baseline):
        raw = annotations.get(key)
        values[key] = parse_time(raw) if raw is not None else None
        if raw is not None and values[key] is None:
            problem = f"invalid time {quote(raw)} (RFC 3339 expected): ignored"
            warnings.append(annotation_warning(key, problem))
    return ScheduleState(values[names.last_restart], values[names.baseline], tuple(warnings))


class Action(StrEnum):
    ADOPT = "adopt"  # first sight: record the baseline, restart nothing
    WAIT = "wait"  # nothing due: come back at ``due``
    RESTART = "restart"  # restart for ``slot`` now
    SKIP = "skip"  # ``slot`` was missed by more than the deadline: record it, do not restart


@dataclass(frozen=True, slots=True)
class ScheduleDecision:
    action: Action
    #: the slot restarted or skipped
    slot: datetime | None = None
    #: seconds between the slot's due time (slot + jitter) and now
    late: float = 0.0
    #: when the next restart is due (slot + jitter, UTC), after this decision is carried out
    due: datetime | None = None


def decide_schedule(
    *,
    schedule: Schedule,
    state: ScheduleState,
    now: datetime,
    deadline: float,
    jitter: int = 0,
) -> ScheduleDecision:
    """What to do at ``now`` (see the module docstring for the rules).

    :param deadline: seconds a due slot may be late and still restart (the workload's own
        deadline wins over this default).
    :param jitter: the workload's fixed delay after each slot, seconds.
    """
    shift = timedelta(seconds=jitter)
    shifted = now - shift  # slots at or before this are due
    watermark = state.watermark

    def due_after(moment: datetime) -> datetime | None:
        upcoming = next_slot(schedule, moment)
        return upcoming + shift if upcoming is not None else None

    if watermark is None:  # the baseline becomes ``now``: slots up to now are not restarted
        return ScheduleDecision(Action.ADOPT, due=due_after(now))
    slot = latest_slot(schedule, shifted)
    if slot is None or slot <= watermark:
        return ScheduleDecision(Action.WAIT, due=due_after(max(shifted, watermark)))
    late = (shifted - slot).total_seconds()
    limit = schedule.deadline if schedule.deadline is not None else deadline
    action = Action.RESTART if late <= limit else Action.SKIP
    return ScheduleDecision(action, slot=slot, late=late, due=due_after(shifted))
