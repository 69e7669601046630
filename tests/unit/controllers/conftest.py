"""Fixtures: a stateful fake API server, a KubeClient connected to it, and a FakeClock."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from reloader.kube.client import KubeClient
from reloader.runtime.clock import FakeClock
from tests.unit.controllers.fake_cluster import FakeCluster
from tests.unit.kube.fake_apiserver import write_kubeconfig

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path


@pytest.fixture
async def cluster() -> AsyncIterator[FakeCluster]:
    fake = FakeCluster()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def client(cluster: FakeCluster, tmp_path: Path) -> AsyncIterator[KubeClient]:
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", server=cluster.url)
    async with await KubeClient.connect(kubeconfig=kubeconfig, request_timeout=5.0) as kube:
        yield kube


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
