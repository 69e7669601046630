"""Readiness measured from outside, the same way for every controller: the first reaction.

``PAIRS`` probe ConfigMaps, each used by a probe Deployment of its own
(``reloader.stakater.com/auto``), are created with the scenario's objects, before the controller
starts. From the controller's start, the harness writes new data into the next probe ConfigMap in
turn every ``PERIOD`` until a probe Deployment's pod template shows one of those writes (its
``STAKATER_*`` value is that data's hash) on the harness's own watch. The controller's ready time
is the instant of that first reaction, from process start.

An update the controller's initial list already contains triggers nothing (there is no event for
it), so the first reaction comes from an update made after its informers synced: the figure is the
sync time plus one reaction, the earliest a change is acted on. ``PERIOD`` (200 ms) bounds how much
later than the true readiness the first reaction can come; it is longer than reloader's burst
window (3 debounces of the default 50 ms), so its debounce never holds a probe.

Why a pool, each written at most once every ``PAIRS * PERIOD`` (6.4 s): reloader holds a
workload whose rollout is under way when its source changes, and once held, releases it only when
its sources have been quiet for 5 s (docs/safe-reloads.md). Its first-start writes (the
applied-hashes annotation) bump a Deployment's generation, so for a moment right after the sync a
probe Deployment is "rolling"; a single probe written every 200 ms would then never be quiet and
would wait for ``--flapping-max-wait`` (1 min), which times the probe, not the controller.
Every controller is also started on a quiet cluster (every workload rolled out, none changing).

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
PERIOD = 0.2
PAIRS = 32
PROBES: list[tuple[Source, Workload]] = [
    (
        Source("ConfigMap", NAMESPACE, f"ready-probe-{i}"),
        Workload("Deployment", NAMESPACE, f"ready-probe-{i}"),
    )
    for i in range(PAIRS)
]


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


def probes_available(watcher: WorkloadWatcher) -> bool:
    """Every probe Deployment is rolled out (as the harness's watch last saw it)."""
    return all((st := watcher.state.get(wl)) is not None and st.available for _, wl in PROBES)


async def create_probe(kube: KubeClient) -> None:
    """The probe ConfigMaps and their Deployments (with the scenario's objects)."""
    await create_namespace(kube, NAMESPACE)
    items = []
    for src, wl in PROBES:
        items.append((SOURCE_TYPES[src.kind], source_body(src, probe_data(0))))
        body = workload_body(wl, containers=[container(envFrom=env_from(src))])
        items.append((WORKLOAD_TYPES[wl.kind], body))
    await create_all(kube, items)


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
        answered: list[dict[str, float]] = [{} for _ in PROBES]  # per pair: hash -> answered at
        writes = failed = 0
        rolling = 0.0  # seconds a probe Deployment was seen rolling out (not available)
        endpoint_s: float | None = None
        next_update = previous = time.monotonic()
        while True:
            controller.check_alive()
            looked = time.monotonic()
            if not probes_available(self.watcher):
                rolling += looked - previous
            previous = looked
            hits = []
            for (src, wl), hashes in zip(PROBES, answered, strict=True):
                st = self.watcher.state.get(wl)
                hit = first_reaction(st.history if st else [], src.env_var, hashes, started)
                if hit is not None:
                    hits.append((hit[0], hashes[hit[1]]))
            if hits:
                at, answered_at = min(hits)
                controller.ready_at = at
                self.waits.append(
                    {
                        "ready_s": round(at - started, 3),
                        "probe_updates": writes,
                        "probe_update_errors": failed,
                        "reacted_to_update_answered_s": round(answered_at - started, 3),
                        "endpoint_s": None if endpoint_s is None else round(endpoint_s, 3),
                        "probe_not_available_s": round(rolling, 2),
                    }
                )
                return at - started
            now = time.monotonic()
            if now > deadline:
                raise TimeoutError(
                    f"no reaction to {writes} probe updates within {timeout:.0f}s "
                    f"of the controller's start: {controller.tail()}"
                )
            if now >= next_update:
                next_update = now + self.period
                self.seq += 1
                pair = self.seq % PAIRS
                src = PROBES[pair][0]
                data = probe_data(self.seq)
                try:
                    await update_source(self.kube, src, data)
                    answered[pair][content_hash(src.kind, data)] = time.monotonic()
                    writes += 1
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
