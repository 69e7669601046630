"""Readiness measured from outside, the same way for every controller: the first reaction.

A probe ConfigMap and a probe Deployment that uses it (``reloader.stakater.com/auto``) are created
with the scenario's objects, before the controller starts. From the controller's start, the harness
writes new data into the probe ConfigMap every ``PERIOD`` until the Deployment's pod template shows
one of those writes (its ``STAKATER_*`` value is that data's hash) on the harness's own watch. The
controller's ready time is the instant of that first reaction, from process start.

An update the controller's initial list already contains triggers nothing (there is no event for
it), so the first reaction comes from an update made after its informers synced: the figure is the
sync time plus one reaction, the earliest a change is acted on. ``PERIOD`` (200 ms) is longer than
reloader's burst window (3 debounces of the default 50 ms), so its debounce never holds the probe,
and it bounds how much later than the true readiness the first reaction can come.

The controller is started once every workload, the probe's included, has been rolled out by its
own controller: a workload still rolling out when its source changes is held by reloader's
flapping protection until its sources are quiet, which the probe, updated every 200 ms, never is.

The probe objects are not the scenario's: their rollouts are not counted, and they are updated
only while waiting for readiness (before the baseline, also after a restart).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anyio

from reloader.errors import KubeError
from reloader.kube.client import KubeClient
from tests.bench.objects import (
    SOURCE_TYPES,
    WORKLOAD_TYPES,
    Source,
    Workload,
    container,
    content_hash,
    create_all,
    create_namespace,
    env_from,
    source_body,
    update_source,
    workload_body,
)
from tests.bench.observe import WorkloadWatcher

if TYPE_CHECKING:  # psutil (the bench extra) is not needed for the pure parts
    from tests.bench.controller import ControllerUnderTest

NAMESPACE = "bench-ready-probe"
PROBE = Source("ConfigMap", NAMESPACE, "ready-probe")
PROBE_WORKLOAD = Workload("Deployment", NAMESPACE, "ready-probe")
PERIOD = 0.2


def probe_data(seq: int) -> dict[str, str]:
    return {"probe": str(seq)}


def first_reaction(
    history: list[tuple[float, str, str]], var: str, hashes: dict[str, float], since: float
) -> tuple[float, str] | None:
    """(instant, hash) of the first value of ``var`` after ``since`` that is one of ``hashes``."""
    for at, name, value in history:
        if name == var and value in hashes and at >= since:
            return at, value
    return None


async def create_probe(kube: KubeClient) -> None:
    """The probe ConfigMap and the Deployment that uses it (with the scenario's objects)."""
    await create_namespace(kube, NAMESPACE)
    body = workload_body(PROBE_WORKLOAD, containers=[container(envFrom=env_from(PROBE))])
    await create_all(
        kube,
        [
            (SOURCE_TYPES[PROBE.kind], source_body(PROBE, probe_data(0))),
            (WORKLOAD_TYPES[PROBE_WORKLOAD.kind], body),
        ],
    )


@dataclass
class Readiness:
    """Waits for a controller's first reaction to the probe; every wait keeps its figures."""

    kube: KubeClient
    watcher: WorkloadWatcher
    period: float = PERIOD
    seq: int = 0
    waits: list[dict[str, Any]] = field(default_factory=list)

    async def wait(
        self, controller: ControllerUnderTest, *, timeout: float = 300.0, endpoint: bool = False
    ) -> float:
        """Seconds from the controller's start to its first reaction to a probe update.

        With ``endpoint`` the controller's own readiness endpoint is polled too, and the instant
        of its first 200 is kept (``endpoint_s``) as an extra figure.

        :raises TimeoutError: no reaction within ``timeout`` seconds.
        """
        started = controller.started_at
        deadline = time.monotonic() + timeout
        answered: dict[str, float] = {}  # hash of a probe update of this wait -> answered at
        failed = 0
        rolling = 0.0  # seconds the probe Deployment was seen rolling out (not available)
        endpoint_s: float | None = None
        next_update = previous = time.monotonic()
        while True:
            controller.check_alive()
            st = self.watcher.state.get(PROBE_WORKLOAD)
            looked = time.monotonic()
            if st is not None and not st.available:
                rolling += looked - previous
            previous = looked
            hit = first_reaction(st.history if st else [], PROBE.env_var, answered, started)
            if hit is not None:
                at, digest = hit
                controller.ready_at = at
                self.waits.append(
                    {
                        "ready_s": round(at - started, 3),
                        "probe_updates": len(answered),
                        "probe_update_errors": failed,
                        "reacted_to_update_answered_s": round(answered[digest] - started, 3),
                        "endpoint_s": None if endpoint_s is None else round(endpoint_s, 3),
                        # a workload seen rolling out when its source changes is held by
                        # reloader's flapping protection: this says whether that happened
                        "probe_not_available_s": round(rolling, 2),
                    }
                )
                return at - started
            now = time.monotonic()
            if now > deadline:
                raise TimeoutError(
                    f"no reaction to {len(answered)} probe updates within {timeout:.0f}s "
                    f"of the controller's start: {controller.tail()}"
                )
            if now >= next_update:
                next_update = now + self.period
                self.seq += 1
                data = probe_data(self.seq)
                try:
                    await update_source(self.kube, PROBE, data)
                    answered[content_hash(PROBE.kind, data)] = time.monotonic()
                except KubeError:
                    failed += 1
            if (
                endpoint
                and endpoint_s is None
                and await controller.http_status(controller.ready_path) == 200
            ):
                endpoint_s = time.monotonic() - started
            await anyio.sleep(0.01)  # the reaction's instant comes from the watch, not from here

    @property
    def last(self) -> dict[str, Any]:
        return self.waits[-1] if self.waits else {}
