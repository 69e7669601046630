"""Composition root of ``reloader node-agent``: client, metrics server, notifier, agent.

SIGTERM or SIGINT cancels the task group and the process exits 0. A held lock slot is *not*
released on SIGTERM: the agent is stopped when its node shuts down for the reboot, and the slot
is what tells the agent on the next boot to finish the job (uncordon, release).
"""

from __future__ import annotations

import signal
from functools import partial

import anyio
import structlog

from reloader import __version__
from reloader.errors import ConfigError
from reloader.kube import resources
from reloader.kube.client import KubeClient
from reloader.observability import logging as logging_setup
from reloader.observability.metrics import RebootMetrics
from reloader.observability.server import HealthServer
from reloader.reboot.agent import RebootAgent
from reloader.reboot.domain import marks as mark_rules
from reloader.reboot.events import WARNING, NodeEvents
from reloader.reboot.host import Host, HostError, Notifier
from reloader.reboot.settings import NodeAgentSettings
from reloader.runtime.clock import RealClock

log = structlog.get_logger(__name__)


def run(settings: NodeAgentSettings, *, ignored: list[str] | None = None) -> int:
    """Run the agent until SIGTERM/SIGINT; return the process exit code."""
    logging_setup.configure(fmt=settings.log_format, level=settings.log_level)
    if ignored:
        log.warning("node_agent.flags_ignored", flags=ignored, reason="kured's; no effect here")
    try:
        anyio.run(partial(_main, settings))
    except ConfigError as exc:
        log.error("node_agent.startup_failed", error=str(exc))  # noqa: TRY400 - message is enough
        return 2
    except KeyboardInterrupt:
        pass
    return 0


async def preflight(settings: NodeAgentSettings, host: Host, events: NodeEvents) -> None:
    """What would otherwise fail silently, checked once before anything starts.

    nsenter that cannot enter PID 1's namespaces fails the start-up (exit 2, a Warning Event
    ``RebootPreflightFailed`` on the Node): a pod in CrashLoopBackOff is seen, and a DaemonSet
    rollout stops at its first pod, where an agent reading "no reboot needed" forever is not.
    Pre- and post-reboot labels with different keys only warn, as in kured.

    :raises ConfigError:
    """
    m = settings.marks
    if mismatched := mark_rules.mismatched_keys(m.pre_labels, m.post_labels):
        log.warning(
            "node_agent.labels_mismatched",
            keys=mismatched,
            detail="--pre-reboot-node-labels and --post-reboot-node-labels set different keys",
        )
    try:
        await host.preflight()
    except HostError as exc:
        await events.record(
            node=settings.node,
            uid="",
            type_=WARNING,
            reason="RebootPreflightFailed",
            message=f"the node agent cannot start: {exc}",
        )
        raise ConfigError(str(exc)) from None


async def _main(settings: NodeAgentSettings) -> None:
    metrics = RebootMetrics(settings.node)
    async with await KubeClient.connect(
        kubeconfig=settings.kubeconfig, field_manager="reloader-node-agent", max_connections=16
    ) as client:
        events = NodeEvents(post=partial(resources.post_event, client))
        host = Host(settings.host)
        await preflight(settings, host, events)
        notifier = Notifier(settings.notify.targets, node=settings.node)
        agent = RebootAgent(
            settings=settings,
            client=client,
            clock=RealClock(),
            metrics=metrics,
            events=events,
            notifier=notifier,
            host=host,
        )
        server = HealthServer(
            host=settings.metrics_host,
            port=settings.metrics_port,
            registry=metrics.registry,
            live=lambda: True,
            ready=lambda: agent.ready,
        )
        server.start()
        s = settings
        log.info(
            "node_agent.starting",
            version=__version__,
            node=s.node,
            period_s=s.period,
            window=s.window.describe(),
            sentinel=" ".join(s.host.sentinel_command) or s.host.sentinel_file,
            concurrency=s.lock.concurrency,
            lock=f"{s.lock.namespace}/{s.lock.name}-*",
            lock_ttl_s=s.lock.ttl,
            drain_timeout_s=s.drain.timeout,
            reboot_method=s.host.method,
            taint=s.marks.taint or None,
            annotate_nodes=s.marks.annotate,
            pre_labels=mark_rules.format_labels(s.marks.pre_labels) or None,
            post_labels=mark_rules.format_labels(s.marks.post_labels) or None,
            http_port=server.port,
        )
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(_stop_on_signal, tg.cancel_scope)
                tg.start_soon(notifier.run)
                await agent.run()
        finally:
            server.stop()
            log.info("node_agent.stopped", node=s.node)


async def _stop_on_signal(scope: anyio.CancelScope) -> None:
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async for signum in signals:
            log.info("node_agent.stopping", signal=signal.Signals(signum).name)
            scope.cancel()
            return
