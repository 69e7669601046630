"""Faults during a burst of 1,000 source updates spread over 20 workloads.

Each scenario starts a fleet (tests/reliability/fleet.py), runs the burst and injects one fault
about a third of the way through it:

- ``apiserver-restart``: kube-apiserver stopped (SIGTERM) and started again in place;
- ``etcd-restart``: etcd stopped and started again in place (same data directory);
- ``controller-sigkill``: the controller killed with SIGKILL, and started again once 100 more
  updates went by without it;
- ``watch-cut``: every connection between the controller and the API server dropped (TCP reset)
  five times, then refused for 3 s, by a proxy the controller talks through;
- ``watch-expired``: the API server runs without its watch cache, the controller's connections
  are refused for 4 s while updates continue, and etcd is compacted to its current revision, so
  the controller's watches come back with an expired resourceVersion (410) and must relist.

Then every workload must end with its source's final hash, roll at most once per state, never
backwards, and never to a state it could not see (see fleet.py).
"""

from __future__ import annotations

import base64
import json
import signal
import time
import urllib.request
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import pytest

from reloader.kube.client import KubeClient
from tests.integration.controller import ControllerProcess
from tests.integration.support import ClusterInfo
from tests.reliability.control import local_cluster
from tests.reliability.fleet import (
    Fleet,
    burst,
    check_history,
    count_logs,
    create_fleet,
    missed_states,
    proxied_kubeconfig,
    rollout_history,
    settle,
    wait_adopted,
    wait_converged,
)
from tests.reliability.proxy import TcpProxy

UPDATES = 1000
WORKLOADS = 20
RATE = 25.0  # updates per second: a 40 s burst
FAULT_AT = 300  # the fault starts after this many updates

pytestmark = pytest.mark.timeout(1200)


class Scenario:
    """The fault of one test: ``prepare`` before the controller starts, ``inject`` during the
    burst, ``restore`` at the end whatever happens."""

    def __init__(self, directory: Path, proxy: TcpProxy, controller: ControllerProcess) -> None:
        self.directory = directory
        self.proxy = proxy
        self.controller = controller
        self.facts: dict[str, Any] = {}
        #: (from, until) monotonic instants in which the controller could not see changes
        self.blind: tuple[float, float] | None = None

    async def prepare(self) -> None:
        pass

    async def inject(self, progress: Callable[[], int]) -> None:
        raise NotImplementedError

    async def restore(self) -> None:
        pass


async def _until(progress: Callable[[], int], count: int, timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while progress() < count:
        if time.monotonic() > deadline:
            raise AssertionError(f"the burst did not reach {count} updates")
        await anyio.sleep(0.05)


class ApiserverRestart(Scenario):
    async def inject(self, progress: Callable[[], int]) -> None:
        started = time.monotonic()
        await anyio.to_thread.run_sync(
            local_cluster.restart_process, self.directory, "kube-apiserver"
        )
        self.facts["apiserver_down_s"] = round(time.monotonic() - started, 1)


class EtcdRestart(Scenario):
    async def inject(self, progress: Callable[[], int]) -> None:
        started = time.monotonic()
        await anyio.to_thread.run_sync(local_cluster.restart_process, self.directory, "etcd")
        self.facts["etcd_down_s"] = round(time.monotonic() - started, 1)


class ControllerKill(Scenario):
    async def inject(self, progress: Callable[[], int]) -> None:
        killed_at = time.monotonic()
        code = await anyio.to_thread.run_sync(lambda: self.controller.stop(sig=signal.SIGKILL))
        assert code == -signal.SIGKILL
        await _until(progress, progress() + 100)
        # from its start, the new process may list (and so see) any state: a state is missed
        # only if it was written after the kill and superseded before the new process started
        restarted_at = time.monotonic()
        await anyio.to_thread.run_sync(lambda: self.controller.start(timeout=120))
        ready_at = time.monotonic()
        self.blind = (killed_at, restarted_at)
        self.facts["blind_s"] = round(restarted_at - killed_at, 1)
        self.facts["controller_down_s"] = round(ready_at - killed_at, 1)


class WatchCut(Scenario):
    async def inject(self, progress: Callable[[], int]) -> None:
        dropped = []
        for _ in range(5):
            dropped.append(self.proxy.cut())
            await _until(progress, progress() + 50)
        self.proxy.refuse()
        dropped.append(self.proxy.cut())
        await anyio.sleep(3)
        self.proxy.accept()
        self.facts["connections_dropped"] = dropped


class WatchExpired(Scenario):
    """The API server without a watch cache (watches are served by etcd), and etcd compacted
    while the controller is cut off, so that its watches resume from a compacted revision."""

    async def prepare(self) -> None:
        self.args = await anyio.to_thread.run_sync(
            local_cluster.stop_process, self.directory, "kube-apiserver"
        )
        no_cache = [a for a in self.args if not a.startswith("--watch-cache")]
        await anyio.to_thread.run_sync(
            local_cluster.start_process,
            self.directory,
            "kube-apiserver",
            [*no_cache, "--watch-cache=false"],
        )

    async def inject(self, progress: Callable[[], int]) -> None:
        blind_from = time.monotonic()
        self.proxy.refuse()
        self.proxy.cut()
        await anyio.sleep(4)
        revision = await anyio.to_thread.run_sync(compact_etcd, self.directory)
        self.facts["compacted_revision"] = revision
        self.proxy.accept()
        self.blind = (blind_from, time.monotonic())

    async def restore(self) -> None:
        await anyio.to_thread.run_sync(
            partial(local_cluster.restart_process, self.directory, "kube-apiserver", args=self.args)
        )


def compact_etcd(directory: Path) -> int:
    """Compact etcd's history up to its current revision (etcd's JSON gateway); returns it."""
    pid = local_cluster.attach(directory).pids["etcd"]
    url = next(
        a.split("=", 1)[1].split(",")[0]
        for a in local_cluster.process_args(pid)
        if a.startswith("--listen-client-urls=")
    )

    def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
        request = urllib.request.Request(  # noqa: S310 - loopback etcd of our own cluster
            url + path, data=json.dumps(body).encode(), method="POST"
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return dict(json.loads(response.read()))

    key = base64.b64encode(b"/registry/").decode()
    revision = int(post("/v3/kv/range", {"key": key, "limit": 1})["header"]["revision"])
    post("/v3/kv/compaction", {"revision": str(revision), "physical": True})
    return revision


SCENARIOS: dict[str, type[Scenario]] = {
    "apiserver-restart": ApiserverRestart,
    "etcd-restart": EtcdRestart,
    "controller-sigkill": ControllerKill,
    "watch-cut": WatchCut,
    "watch-expired": WatchExpired,
}


@pytest.mark.parametrize("name", list(SCENARIOS))
async def test_fault_during_a_burst(
    name: str,
    cluster: ClusterInfo,
    cluster_dir: Path,
    kube: KubeClient,
    namespace: str,
    tmp_path: Path,
    report: dict[str, Any],
) -> None:
    test_started = time.monotonic()
    state = local_cluster.attach(cluster_dir)
    proxy = TcpProxy(upstream_port=state.api_port)
    report.update(scenario=name, updates=UPDATES, workloads=WORKLOADS)
    async with anyio.create_task_group() as tg:
        await tg.start(proxy.serve)
        kubeconfig = proxied_kubeconfig(cluster.kubeconfig, proxy.port, tmp_path / "kubeconfig")
        controller = ControllerProcess(
            kubeconfig=kubeconfig,
            log_path=tmp_path / "reloader.log",
            args=[f"--namespaces={namespace}"],
        )
        scenario = SCENARIOS[name](cluster_dir, proxy, controller)
        try:
            await scenario.prepare()
            await anyio.to_thread.run_sync(lambda: controller.start(timeout=120))
            fleet = await create_fleet(kube, namespace, WORKLOADS)
            await wait_adopted(kube, fleet)
            await run_burst_with_fault(kube, fleet, scenario, report)
            await _check(kube, fleet, scenario, controller, report)
        finally:
            if controller.proc is not None:
                code = await anyio.to_thread.run_sync(controller.stop)
                report["controller_exit"] = code
            await scenario.restore()
            tg.cancel_scope.cancel()
    report["test_s"] = round(time.monotonic() - test_started, 1)
    assert report["controller_exit"] == 0, "the controller must exit 0 on SIGTERM"


async def run_burst_with_fault(
    kube: KubeClient, fleet: Fleet, scenario: Scenario, report: dict[str, Any]
) -> None:
    done = 0

    def progress(count: int) -> None:
        nonlocal done
        done = count

    async def fault() -> None:
        await _until(lambda: done, FAULT_AT)
        started = time.monotonic()
        await scenario.inject(lambda: done)
        report["fault_s"] = round(time.monotonic() - started, 1)

    async with anyio.create_task_group() as tg:
        tg.start_soon(fault)
        result = await burst(kube, fleet, total=UPDATES, rate=RATE, progress=progress)
    report["burst_s"] = round(result.seconds, 1)
    report.update(scenario.facts)


async def _check(
    kube: KubeClient,
    fleet: Fleet,
    scenario: Scenario,
    controller: ControllerProcess,
    report: dict[str, Any],
) -> None:
    report["converge_after_burst_s"] = round(await wait_converged(kube, fleet), 1)
    report["settle_s"] = round(await settle(controller, timeout=180), 1)
    history = await rollout_history(kube, fleet, controller.logs())
    missed = missed_states(fleet, *scenario.blind) if scenario.blind else None
    report.update(check_history(fleet, history, missed=missed))
    report["relists"] = count_logs(controller, "watch.relisting")
    report["reconnects"] = count_logs(controller, "watch.reconnecting")
    report["reconcile_failures"] = count_logs(controller, "reconcile.failed")
    # evidence for test_secrets_stay_secret.py::test_api_credentials_never_reach_the_log
    token = json.loads(controller.kubeconfig.read_text())["users"][0]["user"]["token"]
    report["bearer_token_in_log"] = controller.log_path.read_text().count(token)
    if isinstance(scenario, WatchExpired):
        relisted = {
            str(e.get("resource"))
            for e in controller.logs("watch.relisting")
            if e.get("reason") == "gone"
        }
        assert {"configmaps", "secrets"} & relisted, (
            f"no source watch relisted after the compaction (relisted: {relisted})"
        )
