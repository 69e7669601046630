"""The chart's nodeReboot DaemonSet installed on the real cluster, and the node agent run with what
the chart grants.

kwok runs the DaemonSet's pods as fakes, so the agent itself runs out of cluster, as in
test_node_agent*.py: one process for a kwok node of the test's own, with a token of the chart's
nodeReboot ServiceAccount (TokenRequest API) and the DaemonSet's args and environment, adapted
only where a pod differs from a local process (the sentinel file, the reboot command: the fake
reboot of tests/integration/fake_reboot.py, run with the admin's kubeconfig as the kubelet would
report the new boot; no nsenter). A whole cycle with a Deployment and a StatefulSet on the node
(lock, cordon, drain through evictions, the rollouts gate, reboot, Events, uncordon, release)
must finish without one 403: the chart's RBAC is enough, and (checked with the same token) no
more than that.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from reloader.core.objects import DEPLOYMENTS, LEASES, NAMESPACES, PODS, STATEFULSETS
from reloader.errors import Forbidden, NotFound
from reloader.kube import resources
from reloader.kube.client import KubeClient
from reloader.reboot.domain import coordination as rules
from tests.integration.node_agent_support import (
    AgentProcess,
    Fleet,
    fleet,
    pinned_deployment,
    reboot_command,
)
from tests.integration.support import ClusterInfo, eventually
from tests.integration.test_chart_install import (
    _forbidden,
    _run,
    helm_command,
    service_account_kubeconfig,
)

pytestmark = pytest.mark.timeout(180)  # helm install and uninstall, one reboot cycle

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "chart"
DAEMONSET = "apis/apps/v1/namespaces/{ns}/daemonsets/{name}"


@pytest.fixture
async def agent_namespace(kube: KubeClient, namespace: str) -> AsyncIterator[str]:
    """The chart's namespace. The agent's pods run as root with hostPID (privileged with the
    default rebootMethod), so it allows Pod Security "privileged", as kube-system does."""
    name = f"nr-{hashlib.sha1(namespace.encode()).hexdigest()[:10]}"
    labels = {"pod-security.kubernetes.io/enforce": "privileged"}
    await resources.create(
        kube, NAMESPACES, namespace=None, body={"metadata": {"name": name, "labels": labels}}
    )
    yield name
    with contextlib.suppress(NotFound):
        await resources.delete(kube, NAMESPACES, namespace=None, name=name)


def _agent_args(spec: dict[str, Any], *, fleet: Fleet, admin: Path) -> list[str]:
    """The DaemonSet's args for a local process: without the subcommand (AgentProcess adds it),
    the sentinel in the node's test directory, the fake reboot, no nsenter."""
    node = fleet.nodes[0]
    args = [str(a) for a in spec["args"]]
    assert args[0] == "node-agent"
    assert f"--ds-namespace={fleet.namespace}" in args
    assert "--reboot-sentinel=/sentinel/reboot-required" in args
    command = reboot_command(
        kubeconfig=admin, node=node.name, sentinel=node.sentinel, marker=node.marker
    )
    return [
        *(a for a in args[1:] if not a.startswith("--reboot-sentinel=")),
        f"--reboot-sentinel={node.sentinel}",
        f"--reboot-command={command}",
        "--nsenter=false",
    ]


def _agent_env(spec: dict[str, Any], *, node: str) -> dict[str, str]:
    """The container's environment as the kubelet would resolve it on ``node``."""
    out = {}
    for var in spec.get("env") or []:
        if "value" in var:
            out[var["name"]] = str(var["value"])
            continue
        field = (var.get("valueFrom") or {}).get("fieldRef", {}).get("fieldPath")
        assert field == "spec.nodeName", f"the test cannot resolve {var}"
        out[var["name"]] = node
    return out


def _pinned_statefulset(name: str, group: str) -> dict[str, Any]:
    """A StatefulSet whose pod runs only on the fleet's node (the rollouts gate reads it)."""
    body = pinned_deployment(name, group, replicas=1)
    body["kind"] = "StatefulSet"
    body["spec"]["serviceName"] = name
    return body


async def _workloads_settled(kube: KubeClient, ns: str) -> bool:
    dep = await resources.get(kube, DEPLOYMENTS, namespace=ns, name="web")
    sts = await resources.get(kube, STATEFULSETS, namespace=ns, name="db")
    d, s = dep.get("status") or {}, sts.get("status") or {}
    return (
        d.get("availableReplicas") == 1
        and d.get("updatedReplicas") == 1
        and s.get("readyReplicas") == 1
        and bool(s.get("currentRevision"))
        and s.get("currentRevision") == s.get("updateRevision")
    )


async def _assert_no_more_than_needed(kubeconfig: Path, *, workload_ns: str, pod: str) -> None:
    """The token is the agent's, not an admin's: what the chart does not grant is 403."""
    async with await KubeClient.connect(kubeconfig=str(kubeconfig)) as sa:
        with pytest.raises(Forbidden):  # pods are listed, never read by name
            await resources.get(sa, PODS, namespace=workload_ns, name=pod)
        with pytest.raises(Forbidden):  # the lock Leases only in the chart's namespace
            await resources.list_page(sa, LEASES, namespace=workload_ns)
        with pytest.raises(Forbidden):
            await sa.request("GET", f"/api/v1/namespaces/{workload_ns}/secrets")
        with pytest.raises(Forbidden):
            await resources.list_page(sa, DEPLOYMENTS, namespace=workload_ns)


async def test_installed_chart_grants_what_the_node_agent_uses(
    kube: KubeClient,
    cluster: ClusterInfo,
    namespace: str,
    agent_namespace: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    helm = helm_command(cluster)
    release = f"r{agent_namespace[3:]}"  # unique: the ClusterRole's name is cluster-wide
    values = {
        "nodeReboot": {
            "enabled": True,
            "configuration": {
                "period": "1s",
                "lockTtl": "60s",
                "blockingPodSelector": ["reloader-test/never=present"],
            },
        }
    }
    values_file = tmp_path / "values.json"
    values_file.write_text(json.dumps(values))
    cmd = [*helm, "install", release, str(CHART), "-n", agent_namespace, "-f", str(values_file)]
    out = await anyio.to_thread.run_sync(_run, cmd, tmp_path)
    assert out.returncode == 0, out.stderr
    try:
        name = f"{release}-reloader-node-reboot"

        # the pods were admitted (hostPID, privileged) and (kwok) became ready on its nodes
        async def daemonset_ready() -> dict[str, Any] | None:
            ds = await kube.request("GET", "/" + DAEMONSET.format(ns=agent_namespace, name=name))
            status = ds.get("status") or {}
            desired = status.get("desiredNumberScheduled", 0)
            return ds if desired >= 1 and status.get("numberReady") == desired else None

        ds = await eventually(daemonset_ready, timeout=30, what=f"DaemonSet {name} ready")
        assert ds is not None
        pod_spec = ds["spec"]["template"]["spec"]
        assert pod_spec["hostPID"] is True
        containers = pod_spec["containers"]
        assert len(containers) == 1
        spec = dict(containers[0])
        assert "command" not in spec, "the image's entrypoint (reloader) is the command"

        sa = pod_spec["serviceAccountName"]
        assert sa == name
        sa_kubeconfig = await service_account_kubeconfig(
            kube, cluster, agent_namespace, sa, tmp_path / "sa-kubeconfig"
        )

        async with fleet(kube, cluster.kubeconfig, agent_namespace, tmp_path, 1) as f:
            node = f.nodes[0]
            await resources.create(
                kube,
                DEPLOYMENTS,
                namespace=namespace,
                body=pinned_deployment("web", f.group, replicas=1),
            )
            await resources.create(
                kube, STATEFULSETS, namespace=namespace, body=_pinned_statefulset("db", f.group)
            )
            await eventually(
                lambda: _workloads_settled(kube, namespace), timeout=30, what="workloads running"
            )
            selector = f"spec.nodeName={node.name}"
            page = await resources.list_page(kube, PODS, field_selector=selector)
            before = {p["metadata"]["uid"] for p in page["items"]}
            assert len(before) == 2, "the Deployment's and the StatefulSet's pod on the node"
            boot = rules.node_view(await f.node(node.name)).boot_id

            for var, value in _agent_env(spec, node=node.name).items():
                monkeypatch.setenv(var, value)  # KURED_NODE_ID: it wins over --node-id
            agent = AgentProcess(
                kubeconfig=sa_kubeconfig,
                node=node.name,
                log_path=node.dir / "agent.log",
                args=_agent_args(spec, fleet=f, admin=cluster.kubeconfig),
            )
            node.agent = agent
            f.agents.append(agent)  # restarted after its fake reboot, killed at the end
            await agent.start_async()

            async def cycle_done() -> bool:
                view = rules.node_view(await f.node(node.name))
                return (
                    node.reboots() == 1
                    and not view.unschedulable
                    and view.record is None
                    and not await f.holders()
                )

            await eventually(cycle_done, timeout=60, interval=0.2, what="a whole reboot cycle")
            log = agent.log_path
            assert _forbidden(agent) == [], log.read_text()[-3000:]
            assert not agent.logs("reboot.check_failed"), log
            assert not agent.logs("event.failed"), log
            # the gates could read what they need (a failed read holds the reboot)
            failed = [e for e in agent.logs("reboot.blocked") if "failed" in str(e.get("detail"))]
            assert failed == [], failed
            assert agent.starts == 2, "started, then again after the fake reboot"
            assert agent.metric("reloader_node_reboots_total", {"result": "success"}) == 1
            view = rules.node_view(await f.node(node.name))
            assert view.boot_id != boot
            for reason in (
                "Cordoned",
                "Draining",
                "Drained",
                "Rebooting",
                "Rebooted",
                "Uncordoned",
            ):
                assert await f.events(node.name, reason), f"{reason} Event posted"

            # the drain evicted both pods (their controllers replaced them)
            page = await resources.list_page(kube, PODS, namespace=namespace)
            assert before & {p["metadata"]["uid"] for p in page["items"]} == set()

            await _assert_no_more_than_needed(sa_kubeconfig, workload_ns=namespace, pod="db-0")
    finally:
        out = await anyio.to_thread.run_sync(
            _run, [*helm, "uninstall", release, "-n", agent_namespace, "--wait"], tmp_path
        )
        assert out.returncode == 0, out.stderr
