"""Composition root: builds the client, informers, queue, controller and HTTP server, and runs them
in one anyio task group. SIGTERM or SIGINT cancels the group; the process exits 0.

Order matters for the level-triggered promise: workers start only once every informer has
listed, so a reconcile never decides on a partial cache (a source not listed yet would look
deleted), and the first pass reconciles every workload once.
"""

from __future__ import annotations

import contextlib
import ctypes
import signal
from dataclasses import dataclass, replace
from functools import partial
from typing import TYPE_CHECKING

import anyio
import structlog

from reloader import __version__
from reloader.errors import ConfigError, KubeError
from reloader.images.controller import ImageController
from reloader.kube import resources
from reloader.kube.client import KubeClient
from reloader.kube.leases import Leases
from reloader.observability import logging as logging_setup
from reloader.observability.events import EventRecorder
from reloader.observability.metrics import Metrics
from reloader.observability.notify import Alerter
from reloader.observability.server import HealthServer
from reloader.reload.controller import ReloadController
from reloader.reload.sources import RESOURCE_NAMES
from reloader.runtime.controller import run_workers
from reloader.runtime.leader import LeaderConfig, LeaderElector, LeadershipLost
from reloader.schedule.controller import ScheduleController
from reloader.schedule.domain.schedules import RestartStyle
from reloader.settings import LeaderSettings, Settings
from reloader.workloads.admission import HoldReason, WriteLimiter
from reloader.workloads.domain.kinds import JOB, KINDS
from reloader.workloads.dry_run import event_recorder
from reloader.workloads.pending_jobs import PendingJobs
from reloader.workloads.scope import Scope
from reloader.workloads.waves import WaveMetrics

if TYPE_CHECKING:
    from anyio.abc import TaskGroup
    from prometheus_client import CollectorRegistry

    from reloader.observability.debug import DebugServer

log = structlog.get_logger(__name__)


class _ReconcileHooks:
    def __init__(self, metrics: Metrics) -> None:
        self._m = metrics

    def on_reconcile(self, result: str, seconds: float) -> None:
        label = {"requeue": "success"}.get(result, result)
        self._m.reconcile.labels(result=label).inc()
        self._m.reconcile_duration.labels(result=label).observe(seconds)
        if result == "error":
            self._m.errors.labels(type="handler_error").inc()


def run(settings: Settings) -> int:
    """Run the controller until SIGTERM/SIGINT; return the process exit code."""
    logging_setup.configure(fmt=settings.log.format, level=settings.log.level)
    try:
        anyio.run(partial(_main, settings))
    except ConfigError as exc:
        log.error("startup.failed", error=str(exc))  # noqa: TRY400 - message is enough
        return 2
    except LeadershipLost:
        return 1  # restarted by the kubelet; a standby leads meanwhile
    except KeyboardInterrupt:
        pass
    return 0


def controller_metrics(
    registry: CollectorRegistry | None = None, *, by_namespace: bool = False
) -> Metrics:
    """The controller's metrics, with the label values that workloads, reload and schedule
    define (kinds, hold reasons, restart methods) pre-set."""
    return Metrics(
        registry,
        workload_kinds=[k.kind for k in KINDS.values()],
        hold_reasons=HoldReason,
        restart_methods=RestartStyle,
        by_namespace=by_namespace,
    )


@dataclass(frozen=True, slots=True)
class _Components:
    """What the controller is made of, built once the API client is connected."""

    scope: Scope
    recorder: EventRecorder
    alerter: Alerter
    pending: PendingJobs
    reload: ReloadController
    schedules: ScheduleController
    images: ImageController


async def _main(settings: Settings) -> None:
    metrics = controller_metrics(by_namespace=settings.metrics_by_namespace)
    if settings.dry_run:  # on every log line, so no line of a dry run passes for a real one
        structlog.contextvars.bind_contextvars(dry_run=True)
    async with await _connect(settings, metrics) as client:
        settings = await _check_optional_apis(client, settings)
        _warn_global_mode_flags(settings)
        parts = _build(client, settings, metrics)
        server = HealthServer(
            host=settings.http.host,
            port=settings.http.port,
            registry=metrics.registry,
            live=lambda: True,
            ready=lambda: (
                parts.reload.synced() and parts.schedules.synced() and parts.images.synced()
            ),
        )
        server.start()
        debug: DebugServer | None = None
        if settings.pprof is not None:
            # imported only with --enable-pprof (tracemalloc and the rest are not needed otherwise)
            from reloader.observability.debug import DebugServer

            debug = DebugServer(host=settings.pprof.host, port=settings.pprof.port)
            debug.start()
            log.warning("controller.debug_endpoints", port=debug.port, unsafe_to_expose=True)
        log.info(
            "controller.starting",
            version=__version__,
            strategy=settings.reload.strategy,
            dry_run=settings.dry_run,
            namespaces=list(settings.scope.namespaces) or "all",
            http_port=server.port,
            resources_ignored=sorted(
                RESOURCE_NAMES[k] for k in settings.reload.resources_to_ignore
            ),
        )
        try:
            async with anyio.create_task_group() as tg:
                await _start_and_sync(tg, parts)
                lead = partial(_lead, parts, settings, metrics)
                if settings.leader.enabled:
                    await _leader_elector(client, settings.leader).run(lead)
                else:
                    await lead()
        except KubeError as exc:
            log.error("controller.failed", error=str(exc))  # noqa: TRY400 - no traceback needed
            raise
        finally:
            with anyio.CancelScope(shield=True):
                await parts.images.aclose()
            server.stop()
            if debug is not None:
                debug.stop()
            log.info("controller.stopped")


async def _connect(settings: Settings, metrics: Metrics) -> KubeClient:
    """The API client; each request is counted in ``metrics`` under the API server's host."""
    # every watch holds a connection: one per source type and workload kind (the reload and
    # schedule controllers share the workload watches), per namespace, and the namespaces'.
    # Requests share 32 more. With 8, an idle controller kept 0.7 MB less RSS after adopting 33
    # workloads, but a fan-out to 50 workloads with the gates off took 1.8 times as long (Event
    # POSTs and PATCHes waited for each other): docs/design/architecture.md, "Memory".
    watches = 10 * max(1, len(settings.scope.namespaces))
    client = await KubeClient.connect(
        kubeconfig=settings.kube.kubeconfig,
        max_connections=watches + 32,
        on_request=lambda verb, status, seconds: metrics.observe_request(
            client_host, verb, status, seconds
        ),
        on_protobuf_fallback=lambda resource: metrics.protobuf_fallbacks.labels(
            resource=resource
        ).inc(),
    )
    client_host = client.host.split("://", 1)[-1]
    return client


def _warn_global_mode_flags(settings: Settings) -> None:
    """Warn about the flags of global mode when --namespaces (scoped mode) is set."""
    if settings.scope.namespaces and (
        settings.scope.namespaces_to_ignore or settings.scope.namespace_selector
    ):
        log.warning(
            "startup.flag_ignored",
            flags="--namespaces-to-ignore, --namespace-selector",
            reason="they apply to global mode only; --namespaces (scoped mode) is set",
        )


def _build(client: KubeClient, settings: Settings, metrics: Metrics) -> _Components:
    """The scope, Event recorder, alerter, Job journal and the reload, schedule and image
    controllers."""
    scope = Scope(client=client, settings=settings.scope)
    # a dry run: no Event (or DryRun ones), no alert, no journal: nothing is written
    recorder = event_recorder(partial(resources.post_event, client), settings)
    alerts = replace(settings.alerts, enabled=False) if settings.dry_run else settings.alerts
    pending = PendingJobs(
        client=client,
        namespace="" if settings.dry_run else settings.job_journal_namespace,
        failed=metrics.errors.labels(type="job_journal").inc,
    )
    alerter = Alerter(alerts)
    # one write-rate limit for every restart, whatever triggered it
    safety = settings.safety
    writes = WriteLimiter(rate=safety.writes_per_second, burst=safety.write_burst)
    waves = WaveMetrics(metrics.registry)  # one halted-changes gauge for both triggers
    controller = ReloadController(
        client=client,
        settings=settings,
        metrics=metrics,
        recorder=recorder,
        scope=scope,
        alerter=alerter,
        pending=pending,
        writes=writes,
        wave_metrics=waves,
    )
    schedules = ScheduleController(
        client=client,
        settings=settings,
        metrics=metrics,
        recorder=recorder,
        scope=scope,
        pending=pending,
        writes=writes,
    )
    images = ImageController(
        client=client,
        settings=settings,
        metrics=metrics,
        recorder=recorder,
        scope=scope,
        pending=pending,
        writes=writes,
        alerter=alerter,
        wave_metrics=waves,
    )
    return _Components(scope, recorder, alerter, pending, controller, schedules, images)


async def _start_and_sync(tg: TaskGroup, parts: _Components) -> None:
    """Start the signal handler, the senders and every informer; return once all have listed."""
    tg.start_soon(_stop_on_signal, tg.cancel_scope)
    tg.start_soon(parts.alerter.run)
    tg.start_soon(parts.recorder.run)
    for informer in parts.scope.all_informers():
        tg.start_soon(informer.run)
    for informer in parts.scope.all_informers():
        await informer.synced.wait()
    _release_freed_memory()  # the initial LIST pages are garbage now
    log.info(
        "controller.synced",
        workloads=sum(len(i.keys()) for i in parts.reload.workloads.values()),
    )


async def _lead(parts: _Components, settings: Settings, metrics: Metrics) -> None:
    """The leader's work: every workload queued once, pending Jobs recovered, then workers."""
    metrics.is_leader.set(1)
    parts.reload.enqueue_all()
    parts.schedules.enqueue_all()
    parts.images.enqueue_all()
    if not settings.dry_run:  # a dry run neither reads nor moves the journal
        await _recover_pending_jobs(parts.pending, parts.reload, parts.schedules)
    async with anyio.create_task_group() as workers:
        workers.start_soon(
            partial(
                run_workers,
                name="images",
                queue=parts.images.queue,
                reconcile=parts.images.reconcile,
                workers=settings.reload.workers,
            )
        )
        workers.start_soon(
            partial(
                run_workers,
                name="schedule",
                queue=parts.schedules.queue,
                reconcile=parts.schedules.reconcile,
                workers=settings.reload.workers,
            )
        )
        await run_workers(
            name="reload",
            queue=parts.reload.queue,
            reconcile=parts.reload.reconcile,
            workers=settings.reload.workers,
            hooks=_ReconcileHooks(metrics),
        )


def _leader_elector(client: KubeClient, ha: LeaderSettings) -> LeaderElector:
    config = LeaderConfig(
        name=ha.lease_name,
        namespace=ha.namespace,
        identity=ha.identity,
        lease_duration=ha.lease_duration,
        renew_deadline=ha.renew_deadline,
        retry_period=ha.retry_period,
    )
    return LeaderElector(config=config, leases=Leases(client, ha.namespace, ha.lease_name))


async def _recover_pending_jobs(
    pending: PendingJobs, reload: ReloadController, schedules: ScheduleController
) -> None:
    """Queue the Jobs an earlier process deleted for a recreate and did not create again."""
    if not pending.namespace:
        log.info("job.journal_off", reason="neither RELOADER_NAMESPACE nor POD_NAMESPACE is set")
        return
    try:
        keys = await pending.load()
    except KubeError as exc:
        log.warning("job.journal_unreadable", namespace=pending.namespace, error=str(exc))
        return
    queues = [c.queue for c in (reload, schedules) if JOB.kind in c.workloads]
    for key in keys:
        if not reload.scope.namespace_allowed(key.namespace):
            # another installation's entry (a shared RELOADER_NAMESPACE): not ours to create
            continue
        for queue in queues:
            queue.add(key)  # each reconcile creates a pending Job before anything else


def _release_freed_memory() -> None:
    """Hand freed heap back to the OS (glibc keeps it otherwise: RSS would stay at the peak)."""
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to do
        ctypes.CDLL("libc.so.6").malloc_trim(0)


async def _check_optional_apis(client: KubeClient, settings: Settings) -> Settings:
    """Turn off features whose API is not installed, with a warning (never a stuck startup)."""
    if settings.reload.argo_rollouts and not await resources.api_resource_exists(
        client, "argoproj.io/v1alpha1", "rollouts"
    ):
        log.warning(
            "startup.api_missing",
            api="argoproj.io/v1alpha1 rollouts",
            flag="--is-Argo-Rollouts",
            effect="Rollouts are not reloaded",
        )
        settings = replace(settings, reload=replace(settings.reload, argo_rollouts=False))
    if settings.reload.csi and not await resources.api_resource_exists(
        client, "secrets-store.csi.x-k8s.io/v1", "secretproviderclasspodstatuses"
    ):
        log.warning(
            "startup.api_missing",
            api="secrets-store.csi.x-k8s.io/v1 secretproviderclasspodstatuses",
            flag="--enable-csi-integration",
            effect="CSI secrets are not watched",
        )
        settings = replace(settings, reload=replace(settings.reload, csi=False))
    return settings


async def _stop_on_signal(scope: anyio.CancelScope) -> None:
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async for signum in signals:
            log.info("controller.stopping", signal=signal.Signals(signum).name)
            scope.cancel()
            return
