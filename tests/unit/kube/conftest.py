"""Fixtures: a fake API server on 127.0.0.1 and a KubeClient connected to it by kubeconfig."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from reloader.kube.client import KubeClient
from tests.unit.kube.fake_apiserver import FakeApiServer, write_kubeconfig
from tests.unit.kube.pki import Pki, make_pki

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
async def server() -> AsyncIterator[FakeApiServer]:
    fake = FakeApiServer()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
def kubeconfig(server: FakeApiServer, tmp_path: Path) -> str:
    return write_kubeconfig(tmp_path / "kubeconfig", server=server.url)


@pytest.fixture
async def client(kubeconfig: str) -> AsyncIterator[KubeClient]:
    async with await KubeClient.connect(kubeconfig=kubeconfig, request_timeout=5.0) as kube:
        yield kube
