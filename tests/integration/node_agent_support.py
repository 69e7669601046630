"""Helpers for node-agent tests: fake nodes of our own, agent processes, cluster observations.

Each test creates its own kwok nodes (``rb-<digest>-<i>``), tainted so that only the test's pods
land there, so draining them never touches another test's pods; they are deleted afterwards.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio

from reloader.core.objects import DEPLOYMENTS, EVENTS, LEASES, NODES, PODS
from reloader.errors import NotFound
from reloader.kube import resources
from reloader.kube.client import KubeClient
from tests.integration.controller import ControllerProcess, _free_port
from tests.integration.support import eventually

REPO = Path(__file__).resolve().parents[2]
KWOK = "kwok.x-k8s.io/node"
TAINT = "reloader-test/reboot"
GROUP = "reloader-test/group"


class AgentProcess(ControllerProcess):
    """``python -m reloader node-agent`` for one node; JSON logs in ``log_path``."""

    def __init__(self, *, kubeconfig: Path, node: str, log_path: Path, args: list[str]) -> None:
        super().__init__(kubeconfig=kubeconfig, log_path=log_path, args=args)
        self.node = node
        self.starts = 0

    def spawn(self) -> None:
        self.port = _free_port()
        cmd = [
            sys.executable,
            "-m",
            "reloader",
            "node-agent",
            f"--kubeconfig={self.kubeconfig}",
            "--log-format=json",
            "--log-level=debug",
            f"--metrics-addr=127.0.0.1:{self.port}",
            f"--node-id={self.node}",
            *self.args,
        ]
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                cmd,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=REPO,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        self.starts += 1

    async def wait_ready(self, *, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                tail = self.log_path.read_text()[-3000:]
                raise RuntimeError(f"agent exited with {self.proc.returncode}:\n{tail}")
            status, _ = await anyio.to_thread.run_sync(self.get, "/ready")
            if status == 200:
                return
            await anyio.sleep(0.1)
        raise TimeoutError(
            f"agent not ready after {timeout}s:\n{self.log_path.read_text()[-3000:]}"
        )

    async def start_async(self) -> None:
        self.spawn()
        await self.wait_ready()

    def kill(self) -> None:
        """SIGKILL, as a power cut or a reboot would (by PID)."""
        if self.proc is not None:
            self.stop(sig=signal.SIGKILL)

    async def restart(self) -> None:
        self.kill()
        await self.start_async()


def reboot_command(
    *, kubeconfig: Path, node: str, sentinel: Path, marker: Path, extra: tuple[str, ...] = ()
) -> str:
    return shlex.join(
        [
            sys.executable,
            "-m",
            "tests.integration.fake_reboot",
            f"--kubeconfig={kubeconfig}",
            f"--node={node}",
            f"--sentinel={sentinel}",
            f"--marker={marker}",
            *extra,
        ]
    )


@dataclass
class FakeNode:
    """One test node with its sentinel file, reboot marker and agent."""

    name: str
    dir: Path
    agent: AgentProcess | None = None
    restarted: int = 0
    #: False: after its "reboot" the node never comes back (its agent is not restarted)
    comes_back: bool = True

    @property
    def sentinel(self) -> Path:
        return self.dir / "reboot-required"

    @property
    def marker(self) -> Path:
        return self.dir / "rebooted"

    def reboots(self) -> int:
        return len(self.marker.read_text().splitlines()) if self.marker.exists() else 0


@dataclass
class Fleet:
    kube: KubeClient
    kubeconfig: Path
    namespace: str
    group: str
    nodes: list[FakeNode]
    agents: list[AgentProcess] = field(default_factory=list)

    def agent_for(
        self, node: FakeNode, args: list[str], *, reboot_extra: tuple[str, ...] = ()
    ) -> AgentProcess:
        command = reboot_command(
            kubeconfig=self.kubeconfig,
            node=node.name,
            sentinel=node.sentinel,
            marker=node.marker,
            extra=reboot_extra,
        )
        agent = AgentProcess(
            kubeconfig=self.kubeconfig,
            node=node.name,
            log_path=node.dir / "agent.log",
            args=[
                f"--ds-namespace={self.namespace}",
                "--period=1s",
                "--nsenter=false",
                f"--reboot-sentinel={node.sentinel}",
                f"--reboot-command={command}",
                *args,
            ],
        )
        node.agent = agent
        self.agents.append(agent)
        return agent

    async def start(self, *agents: AgentProcess) -> None:
        """Start agents together, as a DaemonSet would, and wait until each is ready."""
        for agent in agents:
            agent.spawn()
        async with anyio.create_task_group() as tg:
            for agent in agents:
                tg.start_soon(agent.wait_ready)

    async def restart_rebooted(self) -> None:
        """Runs for the whole test: restart the agent of every node whose fake reboot ran
        since its last start (each restart in its own task, as nodes boot independently)."""
        async with anyio.create_task_group() as tg:
            while True:
                for node in self.nodes:
                    if node.agent is None or not node.comes_back:
                        continue
                    if node.reboots() > node.restarted:
                        node.restarted = node.reboots()
                        tg.start_soon(node.agent.restart)
                await anyio.sleep(0.1)

    async def node(self, name: str) -> dict[str, Any]:
        return await resources.get(self.kube, NODES, namespace=None, name=name)

    async def cordoned(self) -> list[str]:
        page = await resources.list_page(self.kube, NODES, label_selector=f"{GROUP}={self.group}")
        return sorted(
            n["metadata"]["name"]
            for n in page["items"]
            if (n.get("spec") or {}).get("unschedulable")
        )

    async def holders(self) -> list[str]:
        page = await resources.list_page(self.kube, LEASES, namespace=self.namespace)
        return sorted(
            h for item in page["items"] if (h := (item.get("spec") or {}).get("holderIdentity"))
        )

    async def events(self, node: str, reason: str | None = None) -> list[dict[str, Any]]:
        selector = f"involvedObject.kind=Node,involvedObject.name={node}"
        if reason:
            selector += f",reason={reason}"
        page = await resources.list_page(
            self.kube, EVENTS, namespace="default", field_selector=selector
        )
        return list(page["items"])


def node_body(name: str, group: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {KWOK: "fake"},
            "labels": {
                "type": "kwok",
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                GROUP: group,
            },
        },
        "spec": {"taints": [{"key": TAINT, "value": group, "effect": "NoSchedule"}]},
        "status": {
            "allocatable": {"cpu": "64", "memory": "256Gi", "pods": "250"},
            "capacity": {"cpu": "64", "memory": "256Gi", "pods": "250"},
        },
    }


@contextlib.asynccontextmanager
async def fleet(
    kube: KubeClient, kubeconfig: Path, namespace: str, tmp: Path, count: int
) -> AsyncIterator[Fleet]:
    """``count`` Ready kwok nodes of our own, each with a sentinel file; agents stopped (by PID)
    and nodes deleted on exit."""
    group = secrets.token_hex(4)  # fresh names: Events about old nodes stay in "default"
    nodes = [FakeNode(name=f"rb-{group}-{i}", dir=tmp / f"rb-{group}-{i}") for i in range(count)]
    f = Fleet(kube=kube, kubeconfig=kubeconfig, namespace=namespace, group=group, nodes=nodes)

    async def ready() -> bool:
        items = [await f.node(n.name) for n in nodes]
        return all(
            any(
                c["type"] == "Ready" and c["status"] == "True"
                for c in (n.get("status") or {}).get("conditions") or []
            )
            for n in items
        )

    try:
        for node in nodes:
            node.dir.mkdir()
            node.sentinel.touch()
            await resources.create(kube, NODES, namespace=None, body=node_body(node.name, group))
        await eventually(ready, timeout=30, what="test nodes Ready")
        async with anyio.create_task_group() as tg:
            tg.start_soon(f.restart_rebooted)
            yield f
            tg.cancel_scope.cancel()
    finally:
        for agent in f.agents:
            agent.kill()
        for node in nodes:
            with contextlib.suppress(NotFound):
                await resources.delete(kube, NODES, namespace=None, name=node.name)
        for node in nodes:
            # pods bound to a deleted node would wait for a kubelet that never answers
            selector = f"spec.nodeName={node.name}"
            page = await resources.list_page(kube, PODS, field_selector=selector)
            for pod in page["items"]:
                meta = pod["metadata"]
                with contextlib.suppress(NotFound):
                    await kube.request(
                        "DELETE",
                        PODS.path(namespace=meta["namespace"], name=meta["name"]),
                        body={"gracePeriodSeconds": 0},
                    )


def pinned_deployment(
    name: str, group: str, *, replicas: int, labels: dict[str, str] | None = None
) -> dict[str, Any]:
    """A Deployment whose pods run only on the fleet's nodes."""
    pod_labels = {"app": name, **(labels or {})}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": pod_labels},
                "spec": {
                    "nodeSelector": {GROUP: group},
                    "tolerations": [{"key": TAINT, "operator": "Exists", "effect": "NoSchedule"}],
                    "containers": [{"name": "app", "image": "registry.local/app:1"}],
                },
            },
        },
    }


async def unevictable(kube: KubeClient, namespace: str, group: str, name: str) -> None:
    """A one-replica Deployment on the fleet whose PodDisruptionBudget (maxUnavailable 0)
    makes the API server refuse every eviction of its pod."""
    await resources.create(
        kube, DEPLOYMENTS, namespace=namespace, body=pinned_deployment(name, group, replicas=1)
    )
    pdb = {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": name},
        "spec": {"maxUnavailable": 0, "selector": {"matchLabels": {"app": name}}},
    }
    await kube.request(
        "POST", f"/apis/policy/v1/namespaces/{namespace}/poddisruptionbudgets", body=pdb
    )


class CordonWatch:
    """Polls the fleet's nodes and remembers the most cordoned at once."""

    def __init__(self, f: Fleet) -> None:
        self.fleet = f
        self.max = 0
        self.seen: set[str] = set()

    async def run(self) -> None:
        while True:
            cordoned = await self.fleet.cordoned()
            self.max = max(self.max, len(cordoned))
            self.seen.update(cordoned)
            await anyio.sleep(0.05)
