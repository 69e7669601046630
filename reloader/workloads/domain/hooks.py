"""Restart hooks: what a workload asks to run around its restart, and which step comes next.

Three hook points, each an annotation on the workload whose value reads like the command line it
replaces:

- ``hook-before``: before the restart starts; a failure holds the restart;
- ``hook-stopped``: stop-start restarts only, after the last pod is gone and before scaling back;
- ``hook-after``: once the rollout has completed; a failure is reported and changes nothing.

A hook is ``job cronjob/NAME`` (a Job made from that CronJob's ``jobTemplate``, as ``kubectl create
job --from=cronjob/NAME`` makes it) or ``exec SELECTOR [-c CONTAINER] -- COMMAND ARGS...`` (run in
the first running pod the label selector picks, as ``kubectl exec`` runs it).

The step of a restart in progress is recorded on the workload (``restart-hooks``, JSON) *before*
each step, and the record moves in the same write as the restart itself, so a controller killed
at any point finds the same restart at the same step when it comes back. Everything here is pure:
the I/O is ``workloads/hooks.py``.
"""

from __future__ import annotations

import hashlib
import json
import shlex
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from reloader.core.annotations import annotation_warning, quote
from reloader.core.durations import parse_duration

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

DEFAULT_TIMEOUT = 600.0
#: the name of a restart handed over by a configuration change starts with this
RELOAD_PREFIX = "reload "
#: Job names are DNS labels: the workload's name is cut to leave room for the suffix
_NAME_ROOM = 63 - len("-stopped-12345678-99")


class HookPoint(StrEnum):
    BEFORE = "before"
    STOPPED = "stopped"
    AFTER = "after"


class Step(StrEnum):
    """Where a restart with hooks is; each is recorded before it is taken."""

    BEFORE = "before"  # the before-hook runs; nothing restarted yet
    READY = "ready"  # the before-hook is done; the restart is written next
    RESTARTING = "restarting"  # the rolling restart is written; its rollout runs
    STOPPING = "stopping"  # scaled to zero; waiting for the last pod to go
    STOPPED = "stopped"  # no pod left; the stopped-hook runs
    HALTED = "halted"  # the stopped-hook failed and the workload asked to stay stopped
    STARTING = "starting"  # the stopped step is over: scale back up, then its rollout runs
    AFTER = "after"  # the rollout completed; the after-hook runs


@dataclass(frozen=True, slots=True)
class HookNames:
    before: str = "reloader.stakater.com/hook-before"
    stopped: str = "reloader.stakater.com/hook-stopped"
    after: str = "reloader.stakater.com/hook-after"
    timeout: str = "reloader.stakater.com/hook-timeout"
    on_failure: str = "reloader.stakater.com/hook-stopped-on-failure"
    #: "true": an exec hook's output tail goes into its Event and log line
    show_output: str = "reloader.stakater.com/hook-show-output"
    #: written: the step of the restart in progress
    record: str = "reloader.stakater.com/restart-hooks"
    #: written: the last result of each hook point
    results: str = "reloader.stakater.com/hook-results"

    def keys(self) -> frozenset[str]:
        written = (self.record, self.results)
        return frozenset((self.before, self.stopped, self.after, self.timeout, *written)) | {
            self.on_failure,
            self.show_output,
        }

    def point(self, point: HookPoint) -> str:
        return {HookPoint.BEFORE: self.before, HookPoint.STOPPED: self.stopped}.get(
            point, self.after
        )


@dataclass(frozen=True, slots=True)
class JobHook:
    cronjob: str

    def describe(self) -> str:
        return f"job cronjob/{self.cronjob}"


@dataclass(frozen=True, slots=True)
class ExecHook:
    selector: str
    container: str  # "": the pod's first container
    command: tuple[str, ...]

    def describe(self) -> str:
        container = f" -c {self.container}" if self.container else ""
        return f"exec {self.selector}{container} -- {shlex.join(self.command)}"


Hook = JobHook | ExecHook


@dataclass(frozen=True, slots=True)
class Hooks:
    """A workload's hooks; ``stay_stopped``: a failed stopped-hook leaves it at zero."""

    before: Hook | None = None
    stopped: Hook | None = None
    after: Hook | None = None
    timeout: float = DEFAULT_TIMEOUT
    stay_stopped: bool = False
    show_output: bool = False

    def at(self, point: HookPoint) -> Hook | None:
        return {HookPoint.BEFORE: self.before, HookPoint.STOPPED: self.stopped}.get(
            point, self.after
        )

    @property
    def any(self) -> bool:
        return any((self.before, self.stopped, self.after))


def parse_hook(text: str) -> Hook:
    """One hook annotation's value. :raises ValueError: saying what is wrong."""
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise ValueError(f"cannot split {quote(text)}: {exc}") from None
    if not words or words[0] not in ("job", "exec"):
        raise ValueError(
            f"{quote(text)} is not a hook: use 'job cronjob/NAME' or "
            "'exec SELECTOR [-c CONTAINER] -- COMMAND ...'"
        )
    if words[0] == "job":
        if len(words) != 2 or not words[1].startswith("cronjob/") or words[1] == "cronjob/":
            raise ValueError(f"{quote(text)}: a Job hook is 'job cronjob/NAME'")
        return JobHook(words[1].removeprefix("cronjob/"))
    if "--" not in words:
        raise ValueError(f"{quote(text)}: an exec hook needs '--' before its command")
    split = words.index("--")
    head, command = words[1:split], tuple(words[split + 1 :])
    container = ""
    if len(head) == 3 and head[1] in ("-c", "--container"):
        head, container = [head[0]], head[2]
    if len(head) != 1 or not command:
        raise ValueError(
            f"{quote(text)}: an exec hook is 'exec SELECTOR [-c CONTAINER] -- COMMAND ...'"
        )
    return ExecHook(selector=head[0], container=container, command=command)


def parse_hooks(
    annotations: Mapping[str, str], *, names: HookNames, stop_start: bool
) -> tuple[Hooks, tuple[str, ...]]:
    """The workload's hooks and the problems of its annotations (a bad hook is left out, which
    holds a restart that needs it: see ``blocking_problem``)."""
    problems: list[str] = []
    found: dict[str, Hook | None] = {}
    for point in HookPoint:
        key = names.point(point)
        raw = annotations.get(key)
        if raw is None or not raw.strip():
            found[point] = None
            continue
        try:
            found[point] = parse_hook(raw)
        except ValueError as exc:
            found[point] = None
            problems.append(annotation_warning(key, str(exc)))
    if found[HookPoint.STOPPED] is not None and not stop_start:
        problems.append(
            annotation_warning(names.stopped, "only a stop-start restart has a stopped step")
        )
        found[HookPoint.STOPPED] = None
    timeout = DEFAULT_TIMEOUT
    if (raw := annotations.get(names.timeout)) is not None:
        try:
            timeout = parse_duration(raw)
        except ValueError as exc:
            problems.append(annotation_warning(names.timeout, f"{exc}; using 10m"))
        if timeout <= 0:
            problems.append(annotation_warning(names.timeout, f"{quote(raw)} is not positive"))
            timeout = DEFAULT_TIMEOUT
    policy = annotations.get(names.on_failure, "start").strip()
    if policy not in ("start", "stay-stopped"):
        problems.append(
            annotation_warning(names.on_failure, f"{quote(policy)}: use start or stay-stopped")
        )
    show = annotations.get(names.show_output, "false").strip().lower()
    if show not in ("true", "false"):
        problems.append(annotation_warning(names.show_output, f"{quote(show)}: use true or false"))
    hooks = Hooks(
        show_output=show == "true",
        before=found[HookPoint.BEFORE],
        stopped=found[HookPoint.STOPPED],
        after=found[HookPoint.AFTER],
        timeout=timeout,
        stay_stopped=policy == "stay-stopped",
    )
    return hooks, tuple(problems)


def unusable(annotations: Mapping[str, str], names: HookNames, point: HookPoint) -> bool:
    """The hook annotation of ``point`` is set but cannot be read."""
    raw = annotations.get(names.point(point))
    if raw is None or not raw.strip():
        return False
    try:
        parse_hook(raw)
    except ValueError:
        return True
    return False


def blocking_problem(annotations: Mapping[str, str], names: HookNames) -> bool:
    """A before- or stopped-hook annotation is set but unusable: restarting without it would
    skip the step the user asked for, so the restart is held until it is fixed."""
    return any(unusable(annotations, names, p) for p in (HookPoint.BEFORE, HookPoint.STOPPED))


# ----------------------------------------------------------------------------- the record


@dataclass(frozen=True, slots=True)
class RestartProgress:
    """The recorded step of one restart (``restart`` names it: a schedule slot, a change)."""

    restart: str
    step: Step
    attempt: int = 1
    replicas: int | None = None  # stop-start: the count to scale back to

    def to(self, step: Step) -> RestartProgress:
        return replace(self, step=step, attempt=1)

    def serialize(self) -> str:
        body: dict[str, object] = {"restart": self.restart, "step": self.step.value}
        if self.attempt != 1:
            body["attempt"] = self.attempt
        if self.replicas is not None:
            body["replicas"] = self.replicas
        return json.dumps(body, separators=(",", ":"), sort_keys=True)


def read_progress(annotations: Mapping[str, str], names: HookNames) -> RestartProgress | None:
    """The recorded step; an unreadable record is None (the restart it belonged to is lost,
    but a workload is never left at zero for it: stop-start keeps its own replica record)."""
    raw = annotations.get(names.record)
    if not raw:
        return None
    try:
        body = json.loads(raw)
        replicas = body.get("replicas")
        return RestartProgress(
            restart=str(body["restart"]),
            step=Step(body["step"]),
            attempt=int(body.get("attempt", 1)),
            replicas=int(replicas) if replicas is not None else None,
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def record_patch(names: HookNames, progress: RestartProgress | None) -> dict[str, str | None]:
    """The annotation values that record ``progress`` (None: the restart is over)."""
    return {names.record: progress.serialize() if progress is not None else None}


def hand_over_patch(
    annotations: Mapping[str, str], names: HookNames, hashes: Sequence[str]
) -> dict[str, Any] | None:
    """A reload of a workload with usable hooks: the metadata patch that records the restart's
    first step (the change it restarts for names it), instead of the pod-template change; None
    without hooks, or for a reload that rolls nothing."""
    if not hashes:
        return None
    hooks, _ = parse_hooks(annotations, names=names, stop_start=False)
    if not hooks.any and not blocking_problem(annotations, names):
        return None
    first = (
        Step.BEFORE
        if hooks.before is not None or blocking_problem(annotations, names)
        else Step.READY
    )
    restart = RELOAD_PREFIX + ",".join(sorted(h[:12] for h in hashes))
    return {"metadata": {"annotations": record_patch(names, RestartProgress(restart, first))}}


def job_name(workload: str, point: HookPoint, restart: str, attempt: int) -> str:
    """The hook Job of one attempt of one restart: the same name whoever creates it, so a Job
    that exists already is waited for, never created twice."""
    digest = hashlib.sha1(restart.encode(), usedforsecurity=False).hexdigest()[:8]
    return f"{workload[:_NAME_ROOM].rstrip('-.')}-{point.value}-{digest}-{attempt}"


def results_value(previous: str | None, point: HookPoint, outcome: str) -> str:
    """The ``hook-results`` annotation with ``point``'s last outcome replaced."""
    try:
        results = json.loads(previous) if previous else {}
        if not isinstance(results, dict):
            results = {}
    except ValueError:
        results = {}
    results[point.value] = outcome
    return json.dumps(results, separators=(",", ":"), sort_keys=True)
