"""Jobs deleted for a recreate whose create has not succeeded yet (Reloader loses them).

A Job reload deletes the Job and creates it again under the same name; in between, the Job exists
nowhere in the cluster. Its body is kept in memory and, when reloader knows its own namespace
(``RELOADER_NAMESPACE``, else ``POD_NAMESPACE``), first written to a journal Secret there (type
Opaque, one per Job, label ``reloader.stakater.com/pending-job=true``): the body is a whole Job
manifest, literal env values included, so it is kept as a Secret, not a ConfigMap. The next
process reads the journal at start-up, so a Job whose create kept failing (an admission webhook
down, a quota) is created once it can be, even after a restart of reloader. When the Job exists
again its entry is deleted.

Earlier versions journaled in ConfigMaps (same label and names). At start-up those entries are
read once: each pending one is written again as a Secret, then every old ConfigMap is deleted, so
an upgrade loses no pending Job.

The journal needs ``create``, ``list`` and ``delete`` on Secrets in that namespace, and, for the
entries of earlier versions, ``list`` and ``delete`` on ConfigMaps there. If it cannot be written
the recreate goes on with the body in memory only, as before, and says so in a warning.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog

from reloader.core.objects import CONFIGMAPS, JOBS, SECRETS, ObjectKey
from reloader.errors import Conflict, KubeError, NotFound
from reloader.kube import resources
from reloader.workloads.domain.jobs import (
    PENDING_JOB_LABEL,
    journal_name,
    journal_secret,
    parse_journal,
    parse_legacy_journal,
)

if TYPE_CHECKING:
    from reloader.kube.client import KubeClient

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Pending:
    #: the deleted Job's uid: a Job found under the name with this uid was never deleted
    uid: str
    body: dict[str, Any]


class PendingJobs:
    def __init__(
        self,
        *,
        client: KubeClient,
        namespace: str = "",
        failed: Callable[[], object] = lambda: None,
    ) -> None:
        self.client = client
        #: counts a journal write that failed (reloader_errors_total{type="job_journal"})
        self.failed = failed
        #: where the journal lives ("": memory only)
        self.namespace = namespace
        self._jobs: dict[ObjectKey, Pending] = {}

    def __contains__(self, key: object) -> bool:
        return key in self._jobs

    def body(self, key: ObjectKey) -> dict[str, Any] | None:
        pending = self._jobs.get(key)
        return pending.body if pending is not None else None

    async def add(self, key: ObjectKey, *, uid: str, body: dict[str, Any]) -> None:
        """Remember ``body`` before the Job (``uid``) is deleted: in the journal first."""
        self._jobs[key] = Pending(uid, body)
        if not self.namespace:
            return
        entry = journal_secret(uid, body)
        name = journal_name(key.namespace, key.name)
        try:
            await self._write(entry)
        except KubeError as exc:
            self.failed()
            log.warning(
                "job.journal_failed",
                namespace=key.namespace,
                name=key.name,
                journal=f"{self.namespace}/{name}",
                error=str(exc),
                consequence="the Job's body is kept in memory only until it is created again",
            )
        else:
            log.info(
                "job.journaled",
                namespace=key.namespace,
                name=key.name,
                journal=f"{self.namespace}/{name}",
            )

    async def _write(self, entry: dict[str, Any]) -> None:
        """Create the journal Secret ``entry``; one of the same name is a stale entry (its delete
        failed after the Job's previous recreate): replaced."""
        try:
            await resources.create(self.client, SECRETS, namespace=self.namespace, body=entry)
        except Conflict:
            name = str(entry["metadata"]["name"])
            with contextlib.suppress(NotFound):
                await resources.delete(self.client, SECRETS, namespace=self.namespace, name=name)
            await resources.create(self.client, SECRETS, namespace=self.namespace, body=entry)

    async def finish(self, key: ObjectKey) -> dict[str, Any] | None:
        """Create the pending Job ``key``: the Job created, or None when none is pending (any
        more: it exists again, or was never deleted).

        :raises KubeError: the create failed; the Job stays pending.
        """
        pending = self._jobs.get(key)
        if pending is None:
            return None
        try:
            created = await resources.create(
                self.client, JOBS, namespace=key.namespace, body=pending.body
            )
        except Conflict:
            current = await resources.get(self.client, JOBS, namespace=key.namespace, name=key.name)
            meta = current.get("metadata") or {}
            if meta.get("uid") == pending.uid and meta.get("deletionTimestamp"):
                raise KubeError(f"Job {key.namespace}/{key.name} is still being deleted") from None
            # the old Job was never deleted (its reload is planned again), or a Job was created
            # under the name since (by us, before a restart): nothing is missing
            log.info("job.pending_resolved", namespace=key.namespace, name=key.name)
            await self.discard(key)
            return None
        log.info("job.recreated", namespace=key.namespace, name=key.name)
        await self.discard(key)
        return created

    async def load(self) -> list[ObjectKey]:
        """Read the journal back (at start-up): the Jobs a previous process deleted and did not
        create again.

        :raises KubeError: the journal could not be listed.
        """
        if not self.namespace:
            return []
        await self._migrate()
        page = await resources.list_page(
            self.client,
            SECRETS,
            namespace=self.namespace,
            label_selector=f"{PENDING_JOB_LABEL}=true",
        )
        keys = []
        for item in page.get("items") or []:
            parsed = parse_journal(item)
            if parsed is None:
                continue  # not one of ours
            keys.append(self._remember(*parsed))
        if keys:
            log.info("job.journal_loaded", pending=[f"{k.namespace}/{k.name}" for k in keys])
        return keys

    def _remember(self, uid: str, body: dict[str, Any]) -> ObjectKey:
        meta = body["metadata"]
        key = ObjectKey(JOBS.kind, str(meta["namespace"]), str(meta["name"]))
        self._jobs.setdefault(key, Pending(uid, body))
        return key

    async def _migrate(self) -> None:
        """Move the entries of earlier versions (ConfigMaps) to Secrets, then delete them.

        A moved entry is read back with the Secrets. One that cannot be moved stays in its
        ConfigMap for the next start; its Job is kept in memory meanwhile, as any pending one.
        """
        try:
            page = await resources.list_page(
                self.client, CONFIGMAPS, namespace=self.namespace, label_selector=PENDING_JOB_LABEL
            )
        except KubeError as exc:
            log.warning("job.journal_migration_failed", namespace=self.namespace, error=str(exc))
            return
        for item in page.get("items") or []:
            name = str((item.get("metadata") or {}).get("name", ""))
            parsed = parse_legacy_journal(item)  # None: emptied, nothing pending
            try:
                if parsed is not None:
                    with contextlib.suppress(Conflict):  # moved by an earlier start already
                        await resources.create(
                            self.client,
                            SECRETS,
                            namespace=self.namespace,
                            body=journal_secret(*parsed),
                        )
                with contextlib.suppress(NotFound):
                    await resources.delete(
                        self.client, CONFIGMAPS, namespace=self.namespace, name=name
                    )
            except KubeError as exc:
                self.failed()
                if parsed is not None:
                    self._remember(*parsed)
                log.warning(
                    "job.journal_migration_failed",
                    journal=f"{self.namespace}/{name}",
                    error=str(exc),
                    consequence="the ConfigMap is kept and moved at the next start",
                )
            else:
                log.info(
                    "job.journal_migrated",
                    journal=f"{self.namespace}/{name}",
                    pending=parsed is not None,
                )

    async def discard(self, key: ObjectKey) -> None:
        """Nothing (more) to create for ``key``: drop it from memory and delete its entry."""
        self._jobs.pop(key, None)
        if not self.namespace:
            return
        name = journal_name(key.namespace, key.name)
        try:
            await resources.delete(self.client, SECRETS, namespace=self.namespace, name=name)
        except NotFound:
            pass  # never written (the journal failed when the Job was deleted)
        except KubeError as exc:
            self.failed()
            # harmless: the next start finds the Job there and deletes the entry then
            log.warning("job.journal_failed", journal=name, error=str(exc))
