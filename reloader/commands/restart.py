"""``reloader restart KIND/NAME``: restart a workload now, for every supported kind.

The restart is the one ``kubectl rollout restart`` does where kubectl has one (the pod-template
annotation ``kubectl.kubernetes.io/restartedAt``: Deployment, DaemonSet, StatefulSet), and the
kind's own restart elsewhere, from the same table the controllers use: ``spec.restartAt`` for an
Argo Rollout, a Job created now from a CronJob's template, a Job deleted and created again. Then
it waits until the rollout has completed (or the Job has started a pod), printing each change of
progress, unless ``--no-wait``. ``--dry-run`` prints the patch the restart would send, and sends
nothing.

Exit codes: 0 restarted (and rolled out); 1 failed, refused by the API, or not rolled out within
``--timeout``; 2 bad input: malformed KIND/NAME, an unsupported kind, an object that does not
exist, an unusable kubeconfig.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING

import anyio

from reloader.commands.common import UsageError, add_target_arguments, connect, parse_target
from reloader.commands.hooked_restart import hand_over
from reloader.core.annotations import AnnotationNames
from reloader.core.durations import format_time, parse_duration
from reloader.core.objects import ObjectKey
from reloader.errors import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    ConfigError,
    Conflict,
    KubeError,
    NotFound,
    fail,
)
from reloader.kube import resources
from reloader.kube.client import KubeClient
from reloader.observability import logging as logging_setup
from reloader.runtime.retry import on_conflict
from reloader.workloads.domain.kinds import JOB, RestartMethod, WorkloadKind
from reloader.workloads.domain.rollouts import rollout_progress, summarize_state
from reloader.workloads.dry_run import DryRunRestarter, WouldWrite
from reloader.workloads.restarts import Restarter

if TYPE_CHECKING:
    from reloader.workloads.domain.rollouts import WorkloadState

CONFLICT_RETRIES = 3
POLL = 0.5


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="reloader restart",
        description="Restart a workload now and wait for the rollout: Deployment, DaemonSet, "
        "StatefulSet (rolling restart, as kubectl rollout restart), Rollout (restartAt), "
        "CronJob (a Job now), Job (recreated).",
        epilog="Exit codes: 0 done; 1 failed or timed out; 2 bad input (unknown kind, "
        "missing object, bad kubeconfig).",
    )
    add_target_arguments(p, "deployment/web, sts/db, cronjob/x")
    p.add_argument("--no-wait", action="store_true", help="do not wait for the rollout")
    p.add_argument(
        "--no-hooks",
        action="store_true",
        help="restart at once, without the workload's restart hooks (docs/hooks.md)",
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="print the patch the restart would send, and send nothing",
    )
    p.add_argument(
        "--timeout", default="5m", metavar="DURATION", help="how long to wait (default 5m)"
    )
    return p


def main(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(list(argv))
    try:
        kind, name = parse_target(args.target)
        timeout = parse_duration(args.timeout)
    except (UsageError, ValueError) as exc:
        return fail(str(exc), EXIT_USAGE)
    logging_setup.configure(fmt="console", level="warning")
    run = partial(
        restart,
        kind=kind,
        name=name,
        namespace=args.namespace,
        kubeconfig=args.kubeconfig,
        wait=not args.no_wait,
        limit=timeout,
        dry_run=args.dry_run,
        hooks=not args.no_hooks,
    )
    return anyio.run(run)


def _label(kind: WorkloadKind, name: str) -> str:
    """``deployment.apps/web``, as kubectl names objects."""
    group = kind.resource.group
    return f"{kind.kind.lower()}{'.' + group if group else ''}/{name}"


async def restart(
    *,
    kind: WorkloadKind,
    name: str,
    namespace: str | None,
    kubeconfig: str | None,
    wait: bool,
    limit: float,
    dry_run: bool = False,
    hooks: bool = True,
) -> int:
    """Restart ``kind/name`` in ``namespace`` (None: the configuration's default namespace);
    return the exit code. A workload with restart hooks is handed to the controller, which runs
    them (``hooks=False``: restart at once, without them)."""
    try:
        client, namespace = await connect(kubeconfig, namespace)
    except ConfigError as exc:
        return fail(str(exc), EXIT_USAGE)
    async with client:
        try:
            return await _restart(
                client,
                kind,
                name,
                namespace,
                wait=wait,
                limit=limit,
                dry_run=dry_run,
                hooks=hooks,
            )
        except NotFound:
            hint = f" (is the {kind.kind} CRD installed?)" if kind.crd else ""
            return fail(f"{kind.kind} {namespace}/{name} not found{hint}", EXIT_USAGE)
        except KubeError as exc:
            return fail(f"{kind.kind} {namespace}/{name}: {exc}", EXIT_FAILED)


async def _restart(
    client: KubeClient,
    kind: WorkloadKind,
    name: str,
    namespace: str,
    *,
    wait: bool,
    limit: float,
    dry_run: bool = False,
    hooks: bool = True,
) -> int:
    obj = await resources.get(client, kind.resource, namespace=namespace, name=name)
    state = summarize_state(kind, obj)
    if state.paused and kind.supports_pause:
        message = f"can't restart paused {kind.kind.lower()} {namespace}/{name} (resume it first)"
        return fail(message, EXIT_FAILED)
    if hooks and (handed := await hand_over(client, kind, obj, wait, limit, dry_run)) is not None:
        return handed
    restarter = (
        DryRunRestarter(
            client=client, names=AnnotationNames(), report=partial(_print_would_write, kind)
        )
        if dry_run
        else Restarter(client=client, names=AnnotationNames())
    )
    now = datetime.now(UTC)

    async def attempt(target: WorkloadState) -> str | None:
        _, job = await restarter.restart(
            target=target, kind=kind, at=now, record={}, job_seed=format_time(now)
        )
        return job

    async def read() -> WorkloadState:
        obj = await resources.get(client, kind.resource, namespace=namespace, name=name)
        return summarize_state(kind, obj)

    try:
        job = await on_conflict(attempt, state, read, retries=CONFLICT_RETRIES)
    except Conflict:
        raise
    except KubeError as exc:
        if ObjectKey(JOB.kind, namespace, name) in restarter.pending:
            return await _finish_recreate(restarter, namespace, name, exc, limit)
        raise
    if dry_run:
        return EXIT_OK
    created_job = kind.immediate_restart is RestartMethod.JOB_FROM_CRONJOB
    created = f": created {_label(JOB, job)}" if job and created_job else ""
    print(f"{_label(kind, name)} restarted{created}")  # noqa: T201 - the command's output
    if not wait:
        return EXIT_OK
    if not kind.rolls_out:  # a Job was created: wait for it to start
        recreated = kind.immediate_restart is RestartMethod.RECREATE_JOB
        previous = state.uid if recreated else None  # the recreated Job is a new one
        return await _wait(client, JOB, job or name, namespace, limit, previous_uid=previous)
    return await _wait(client, kind, name, namespace, limit)


def _print_would_write(kind: WorkloadKind, would: WouldWrite) -> None:
    """``reloader restart --dry-run``'s output: what it would do, then the patch, as JSON."""
    label = _label(kind, would.name)
    print(f"{label} would be restarted ({would.method}); not sent (dry run):")  # noqa: T201
    print(json.dumps(would.patch, indent=2, sort_keys=True))  # noqa: T201 - the command's output


async def _finish_recreate(
    restarter: Restarter, namespace: str, name: str, error: Exception, limit: float
) -> int:
    """The Job was deleted but its create failed: retry for ``limit`` seconds, never lose it."""
    key = ObjectKey(JOB.kind, namespace, name)
    with anyio.move_on_after(limit):
        while True:
            try:
                created = await restarter.pending.finish(key)
            except KubeError as exc:
                error = exc
                await anyio.sleep(1.0)
            else:
                if created is None:  # the delete had not happened: nothing was restarted
                    raise error
                print(f"{_label(JOB, name)} restarted")  # noqa: T201 - the command's output
                return EXIT_OK
    body = restarter.pending.body(key)
    print(json.dumps(body, indent=2), file=sys.stderr)  # noqa: T201 - so it can be re-created
    return fail(
        f"Job {namespace}/{name} was deleted but could not be created again: {error}; "
        "its manifest is printed above",
        EXIT_FAILED,
    )


async def _wait(
    client: KubeClient,
    kind: WorkloadKind,
    name: str,
    namespace: str,
    limit: float,
    *,
    previous_uid: str | None = None,
) -> int:
    """Poll until the rollout is done (exit 0), failed or ``limit`` seconds passed (exit 1)."""
    last = ""
    with anyio.move_on_after(limit):
        while True:
            state = await _read(client, kind, name, namespace)
            if state is not None and (previous_uid is None or state.uid != previous_uid):
                progress = rollout_progress(state)
                if progress.done:
                    print(progress.message)  # noqa: T201 - the command's output
                    return EXIT_OK
                if progress.failed:
                    return fail(progress.message, EXIT_FAILED)
                if progress.message != last:
                    last = progress.message
                    print(f"Waiting for {_label(kind, name)}: {last}")  # noqa: T201
            await anyio.sleep(POLL)
    return fail(
        f"timed out after {limit:g}s waiting for {_label(kind, name)}: {last or 'no progress'}",
        EXIT_FAILED,
    )


async def _read(
    client: KubeClient, kind: WorkloadKind, name: str, namespace: str
) -> WorkloadState | None:
    try:
        obj = await resources.get(client, kind.resource, namespace=namespace, name=name)
    except NotFound:
        return None  # a Job between its deletion and its creation
    return summarize_state(kind, obj)
