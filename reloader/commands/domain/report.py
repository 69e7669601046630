"""The report ``reloader explain`` prints: its words (statuses, verdicts, reasons) and its types."""

from __future__ import annotations

from dataclasses import dataclass, field

from reloader.commands.domain.images import ImagesExplanation
from reloader.commands.domain.waves import WaveExplanation
from reloader.core.annotations import SourceKind

KIND_NAMES = {
    SourceKind.CONFIGMAP: "ConfigMap",
    SourceKind.SECRET: "Secret",
    SourceKind.SECRETPROVIDERCLASS: "SecretProviderClass",
}

# statuses of one source
IN_SYNC = "in-sync"  # the recorded hash is the current one
PENDING = "reload-pending"  # the controller will roll the workload for it
NOT_RECORDED = "not-recorded"  # selected, no baseline yet: recorded without a rollout
NOT_RELOADED = "not-reloaded"  # a change of it does not reload the workload
MISSING = "missing"  # referenced but does not exist
GONE = "deleted"  # recorded, deleted: its recorded hash is kept
DROPPED = "dropped"  # recorded, no longer selected: the entry goes at the next reconcile
NOT_WATCHED = "not-watched"  # a kind the controller does not watch: not read

# verdicts: what the controller does at its next reconcile of the workload
RELOAD = "reload"
HELD = "held"
NOTIFY = "notify"  # webhook mode: a POST instead of a rollout
NO_RELOAD = "no-reload"

# why (verdict_reason)
CHANGED = "changed"  # reload: sources changed since they were recorded
WINDOW = "window"  # held: outside the reload window
ROLLING = "rollout-in-progress"  # held: its previous rollout has not completed
WEBHOOK = "webhook"
KIND_NOT_WATCHED = "kind-not-watched"
NAMESPACE_NOT_WATCHED = "namespace-not-watched"
RECORD_ONLY = "record-only"  # the record is written, nothing rolls
NOT_SELECTED = "not-selected"  # no source selects a reload


@dataclass(frozen=True, slots=True)
class Use:
    """One reference of the source by the pod template."""

    container: str
    via: str  # env, envFrom, volume, projected, csi
    init: bool = False
    volume: str | None = None


@dataclass(frozen=True, slots=True)
class SourceExplanation:
    kind: str
    name: str
    #: None: not read (a kind the controller does not watch)
    exists: bool | None
    uses: tuple[Use, ...]
    reload: bool
    #: the decision's reason (explicit, search, auto, auto-all, excluded, ignored, ...)
    reason: str
    #: the annotation (or flag) behind the decision, as ``key: "value"``
    annotation: str | None
    detail: str
    recorded_hash: str | None
    current_hash: str | None
    status: str


@dataclass(frozen=True, slots=True)
class ScheduleExplanation:
    expression: str
    timezone: str
    method: str
    deadline_seconds: float
    jitter_seconds: int
    last_restart: str | None
    baseline: str | None
    #: the next restart (UTC, RFC 3339) once the controller has handled what is due now
    next_restart: str | None
    #: the same instant in the schedule's time zone
    next_restart_local: str | None
    #: what the controller does at its next reconcile (adopt, wait, restart, skip)
    action: str
    note: str
    #: an unfinished stop-start: the replica count it scales back to
    stop_start_replicas: int | None = None


@dataclass(frozen=True, slots=True)
class HookExplanation:
    point: str  # before, stopped, after
    hook: str  # as written (``job cronjob/NAME``, ``exec ...``)
    #: the last result the workload records (success, failure, timeout), None if never run
    last_result: str | None


@dataclass(frozen=True, slots=True)
class HooksExplanation:
    hooks: tuple[HookExplanation, ...]
    timeout_seconds: float
    stay_stopped: bool
    #: a restart with hooks in progress: its name, step and attempt
    restart: str | None = None
    step: str | None = None
    attempt: int = 1


@dataclass(frozen=True, slots=True)
class Explanation:
    kind: str
    namespace: str
    name: str
    #: what the controller does at its next reconcile: reload, held, notify, no-reload
    verdict: str
    #: why, as a code (changed, deleted, window, rollout-in-progress, in-sync, ...)
    verdict_reason: str
    verdict_detail: str
    sources: tuple[SourceExplanation, ...]
    pending: bool
    pending_sources: tuple[str, ...] = ()
    #: held by the reload window: when it opens (UTC, RFC 3339)
    held_until: str | None = None
    #: what explain cannot see and how it would change the answer
    notes: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    schedule: ScheduleExplanation | None = None
    schedule_warnings: tuple[str, ...] = field(default_factory=tuple)
    hooks: HooksExplanation | None = None
    #: with ``reloader.stakater.com/image-watch``: the watched images (commands/domain/images.py)
    images: ImagesExplanation | None = None
    #: health-gated waves: the wave record, and the decision for a shared change (waves.py)
    wave: WaveExplanation | None = None


@dataclass(frozen=True, slots=True)
class Verdict:
    verdict: str
    reason: str
    detail: str
    held_until: str | None = None
