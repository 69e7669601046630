"""Running one restart hook: a Job made from a CronJob's template, or an exec in a running pod.

A Job hook is created once per attempt of a restart under a deterministic name
(``domain/hooks.job_name``), so a controller that restarts finds the Job it created and waits for
it instead of creating a second one; its timeout is the Job's own ``activeDeadlineSeconds``, so
Kubernetes fails a Job that runs too long even while reloader is down. Looking at a Job never
blocks: a Job still running is ``PENDING``, and the caller looks again later.

An exec hook runs in the first running pod (by name) that the selector picks in the workload's
namespace, through the API server's ``pods/exec``, bounded by the timeout. An exec cannot be
looked up afterwards: one that was cut short by a crash of reloader runs again (hooks such as a
cache flush are meant to be repeatable; docs/hooks.md says so).

The command's output is not logged nor put into an Event unless the workload asks for it
(``hook-show-output: "true"``): reloader cannot tell whether output holds a secret, the
workload's owner can. By default the outcome carries the exit code and the output sizes only.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import anyio
import structlog

from reloader.core.objects import CRONJOBS, JOBS, PODS
from reloader.errors import Conflict, KubeError, NotFound
from reloader.kube import resources
from reloader.kube.exec import exec_in_pod
from reloader.workloads.domain.hooks import ExecHook, Hook, HookPoint, JobHook, job_name
from reloader.workloads.domain.jobs import job_from_cronjob

if TYPE_CHECKING:
    from reloader.kube.client import KubeClient
    from reloader.workloads.domain.rollouts import WorkloadState

log = structlog.get_logger(__name__)

#: on every hook Job: which workload and hook point it ran for
HOOK_LABEL = "reloader.stakater.com/hook"
#: characters of each output stream shown with hook-show-output
SHOWN_OUTPUT = 300


class Result(StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"
    TIMEOUT = "timeout"
    PENDING = "pending"  # a Job still running: look again


@dataclass(frozen=True, slots=True)
class HookOutcome:
    result: Result
    message: str

    @property
    def done(self) -> bool:
        return self.result is not Result.PENDING


class HookRunner:
    """Runs hooks with the controller's client (its ServiceAccount's rights)."""

    def __init__(self, client: KubeClient) -> None:
        self.client = client

    async def run(
        self,
        workload: WorkloadState,
        point: HookPoint,
        hook: Hook,
        *,
        restart: str,
        attempt: int,
        limit: float,
        show_output: bool = False,
    ) -> HookOutcome:
        """Start or look at the hook; PENDING while a Job runs. API errors other than the ones
        that make the hook fail (a missing CronJob or pod, exec refused) are raised."""
        if isinstance(hook, JobHook):
            name = job_name(workload.name, point, restart, attempt)
            return await self._job(workload, point, hook, name, limit)
        return await self._exec(workload, hook, limit, show_output)

    # ------------------------------------------------------------------ Job hooks
    async def _job(
        self, workload: WorkloadState, point: HookPoint, hook: JobHook, name: str, limit: float
    ) -> HookOutcome:
        ns = workload.namespace
        try:
            job = await resources.get(self.client, JOBS, namespace=ns, name=name)
        except NotFound:
            try:
                cronjob = await resources.get(
                    self.client, CRONJOBS, namespace=ns, name=hook.cronjob
                )
            except NotFound:
                return HookOutcome(Result.FAILURE, f"CronJob {ns}/{hook.cronjob} not found")
            job = _hook_job(cronjob, name=name, workload=workload, point=point, limit=limit)
            try:
                job = await resources.create(self.client, JOBS, namespace=ns, body=job)
                log.info("hook.job_created", namespace=ns, job=name, cronjob=hook.cronjob)
            except Conflict:  # created by a previous attempt of this process: wait for that one
                job = await resources.get(self.client, JOBS, namespace=ns, name=name)
        return job_outcome(job)

    # ------------------------------------------------------------------ exec hooks
    async def _exec(
        self, workload: WorkloadState, hook: ExecHook, limit: float, show_output: bool
    ) -> HookOutcome:
        ns = workload.namespace
        pod = await self._pick_pod(ns, hook.selector)
        if pod is None:
            return HookOutcome(Result.FAILURE, f"no running pod matches {hook.selector!r} in {ns}")
        name = pod["metadata"]["name"]
        container = hook.container or pod["spec"]["containers"][0]["name"]
        started = time.monotonic()
        try:
            with anyio.fail_after(limit):
                ran = await exec_in_pod(
                    self.client, namespace=ns, pod=name, container=container, command=hook.command
                )
        except TimeoutError:
            return HookOutcome(Result.TIMEOUT, f"exec in pod {name} timed out after {limit:g}s")
        except KubeError as exc:
            if exc.status in (400, 403, 404):
                return HookOutcome(Result.FAILURE, f"exec in pod {name} refused: {exc}")
            raise
        seconds = time.monotonic() - started
        output = f"{len(ran.stdout)} B stdout, {len(ran.stderr)} B stderr kept"
        if show_output:
            output = f"stdout {_tail(ran.stdout)!r}, stderr {_tail(ran.stderr)!r}"
        if ran.ok:
            return HookOutcome(
                Result.SUCCESS, f"exec in pod {name} exited 0 in {seconds:.1f}s ({output})"
            )
        code = f"exited {ran.exit_code}" if ran.exit_code >= 0 else f"failed: {ran.message}"
        return HookOutcome(Result.FAILURE, f"exec in pod {name}/{container} {code} ({output})")

    async def _pick_pod(self, namespace: str, selector: str) -> dict[str, Any] | None:
        pods = await resources.list_all(
            self.client, PODS, namespace=namespace, label_selector=selector
        )
        running = [
            p
            for p in pods
            if p.get("status", {}).get("phase") == "Running"
            and not p.get("metadata", {}).get("deletionTimestamp")
        ]
        return min(running, key=lambda p: p["metadata"]["name"], default=None)


def _hook_job(
    cronjob: dict[str, Any],
    *,
    name: str,
    workload: WorkloadState,
    point: HookPoint,
    limit: float,
) -> dict[str, Any]:
    """``kubectl create job --from=cronjob/…``'s Job, labelled as a hook, with the hook's
    timeout as its ``activeDeadlineSeconds`` (a shorter one of the template stands)."""
    job = job_from_cronjob(cronjob, name=name)
    labels = job["metadata"].setdefault("labels", {})
    labels[HOOK_LABEL] = f"{workload.kind.lower()}.{workload.name}.{point.value}"[:63].rstrip("-.")
    spec = job.setdefault("spec", {})
    deadline = max(1, int(limit))
    spec["activeDeadlineSeconds"] = min(
        int(spec.get("activeDeadlineSeconds") or deadline), deadline
    )
    return job


def job_outcome(job: dict[str, Any]) -> HookOutcome:
    """Complete, failed (deadline exceeded: a timeout) or still running."""
    name = job.get("metadata", {}).get("name", "")
    for condition in job.get("status", {}).get("conditions") or []:
        if condition.get("status") != "True":
            continue
        if condition.get("type") == "Complete":
            return HookOutcome(Result.SUCCESS, f"Job {name} completed")
        if condition.get("type") == "Failed":
            reason = condition.get("reason", "")
            result = Result.TIMEOUT if reason == "DeadlineExceeded" else Result.FAILURE
            detail = condition.get("message") or reason or "failed"
            return HookOutcome(result, f"Job {name} failed: {detail}")
    return HookOutcome(Result.PENDING, f"Job {name} is running")


def _tail(data: bytes, keep: int = SHOWN_OUTPUT) -> str:
    """The end of an output stream as text, for an Event (which holds at most 1 KiB)."""
    text = data.decode(errors="replace").strip()
    return text if len(text) <= keep else "…" + text[-keep:]
