"""A Job whose re-create fails is created again later, never left deleted, even by
the next process when reloader dies meanwhile (the journal, ``workloads/pending_jobs.py``).

The failure is real: a ValidatingAdmissionPolicy (CEL, in the API server) refuses Job creation in
the test namespace while it and its binding exist. (A policy switched by a parameter ConfigMap
once kept allowing creates for 30 s in a full CI run: with `parameterNotFoundAction: Allow`, a
param informer that has not seen the ConfigMap allows.)
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import signal
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from reloader.core.objects import CONFIGMAPS, JOBS, SECRETS, ResourceType
from reloader.errors import NotFound
from reloader.kube import resources
from reloader.kube.client import KubeClient
from reloader.workloads.domain.jobs import PENDING_JOB_LABEL, journal_name, recreated_job
from tests.integration.controller import ControllerProcess, start_scoped
from tests.integration.reload_support import make_configmap, update_configmap
from tests.integration.schedule_support import LAST, manifest, past_slot, rfc3339
from tests.integration.support import ClusterInfo, eventually

POLICIES = ResourceType(
    "admissionregistration.k8s.io",
    "v1",
    "validatingadmissionpolicies",
    "ValidatingAdmissionPolicy",
    namespaced=False,
)
BINDINGS = ResourceType(
    "admissionregistration.k8s.io",
    "v1",
    "validatingadmissionpolicybindings",
    "ValidatingAdmissionPolicyBinding",
    namespaced=False,
)


async def _block_job_creates(kube: KubeClient, ns: str) -> None:
    """A policy (CEL, evaluated by the API server) that refuses every Job create in ``ns``."""
    name = f"block-jobs-{ns}"
    rules = [{"apiGroups": ["batch"], "apiVersions": ["v1"], "operations": ["CREATE"],
              "resources": ["jobs"]}]  # fmt: skip
    policy = {
        "metadata": {"name": name},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {"resourceRules": rules},
            "validations": [{"expression": "false", "message": "job creation blocked by the test"}],
        },
    }
    binding = {
        "metadata": {"name": name},
        "spec": {
            "policyName": name,
            "validationActions": ["Deny"],
            "matchResources": {
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns}}
            },
        },
    }
    await resources.create(kube, POLICIES, namespace=None, body=policy)
    await resources.create(kube, BINDINGS, namespace=None, body=binding)


async def _unblock(kube: KubeClient, ns: str) -> None:
    for rt in (BINDINGS, POLICIES):
        with contextlib.suppress(NotFound):
            await resources.delete(kube, rt, namespace=None, name=f"block-jobs-{ns}")


def _suspended_job(name: str, containers: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "annotations": {"reloader.stakater.com/auto": "true"}},
        "spec": {
            "suspend": True,
            "template": {"spec": {"restartPolicy": "Never", "containers": containers}},
        },
    }


async def _recorded_job(kube: KubeClient, ns: str) -> dict[str, Any]:
    """Job ``migrate`` using ConfigMap ``cfg``, recorded by the running controller."""
    container = {"name": "t", "image": "x", "envFrom": [{"configMapRef": {"name": "cfg"}}]}
    original = await resources.create(
        kube, JOBS, namespace=ns, body=_suspended_job("migrate", [container])
    )

    async def recorded() -> bool:
        job = await resources.get(kube, JOBS, namespace=ns, name="migrate")
        return "reloader.stakater.com/applied-hashes" in job["metadata"].get("annotations", {})

    await eventually(recorded, timeout=30, what="the Job's record")
    return original


async def _refuse_jobs(kube: KubeClient, ns: str) -> None:
    await _block_job_creates(kube, ns)

    async def refused() -> bool:  # the gate is in force (policies apply asynchronously)
        probe = _suspended_job("probe", [{"name": "t", "image": "x"}])
        try:
            await resources.create(kube, JOBS, namespace=ns, body=probe)
        except Exception:  # noqa: BLE001 - Invalid/Forbidden: refused, as wanted
            return True
        await resources.delete(kube, JOBS, namespace=ns, name="probe")
        return False

    await eventually(refused, timeout=30, what="the admission policy to refuse Jobs")


async def _gone(kube: KubeClient, ns: str, name: str) -> None:
    async def deleted() -> bool:
        try:
            await resources.get(kube, JOBS, namespace=ns, name=name)
        except NotFound:
            return True
        return False

    await eventually(deleted, timeout=15, what=f"Job {name} deleted for the recreate")


async def _deleted_for_recreate(kube: KubeClient, ns: str) -> None:
    await update_configmap(kube, ns, "cfg", {"k": "v2"})
    await _gone(kube, ns, "migrate")


async def _created_again(
    kube: KubeClient, ns: str, original: dict[str, Any], *, timeout: float = 60
) -> dict[str, Any]:
    """Job ``original`` exists again under its name: a new one."""
    name = original["metadata"]["name"]

    async def created() -> dict[str, Any] | None:
        try:
            job = await resources.get(kube, JOBS, namespace=ns, name=name)
        except NotFound:
            return None
        return job if job["metadata"]["uid"] != original["metadata"]["uid"] else None

    job = await eventually(created, timeout=timeout, what=f"Job {name} created again")
    assert job is not None
    return job


async def _recreated(kube: KubeClient, ns: str, original: dict[str, Any]) -> None:
    """The Job exists again, new, with the new content."""
    job = await _created_again(kube, ns, original)
    env = job["spec"]["template"]["spec"]["containers"][0]["env"]
    assert env == [{"name": "STAKATER_CFG_CONFIGMAP", "value": hashlib.sha1(b"k=v2").hexdigest()}]


async def _journal(kube: KubeClient, ns: str, rt: ResourceType = SECRETS) -> list[dict[str, Any]]:
    """The journal entries in ``ns`` (Secrets; ConfigMaps: the ones earlier versions wrote)."""
    page = await resources.list_page(kube, rt, namespace=ns, label_selector=PENDING_JOB_LABEL)
    return list(page["items"])


def _failures(proc: ControllerProcess, namespace: str, job: str) -> list[dict[str, Any]]:
    """The failed reconciles of Job ``namespace/job`` (each is retried with backoff)."""
    key = f"Job/{namespace}/{job}"
    return [e for e in proc.logs("reconcile.failed") if e.get("key") == key]


async def test_failed_recreate_is_retried_until_the_job_exists(
    kube: KubeClient, namespace: str, cluster: ClusterInfo, tmp_path: Path
) -> None:
    await make_configmap(kube, namespace, "cfg", {"k": "v1"})
    proc = start_scoped(cluster.kubeconfig, tmp_path / "r.log", namespace)
    try:
        original = await _recorded_job(kube, namespace)
        await _refuse_jobs(kube, namespace)
        await _deleted_for_recreate(kube, namespace)

        async def failed() -> bool:
            return len(_failures(proc, namespace, "migrate")) >= 1

        await eventually(failed, timeout=15, what="the refused create, retried")
        await _unblock(kube, namespace)
        await _recreated(kube, namespace, original)
        assert proc.logs("job.journal_off"), "no namespace for a journal: memory only"
    finally:
        assert proc.stop() == 0
        await _unblock(kube, namespace)


async def test_a_deleted_job_survives_a_crash_of_the_controller(
    kube: KubeClient, namespace: str, cluster: ClusterInfo, tmp_path: Path
) -> None:
    """Killed while the create is refused: the next process creates the Job from the journal."""
    await make_configmap(kube, namespace, "cfg", {"k": "v1"})

    def controller(name: str) -> ControllerProcess:
        journal = {"RELOADER_NAMESPACE": namespace}  # the journal's namespace
        return start_scoped(cluster.kubeconfig, tmp_path / f"{name}.log", namespace, env=journal)

    first = controller("first")
    second: ControllerProcess | None = None
    try:
        original = await _recorded_job(kube, namespace)
        await _refuse_jobs(kube, namespace)
        await _deleted_for_recreate(kube, namespace)
        [entry] = await _journal(kube, namespace)
        assert entry["type"] == "Opaque"
        assert base64.b64decode(entry["data"]["uid"]).decode() == original["metadata"]["uid"]
        assert first.logs("job.journaled")
        first.stop(sig=signal.SIGKILL)  # the body in memory is gone with it
        await _unblock(kube, namespace)
        second = controller("second")
        await _recreated(kube, namespace, original)
        assert second.logs("job.journal_loaded")

        async def removed() -> bool:  # no copy of the Job is left behind
            return not await _journal(kube, namespace)

        await eventually(removed, timeout=15, what="the journal entry deleted")
    finally:
        for proc in (first, second):
            if proc is not None and proc.proc is not None:
                proc.stop()
        await _unblock(kube, namespace)


async def test_an_entry_journaled_in_a_configmap_by_an_earlier_version_is_not_lost(
    kube: KubeClient, namespace: str, cluster: ClusterInfo, tmp_path: Path
) -> None:
    """An upgrade while a Job is pending: the old ConfigMap entry is read once, the Job created,
    and the ConfigMaps (pending and emptied ones) removed."""
    job = await resources.create(
        kube,
        JOBS,
        namespace=namespace,
        body=_suspended_job("migrate", [{"name": "t", "image": "x"}]),
    )
    await resources.delete(
        kube, JOBS, namespace=namespace, name="migrate", propagation_policy="Background"
    )
    await _gone(kube, namespace, "migrate")
    labels = {"app.kubernetes.io/managed-by": "reloader"}
    data = {"namespace": namespace, "name": "migrate", "uid": job["metadata"]["uid"],
            "job.json": json.dumps(recreated_job(job))}  # fmt: skip
    old = [  # as earlier versions wrote them: one pending, one emptied after its Job came back
        {"metadata": {"name": journal_name(namespace, "migrate"),
                      "labels": {PENDING_JOB_LABEL: "true", **labels}}, "data": data},
        {"metadata": {"name": journal_name(namespace, "done"),
                      "labels": {PENDING_JOB_LABEL: "false", **labels}}},
    ]  # fmt: skip
    for entry in old:
        await resources.create(kube, CONFIGMAPS, namespace=namespace, body=entry)
    env = {"RELOADER_NAMESPACE": namespace}
    proc = start_scoped(cluster.kubeconfig, tmp_path / "r.log", namespace, env=env)
    try:
        await _created_again(kube, namespace, job)

        async def moved() -> bool:
            return not await _journal(kube, namespace, CONFIGMAPS) and not await _journal(
                kube, namespace
            )

        await eventually(moved, timeout=15, what="the old entries removed, the new one too")
        migrated = proc.logs("job.journal_migrated")
        assert sorted(e["pending"] for e in migrated) == [False, True]
        assert proc.logs("job.journal_loaded")
    finally:
        assert proc.stop() == 0


@pytest.mark.timeout(150)  # retries back off while refused: the create may come up to ~60 s late
async def test_a_scheduled_job_restart_refused_by_admission_is_created_later(
    kube: KubeClient, namespace: str, cluster: ClusterInfo, tmp_path: Path
) -> None:
    slot, annotations = past_slot(timedelta(minutes=5))  # due as soon as the controller looks
    original = await resources.create(
        kube, JOBS, namespace=namespace, body=manifest("Job", "w", annotations)
    )
    await _refuse_jobs(kube, namespace)
    proc = start_scoped(
        cluster.kubeconfig, tmp_path / "r.log", namespace, "--schedule-deadline=30m"
    )
    try:
        await _gone(kube, namespace, "w")

        async def retried() -> bool:
            return len(_failures(proc, namespace, "w")) >= 2

        await eventually(retried, timeout=30, what="the refused create, retried")
        await _unblock(kube, namespace)
        job = await _created_again(kube, namespace, original, timeout=90)
        assert job["metadata"]["annotations"][LAST] == rfc3339(slot)
    finally:
        assert proc.stop() == 0
        await _unblock(kube, namespace)


async def test_a_journal_that_cannot_be_written_is_an_error_not_a_lost_job(
    kube: KubeClient, namespace: str, cluster: ClusterInfo, tmp_path: Path
) -> None:
    await make_configmap(kube, namespace, "cfg", {"k": "v1"})
    missing = {"RELOADER_NAMESPACE": f"{namespace}-missing"}  # no such namespace
    proc = start_scoped(cluster.kubeconfig, tmp_path / "r.log", namespace, env=missing)
    try:
        original = await _recorded_job(kube, namespace)
        await _deleted_for_recreate(kube, namespace)
        await _recreated(kube, namespace, original)
        assert proc.metric("reloader_errors_total", {"type": "job_journal"}) >= 1
        [failed, *_] = proc.logs("job.journal_failed")
        assert failed["journal"].startswith(f"{namespace}-missing/reloader-pending-job-")
    finally:
        assert proc.stop() == 0
