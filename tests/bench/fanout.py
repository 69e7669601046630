"""Fan-out with an unhealthy canary (``s2-halt``, ``s2-halt-crash``): how many of 50 workloads a
bad shared change reaches.

The 50 Deployments of the fan-out scenario share one ConfigMap; the first, ``fan-0`` (the one that
sorts first, and annotated as the preferred canary), carries the pod-template annotation
``reloader-test/never-ready-when`` (or ``reloader-test/crash-when``) with the content hash of the
first update: the kwok stages of ``tools/cluster/stages/unhealthy.yaml`` then keep its new pods
never ready (or crash looping) once its ``STAKATER_*`` env var carries that hash, and only then.

The load: the ConfigMap gets that bad content; the harness waits until the halt is visible
(reloader's ``reloader_halted_changes`` gauge at 1) or every workload has rolled the bad content
(a controller without waves), watches for 10 s more, and counts the workloads whose template
carries the bad hash: "rolled before the halt". Then the ConfigMap gets good content (the fix),
and the common run waits until all 50 have rolled it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import anyio

from tests.bench.objects import (
    AUTO,
    Source,
    Workload,
    container,
    content_hash,
    env_from,
    workload_body,
)

if TYPE_CHECKING:
    from tests.bench.scenarios import Run, Setup

FAN_OUT = 50
CANARY = "reloader.stakater.com/canary"
#: reloader's flags for the halt scenarios: the never-ready canary fails after 15 s, not 5 min
HALT_ARGS = ["--health-timeout=15s"]
#: how long the harness keeps watching once the halt is visible (nothing more may roll)
HALT_WATCH_S = 10.0
#: the longest wait for the halt (or, without waves, for every workload to roll the bad content)
HALT_TIMEOUT_S = 120.0
UNHEALTHY = {"never-ready": "reloader-test/never-ready-when", "crash": "reloader-test/crash-when"}


def bad_payload(source: Source, seq: int) -> dict[str, str]:
    """Creation (0), the bad change (1), the fix (2): the fan-out's small data."""
    return {"k": f"v{seq}"}


def halt_setup(setup_cls: type[Setup], ns: str, unhealthy: str) -> Setup:
    """50 Deployments sharing one ConfigMap; ``fan-0`` is the canary that the bad change breaks."""
    src = Source("ConfigMap", ns, "shared-cm")
    bad = content_hash(src.kind, bad_payload(src, 1))
    workloads, deps = [], {}
    for i in range(FAN_OUT):
        wl = Workload("Deployment", ns, f"fan-{i}")
        canary = i == 0
        body = workload_body(
            wl,
            containers=[container(envFrom=env_from(src))],
            annotations={**AUTO, CANARY: "true"} if canary else None,
        )
        if canary:
            body["spec"]["template"]["metadata"]["annotations"] = {UNHEALTHY[unhealthy]: bad}
        workloads.append((wl, body))
        deps[wl] = [src]
    return setup_cls([ns], [src], workloads, deps, bad_payload)


def rolled(values: dict[Workload, dict[str, str]], var: str, digest: str) -> int:
    """How many workloads carry ``digest`` in their ``var`` (their template rolled it)."""
    return sum(1 for v in values.values() if v.get(var) == digest)


async def halt_load(run: Run) -> None:
    src = run.setup.sources[0]
    bad = content_hash(src.kind, run.setup.payload(src, 1))
    wls = list(run.setup.deps)

    def count() -> int:
        return rolled({w: run.watcher.state[w].values for w in wls}, src.env_var, bad)

    await run.update(src)
    answered = run.tracker.updates[-1].answered if run.tracker.updates else time.monotonic()
    try:
        halted: bool | None = await _wait(run, lambda: count() == len(wls), HALT_TIMEOUT_S)
    except TimeoutError as exc:
        run.errors.append(str(exc))
        halted = None
    visible = time.monotonic()
    await anyio.sleep(HALT_WATCH_S)  # an observation window: does anything more roll?
    run.result["halt"] = {
        "workloads": len(wls),
        "rolled_before_halt": count(),
        "halted_by_controller": halted,
        "halt_visible_after_s": round(visible - answered, 3),
        "watched_after_s": HALT_WATCH_S,
        "bad_hash": bad,
    }
    await run.update(src)  # the fix: the common run waits until all 50 have rolled it


async def _wait(run: Run, all_rolled: Callable[[], bool], timeout: float) -> bool:
    """Until reloader reports the halt (True), or every workload rolled the bad change (False).

    :raises TimeoutError: neither within ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if run.opts.ours:
            scrape = await run.controller.scrape()
            if (scrape.value("reloader_halted_changes") or 0.0) >= 1:
                return True
        if all_rolled():
            return False
        await anyio.sleep(0.2)
    raise TimeoutError(f"no halt and not every workload rolled after {timeout:.0f}s")


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"


def fan_out_lines(name: str, r: dict[str, Any]) -> list[str]:
    """What a fan-out scenario's result says about waves, in words (empty for other scenarios)."""
    out: list[str] = []
    done = r.get("last_update_all_complete_s")
    halt = r.get("halt")
    n = r.get("objects", {}).get("workloads", "?")
    if halt is not None:
        how = (
            "the controller halted the change"
            if halt["halted_by_controller"]
            else "no halt: every workload rolled it"
            if halt["halted_by_controller"] is False
            else "neither a halt nor every workload rolled it (see the harness errors)"
        )
        out.append(
            f"  {name}: {halt['rolled_before_halt']} of {halt['workloads']} rolled the bad change "
            f"({how} {_s(halt['halt_visible_after_s'])} after the update; counted "
            f"{halt['watched_after_s']:.0f} s later)"
        )
    if done is not None:
        what = "the fix" if halt is not None else "the last update"
        out.append(
            f"  {name}: all {n} rolled and complete {_s(done)} after {what} "
            f"(all changed, slowest update: {_s(r['all_dependents_changed_s']['max'])}; "
            f"{r['rollouts_total']} rollouts for {r['updates']} updates)"
        )
    return out


def render_fan_out(results: dict[str, Any]) -> list[str]:
    lines = [line for name, r in results.items() for line in fan_out_lines(name, r)]
    if not lines:
        return []
    return ["", "Fan-out with waves (one source shared by many workloads)", *lines]
