"""Fixtures of the reliability suites (``make reliability``; not part of the default run).

They need a cluster of their own: the fault tests stop and start its kube-apiserver and etcd.
``RELOADER_TEST_KUBECONFIG`` (a cluster we did not start) runs only the tests that need no
process control; the others are skipped.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import (  # noqa: F401 - fixtures, used by name
    kube,
    namespace,
)
from tests.integration.support import ClusterInfo
from tests.reliability.control import local_cluster

REPORT: list[dict[str, Any]] = []


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
def cluster_dir(cluster: ClusterInfo) -> Path:
    """The state directory of the cluster we started (its processes can be restarted)."""
    if cluster.bin_dir is None:
        pytest.skip("needs a cluster started by the suite (RELOADER_TEST_KUBECONFIG is set)")
    return cluster.kubeconfig.parent


@pytest.fixture
def report(request: pytest.FixtureRequest) -> Iterator[dict[str, Any]]:
    """A dict of measurements for this test, printed at the end of the run and saved as JSON."""
    entry: dict[str, Any] = {"test": request.node.name}
    yield entry
    REPORT.append(entry)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not REPORT:
        return
    terminalreporter.section("reliability measurements")
    for entry in REPORT:
        terminalreporter.write_line(json.dumps(entry, sort_keys=True, default=str))
    default = Path(tempfile.gettempdir()) / "reloader-reliability-report.json"
    out = Path(os.environ.get("RELOADER_RELIABILITY_REPORT", default))
    out.write_text(json.dumps(REPORT, indent=2, sort_keys=True, default=str))
    terminalreporter.write_line(f"saved to {out.resolve()}")
