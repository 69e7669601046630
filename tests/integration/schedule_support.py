"""Helpers for scheduled-restart, ``restart`` and ``explain`` tests.

Schedules fire for real: a test writes a cron expression for one precise minute (``cron_at``),
in the past with a ``last-scheduled-restart`` before it (a catch-up fires as soon as the
controller sees it), or a minute ahead (the controller's timer fires it).
"""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio

from reloader.commands.common import parse_target
from reloader.commands.restart import restart
from reloader.core.objects import (
    CRONJOBS,
    DAEMONSETS,
    DEPLOYMENTS,
    EVENTS,
    JOBS,
    ROLLOUTS,
    STATEFULSETS,
    ResourceType,
)
from reloader.errors import NotFound
from reloader.kube import resources
from reloader.kube.client import KubeClient
from tests.integration.controller import ControllerProcess
from tests.integration.support import ClusterInfo, deployment, eventually

TYPES: dict[str, ResourceType] = {
    "Deployment": DEPLOYMENTS,
    "DaemonSet": DAEMONSETS,
    "StatefulSet": STATEFULSETS,
    "CronJob": CRONJOBS,
    "Job": JOBS,
    "Rollout": ROLLOUTS,
}
PODS = ResourceType("", "v1", "pods", "Pod")
REPLICASETS = ResourceType("apps", "v1", "replicasets", "ReplicaSet")

SCHEDULE = "reloader.stakater.com/restart-schedule"
TIMEZONE = "reloader.stakater.com/restart-timezone"
METHOD = "reloader.stakater.com/restart-method"
LAST = "reloader.stakater.com/last-scheduled-restart"
BASELINE = "reloader.stakater.com/restart-schedule-baseline"
STOP_START = "reloader.stakater.com/stop-start-replicas"
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"


def minute(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(second=0, microsecond=0)


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def cron_at(moment: datetime) -> str:
    """A five-field expression that fires at this UTC minute (and then once a year)."""
    m = minute(moment)
    return f"{m.minute} {m.hour} {m.day} {m.month} *"


def past_slot(ago: timedelta) -> tuple[datetime, dict[str, str]]:
    """A slot ``ago`` in the past and annotations for which it is due (a catch-up)."""
    slot = minute(datetime.now(UTC) - ago)
    return slot, {SCHEDULE: cron_at(slot), LAST: rfc3339(slot - timedelta(days=1))}


def manifest(kind: str, name: str, annotations: dict[str, str], **extra: Any) -> dict[str, Any]:
    """A small workload of ``kind`` that kwok runs (Jobs and CronJobs complete at once)."""
    pod = {"restartPolicy": "Never", "containers": [{"name": "task", "image": "registry.local/t"}]}
    if kind == "CronJob":
        return {
            "metadata": {"name": name, "annotations": annotations},
            "spec": {
                "schedule": "0 0 1 1 *",
                "jobTemplate": {"spec": {"template": {"spec": pod}}},
            },
        }
    if kind == "Job":
        return {
            "metadata": {"name": name, "annotations": annotations},
            "spec": {"template": {"spec": pod}},
        }
    return deployment(name, kind=kind, annotations=annotations, **extra)


async def create(kube: KubeClient, ns: str, kind: str, body: dict[str, Any]) -> dict[str, Any]:
    return await resources.create(kube, TYPES[kind], namespace=ns, body=body)


async def get(kube: KubeClient, ns: str, kind: str, name: str) -> dict[str, Any]:
    return await resources.get(kube, TYPES[kind], namespace=ns, name=name)


def annotations_of(obj: dict[str, Any]) -> dict[str, str]:
    return dict(obj["metadata"].get("annotations") or {})


def template_annotations(obj: dict[str, Any]) -> dict[str, str]:
    template = obj["spec"]["template"]
    return dict((template.get("metadata") or {}).get("annotations") or {})


async def events(kube: KubeClient, ns: str, name: str, reason: str) -> list[dict[str, Any]]:
    page = await resources.list_page(kube, EVENTS, namespace=ns)
    return [
        e
        for e in page["items"]
        if e.get("involvedObject", {}).get("name") == name and e.get("reason") == reason
    ]


async def wait_event(kube: KubeClient, ns: str, name: str, reason: str) -> dict[str, Any]:
    async def found() -> list[dict[str, Any]]:
        return await events(kube, ns, name, reason)

    items = await eventually(found, timeout=30, what=f"a {reason} Event on {name}")
    return items[0]


async def wait_annotation(
    kube: KubeClient, ns: str, kind: str, name: str, key: str, value: str | None = None
) -> dict[str, Any]:
    """Wait until the workload carries ``key`` (with ``value``, if given); return it."""

    async def probe() -> dict[str, Any] | None:
        try:
            obj = await get(kube, ns, kind, name)
        except NotFound:
            return None  # a Job between its delete and its re-create
        actual = annotations_of(obj).get(key)
        ok = actual is not None and (value is None or actual == value)
        return obj if ok else None

    obj = await eventually(probe, timeout=30, what=f"{kind} {name} to have {key}={value}")
    assert obj is not None
    return obj


async def poke_and_wait(
    controller: ControllerProcess, kube: KubeClient, ns: str, kind: str, name: str
) -> None:
    """Change an unrelated annotation and wait for the schedule reconcile that follows."""
    key = f"{kind}/{ns}/{name}"
    since = len(controller.logs())
    await poke(kube, ns, kind, name)

    async def done() -> bool:
        return any(
            e.get("event") == "reconcile.done"
            and e.get("controller") == "schedule"
            and e.get("key") == key
            for e in controller.logs()[since:]
        )

    await eventually(done, timeout=30, what=f"a schedule reconcile of {key}")


async def poke(kube: KubeClient, ns: str, kind: str, name: str) -> None:
    """An unrelated annotation change: the controller reconciles the workload again."""
    body = {"metadata": {"annotations": {"test/poke": datetime.now(UTC).isoformat()}}}
    await resources.patch(kube, TYPES[kind], namespace=ns, name=name, body=body, patch_type="merge")


async def owned_jobs(kube: KubeClient, ns: str, owner: str) -> list[dict[str, Any]]:
    page = await resources.list_page(kube, JOBS, namespace=ns)
    return [
        j
        for j in page["items"]
        if any(o.get("name") == owner for o in j["metadata"].get("ownerReferences") or [])
    ]


async def pods(kube: KubeClient, ns: str, app: str) -> list[dict[str, Any]]:
    page = await resources.list_page(kube, PODS, namespace=ns, label_selector=f"app={app}")
    return list(page["items"])


async def restart_now(
    kubeconfig: Path, target: str, namespace: str, *, wait: bool = True, limit: float = 60.0
) -> int:
    """``reloader restart`` in this process (its output goes to pytest's capture)."""
    kind, name = parse_target(target)
    return await restart(
        kind=kind,
        name=name,
        namespace=namespace,
        kubeconfig=str(kubeconfig),
        wait=wait,
        limit=limit,
    )


async def run_cli(kubeconfig: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m reloader ARGS --kubeconfig …``; returns exit code, stdout and stderr."""
    cmd = [sys.executable, "-m", "reloader", *args, f"--kubeconfig={kubeconfig}"]
    result = await anyio.run_process(cmd, check=False)
    return subprocess.CompletedProcess(
        cmd, result.returncode, result.stdout.decode(), result.stderr.decode()
    )


def start_controller(
    cluster: ClusterInfo, tmp_path: Path, started: list[ControllerProcess]
) -> ControllerProcess:
    """A controller with default flags and a log file of its own, appended to ``started``."""
    proc = ControllerProcess(
        kubeconfig=cluster.kubeconfig, log_path=tmp_path / f"r{len(started)}.log", args=[]
    )
    started.append(proc)
    proc.start()
    return proc


async def set_finalizers(kube: KubeClient, ns: str, pod: dict[str, Any], value: list[str]) -> None:
    """Hold a pod in Terminating (a finalizer the test owns), or release it (``[]``)."""
    body = {"metadata": {"finalizers": value, "resourceVersion": None}}
    await resources.patch(
        kube, PODS, namespace=ns, name=pod["metadata"]["name"], body=body, patch_type="merge"
    )


async def hook_template(
    kube: KubeClient, ns: str, name: str = "warmup", node_selector: dict[str, str] | None = None
) -> None:
    """A suspended CronJob holding a hook Job's template (``job cronjob/NAME``)."""
    body = manifest("CronJob", name, {})
    body["spec"]["suspend"] = True
    if node_selector:
        body["spec"]["jobTemplate"]["spec"]["template"]["spec"]["nodeSelector"] = node_selector
    await create(kube, ns, "CronJob", body)
