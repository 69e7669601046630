"""`reloader node-agent` gates against the real cluster: window, blocking pods, rollouts and a
firing alert in a real Prometheus (Debian's package, installed by the test when missing)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import anyio
import pytest

from reloader.core.objects import DEPLOYMENTS, PODS
from reloader.kube import resources
from reloader.kube.client import KubeClient
from reloader.reboot.domain import coordination as rules
from tests.integration.controller import _free_port
from tests.integration.node_agent_support import (
    TAINT,
    AgentProcess,
    FakeNode,
    Fleet,
    fleet,
    pinned_deployment,
)
from tests.integration.support import ClusterInfo, eventually

pytestmark = pytest.mark.timeout(150)


def _blocked(agent: AgentProcess, reason: str) -> int:
    return sum(1 for e in agent.logs("reboot.blocked") if e.get("reason") == reason)


async def _rebooted(f: Fleet, node: FakeNode) -> bool:
    """The node rebooted once and the lock is free again (its agent restarted meanwhile)."""
    view = rules.node_view(await f.node(node.name))
    return (
        node.reboots() == 1
        and view.record is None
        and not view.unschedulable
        and not (await f.holders())
    )


async def _assert_untouched(f: Fleet, node: FakeNode) -> None:
    assert node.reboots() == 0
    assert await f.cordoned() == []
    assert await f.holders() == []
    assert node.sentinel.exists()


async def test_outside_the_window_nothing_happens(
    kube: KubeClient, cluster: ClusterInfo, namespace: str, tmp_path: Path
) -> None:
    hour = datetime.now(UTC).hour
    async with fleet(kube, cluster.kubeconfig, namespace, tmp_path, 1) as f:
        node = f.nodes[0]
        agent = f.agent_for(
            node, [f"--start-time={(hour + 3) % 24}:00", f"--end-time={(hour + 4) % 24}:00"]
        )
        await agent.start_async()
        await eventually(
            lambda: _async(_blocked(agent, "window") >= 3), timeout=20, what="3 checks"
        )
        await _assert_untouched(f, node)
        assert len(await f.events(node.name, "RebootBlocked")) == 1, "one Event, not one a tick"
        assert agent.metric("kured_reboot_required", {"node": node.name}) == 1
        assert agent.metric("reloader_node_reboot_blocked_total", {"reason": "window"}) >= 3


async def _async(value: bool) -> bool:
    return value


async def test_blocking_pod_holds_the_reboot_until_gone(
    kube: KubeClient, cluster: ClusterInfo, namespace: str, tmp_path: Path
) -> None:
    async with fleet(kube, cluster.kubeconfig, namespace, tmp_path, 1) as f:
        node = f.nodes[0]
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "batch", "labels": {"job": "backup"}},
            "spec": {
                "nodeName": node.name,
                "tolerations": [{"key": TAINT, "operator": "Exists"}],
                "containers": [{"name": "c", "image": "registry.local/backup:1"}],
            },
        }
        await resources.create(kube, PODS, namespace=namespace, body=pod)
        agent = f.agent_for(node, ["--blocking-pod-selector=job=backup", "--lock-ttl=60s"])
        await agent.start_async()
        await eventually(lambda: _async(_blocked(agent, "pods") >= 2), timeout=20, what="blocked")
        await _assert_untouched(f, node)
        await resources.delete(kube, PODS, namespace=namespace, name="batch")
        await eventually(lambda: _rebooted(f, node), timeout=40, what="reboot after pod gone")


async def test_rollout_in_progress_holds_the_reboot(
    kube: KubeClient, cluster: ClusterInfo, namespace: str, tmp_path: Path
) -> None:
    async with fleet(kube, cluster.kubeconfig, namespace, tmp_path, 1) as f:
        node = f.nodes[0]
        body = pinned_deployment("web", f.group, replicas=1)
        body["spec"]["strategy"] = {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
        }
        await resources.create(kube, DEPLOYMENTS, namespace=namespace, body=body)

        async def available() -> bool:
            d = await resources.get(kube, DEPLOYMENTS, namespace=namespace, name="web")
            return (d.get("status") or {}).get("availableReplicas") == 1

        await eventually(available, timeout=30, what="web available")
        # a new template whose pod can never be scheduled: the rollout stays in progress
        stuck = {"spec": {"template": {"spec": {"nodeSelector": {"nowhere": "true"}}}}}
        await resources.patch(
            kube, DEPLOYMENTS, namespace=namespace, name="web", body=stuck, patch_type="merge"
        )
        agent = f.agent_for(node, ["--lock-ttl=60s"])
        await agent.start_async()
        await eventually(
            lambda: _async(_blocked(agent, "rollouts") >= 2), timeout=20, what="blocked"
        )
        await _assert_untouched(f, node)
        fixed = {"spec": {"template": {"spec": {"nodeSelector": {"nowhere": None}}}}}
        await resources.patch(
            kube, DEPLOYMENTS, namespace=namespace, name="web", body=fixed, patch_type="merge"
        )
        await eventually(lambda: _rebooted(f, node), timeout=40, what="reboot after rollout")


# -------------------------------------------------------------------------------- prometheus


def _prometheus_binary() -> str:
    """Debian's prometheus, installed here when missing (CI machines start without it)."""
    found = shutil.which("prometheus")
    if found:
        return found
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive", "RUNLEVEL": "1"}
    install = ["apt-get", "install", "-y", "--no-install-recommends", "prometheus"]
    if subprocess.run(install, env=env, capture_output=True, check=False).returncode != 0:
        subprocess.run(["apt-get", "update"], env=env, capture_output=True, check=True)
        subprocess.run(install, env=env, capture_output=True, check=True)
    found = shutil.which("prometheus")
    assert found, "apt-get installed prometheus but it is not on PATH"
    return found


class Prometheus:
    """A Prometheus on a loopback port evaluating one alert rule every second."""

    def __init__(self, binary: str, directory: Path) -> None:
        self.binary = binary
        self.dir = directory
        self.port = _free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *, firing: bool) -> None:
        expr = "vector(1) > 0" if firing else "vector(0) > 0"
        rules_file = self.dir / "rules.yml"
        rules_file.write_text(
            json.dumps(
                {
                    "groups": [
                        {
                            "name": "reboot-test",
                            "interval": "1s",
                            "rules": [{"alert": "RebootBlocker", "expr": expr, "for": "0s"}],
                        }
                    ]
                }
            )
        )
        config = self.dir / "prometheus.yml"
        config.write_text(
            json.dumps({"global": {"evaluation_interval": "1s"}, "rule_files": [str(rules_file)]})
        )
        self.proc = subprocess.Popen(
            [
                self.binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={self.dir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
            ],
            stdout=(self.dir / "prometheus.log").open("ab"),
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )

    def alerts(self) -> list[dict[str, object]]:
        try:
            with urllib.request.urlopen(f"{self.url}/api/v1/alerts", timeout=2) as response:  # noqa: S310
                return list(json.loads(response.read())["data"]["alerts"])
        except OSError:
            return []

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as response:  # noqa: S310
                return bool(response.status == 200)
        except OSError:
            return False

    def stop(self) -> None:
        """SIGTERM by PID, SIGKILL after 20 s."""
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[Prometheus]:
    directory = tmp_path / "prometheus"
    directory.mkdir()
    server = Prometheus(_prometheus_binary(), directory)
    try:
        yield server
    finally:
        server.stop()


async def test_firing_alert_holds_the_reboot_until_cleared(
    kube: KubeClient,
    cluster: ClusterInfo,
    namespace: str,
    tmp_path: Path,
    prometheus: Prometheus,
) -> None:
    prometheus.start(firing=True)

    async def firing() -> bool:
        alerts = await anyio.to_thread.run_sync(prometheus.alerts)
        return any(a.get("state") == "firing" for a in alerts)

    await eventually(firing, timeout=60, what="the alert firing in Prometheus")
    async with fleet(kube, cluster.kubeconfig, namespace, tmp_path, 1) as f:
        node = f.nodes[0]
        agent = f.agent_for(
            node, [f"--prometheus-url={prometheus.url}", "--alert-firing-only", "--lock-ttl=60s"]
        )
        await agent.start_async()
        await eventually(lambda: _async(_blocked(agent, "alerts") >= 2), timeout=20, what="held")
        await _assert_untouched(f, node)
        assert any(
            e.get("detail") == "RebootBlocker"
            for e in agent.logs("reboot.blocked")
            if e.get("reason") == "alerts"
        )
        prometheus.stop()
        prometheus.start(firing=False)
        await eventually(
            lambda: anyio.to_thread.run_sync(prometheus.ready), timeout=60, what="prometheus up"
        )
        await eventually(lambda: _rebooted(f, node), timeout=60, what="reboot after alert cleared")


async def test_a_failing_check_is_retried_and_counted(
    kube: KubeClient, cluster: ClusterInfo, namespace: str, tmp_path: Path
) -> None:
    """A sentinel command that cannot start is an error of the check, never a reboot: logged,
    counted in reloader_node_errors_total{step="check"}, tried again at the next period."""
    async with fleet(kube, cluster.kubeconfig, namespace, tmp_path, 1) as f:
        node = f.nodes[0]
        agent = f.agent_for(node, [f"--reboot-sentinel-command={tmp_path}/no-such-command"])
        await agent.start_async()

        async def counted() -> bool:
            return agent.metric("reloader_node_errors_total", {"step": "check"}) >= 2

        await eventually(counted, timeout=20, what="two failed checks counted")
        assert len(agent.logs("reboot.check_failed")) >= 2
        assert agent.metric("reloader_node_errors_total", {"step": "crash"}) == 0
        await _assert_untouched(f, node)
