"""The scenarios (after Reloader's load test, in its spirit) and the measured run around each one.

Every scenario runs on its own fresh cluster. The common run:

1. create the namespaces, sources and workloads (bounded concurrency);
2. open the workload watch and wait until it has listed;
3. start the controller, time process start → its first reaction to a probe ConfigMap update
   (tests/bench/readiness.py, the same for every controller), sample RSS/CPU from then on;
4. wait until every workload has recorded (adopted) its sources, then until the controller is idle;
5. baseline: rollouts are counted from here, /metrics and CPU are read;
6. the load; 7. wait (deadline) until every workload reflects the last update of each of its
   sources; wait until the controller is idle again; 8. read /metrics and CPU, evaluate.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import anyio

from reloader.core.objects import ResourceType
from reloader.errors import KubeError
from reloader.kube.client import KubeClient
from tests.bench.controller import WRITE_VERBS, ControllerUnderTest, Scrape
from tests.bench.fanout import HALT_ARGS, halt_load, halt_setup
from tests.bench.objects import (
    SOURCE_TYPES,
    WORKLOAD_TYPES,
    Source,
    Workload,
    annotate_source,
    container,
    create_all,
    create_namespace,
    env_from,
    padding,
    source_body,
    ticker,
    update_source,
    workload_body,
)
from tests.bench.observe import WorkloadWatcher
from tests.bench.readiness import PROBES, Readiness, create_probe, probes_available
from tests.bench.stats import Tracker, summary

Payload = Callable[[Source, int], dict[str, str]]
KiB = 1024


def small_payload(source: Source, seq: int) -> dict[str, str]:
    return {"k": f"v{seq}"}


@dataclass
class Setup:
    """What a scenario creates before the controller starts."""

    namespaces: list[str]
    sources: list[Source]
    workloads: list[tuple[Workload, dict[str, Any]]]
    deps: dict[Workload, list[Source]]
    payload: Payload = small_payload


@dataclass
class Options:
    """Harness-wide settings of a bench run."""

    kubeconfig: Path
    out_dir: Path
    controller_template: str
    ours: bool  # the default controller: reloader's own flags and metrics may be used
    label: str = "controller"  # names its log files (one per scenario and controller)
    port: int | None = None  # a controller that always listens on this port (no flag for it)
    append_flags: bool | None = None  # reloader's flags appended (None: unless placeholders)
    scale: float = 1.0
    profile: bool = False
    seed: int = 1


@dataclass
class Run:
    """One scenario in progress: the client, the controller, the watch and what was done."""

    name: str
    opts: Options
    kube: KubeClient
    controller: ControllerUnderTest
    watcher: WorkloadWatcher
    tracker: Tracker
    setup: Setup
    rng: random.Random
    readiness: Readiness
    result: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    _locks: dict[Source, anyio.Lock] = field(default_factory=dict)

    async def update(self, source: Source) -> None:
        """Write the next data of ``source`` (one at a time per source, so order is kept)."""
        lock = self._locks.setdefault(source, anyio.Lock())
        async with lock:
            seq = self.tracker.last_seq.get(source, 0) + 1
            data = self.setup.payload(source, seq)
            digest = self.tracker.register(source, seq, data)
            sent = time.monotonic()
            try:
                await update_source(self.kube, source, data)
            except KubeError as exc:
                self.errors.append(f"update {source.name}: {type(exc).__name__} {exc}")
                return
            self.tracker.record(source, seq, digest, sent, time.monotonic())


LoadFn = Callable[[Run], Awaitable[None]]


@dataclass
class Scenario:
    name: str
    title: str
    build: Callable[[float], Setup]
    load: LoadFn
    extra_args: list[str] = field(default_factory=list)
    ours_only: bool = False
    ours_args: list[str] = field(default_factory=list)  # reloader's flags, not another's
    converge_timeout: float = 60.0
    expect_updates_seen: bool = False  # S4: wait until the controller saw every update event


# ====================================================================== the common run


def source_items(setup: Setup) -> list[tuple[ResourceType, dict[str, Any]]]:
    return [(SOURCE_TYPES[s.kind], source_body(s, setup.payload(s, 0))) for s in setup.sources]


async def create_setup(kube: KubeClient, setup: Setup, tracker: Tracker) -> None:
    async with anyio.create_task_group() as tg:
        for ns in setup.namespaces:
            tg.start_soon(create_namespace, kube, ns)
    for s in setup.sources:
        tracker.register(s, 0, setup.payload(s, 0))
    for wl, deps in setup.deps.items():
        tracker.depend(wl, *deps)
    await create_all(kube, source_items(setup))
    await create_all(kube, [(WORKLOAD_TYPES[wl.kind], body) for wl, body in setup.workloads])


def record_keys(sources: list[Source]) -> set[str]:
    return {f"{s.kind.lower()}/{s.name}" for s in sources}


async def wait_adopted(run: Run, timeout: float) -> float:
    """Wait until every workload's applied-hashes record names all of its sources."""
    wanted = {wl: record_keys(srcs) for wl, srcs in run.setup.deps.items()}

    def adopted() -> bool:
        for wl, keys in wanted.items():
            st = run.watcher.state.get(wl)
            if st is None or not keys <= st.recorded:
                return False
        return True

    return await run.watcher.wait_for(adopted, timeout=timeout, what="every workload adopted")


async def wait_available(run: Run, timeout: float, quiet: float = 2.0) -> float:
    """Wait until every workload (the readiness probe's too) is rolled out by its own controller
    and no workload changed for ``quiet`` seconds.

    The controller starts on a quiet cluster: a workload still rolling out when its source changes
    is held by reloader's flapping protection (docs/safe-reloads.md), which would time the
    cluster's pace, not the controller's. Right after creation a Deployment's status can still
    flip (the controller-manager catching up), hence the quiet time. A timeout is a harness
    error, not a failure.
    """
    t0 = time.monotonic()
    deadline = t0 + timeout
    watcher = run.watcher
    try:
        while True:
            await watcher.wait_for(
                lambda: all(st.available for st in watcher.state.values()),
                timeout=max(0.0, deadline - time.monotonic()),
                what="every workload available",
            )
            seen = watcher.events
            try:
                await watcher.wait_for(
                    partial(_changed_since, watcher, seen), timeout=quiet, what="a change"
                )
            except TimeoutError:
                return time.monotonic() - t0  # nothing changed for `quiet` seconds
            if time.monotonic() > deadline:
                raise TimeoutError(f"workloads still changing after {timeout:.0f}s")
    except TimeoutError as exc:
        run.errors.append(str(exc))
    return time.monotonic() - t0


def _changed_since(watcher: WorkloadWatcher, events: int) -> bool:
    return watcher.events != events


def writes(scrape: Scrape) -> float:
    by_verb = scrape.requests_by_verb()
    return sum(by_verb.get(v, 0.0) for v in WRITE_VERBS)


async def wait_idle(run: Run, *, timeout: float = 30.0, stable_for: float = 0.6) -> bool:
    """Poll /metrics until no write happened for ``stable_for`` s and the queue is empty."""
    deadline = time.monotonic() + timeout
    last = -1.0
    since = time.monotonic()
    while time.monotonic() < deadline:
        run.controller.check_alive()
        scrape = await run.controller.scrape()
        total = writes(scrape)
        depth = scrape.value("reloader_workqueue_depth") or 0.0
        if total != last or depth > 0:
            last = total
            since = time.monotonic()
        elif time.monotonic() - since >= stable_for:
            return True
        await anyio.sleep(0.1)
    return False


def controller_for(opts: Options, name: str, extra_args: list[str]) -> ControllerUnderTest:
    """The controller under test of ``opts`` for the run ``name`` (log file, port, flags)."""
    log_dir = opts.out_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    return ControllerUnderTest(
        template=opts.controller_template,
        kubeconfig=opts.kubeconfig,
        log_path=log_dir / f"{name}.{opts.label}.log",
        extra_args=extra_args,
        port=opts.port,
        append_flags=opts.append_flags,
    )


def delta(after: dict[str, float], before: dict[str, float]) -> dict[str, float]:
    return {k: after.get(k, 0.0) - before.get(k, 0.0) for k in after}


async def run_scenario(scenario: Scenario, opts: Options) -> dict[str, Any]:
    """The whole measured run of one scenario on the cluster of ``opts.kubeconfig``."""
    setup = scenario.build(opts.scale)
    load_before = os.getloadavg()[0]
    tracker = Tracker()
    async with await KubeClient.connect(
        kubeconfig=str(opts.kubeconfig), field_manager="bench", max_connections=200
    ) as kube:
        t0 = time.monotonic()
        await create_setup(kube, setup, tracker)
        await create_probe(kube)
        setup_s = time.monotonic() - t0
        watcher = WorkloadWatcher(kube)
        args = scenario.extra_args + (scenario.ours_args if opts.ours else [])
        controller = controller_for(opts, scenario.name, args)
        run = Run(
            name=scenario.name,
            opts=opts,
            kube=kube,
            controller=controller,
            watcher=watcher,
            tracker=tracker,
            setup=setup,
            rng=random.Random(opts.seed),
            readiness=Readiness(kube, watcher),
        )
        async with controller, anyio.create_task_group() as tg:
            tg.start_soon(watcher.run)
            await watcher.wait_for(lambda: watcher.synced, timeout=60, what="workload watch")
            await wait_available(run, timeout=120)
            controller.spawn()
            sync_s = await run.readiness.wait(controller, endpoint=opts.ours)
            ready = run.readiness.last
            tg.start_soon(controller.sample_forever)
            profiler = start_profiler(run) if opts.profile else None
            try:
                adopt_s = await wait_adopted(run, timeout=300) if opts.ours else None
                idle_before = await wait_idle(run)
                watcher.mark_baseline()
                before = await controller.scrape()
                run.result["_before"] = before
                cpu0, t_start = controller.cpu_seconds(), time.monotonic()
                await scenario.load(run)
                t_load = time.monotonic() - t_start
                if scenario.expect_updates_seen and opts.ours:
                    await wait_events_seen(run, before)
                converge_s: float | None = None
                try:
                    converge_s = await watcher.wait_for(
                        lambda: tracker.converged(watcher),
                        timeout=scenario.converge_timeout,
                        what="every workload at its sources' last update",
                    )
                except TimeoutError as exc:
                    run.errors.append(str(exc))
                try:  # a fan-out's "all rolled and complete" needs the last rollouts complete
                    await watcher.wait_for(
                        lambda: not tracker.incomplete(watcher),
                        timeout=60,
                        what="every dependent of a shared source complete",
                    )
                except TimeoutError as exc:
                    run.errors.append(str(exc))
                idle_after = await wait_idle(run)
                after = await controller.scrape()
                cpu1, t_end = controller.cpu_seconds(), time.monotonic()
            finally:
                if profiler is not None:
                    stop_profiler(profiler)
            exit_code = await controller.stop()
            tg.cancel_scope.cancel()
    ev = tracker.evaluate(watcher)
    first_last: Scrape | None = run.result.pop("_first_last", None)

    def counted(get: Callable[[Scrape], float]) -> float:
        """A counter's increase over the scenario, across a restart (counters restart at 0)."""
        if first_last is None:
            return get(after) - get(before)
        return get(first_last) - get(before) + get(after)

    requests = {
        verb: counted(lambda s, verb=verb: s.requests_by_verb().get(verb, 0.0))  # type: ignore[misc]
        for verb in after.requests_by_verb() or before.requests_by_verb()
    }
    if first_last is not None:  # the second process's initial LISTs are not "after sync"
        requests["LIST"] = requests.get("LIST", 0.0) - run.result.pop("_second_lists_at_ready")
        # nor are its reactions to the readiness probe: a PATCH per probe Deployment it rolled
        probe_rollouts = sum(watcher.state[wl].rollouts for _, wl in PROBES if wl in watcher.state)
        requests["PATCH"] = requests.get("PATCH", 0.0) - probe_rollouts
    rollouts = sum(ev.rollouts.values())
    rss = [s.rss for s in controller.samples if s.at >= t_start and s.rss > 0]
    errors_metric = counted(lambda s: s.value("reloader_errors_total") or 0.0) + counted(
        lambda s: s.value("reloader_retries_total") or 0.0
    )
    verdicts = counted(lambda s: s.value("reloader_wave_verdicts_total") or 0.0)
    pod_lists = counted(lambda s: s.value("reloader_wave_pod_lists_total") or 0.0)
    error_responses = counted(lambda s: s.error_responses())
    conflicts = counted(lambda s: s.error_responses(conflicts=True))
    request_ms: dict[str, float | None] = {}
    for method in ("GET", "PATCH", "POST"):
        total = counted(lambda s, m=method: s.request_seconds(m)[0])  # type: ignore[misc]
        n = counted(lambda s, m=method: s.request_seconds(m)[1])  # type: ignore[misc]
        request_ms[method] = round(total / n * 1000, 1) if n else None
    run.result.pop("_before", None)
    out: dict[str, Any] = {
        "title": scenario.title,
        "controller_args": args,
        "objects": {
            "namespaces": len(setup.namespaces),
            "sources": len(setup.sources),
            "workloads": len(setup.workloads),
        },
        "setup_s": round(setup_s, 3),
        "sync_s": round(sync_s, 3),
        "ready": ready,
        "adopt_s": None if adopt_s is None else round(adopt_s, 3),
        "load_s": round(t_load, 3),
        "converge_after_load_s": None if converge_s is None else round(converge_s, 3),
        "idle_before": idle_before,
        "idle_after": idle_after,
        "updates": len(tracker.updates),
        **ev.to_json(),
        "api_requests": {k: int(v) for k, v in requests.items()},
        "writes_total": int(sum(requests.get(v, 0.0) for v in WRITE_VERBS)),
        "workload_patches_per_rollout": (requests.get("PATCH", 0.0) / rollouts)
        if rollouts
        else None,
        "writes_per_rollout": (sum(requests.get(v, 0.0) for v in WRITE_VERBS) / rollouts)
        if rollouts
        else None,
        "api_request_mean_ms": request_ms,
        "wave_verdicts": int(verdicts),  # each is one PATCH of a rolled workload's wave record
        "wave_pod_lists": int(pod_lists),  # the pods of a rolled workload, until its verdict
        # other work on the machine (e.g. test suites of other engineers) skews every figure
        "loadavg_1m": {"before": round(load_before, 2), "after": round(os.getloadavg()[0], 2)},
        "cpu_s": round(cpu1 - cpu0, 3),
        "cpu_cores_avg": round((cpu1 - cpu0) / max(t_end - t_start, 1e-9), 3),
        "rss_mb": {
            "start": _mb(rss[0]) if rss else None,
            "max": _mb(max(rss)) if rss else None,
            "end": _mb(rss[-1]) if rss else None,
        },
        "errors": {
            "harness": run.errors,
            "controller_errors_and_retries": errors_metric,
            "api_error_responses": error_responses,
            "api_conflicts_409": conflicts,
            "controller_exit_codes": controller.exit_codes,
            "controller_warnings_logged": _count_log_levels(controller.log_path),
        },
        "latencies_s": [round(x, 4) for x in ev.latencies],
        "all_dependents_changed_list_s": [round(x, 4) for x in ev.all_changed],
        **run.result,
    }
    if exit_code != 0:
        run.errors.append(f"controller exit code {exit_code}")
    return out


def _mb(value: float) -> float:
    return round(value / 1e6, 1)


def _count_log_levels(path: Path) -> dict[str, int]:
    counts = {"warning": 0, "error": 0}
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return counts
    for line in text.splitlines():
        if '"level": "warning"' in line or '"level":"warning"' in line:
            counts["warning"] += 1
        elif '"level": "error"' in line or '"level":"error"' in line:
            counts["error"] += 1
    return counts


async def wait_events_seen(run: Run, before: Scrape, timeout: float = 30.0) -> None:
    """Until the controller counted an update event per source write (S4, reloader only)."""
    wanted = run.result.get("noop_updates", 0)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        scrape = await run.controller.scrape()
        seen = (scrape.value("reloader_events_received_total", event_type="update") or 0.0) - (
            before.value("reloader_events_received_total", event_type="update") or 0.0
        )
        if seen >= wanted:
            run.result["update_events_seen"] = int(seen)
            return
        await anyio.sleep(0.1)
    run.errors.append(f"the controller saw fewer than {wanted} update events")


# ---------------------------------------------------------------------- profiling


def start_profiler(run: Run) -> subprocess.Popen[bytes] | None:
    """py-spy on the controller's PID (reloader only), a flame graph per scenario."""
    out = run.opts.out_dir / "profiles"
    out.mkdir(parents=True, exist_ok=True)
    try:
        return subprocess.Popen(
            [
                str(Path(sys.executable).parent / "py-spy"),
                "record",
                "--pid",
                str(run.controller.pid),
                "--rate",
                "100",
                "--nonblocking",
                "--format",
                "speedscope",
                "--output",
                str(out / f"{run.name}.speedscope.json"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    except OSError:
        return None


def stop_profiler(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# ====================================================================== scenarios


def cm(ns: str, name: str) -> Source:
    return Source("ConfigMap", ns, name)


def one_to_one(ns: str, prefix: str, n: int, payload: Payload = small_payload) -> Setup:
    sources = [cm(ns, f"{prefix}-cm-{i}") for i in range(n)]
    workloads = []
    deps: dict[Workload, list[Source]] = {}
    for i, src in enumerate(sources):
        wl = Workload("Deployment", ns, f"{prefix}-{i}")
        workloads.append((wl, workload_body(wl, containers=[container(envFrom=env_from(src))])))
        deps[wl] = [src]
    return Setup([ns], sources, workloads, deps, payload)


async def idle_load(run: Run) -> None:
    src = run.setup.sources[0]
    async for _ in ticker(0.3, 50 * 0.3):
        await run.update(src)


async def random_updates(run: Run, *, period: float, duration: float, updaters: int = 1) -> None:
    """``updaters`` loops, each updating a random source every ``period`` for ``duration``."""

    async def loop() -> None:
        async with anyio.create_task_group() as tg:
            async for _ in ticker(period, duration):
                tg.start_soon(run.update, run.rng.choice(run.setup.sources))

    async with anyio.create_task_group() as tg:
        for _ in range(updaters):
            tg.start_soon(loop)


async def s1_load(run: Run) -> None:
    await random_updates(run, period=0.1, duration=30)


def coalesce_setup(scale: float) -> Setup:
    ns = "bench-coalesce"
    sources = [cm(ns, f"co-cm-{i}-{j}") for i in range(10) for j in range(3)]
    workloads, deps = [], {}
    for i in range(10):
        wl = Workload("Deployment", ns, f"co-{i}")
        mine = sources[3 * i : 3 * i + 3]
        workloads.append((wl, workload_body(wl, containers=[container(envFrom=env_from(*mine))])))
        deps[wl] = mine
    return Setup([ns], sources, workloads, deps)


async def coalesce_load(run: Run) -> None:
    """5 bursts; in each, every workload's 3 sources are updated 3 times each, quickly."""
    spans: list[float] = []
    bursts = 5
    for _ in range(bursts):
        for wl, mine in run.setup.deps.items():
            del wl
            t0 = time.monotonic()
            for _round in range(3):
                async with anyio.create_task_group() as tg:
                    for src in mine:
                        tg.start_soon(run.update, src)
            spans.append(time.monotonic() - t0)
        await run.watcher.wait_for(
            lambda: run.tracker.converged(run.watcher), timeout=30, what="burst applied"
        )
    run.result["bursts"] = bursts
    run.result["burst_span_s"] = summary(spans)


def fan_out_setup(scale: float, ns: str = "bench-s2") -> Setup:
    src = cm(ns, "shared-cm")
    workloads, deps = [], {}
    for i in range(50):
        wl = Workload("Deployment", ns, f"fan-{i}")
        workloads.append((wl, workload_body(wl, containers=[container(envFrom=env_from(src))])))
        deps[wl] = [src]
    return Setup([ns], [src], workloads, deps)


async def every(run: Run, period: float, count: int) -> None:
    async for _ in ticker(period, period * count):
        await run.update(run.setup.sources[0])


async def s4_load(run: Run) -> None:
    count = 0

    async def noop(src: Source, i: int) -> None:
        nonlocal count
        try:
            await annotate_source(run.kube, src, "noop-counter", str(i))
            count += 1
        except KubeError as exc:
            run.errors.append(f"annotate {src.name}: {exc}")

    async with anyio.create_task_group() as tg:
        async for i in ticker(0.1, 20):
            tg.start_soon(noop, run.rng.choice(run.setup.sources), i)
    run.result["noop_updates"] = count


async def s6_load(run: Run) -> None:
    """Updates every 200 ms for 30 s; at 10 s SIGTERM the controller, then start it again."""
    ctl = run.controller

    async def restart() -> None:
        await anyio.sleep(10)  # the moment of the restart within the load, not a settle wait
        run.result["_first_last"] = await ctl.scrape()
        try:  # the first reaction's rollout done, if slow: a restart starts on a quiet probe
            await run.watcher.wait_for(
                partial(probes_available, run.watcher), timeout=30, what="probes rolled out"
            )
        except TimeoutError as exc:
            run.errors.append(str(exc))
        t0 = time.monotonic()
        code = await ctl.stop()
        stopped = time.monotonic()
        ctl.spawn()
        sync_s = await run.readiness.wait(ctl, endpoint=run.opts.ours)
        ready = await ctl.scrape()
        lists = ready.requests_by_verb().get("LIST", 0.0)
        run.result["restart"] = {
            "exit_code": code,
            "stop_s": round(stopped - t0, 3),
            "sync_s": round(sync_s, 3),
            "downtime_s": round(time.monotonic() - t0, 3),
            "lists_of_second_sync": int(lists),
        }
        run.result["_second_lists_at_ready"] = lists

    async with anyio.create_task_group() as tg:
        tg.start_soon(restart)
        await random_updates(run, period=0.2, duration=30)


async def s7_load(run: Run) -> None:
    await random_updates(run, period=0.1, duration=30, updaters=10)


def large_payload(source: Source, seq: int) -> dict[str, str]:
    return {
        "k": f"v{seq}",
        "big1": padding(100 * KiB, f"{source.name}/{seq}/1"),
        "big2": padding(100 * KiB, f"{source.name}/{seq}/2"),
    }


async def s8_load(run: Run) -> None:
    await random_updates(run, period=2.0, duration=30)


def mixed_setup(scale: float) -> Setup:
    ns = "bench-s9"
    src = cm(ns, "mixed-cm")
    workloads, deps = [], {}
    for kind, n in (("Deployment", 5), ("StatefulSet", 3), ("DaemonSet", 2)):
        for i in range(n):
            wl = Workload(kind, ns, f"{kind.lower()}-{i}")
            workloads.append((wl, workload_body(wl, containers=[container(envFrom=env_from(src))])))
            deps[wl] = [src]
    return Setup([ns], [src], workloads, deps)


def complex_payload(source: Source, seq: int) -> dict[str, str]:
    return {"key1": f"v{seq}", "key2": "constant", "config": f"setting={seq}"}


def complex_setup(scale: float) -> Setup:
    """S13: init envFrom, two configMapKeyRef, a volume, and a projected volume of two CMs."""
    ns = "bench-s13"
    sources = [cm(ns, f"complex-cm-{i}") for i in range(5)]
    workloads, deps = [], {}
    for i in range(5):
        own, nxt = sources[i], sources[(i + 1) % 5]
        wl = Workload("Deployment", ns, f"complex-{i}")
        body = workload_body(
            wl,
            init_containers=[container("init", envFrom=env_from(own))],
            containers=[
                container(
                    "main",
                    env=[
                        {
                            "name": f"KEY{k}",
                            "valueFrom": {"configMapKeyRef": {"name": own.name, "key": f"key{k}"}},
                        }
                        for k in (1, 2)
                    ],
                ),
                container(
                    "sidecar",
                    volumeMounts=[
                        {"name": "config", "mountPath": "/etc/config"},
                        {"name": "projected", "mountPath": "/etc/projected"},
                    ],
                ),
            ],
            volumes=[
                {"name": "config", "configMap": {"name": own.name}},
                {
                    "name": "projected",
                    "projected": {
                        "sources": [
                            {"configMap": {"name": own.name}},
                            {"configMap": {"name": nxt.name}},
                        ]
                    },
                },
            ],
        )
        workloads.append((wl, body))
        deps[wl] = [own, nxt]
    return Setup([ns], sources, workloads, deps, complex_payload)


#: the protections off: no rollout gate, no waiting for a flapping source to settle (issue 10),
#: no health-gated waves (issue 19)
UNGUARDED = ["--max-rollouts-in-progress=0", "--flapping-max-wait=1ms", "--canary-size=0"]


def halt_scenario(name: str, title: str, unhealthy: str) -> Scenario:
    """Fan-out with an unhealthy canary (tests/bench/fanout.py), in a namespace of its own."""
    return Scenario(
        name,
        title,
        lambda scale: halt_setup(Setup, f"bench-{name}", unhealthy),
        halt_load,
        ours_args=HALT_ARGS,
        converge_timeout=180,
    )


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario(
            "idle",
            "1 CM, 1 Deployment, 50 sequential updates every 300 ms (default debounce)",
            lambda scale: one_to_one("bench-idle", "idle", 1),
            idle_load,
        ),
        Scenario(
            "idle-nodebounce",
            "idle with --reload-debounce=0: the latency floor without the debounce",
            lambda scale: one_to_one("bench-idle0", "idle0", 1),
            idle_load,
            extra_args=["--reload-debounce=0"],
            ours_only=True,
        ),
        Scenario(
            "s1",
            "S1 burst: 10 CMs, 10 Deployments, a random CM updated every 100 ms for 30 s",
            lambda scale: one_to_one("bench-s1", "burst", 10),
            s1_load,
        ),
        Scenario(
            "s1-unguarded",
            "S1 with the safe-reload guards off: the reload path's own latency",
            lambda scale: one_to_one("bench-s1u", "burstu", 10),
            s1_load,
            extra_args=UNGUARDED,
            ours_only=True,
        ),
        Scenario(
            "coalesce",
            "10 Deployments x 3 CMs; 5 bursts, each: every CM of a Deployment updated 3 times",
            coalesce_setup,
            coalesce_load,
        ),
        Scenario(
            "s2",
            "S2 fan-out: 1 CM shared by 50 Deployments, updated every 5 s, 6 times",
            fan_out_setup,
            lambda run: every(run, 5.0, 6),
            converge_timeout=180,  # seven health-gated waves after the last update
        ),
        Scenario(
            "s2-unguarded",
            "S2 with the safe-reload guards off: all 50 roll at once",
            lambda scale: fan_out_setup(scale, ns="bench-s2u"),
            lambda run: every(run, 5.0, 6),
            extra_args=UNGUARDED,
            ours_only=True,
        ),
        halt_scenario(
            "s2-halt",
            "S2 with a canary whose new pods never become ready: one bad update, then the fix",
            "never-ready",
        ),
        halt_scenario(
            "s2-halt-crash",
            "s2-halt with a canary whose new pods crash loop (fails at a pod look, no timeout)",
            "crash",
        ),
        Scenario(
            "s4",
            "S4 no-op: 10 CMs, 10 Deployments, annotation-only update every 100 ms for 20 s",
            lambda scale: one_to_one("bench-s4", "noop", 10),
            s4_load,
            expect_updates_seen=True,
        ),
        Scenario(
            "s6",
            "S6 restart: 20 CMs, 20 Deployments, update every 200 ms for 30 s; SIGTERM + "
            "start again at 10 s",
            lambda scale: one_to_one("bench-s6", "restart", 20),
            s6_load,
        ),
        Scenario(
            "s7",
            "S7 API pressure: 50 CMs, 50 Deployments, 10 updaters each every 100 ms for 30 s",
            lambda scale: one_to_one("bench-s7", "pressure", 50),
            s7_load,
            converge_timeout=180,
        ),
        Scenario(
            "s8",
            "S8 large objects: 10 CMs with two 100 KiB values, random update every 2 s for 30 s",
            lambda scale: one_to_one("bench-s8", "large", 10, large_payload),
            s8_load,
        ),
        Scenario(
            "s9",
            "S9 mixed kinds: 1 CM; 5 Deployments, 3 StatefulSets, 2 DaemonSets; every 5 s, 6x",
            mixed_setup,
            lambda run: every(run, 5.0, 6),
        ),
        Scenario(
            "s13",
            "S13 complex refs: init envFrom, configMapKeyRef, volume, projected (2 CMs)",
            complex_setup,
            lambda run: random_updates(run, period=2.0, duration=30),
        ),
    )
}
