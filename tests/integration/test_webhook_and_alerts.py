"""Webhook mode and reload alerts with a real HTTP receiver."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from reloader.kube.client import KubeClient
from tests.integration.controller import ControllerProcess, start_scoped
from tests.integration.receiver import receiver
from tests.integration.reload_support import (
    get_workload,
    make_configmap,
    make_workload,
    stakater_env,
    update_configmap,
    wait_recorded,
)
from tests.integration.support import ClusterInfo, eventually

CONTAINERS = [{"name": "app", "image": "x", "envFrom": [{"configMapRef": {"name": "cfg"}}]}]
AUTO = {"reloader.stakater.com/auto": "true"}


def _start(cluster: ClusterInfo, tmp_path: Path, ns: str, *args: str) -> ControllerProcess:
    return start_scoped(cluster.kubeconfig, tmp_path / "r.log", ns, *args)


async def test_webhook_mode_posts_what_changed_instead_of_rolling(
    kube: KubeClient, namespace: str, cluster: ClusterInfo, tmp_path: Path
) -> None:
    with receiver() as hook:
        proc = _start(cluster, tmp_path, namespace, f"--webhook-url={hook.url}")
        try:
            await make_configmap(kube, namespace, "cfg", {"k": "v1"})
            await make_workload(
                kube, namespace, "Deployment", "web", annotations=AUTO, containers=CONTAINERS
            )
            await wait_recorded(kube, namespace, "Deployment", "web", "configmap/cfg")
            await update_configmap(kube, namespace, "cfg", {"k": "v2"})

            async def posted() -> list[Any]:
                return list(hook.requests)

            [request] = await eventually(posted, timeout=15, what="one webhook POST")
            body = json.loads(request.body)
            assert body["webhook"] == "update successful"
            assert body["workload"] == {"kind": "Deployment", "namespace": namespace, "name": "web"}
            assert [(s["type"], s["name"]) for s in body["sources"]] == [("CONFIGMAP", "cfg")]
            await wait_recorded(kube, namespace, "Deployment", "web", "configmap/cfg")
            obj = await get_workload(kube, namespace, "Deployment", "web")
            assert stakater_env(obj) == {}  # not rolled
        finally:
            assert proc.stop() == 0
        # a restart does not send it again: what was sent is recorded on the workload
        proc = _start(cluster, tmp_path, namespace, f"--webhook-url={hook.url}")
        try:
            await eventually(
                lambda: _reconciled(proc, namespace), timeout=15, what="reconcile after restart"
            )
            assert len(hook.requests) == 1
        finally:
            assert proc.stop() == 0


async def test_slow_alert_receiver_does_not_delay_reloads(
    kube: KubeClient, namespace: str, cluster: ClusterInfo, tmp_path: Path
) -> None:
    with receiver(delay_s=5.0) as sink:
        env = {
            "ALERT_ON_RELOAD": "true",
            "ALERT_WEBHOOK_URL": sink.url,
            "ALERT_SINK": "slack",
            "ALERT_ADDITIONAL_INFO": "prod-eu",
        }
        os.environ.update(env)
        try:
            proc = _start(cluster, tmp_path, namespace)
        finally:
            for k in env:
                del os.environ[k]
        try:
            for name in ("a", "b"):
                await make_configmap(kube, namespace, f"cfg-{name}", {"k": "v1"})
                await make_workload(
                    kube,
                    namespace,
                    "Deployment",
                    name,
                    annotations=AUTO,
                    containers=[
                        {
                            "name": "app",
                            "image": "x",
                            "envFrom": [{"configMapRef": {"name": f"cfg-{name}"}}],
                        }
                    ],
                )
                await wait_recorded(kube, namespace, "Deployment", name, f"configmap/cfg-{name}")
            started = time.time()
            await update_configmap(kube, namespace, "cfg-a", {"k": "v2"})
            await update_configmap(kube, namespace, "cfg-b", {"k": "v2"})

            async def both_reloaded() -> bool:
                a = await get_workload(kube, namespace, "Deployment", "a")
                b = await get_workload(kube, namespace, "Deployment", "b")
                return bool(stakater_env(a) and stakater_env(b))

            await eventually(both_reloaded, timeout=15, what="both reloaded")
            assert time.time() - started < 4.0, "reloads waited for the 5 s alert receiver"

            async def alerts() -> list[Any]:
                return list(sink.requests) if len(sink.requests) == 2 else []

            received = await eventually(alerts, timeout=20, what="two slack alerts")
            texts = sorted(json.loads(r.body)["attachments"][0]["text"] for r in received)
            assert texts[0].startswith("prod-eu : Reloader detected changes in *cfg-a*")
            assert "Hence reloaded *a* of type *Deployment*" in texts[0]
        finally:
            assert proc.stop() == 0


async def _reconciled(proc: ControllerProcess, namespace: str) -> bool:
    return any(e.get("key") == f"Deployment/{namespace}/web" for e in proc.logs("reconcile.done"))
