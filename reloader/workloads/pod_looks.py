"""A rolled target's new pods, read only when a wave's verdict needs them (docs/waves.md, "What
is read, when, and memory"; rules: ``workloads/domain/wave_pods.py``).

:class:`PodLooks` LISTs the pods of a workload whose wave verdict is pending when
``wave_pods.look_due`` says so (its status says complete; or a scheduled look while it rolls),
by its selector narrowed to its latest revision where the workload names it; a Deployment's
newest ReplicaSet (its pod-template-hash) is LISTed once per revision, and only when one of its
pods is in trouble, to tell whether that pod is new. Nothing is watched or cached but when each
rollout was last looked at and the hashes found.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any, Protocol

import structlog

from reloader.core.objects import PODS, REPLICASETS
from reloader.errors import Forbidden
from reloader.kube import resources
from reloader.workloads.domain.wave_pods import (
    Revision,
    look_due,
    new_pod_problem,
    pod_problem,
    replica_set_hash,
)
from reloader.workloads.restarts import Target

if TYPE_CHECKING:
    from collections.abc import Mapping

    from prometheus_client import Counter

    from reloader.kube.client import KubeClient

log = structlog.get_logger(__name__)

#: rollouts whose last look (and Deployments' revision hashes) are remembered (forgotten all at
#: once beyond this many)
LOOKS_KEPT = 10_000


class Followed(Target, Protocol):
    """What following a rolled target reads of its cached view."""

    @property
    def rollout_complete(self) -> bool: ...
    @property
    def rollout_failure(self) -> str: ...
    @property
    def selector(self) -> str | None: ...
    @property
    def progress_deadline(self) -> int | None: ...
    @property
    def revision(self) -> Revision | None: ...


class PodLooks:
    """The pod reads of one trigger's waves."""

    def __init__(self, *, client: KubeClient, lists: Counter) -> None:
        self.client = client
        #: ``reloader_wave_pod_lists_total``
        self.lists = lists
        #: (kind, namespace, name) → (the rollout's ``at``, when its pods were last read)
        self._looked: dict[tuple[str, str, str], tuple[int, float]] = {}
        #: (Deployment uid, revision) → its ReplicaSet's pod-template-hash
        self._hashes: dict[tuple[str, str], str] = {}

    def forget(self, subject: Followed) -> None:
        """``subject``'s rollout has its verdict: no more looks."""
        self._looked.pop(_key(subject), None)

    async def problem(self, subject: Followed, since: int, now: float) -> str | None:
        """What is wrong with a new pod of ``subject``'s rollout, when its pods are due a look
        (``wave_pods.look_due``): read once, by its selector narrowed to its latest revision
        when known, kept by no one."""
        key = _key(subject)
        last = self._looked.get(key)
        last_look = last[1] if last is not None and last[0] == since else None
        due = look_due(complete=subject.rollout_complete, since=since, now=now, last_look=last_look)
        if not due or subject.selector is None:
            return None
        if len(self._looked) > LOOKS_KEPT:
            self._looked.clear()
        self._looked[key] = (since, now)
        revision = subject.revision
        if revision is not None and revision.replica_set:
            known = self._hashes.get((subject.uid, revision.replica_set), "")
            revision = replace(revision, value=known)
        selector = subject.selector if revision is None else revision.selector(subject.selector)
        pods = await self._pods(subject, selector)
        if revision is not None and revision.replica_set and not revision.value:
            if not any(pod_problem(p) for p in pods):
                return None  # no pod in trouble: which ones are new does not matter
            revision = await self._resolve(subject, revision)
        return new_pod_problem(pods, revision, since)

    async def _pods(self, subject: Followed, selector: str) -> list[Mapping[str, Any]]:
        self.lists.inc()
        try:
            page = await resources.list_page(
                self.client, PODS, namespace=subject.namespace, label_selector=selector
            )
        except Forbidden:
            log.warning("wave.pods_list_forbidden", namespace=subject.namespace)
            return []  # the status alone still judges readiness and the timeout
        return list(page.get("items") or [])

    async def _resolve(self, subject: Followed, revision: Revision) -> Revision | None:
        """A Deployment's revision with its newest ReplicaSet's pod-template-hash (one LIST of
        its ReplicaSets, remembered per revision); None when it cannot be read (no such
        ReplicaSet yet, no RBAC): new pods are then told by their creation time."""
        memo = (subject.uid, revision.replica_set)
        if (known := self._hashes.get(memo)) is not None:
            return replace(revision, value=known)
        assert subject.selector is not None  # noqa: S101 - only a look with a selector resolves
        self.lists.inc()
        try:
            page = await resources.list_page(
                self.client,
                REPLICASETS,
                namespace=subject.namespace,
                label_selector=subject.selector,
            )
        except Forbidden:
            log.warning("wave.replicasets_list_forbidden", namespace=subject.namespace)
            return None
        found = replica_set_hash(
            page.get("items") or [], owner_uid=subject.uid, revision=revision.replica_set
        )
        if found is None:
            return None
        if len(self._hashes) > LOOKS_KEPT:
            self._hashes.clear()
        self._hashes[memo] = found
        return replace(revision, value=found)


def _key(subject: Followed) -> tuple[str, str, str]:
    return (subject.kind, subject.namespace, subject.name)
