"""Fixtures for tests against a real control plane.

One cluster per test run (``tools/cluster/cluster.py``, stopped by PID at the end), or the cluster
named by ``RELOADER_TEST_KUBECONFIG``; each test gets its own namespace.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from reloader.core.objects import NAMESPACES
from reloader.errors import NotFound
from reloader.kube import resources
from reloader.kube.client import KubeClient
from tests.integration.controller import ControllerProcess
from tests.integration.support import ClusterInfo

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tools" / "cluster"))
import cluster as local_cluster  # type: ignore[import-not-found]  # noqa: E402


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration/" in str(item.path).replace(os.sep, "/"):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClusterInfo]:
    given = os.environ.get("RELOADER_TEST_KUBECONFIG")
    if given:
        yield ClusterInfo(kubeconfig=Path(given), bin_dir=None)
        return
    directory = tmp_path_factory.mktemp("cluster")
    with local_cluster.running(directory, nodes=3) as c:
        yield ClusterInfo(kubeconfig=c.kubeconfig, bin_dir=c.bin)


@pytest.fixture
async def kube(cluster: ClusterInfo) -> AsyncIterator[KubeClient]:
    async with await KubeClient.connect(kubeconfig=str(cluster.kubeconfig)) as client:
        yield client


@pytest.fixture
async def namespace(kube: KubeClient, request: pytest.FixtureRequest) -> AsyncIterator[str]:
    digest = hashlib.sha1(request.node.nodeid.encode()).hexdigest()[:8]
    base = request.node.name.lower().replace("_", "-")
    name = "".join(c for c in base if c.isalnum() or c == "-")[:40].strip("-") + "-" + digest
    await resources.create(kube, NAMESPACES, namespace=None, body={"metadata": {"name": name}})
    yield name
    with contextlib.suppress(NotFound):
        await resources.delete(kube, NAMESPACES, namespace=None, name=name)


@pytest.fixture(scope="module")
def controller(
    cluster: ClusterInfo, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ControllerProcess]:
    """One controller per test module, with the module's ``CONTROLLER_ARGS`` flags."""
    args = list(getattr(request.module, "CONTROLLER_ARGS", []))
    log_path = tmp_path_factory.mktemp("controller") / "reloader.log"
    proc = ControllerProcess(kubeconfig=cluster.kubeconfig, log_path=log_path, args=args)
    proc.start()
    yield proc
    assert proc.stop() == 0, "the controller must exit 0 on SIGTERM"


@pytest.fixture
def controllers() -> Iterator[list[ControllerProcess]]:
    """Controllers a test starts itself (each with its own log): append them; those still
    running at the end are stopped (by PID)."""
    started: list[ControllerProcess] = []
    yield started
    for proc in started:
        if proc.proc is not None:
            proc.stop()
