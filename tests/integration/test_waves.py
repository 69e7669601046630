"""Health-gated waves against the real cluster: a bad shared change breaks one workload, not ten.

kwok decides pod readiness from its stages; ``tools/cluster/stages/unhealthy.yaml`` keeps the new
pods of a chosen Deployment never ready (or crash looping) once its reloader env var carries a
chosen hash, so exactly the canary's new pods fail, and only for the bad change.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from reloader.core.objects import DEPLOYMENTS, EVENTS
from reloader.kube import resources
from reloader.kube.client import KubeClient
from tests.integration.controller import ControllerProcess, start_scoped
from tests.integration.reload_support import (
    make_configmap,
    stakater_env,
    update_configmap,
    wait_recorded,
)
from tests.integration.schedule_support import run_cli
from tests.integration.support import ClusterInfo, deployment, eventually

#: each test rolls ten Deployments in waves, twice, with a health timeout in between
pytestmark = pytest.mark.timeout(240)

COUNT = 10
VAR = "STAKATER_SHARED_CONFIGMAP"
WAVE = "reloader.stakater.com/wave"


def _hash(value: str) -> str:
    return hashlib.sha1(f"v={value}".encode()).hexdigest()


async def _deployments(kube: KubeClient, ns: str, unhealthy: str, bad: str) -> None:
    """web-0 … web-9 use ConfigMap ``shared``; web-0 is the preferred canary, and its pods are
    ``unhealthy`` (never-ready or crash) once they carry the hash of ``bad``."""
    for i in range(COUNT):
        annotations = {"reloader.stakater.com/auto": "true"}
        template: dict[str, str] = {}
        if i == 0:
            annotations["reloader.stakater.com/canary"] = "true"
            template[f"reloader-test/{unhealthy}-when"] = _hash(bad)
        body = deployment(
            f"web-{i}",
            annotations=annotations,
            template_annotations=template,
            containers=[
                {"name": "app", "image": "x", "envFrom": [{"configMapRef": {"name": "shared"}}]}
            ],
        )
        await resources.create(kube, DEPLOYMENTS, namespace=ns, body=body)


async def _env(kube: KubeClient, ns: str) -> dict[str, str | None]:
    items = (await resources.list_page(kube, DEPLOYMENTS, namespace=ns))["items"]
    return {d["metadata"]["name"]: stakater_env(d).get(VAR) for d in items}


async def _halted_events(kube: KubeClient, ns: str) -> set[str]:
    """The workloads that got a ``ReloadHalted`` Warning."""
    items = (await resources.list_page(kube, EVENTS, namespace=ns))["items"]
    return {
        e["involvedObject"]["name"]
        for e in items
        if e.get("reason") == "ReloadHalted" and e.get("type") == "Warning"
    }


async def _halted(kube: KubeClient, ns: str, bad: str) -> None:
    """The canary rolled ``bad`` and failed; the nine others kept their pod template."""

    async def all_warned() -> bool:
        return len(await _halted_events(kube, ns)) == COUNT

    await eventually(all_warned, timeout=90, what="ReloadHalted on all ten Deployments")
    env = await _env(kube, ns)
    assert env["web-0"] == _hash(bad)
    assert all(env[f"web-{i}"] is None for i in range(1, COUNT)), env  # as first seen
    canary = await resources.get(kube, DEPLOYMENTS, namespace=ns, name="web-0")
    record = json.loads(canary["metadata"]["annotations"][WAVE])
    assert record["state"] == "failed"
    assert record["changes"] == {"configmap/shared": _hash(bad)}


async def _all_rolled(kube: KubeClient, ns: str, value: str) -> list[dict[str, Any]]:
    """Every Deployment rolled ``value`` and was judged healthy; the wave records, by name."""

    async def done() -> list[dict[str, Any]] | None:
        items = (await resources.list_page(kube, DEPLOYMENTS, namespace=ns))["items"]
        records = []
        for d in items:
            raw = d["metadata"].get("annotations", {}).get(WAVE)
            record = json.loads(raw) if raw else {}
            if stakater_env(d).get(VAR) != _hash(value) or record.get("state") != "healthy":
                return None
            records.append({"name": d["metadata"]["name"], **record})
        return records

    records = await eventually(done, timeout=120, what=f"all ten rolled to {value}")
    assert records is not None
    return records


async def _in_waves(
    kube: KubeClient, ns: str, records: list[dict[str, Any]], since: datetime
) -> None:
    """The canary rolled first; every other workload waited for its wave (a ReloadHeld Event
    posted after ``since`` says so), whatever the clock's resolution."""
    at = {r["name"]: r["at"] for r in records}
    assert all(at["web-0"] <= at[f"web-{i}"] for i in range(1, COUNT)), at
    items = (await resources.list_page(kube, EVENTS, namespace=ns))["items"]
    waited = {
        e["involvedObject"]["name"]
        for e in items
        if e.get("reason") == "ReloadHeld"
        and "health-gated waves" in e.get("message", "")
        and datetime.fromisoformat(e["lastTimestamp"]) >= since
    }
    assert waited == {f"web-{i}" for i in range(1, COUNT)}, waited


async def test_a_bad_change_halts_after_the_canary_across_a_sigkill_and_the_fix_rolls_all(
    kube: KubeClient, namespace: str, cluster: ClusterInfo, tmp_path: Path
) -> None:
    await make_configmap(kube, namespace, "shared", {"v": "1"})
    await _deployments(kube, namespace, "never-ready", "bad")
    args = ("--health-timeout=12s",)
    proc = start_scoped(cluster.kubeconfig, tmp_path / "a.log", namespace, *args)
    second: ControllerProcess | None = None
    try:
        for i in range(COUNT):
            await wait_recorded(kube, namespace, "Deployment", f"web-{i}", "configmap/shared")
        await update_configmap(kube, namespace, "shared", {"v": "bad"})

        async def canary_rolling() -> bool:
            d = await resources.get(kube, DEPLOYMENTS, namespace=namespace, name="web-0")
            raw = d["metadata"].get("annotations", {}).get(WAVE)
            return raw is not None and json.loads(raw)["state"] == "rolling"

        await eventually(canary_rolling, timeout=30, what="the canary's rollout under way")
        assert proc.proc is not None
        os.kill(proc.proc.pid, signal.SIGKILL)  # mid-canary: nothing in memory survives
        proc.stop()
        second = start_scoped(cluster.kubeconfig, tmp_path / "b.log", namespace, *args)
        await _halted(kube, namespace, "bad")

        async def one_halted() -> bool:
            assert second is not None
            return second.metric("reloader_halted_changes") == 1

        await eventually(one_halted, timeout=15, what="reloader_halted_changes 1")
        assert second.metric("reloader_wave_verdicts_total", {"result": "failed"}) == 1
        # the halted change stays visible: explain says which workload failed and how to release
        shown = await run_cli(cluster.kubeconfig, "explain", "deployment/web-3", "-n", namespace)
        assert shown.returncode == 0, shown.stderr
        assert "Verdict: held [halted]" in shown.stdout, shown.stdout
        assert "HALTED: failed on deployment/web-0" in shown.stdout, shown.stdout
        assert "reloader.stakater.com/release-halted=true" in shown.stdout
        canary = await run_cli(cluster.kubeconfig, "explain", "deployment/web-0", "-n", namespace)
        assert ": failed (not complete and healthy within 12s)" in canary.stdout, canary.stdout

        since = datetime.now(UTC).replace(microsecond=0)
        await update_configmap(kube, namespace, "shared", {"v": "fixed"})  # the fix
        await _in_waves(kube, namespace, await _all_rolled(kube, namespace, "fixed"), since)
        await eventually(
            lambda: _async(second.metric("reloader_halted_changes") == 0),
            timeout=15,
            what="no halted change left",
        )
    finally:
        if proc.proc is not None:
            proc.stop()
        if second is not None:
            assert second.stop() == 0


async def test_a_halt_survives_a_leader_change_and_a_release_rolls_the_rest(
    kube: KubeClient, namespace: str, cluster: ClusterInfo, tmp_path: Path
) -> None:
    await make_configmap(kube, namespace, "shared", {"v": "1"})
    await _deployments(kube, namespace, "crash", "bad")
    replicas = [_replica(cluster, tmp_path, namespace, f"replica-{n}") for n in "ab"]
    try:
        for i in range(COUNT):
            await wait_recorded(kube, namespace, "Deployment", f"web-{i}", "configmap/shared")
        await update_configmap(kube, namespace, "shared", {"v": "bad"})
        await _halted(kube, namespace, "bad")  # a crash loop fails at a pod look, no timeout
        leader = next(r for r in replicas if r.metric("reloader_is_leader") == 1)
        standby = next(r for r in replicas if r is not leader)
        assert leader.stop() == 0  # releases the Lease: the standby leads
        await eventually(
            lambda: _async(standby.metric("reloader_halted_changes") == 1),
            timeout=30,
            what="the new leader to see the halt",
        )
        env = await _env(kube, namespace)
        assert all(env[f"web-{i}"] is None for i in range(1, COUNT)), env

        # the operator accepts the change: the rest rolls in waves (web-0 stays as it is)
        await resources.patch(
            kube,
            DEPLOYMENTS,
            namespace=namespace,
            name="web-0",
            body={"metadata": {"annotations": {"reloader.stakater.com/release-halted": "true"}}},
            patch_type="merge",
        )

        async def rest_rolled() -> bool:
            env = await _env(kube, namespace)
            return all(env[f"web-{i}"] == _hash("bad") for i in range(COUNT))

        await eventually(rest_rolled, timeout=120, what="the released change on all ten")
        canary = await resources.get(kube, DEPLOYMENTS, namespace=namespace, name="web-0")
        annotations = canary["metadata"]["annotations"]
        assert json.loads(annotations[WAVE])["state"] == "released"
        assert "reloader.stakater.com/release-halted" not in annotations
        assert standby.metric("reloader_wave_verdicts_total", {"result": "released"}) == 1
    finally:
        for r in replicas:
            if r.proc is not None:
                r.stop()


def _replica(cluster: ClusterInfo, tmp_path: Path, ns: str, name: str) -> ControllerProcess:
    return start_scoped(
        cluster.kubeconfig,
        tmp_path / f"{name}.log",
        ns,
        "--enable-ha=true",
        env={"POD_NAME": name, "POD_NAMESPACE": ns},
    )


async def _async(value: bool) -> bool:
    return value
