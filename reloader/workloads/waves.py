"""Health-gated waves on the API (rules: ``workloads/domain/waves.py``, docs/waves.md).

Each trigger that rolls shared changes (a source's new hash, a shared image's new digest) has one
:class:`Waves`. The trigger decides which workloads are the targets of a change (its peers) and
asks ``workloads/domain/waves.decide`` whether a target rolls now; this module does the rest:

- :meth:`Waves.follow`: a rolled target (its wave record says *rolling*) is judged from its own
  status (cached: a status change wakes it) and its new pods, read by ``pod_looks.PodLooks``
  only when its status says complete or at a scheduled look while it rolls; the verdict
  (healthy, failed) is written to the record by a JSON patch that tests the record first, so a
  verdict never overwrites a newer record. A failed target whose operator asked for a release
  (``release-halted``) gets its record marked released and the request removed, in one patch.
- Reporting: ``WaveHealthy``, ``ReloadHalted`` (on the failed target, and once on each target
  held by the halt), ``HaltReleased`` Events; an alert for a halt; the metrics below.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import structlog
from prometheus_client import Counter, Gauge

from reloader.core.objects import ObjectKey
from reloader.errors import Invalid
from reloader.kube import resources
from reloader.workloads.admission import HoldReason
from reloader.workloads.domain.wave_pods import next_look
from reloader.workloads.domain.waves import (
    Go,
    Rollout,
    WaveDecision,
    WaveRecord,
    WaveState,
    health_timeout,
    judge,
    read_record,
    record_value,
    release_requested,
)
from reloader.workloads.pod_looks import Followed, PodLooks
from reloader.workloads.reporting import NORMAL, WARNING

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from prometheus_client import CollectorRegistry

    from reloader.core.annotations import AnnotationNames
    from reloader.kube.client import KubeClient
    from reloader.observability.notify import Alerter
    from reloader.runtime.clock import Clock
    from reloader.workloads.domain.kinds import WorkloadKind
    from reloader.workloads.pipeline import RestartPipeline
    from reloader.workloads.reporting import WorkloadReporter
    from reloader.workloads.restarts import Target

log = structlog.get_logger(__name__)

#: a target waiting for its wave looks again this often (a verdict also wakes it)
POLL = 5.0
#: a target held by a halt looks again this often (a fix or a release also wakes it)
HALT_POLL = 60.0
#: the verdict results counted by ``reloader_wave_verdicts_total``
VERDICTS = ("healthy", "failed", "released")


class WaveMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.verdicts = Counter(
            "reloader_wave_verdicts",
            "Verdicts on workloads rolled in a health-gated wave (healthy, failed), and releases",
            ["result"],
            registry=registry,
        )
        self.halted = Gauge(
            "reloader_halted_changes",
            "Changes halted now because a workload rolled for them failed (each still pending)",
            registry=registry,
        )
        self.pod_lists = Counter(
            "reloader_wave_pod_lists",
            "LISTs of the pods of a workload rolled in a wave while its verdict is pending (and of "
            "a Deployment's ReplicaSets, to tell its new pods)",
            registry=registry,
        )
        for result in VERDICTS:
            self.verdicts.labels(result=result)
        #: (namespace, change) → (version, failed target): the changes halted now, shared by
        #: every trigger's waves (a source change is namespaced, an image change is not: "")
        self._halted: dict[tuple[str, str], tuple[str, str]] = {}

    def noted(self, namespace: str, change: str, version: str, decision: WaveDecision) -> None:
        """Keep the halted-changes gauge: a decision for (change, version) was made."""
        key = (namespace, change)
        if decision.go is Go.HALTED and decision.failed is not None:
            self._halted[key] = (version, decision.failed.name)
        elif key in self._halted:
            del self._halted[key]
        self.halted.set(len(self._halted))


@dataclass(frozen=True, slots=True)
class FollowResult:
    """What :meth:`Waves.follow` did: the object as written (None: nothing written), and when to
    look again (None: the record needs no more looks)."""

    written: dict[str, Any] | None = None
    retry_after: float | None = None
    #: the record's verdict changed: the other targets of its changes may now move on
    settled: bool = False


class Waves:
    """Follow rolled targets to their verdict, keep the halted changes, report."""

    def __init__(
        self,
        *,
        client: KubeClient,
        names: AnnotationNames,
        health_timeout: float,
        reporter: WorkloadReporter,
        metrics: WaveMetrics,
        alerter: Alerter,
        clock: Clock,
        dry_run: bool = False,
    ) -> None:
        self.client = client
        #: --dry-run writes nothing: no verdict, no release (the records it reads are another
        #: controller's, whose own follow writes them)
        self.dry_run = dry_run
        self.names = names
        self.health_timeout = health_timeout
        self.reporter = reporter
        self.metrics = metrics
        self.alerter = alerter
        self.clock = clock
        self.pods = PodLooks(client=client, lists=metrics.pod_lists)

    # ------------------------------------------------------------------ a rolled target
    async def follow(self, subject: Followed, kind: WorkloadKind) -> FollowResult:
        """Judge ``subject`` if its record waits for a verdict; release it if asked to."""
        record = read_record(subject.annotations, self.names)
        if record is None or self.dry_run:
            return FollowResult()
        if record.state is WaveState.FAILED and release_requested(subject.annotations, self.names):
            released = replace(record, state=WaveState.RELEASED)
            written = await self._write(subject, kind, record, released, consume_release=True)
            if written is not None:
                self.metrics.verdicts.labels(result="released").inc()
                await self.reporter.outcome(
                    subject,
                    kind,
                    NORMAL,
                    "HaltReleased",
                    f"Halted change released by {self.names.release_halted}: "
                    f"{_changes(record)} rolls on in waves",
                    log_event="wave.released",
                    changes=dict(record.changes),
                )
            return FollowResult(written, settled=written is not None)
        if record.state is not WaveState.ROLLING:
            self.pods.forget(subject)
            return FollowResult()
        timeout, problems = health_timeout(
            subject.annotations,
            self.names,
            default=self.health_timeout,
            progress_deadline=subject.progress_deadline,
        )
        if problems and self.reporter.new_warnings(
            ObjectKey(subject.kind, subject.namespace, subject.name), problems
        ):
            await self.reporter.invalid(subject, kind, problems, event="wave.annotation_invalid")
        now = self.clock.wall()
        problem = ""
        if not subject.rollout_failure:
            problem = await self.pods.problem(subject, record.at, now) or ""
        rollout = Rollout(subject.rollout_complete, subject.rollout_failure, problem)
        verdict = judge(rollout, since=record.at, now=now, timeout=timeout)
        if verdict.state is WaveState.ROLLING:
            # a status change (complete, failed) wakes it through the cache; else the next look
            # at its pods, or the timeout
            after = min(verdict.retry_after, next_look(record.at, now))
            return FollowResult(retry_after=max(after, 0.5))
        self.pods.forget(subject)
        judged = replace(record, state=verdict.state, reason=verdict.reason)
        written = await self._write(subject, kind, record, judged)
        if written is None:
            return FollowResult(retry_after=POLL)  # the record changed meanwhile: look again
        await self._report_verdict(subject, kind, judged)
        return FollowResult(written, settled=True)

    async def _write(
        self,
        subject: Followed,
        kind: WorkloadKind,
        old: WaveRecord,
        new: WaveRecord,
        *,
        consume_release: bool = False,
    ) -> dict[str, Any] | None:
        """Replace the record ``old`` by ``new`` if it is still ``old`` (a JSON patch's test):
        status updates of the workload racing with it cost nothing. None if it changed."""
        path = "/metadata/annotations/" + _pointer(self.names.wave)
        ops: list[dict[str, Any]] = [
            {"op": "test", "path": path, "value": subject.annotations[self.names.wave]},
            {"op": "replace", "path": path, "value": record_value(new)},
        ]
        if consume_release:
            ops.append(
                {
                    "op": "remove",
                    "path": "/metadata/annotations/" + _pointer(self.names.release_halted),
                }
            )
        try:
            return await resources.patch(
                self.client,
                kind.resource,
                namespace=subject.namespace,
                name=subject.name,
                body=ops,
                patch_type="json",
            )
        except Invalid:
            log.info("wave.record_changed", kind=subject.kind, name=subject.name, old=old.state)
            return None

    async def _report_verdict(
        self, subject: Followed, kind: WorkloadKind, record: WaveRecord
    ) -> None:
        if record.state is WaveState.HEALTHY:
            self.metrics.verdicts.labels(result="healthy").inc()
            await self.reporter.outcome(
                subject,
                kind,
                NORMAL,
                "WaveHealthy",
                f"Rollout of {_changes(record)} is complete and healthy: the next wave may roll",
                log_event="wave.healthy",
                changes=dict(record.changes),
            )
            return
        self.metrics.verdicts.labels(result="failed").inc()
        message = (
            f"Rollout of {_changes(record)} failed: {record.reason}. The change is halted for "
            f"every workload that has not rolled it yet; fix the source (a newer change rolls a "
            f"new canary), or release it: kubectl annotate {kind.kind.lower()} {subject.name} "
            f"-n {subject.namespace} {self.names.release_halted}=true"
        )
        await self.reporter.outcome(
            subject,
            kind,
            WARNING,
            "ReloadHalted",
            message,
            log_event="wave.failed",
            changes=dict(record.changes),
            problem=record.reason,
        )
        self.alerter.send(
            f"Reloader halted *{_changes(record)}* in namespace *{subject.namespace}*: its rollout "
            f"of *{subject.name}* of type *{subject.kind}* failed: {record.reason}"
        )

    # ------------------------------------------------------------------ targets held by a halt
    async def hold(
        self,
        pipeline: RestartPipeline,
        key: ObjectKey,
        subject: Target,
        kind: WorkloadKind,
        decision: WaveDecision,
        description: str,
        report_wait: Callable[[HoldReason], Awaitable[None]],
    ) -> float | None:
        """None when ``decision`` lets ``key`` roll now; else ``key`` is held in the trigger's
        ``pipeline`` (a halt reported here, a wait for its wave by ``report_wait``, once per
        hold) and the seconds until it looks again."""
        if decision.go is Go.ROLL:
            return None
        halted = decision.go is Go.HALTED
        reason = HoldReason.HALTED if halted else HoldReason.WAVE
        if pipeline.hold(key, reason):
            if halted:
                await self.report_halted(subject, kind, description, decision)
            else:
                await report_wait(reason)
        return HALT_POLL if halted else POLL

    async def report_halted(
        self, subject: Target, kind: WorkloadKind, description: str, decision: WaveDecision
    ) -> None:
        """A target held by a halt: one Warning (the caller reports each hold once)."""
        failed = decision.failed
        assert failed is not None  # noqa: S101 - only a HALTED decision is reported
        message = (
            f"Reload halted: {description} failed on {failed.name} ({failed.reason}); "
            f"{decision.targets - decision.rolled} workloads keep their current version until "
            f"the source changes again or {failed.name} is annotated "
            f"{self.names.release_halted}=true"
        )
        await self.reporter.outcome(
            subject,
            kind,
            WARNING,
            "ReloadHalted",
            message,
            log_event="wave.halted",
            change=description,
            failed=failed.name,
        )


def _changes(record: WaveRecord) -> str:
    return ", ".join(f"{k} {v[:12]}" for k, v in sorted(record.changes.items()))


def _pointer(key: str) -> str:
    """An annotation key as a JSON pointer segment (RFC 6901)."""
    return key.replace("~", "~0").replace("/", "~1")
