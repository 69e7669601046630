"""The scale scenario: 10,000 ConfigMaps + 10,000 Secrets and 1,000 Deployments in 20 namespaces.

Run once per object size (4 KiB, then 40 KiB) on a fresh cluster each. Everything is created
before the controller starts, so the numbers are the controller's own: process start → /ready
(sync), RSS at ready, RSS once every Deployment has recorded its sources (adopted) and the
controller is idle, peak RSS; then a short latency probe at that scale. RSS and the number of
sources the controller has received are sampled together during the sync (memory over object
count). ``--scale`` multiplies every count.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Iterator
from typing import Any

import anyio

from reloader.core.objects import ResourceType
from reloader.kube.client import KubeClient
from tests.bench.controller import WRITE_VERBS
from tests.bench.objects import (
    SOURCE_TYPES,
    WORKLOAD_TYPES,
    Source,
    Workload,
    container,
    create_all,
    create_namespace,
    env_from,
    padding,
    source_body,
    ticker,
    workload_body,
)
from tests.bench.observe import WorkloadWatcher
from tests.bench.readiness import Readiness, create_probe
from tests.bench.scenarios import (
    Options,
    Run,
    Setup,
    controller_for,
    delta,
    wait_adopted,
    wait_available,
    wait_idle,
)
from tests.bench.stats import Tracker, summary

FULL = {"configmaps": 10_000, "secrets": 10_000, "deployments": 1_000, "namespaces": 20}


def counts(scale: float) -> dict[str, int]:
    deployments = max(1, round(FULL["deployments"] * scale))
    return {
        "configmaps": max(1, round(FULL["configmaps"] * scale)),
        "secrets": max(1, round(FULL["secrets"] * scale)),
        "deployments": deployments,
        "namespaces": max(1, min(FULL["namespaces"], deployments)),
    }


def scale_setup(scale: float, size: int) -> Setup:
    n = counts(scale)
    namespaces = [f"bench-scale-{i:02d}" for i in range(n["namespaces"])]

    def spread(total: int, kind: str, prefix: str) -> list[Source]:
        return [
            Source(kind, namespaces[i % len(namespaces)], f"{prefix}-{i // len(namespaces)}")
            for i in range(total)
        ]

    cms = spread(n["configmaps"], "ConfigMap", "cm")
    secrets = spread(n["secrets"], "Secret", "secret")
    by_name = {(s.kind, s.namespace, s.name): s for s in [*cms, *secrets]}
    workloads: list[tuple[Workload, dict[str, Any]]] = []
    deps: dict[Workload, list[Source]] = {}
    for i in range(n["deployments"]):
        ns = namespaces[i % len(namespaces)]
        idx = i // len(namespaces)
        mine = [
            s
            for s in (
                by_name.get(("ConfigMap", ns, f"cm-{idx}")),
                by_name.get(("Secret", ns, f"secret-{idx}")),
            )
            if s is not None
        ]
        wl = Workload("Deployment", ns, f"app-{idx}")
        workloads.append((wl, workload_body(wl, containers=[container(envFrom=env_from(*mine))])))
        deps[wl] = mine

    def payload(source: Source, seq: int) -> dict[str, str]:
        return {
            "k": f"v{seq}",
            "blob": padding(size, f"{source.kind}/{source.namespace}/{source.name}"),
        }

    return Setup(namespaces, [*cms, *secrets], workloads, deps, payload)


async def run_scale(opts: Options, size_kib: int) -> dict[str, Any]:
    size = size_kib * 1024
    load_before = os.getloadavg()[0]
    setup = scale_setup(opts.scale, size)
    tracker = Tracker()
    name = f"scale-{size_kib}k"
    async with await KubeClient.connect(
        kubeconfig=str(opts.kubeconfig), field_manager="bench", max_connections=200
    ) as kube:
        t0 = time.monotonic()
        async with anyio.create_task_group() as tg:
            for ns in setup.namespaces:
                tg.start_soon(create_namespace, kube, ns)

        def sources() -> Iterator[tuple[ResourceType, dict[str, Any]]]:
            for s in setup.sources:
                yield SOURCE_TYPES[s.kind], source_body(s, setup.payload(s, 0))

        created = await create_all(kube, sources(), concurrency=32)
        create_sources_s = time.monotonic() - t0
        created += await create_all(
            kube, [(WORKLOAD_TYPES[wl.kind], body) for wl, body in setup.workloads]
        )
        await create_probe(kube)
        setup_s = time.monotonic() - t0
        for wl, srcs in setup.deps.items():
            tracker.depend(wl, *srcs)
        watcher = WorkloadWatcher(kube, kinds=("Deployment",))
        controller = controller_for(opts, name, [])
        run = Run(
            name=name,
            opts=opts,
            kube=kube,
            controller=controller,
            watcher=watcher,
            tracker=tracker,
            setup=setup,
            rng=random.Random(opts.seed),
            readiness=Readiness(kube, watcher),
        )
        curve: list[tuple[float, float, float]] = []  # (seconds since start, RSS MB, sources)
        # RSS when /metrics first answers: imports done, server up, no source cached yet (the
        # floor the per-object figure is taken from; none for a controller without the count)
        floor: list[int] = []
        async with controller, anyio.create_task_group() as tg:
            tg.start_soon(watcher.run)
            await watcher.wait_for(lambda: watcher.synced, timeout=120, what="workload watch")
            # Start the controller on a quiet cluster: every Deployment rolled out by KCM/kwok.
            settle_s = await wait_available(run, timeout=600)
            controller.spawn()

            sampling = True

            async def sample_curve() -> None:
                received = 0.0  # sources received; 0 until /metrics answers (or has no count)
                while sampling:
                    s = controller.sample()
                    scrape = await controller.scrape()
                    count = scrape.value("reloader_events_received_total", event_type="add")
                    received = received if count is None else count
                    if count is not None and not floor and s.rss:
                        floor.append(s.rss)
                    if s.rss:  # RSS from the start, for any controller, metrics or not
                        curve.append((s.at - controller.started_at, s.rss / 1e6, received))
                    await anyio.sleep(0.1)

            tg.start_soon(sample_curve)
            sync_s = await run.readiness.wait(controller, timeout=600, endpoint=opts.ours)
            rss_ready = controller.rss()
            adopt_s = await wait_adopted(run, timeout=900) if opts.ours else None
            idle = await wait_idle(run, timeout=120)
            rss_synced = controller.rss()
            sampling = False
            cpu_sync = controller.cpu_seconds()
            # latency probe at scale: 20 sequential updates of referenced ConfigMaps
            watcher.mark_baseline()
            before = await controller.scrape()
            referenced = sorted(
                {s for srcs in setup.deps.values() for s in srcs if s.kind == "ConfigMap"}
            )
            async for _ in ticker(0.3, 20 * 0.3):
                await run.update(run.rng.choice(referenced))
            converged = True
            try:
                await watcher.wait_for(
                    lambda: tracker.converged(watcher), timeout=60, what="probe applied"
                )
            except TimeoutError as exc:
                run.errors.append(str(exc))
                converged = False
            await wait_idle(run)
            after = await controller.scrape()
            rss_end = controller.rss()
            peak = max((s.rss for s in controller.samples), default=0)
            exit_code = await controller.stop()
            tg.cancel_scope.cancel()
    ev = tracker.evaluate(watcher)
    base_mb = round(floor[0] / 1e6, 1) if floor else None
    requests = delta(after.requests_by_verb(), before.requests_by_verb())
    total_lists = int(after.requests_by_verb().get("LIST", 0.0))
    return {
        "title": f"scale: {len(setup.sources)} sources of {size_kib} KiB, "
        f"{len(setup.workloads)} Deployments, {len(setup.namespaces)} namespaces",
        "size_kib": size_kib,
        "scale": opts.scale,
        "objects": {
            **counts(opts.scale),
            "created": created,
            "payload_mb": round(len(setup.sources) * size / 1e6, 1),
        },
        "create_sources_s": round(create_sources_s, 2),
        "setup_s": round(setup_s, 2),
        "deployments_available_after_s": round(settle_s, 2),
        "sync_s": round(sync_s, 3),
        "ready": run.readiness.last,
        "adopt_s": None if adopt_s is None else round(adopt_s, 3),
        "idle_after_sync": idle,
        "rss_mb": {
            "ready": round(rss_ready / 1e6, 1),
            "synced": round(rss_synced / 1e6, 1),
            "peak": round(peak / 1e6, 1),
            "end": round(rss_end / 1e6, 1),
            "before_sources": base_mb,
        },
        # what each source costs once synced: (RSS synced - RSS floor) / sources
        "bytes_per_object": (
            None
            if base_mb is None
            else round((rss_synced - base_mb * 1e6) / max(1, len(setup.sources)))
        ),
        "cpu_s_to_synced": round(cpu_sync, 2),
        "loadavg_1m": {"before": round(load_before, 2), "after": round(os.getloadavg()[0], 2)},
        "lists_in_initial_sync": total_lists - int(requests.get("LIST", 0.0)),
        "probe": {
            "updates": len(tracker.updates),
            "converged": converged,
            "latency_s": summary(ev.latencies),
            "api_requests": {k: int(v) for k, v in requests.items()},
            "writes_total": int(sum(requests.get(v, 0.0) for v in WRITE_VERBS)),
            "rollouts_total": sum(ev.rollouts.values()),
            "redundant_rollouts": ev.redundant,
        },
        "errors": {
            "harness": run.errors,
            "controller_exit_codes": controller.exit_codes,
        },
        "latencies_s": [round(x, 4) for x in ev.latencies],
        "curve": [(round(t, 2), round(r, 1), int(n)) for t, r, n in curve],
        "exit_code": exit_code,
    }
