"""``reloader restart`` of a workload with restart hooks: handed to the controller.

A restart with hooks takes several steps (a hook Job that runs for minutes, a stop-start that
waits for pods) and must survive a crash at any of them, which is what the controller's recorded
steps give (``schedule/hook_steps.py``). So the command does not run the hooks itself: it records
the restart's first step on the workload, exactly as a due schedule does, and the controller
takes it from there. The command then follows the recorded step until the restart is over and
reports each hook's result. Without a running controller the step never moves; the command says
so when ``--timeout`` runs out, and the record stays for the controller to finish.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import anyio

from reloader.core.durations import format_time
from reloader.errors import EXIT_FAILED, EXIT_OK, EXIT_USAGE, fail
from reloader.kube import resources
from reloader.schedule.domain.schedules import ScheduleNames
from reloader.workloads.domain.hooks import (
    HookNames,
    RestartProgress,
    Step,
    blocking_problem,
    parse_hooks,
    read_progress,
    record_patch,
)

if TYPE_CHECKING:
    from reloader.kube.client import KubeClient
    from reloader.workloads.domain.kinds import WorkloadKind

POLL = 0.5
NAMES = HookNames()


async def hand_over(
    client: KubeClient,
    kind: WorkloadKind,
    obj: dict[str, Any],
    wait: bool,
    limit: float,
    dry_run: bool,
) -> int | None:
    """The exit code once the controller has run the restart, or None when the workload has
    no hooks (the command restarts it itself)."""
    meta = obj.get("metadata") or {}
    annotations: dict[str, str] = meta.get("annotations") or {}
    namespace, name = meta["namespace"], meta["name"]
    stop_start = annotations.get(ScheduleNames().method, "").strip() == "stop-start"
    hooks, problems = parse_hooks(annotations, names=NAMES, stop_start=stop_start)
    if blocking_problem(annotations, NAMES):
        return fail(f"{kind.kind} {namespace}/{name}: {'; '.join(problems)}", EXIT_USAGE)
    if not hooks.any:
        return None
    label = f"{kind.kind.lower()}/{name}"
    running = read_progress(annotations, NAMES)
    if running is not None:
        return fail(
            f"{label}: a restart with hooks is already in progress ({running.restart}, step "
            f"{running.step.value}); wait for it, or restart without hooks (--no-hooks)",
            EXIT_FAILED,
        )
    first = Step.BEFORE if hooks.before is not None else Step.READY
    progress = RestartProgress(f"restart {format_time(datetime.now(UTC))}", first)
    patch = {"metadata": {"annotations": record_patch(NAMES, progress)}}
    if dry_run:
        print(f"{label} has restart hooks: would hand the restart to the controller; not sent:")  # noqa: T201
        print(json.dumps(patch, indent=2, sort_keys=True))  # noqa: T201 - the command's output
        return EXIT_OK
    await resources.patch(
        client, kind.resource, namespace=namespace, name=name, body=patch, patch_type="merge"
    )
    print(f"{label}: restart with hooks recorded; the reloader controller runs it")  # noqa: T201
    if not wait:
        return EXIT_OK
    return await _follow(client, kind, namespace, name, progress.restart, limit)


async def _follow(
    client: KubeClient, kind: WorkloadKind, namespace: str, name: str, restart: str, limit: float
) -> int:
    """Print each step until the record is gone, then the hooks' results."""
    label = f"{kind.kind.lower()}/{name}"
    last = ""
    with anyio.move_on_after(limit):
        while True:
            obj = await resources.get(client, kind.resource, namespace=namespace, name=name)
            annotations = (obj.get("metadata") or {}).get("annotations") or {}
            progress = read_progress(annotations, NAMES)
            if progress is None or progress.restart != restart:
                return _results(label, annotations)
            if progress.step.value != last:
                last = progress.step.value
                print(f"{label}: step {last}")  # noqa: T201 - the command's output
            await anyio.sleep(POLL)
    return fail(
        f"timed out after {limit:g}s with {label} at step {last or '?'}: is the reloader "
        "controller running? It runs the hooks and finishes the restart",
        EXIT_FAILED,
    )


def _results(label: str, annotations: dict[str, str]) -> int:
    try:
        results = json.loads(annotations.get(NAMES.results) or "{}")
    except ValueError:
        results = {}
    for point, result in sorted(results.items()):
        print(f"{label}: {point}-hook {result}")  # noqa: T201 - the command's output
    failed = sorted(p for p, r in results.items() if r != "success")
    if failed:
        return fail(f"{label} restarted, but hooks failed: {', '.join(failed)}", EXIT_FAILED)
    print(f"{label} restarted")  # noqa: T201 - the command's output
    return EXIT_OK
