"""Restart verbs: how a reload plan is written, per the kind's restart method.

Each verb takes the plan's strategic-merge patch (the pod-template change plus the record of
applied hashes on the workload's metadata) and returns the workload object as it is after the
write, so the caller can refresh its cache. Writes carry the cached resourceVersion, so a stale
view ends in 409 Conflict (the caller re-reads and plans again), never in a second rollout.

- TEMPLATE_PATCH: one strategic merge patch (built-in kinds), or, for a custom resource that only
  takes merge patches (an Argo Rollout), GET + apply in memory + PUT.
- RESTART_AT: a merge patch setting ``spec.restartAt`` and the record (the template is untouched).
- JOB_FROM_CRONJOB: create a Job from the job template, under a name that makes retries
  idempotent, then persist the template change and the record on the CronJob, so scheduled runs
  carry the new marker too (Reloader never persists it).
- RECREATE_JOB: delete the Job and create it again with the same name. The body to create is kept
  (``pending_jobs.py``: in memory and in a journal) until a create succeeds, so a failed create
  is retried, even by the next process, never left deleted.

:meth:`Restarter.restart` is the same table used for a restart that no source change caused (a
schedule, ``reloader restart``): the pod-template annotation ``kubectl rollout restart`` writes,
``restartAt`` for every Rollout, a Job from a CronJob, a Job recreated.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

import anyio
import structlog

from reloader.core.durations import format_time
from reloader.core.objects import JOBS, ObjectKey
from reloader.errors import Conflict, KubeError, NotFound
from reloader.kube import resources
from reloader.observability import notify
from reloader.observability.events import Identified
from reloader.workloads.domain.jobs import cronjob_job_name, job_from_cronjob, recreated_job
from reloader.workloads.domain.kinds import (
    PatchContentType,
    RestartMethod,
    WorkloadKind,
    restart_method,
)
from reloader.workloads.domain.patches import apply_patch, merge_patches
from reloader.workloads.domain.verbs import restart_template_patch
from reloader.workloads.pending_jobs import PendingJobs

if TYPE_CHECKING:
    from reloader.core.annotations import AnnotationNames
    from reloader.kube.client import KubeClient
    from reloader.kube.resources import PatchType

log = structlog.get_logger(__name__)

#: Pause between deleting a Job and creating it again. The Job controller keys its expectations
#: of pod creations by namespace/name: a pod it created for the old Job but had not observed yet
#: is never counted once a Job of the same name (another uid) is in its cache, and the new Job
#: then gets no pod until those expectations expire (5 min) *and* some event syncs it (nothing
#: does by itself). The pause lets the controller sync the name while no Job has it, which
#: clears them. Measured on the local cluster: a Job restarted right after its creation got no
#: pod 3-5 times in 40 without the pause, 0 in 90 with it.
JOB_SETTLE_S = 1.0


class Target(Identified, Protocol):
    """What a write needs to know of the object it writes (a cached view, or a fresh read)."""

    @property
    def resource_version(self) -> str: ...
    @property
    def annotations(self) -> Mapping[str, str]: ...


class Restarter:
    """Writes plans; holds the Jobs deleted for a recreate whose create has not succeeded yet."""

    #: writes nothing (``workloads/dry_run.py``)
    dry_run = False

    def __init__(
        self,
        *,
        client: KubeClient,
        names: AnnotationNames,
        precondition: bool = True,
        pending: PendingJobs | None = None,
    ) -> None:
        self.client = client
        self.names = names
        #: send the cached resourceVersion with patches (409 on a stale view). Not needed where a
        #: repeated write is harmless (env-vars: the same hash gives the same template), and then
        #: a status update of the workload racing with the patch costs no conflict.
        self.precondition = precondition
        #: Jobs deleted for a recreate, until they are created again
        self.pending = pending or PendingJobs(client=client)

    async def write(
        self,
        *,
        view: Target,
        kind: WorkloadKind,
        patch: Mapping[str, Any] | None,
        rolls: bool,
        job_seed: Sequence[str] = (),
        extra: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Write a reload's ``patch`` (the pod-template change when it ``rolls``, and the record
        on the metadata), and ``extra`` (a pause or resume of a Deployment) merged into it.

        ``job_seed`` names the Job a CronJob's reload creates (the hashes it rolls for).
        """
        method = restart_method(kind, annotations=view.annotations, names=self.names)
        if extra is not None or patch is None:
            record = record_only(patch or {}, rolls, method)
            return await self.patch(view, kind, merge_patches(record, extra or {}))
        if not rolls or method is RestartMethod.TEMPLATE_PATCH:
            if kind.patch_content_type is PatchContentType.STRATEGIC_MERGE or not rolls:
                return await self.patch(view, kind, record_only(patch, rolls, method))
            return await self._get_apply_put(view, kind, patch)
        if method is RestartMethod.RESTART_AT:
            return await self._restart_at(view, kind, patch)
        if method is RestartMethod.JOB_FROM_CRONJOB:
            return await self._job_from_cronjob(view, kind, patch, job_seed)
        return await self._recreate_job(view, kind, patch)

    async def restart(
        self,
        *,
        target: Target,
        kind: WorkloadKind,
        at: datetime,
        record: Mapping[str, Any],
        job_seed: str,
    ) -> tuple[dict[str, Any], str | None]:
        """Restart now, the kind's own way; ``record`` (a metadata patch) is written with it.

        Returns the workload as it is after the write, and the name of the Job a CronJob
        restart created. ``job_seed`` names that Job, so a retry of one restart (the same seed)
        gets 409 instead of a second Job.
        """
        method = kind.immediate_restart
        if method is RestartMethod.TEMPLATE_PATCH:
            patch = merge_patches(restart_template_patch(kind, at), record)
            if kind.patch_content_type is PatchContentType.STRATEGIC_MERGE:
                return await self.patch(target, kind, patch), None
            return await self._get_apply_put(target, kind, patch), None
        if method is RestartMethod.RESTART_AT:
            return await self._restart_at(target, kind, record), None
        if method is RestartMethod.JOB_FROM_CRONJOB:
            cronjob = await self._get(target, kind)
            name = cronjob_job_name(cronjob, [job_seed])
            await self._create_job(job_from_cronjob(cronjob, name=name), target, name)
            if not record:
                return cronjob, name
            return await self.patch(target, kind, record), name
        return await self._recreate_job(target, kind, record), target.name

    async def _create_job(self, job: Mapping[str, Any], cronjob: Target, name: str) -> None:
        try:
            await resources.create(self.client, JOBS, namespace=cronjob.namespace, body=job)
        except Conflict:
            log.info("job.exists", namespace=cronjob.namespace, name=name)  # a retry
        else:
            log.info("job.created", namespace=cronjob.namespace, name=name, cronjob=cronjob.name)

    async def notify(self, url: str, body: bytes, *, view: Target) -> None:
        """Webhook mode: POST ``body`` (what changed in ``view``) to ``url``, not a restart."""
        await notify.post(url, body)

    async def patch(
        self, view: Target, kind: WorkloadKind, patch: Mapping[str, Any], *, restarts: bool = False
    ) -> dict[str, Any]:
        """One patch of the kind's content type, with the view's resourceVersion as precondition
        (unless this restarter writes without one). ``restarts``: the patch restarts the
        workload (a stop-start's scale-down); only a dry run's report tells it apart."""
        body = dict(patch)
        if self.precondition:
            body["metadata"] = {
                **(body.get("metadata") or {}),
                "resourceVersion": view.resource_version,
            }
        strategic = kind.patch_content_type is PatchContentType.STRATEGIC_MERGE
        return await self._send(view, kind, body, "strategic" if strategic else "merge")

    async def patch_unconditionally(
        self, view: Target, kind: WorkloadKind, patch: Mapping[str, Any]
    ) -> dict[str, Any]:
        """A JSON merge patch without a resourceVersion precondition: only for records (metadata
        annotations) whose value does not depend on the rest of the object."""
        return await self._send(view, kind, patch, "merge")

    async def _send(
        self, view: Target, kind: WorkloadKind, body: Mapping[str, Any], patch_type: PatchType
    ) -> dict[str, Any]:
        return await resources.patch(
            self.client,
            kind.resource,
            namespace=view.namespace,
            name=view.name,
            body=body,
            patch_type=patch_type,
        )

    async def _get(self, view: Target, kind: WorkloadKind) -> dict[str, Any]:
        obj = await resources.get(
            self.client, kind.resource, namespace=view.namespace, name=view.name
        )
        if obj.get("metadata", {}).get("resourceVersion") != view.resource_version:
            raise Conflict("the cached view is stale", status=409, reason="Conflict")
        return obj

    async def _get_apply_put(
        self, view: Target, kind: WorkloadKind, patch: Mapping[str, Any]
    ) -> dict[str, Any]:
        updated = apply_patch(await self._get(view, kind), patch)
        return await resources.replace(
            self.client, kind.resource, namespace=view.namespace, name=view.name, body=updated
        )

    async def _restart_at(
        self, view: Target, kind: WorkloadKind, patch: Mapping[str, Any]
    ) -> dict[str, Any]:
        metadata = {**(patch.get("metadata") or {}), "resourceVersion": view.resource_version}
        body = {"metadata": metadata, "spec": {"restartAt": format_time(datetime.now(UTC))}}
        return await self._send(view, kind, body, "merge")

    async def _job_from_cronjob(
        self, view: Target, kind: WorkloadKind, patch: Mapping[str, Any], seed: Sequence[str]
    ) -> dict[str, Any]:
        cronjob = await self._get(view, kind)
        updated = apply_patch(cronjob, patch)
        name = cronjob_job_name(cronjob, list(seed))
        await self._create_job(job_from_cronjob(updated, name=name), view, name)
        return await self.patch(view, kind, patch)

    async def _recreate_job(
        self, view: Target, kind: WorkloadKind, patch: Mapping[str, Any]
    ) -> dict[str, Any]:
        job = await self._get(view, kind)
        body = recreated_job(apply_patch(job, patch))
        key = ObjectKey(kind.kind, view.namespace, view.name)
        await self.pending.add(key, uid=view.uid, body=body)
        try:
            await resources.delete(
                self.client,
                JOBS,
                namespace=view.namespace,
                name=view.name,
                propagation_policy="Background",
                precondition_uid=view.uid,
            )
        except (NotFound, Conflict):  # gone, or another Job now: we deleted nothing
            await self.pending.discard(key)
            raise
        log.info("job.deleted", namespace=view.namespace, name=view.name, reason="recreate")
        await anyio.sleep(JOB_SETTLE_S)
        created = await self.pending.finish(key)
        if created is None:  # pragma: no cover - deleted just now, so nothing can be in the way
            raise KubeError(f"Job {view.namespace}/{view.name} was not created again")
        return created


def record_only(patch: Mapping[str, Any], rolls: bool, method: RestartMethod) -> Mapping[str, Any]:
    """Without a rollout only the metadata record is written, whatever the method."""
    if rolls and method is RestartMethod.TEMPLATE_PATCH:
        return patch
    return {"metadata": dict(patch.get("metadata") or {})}
