"""Image watching is level-triggered: the digest a workload was last rolled for is on the
workload, so a tag that moved while reloader was stopped rolls once when it starts, and a restart
of reloader rolls nothing.

Each test starts and stops its own controllers (no module controller runs in this module).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reloader.kube.client import KubeClient
from tests.integration.controller import ControllerProcess
from tests.integration.image_support import IMAGE_ARGS, RECORD, wait_recorded, watched
from tests.integration.registry_support import Registry
from tests.integration.schedule_support import (
    RESTARTED_AT,
    create,
    events,
    get,
    template_annotations,
    wait_event,
)
from tests.integration.support import ClusterInfo, eventually


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    reg = Registry(tmp_path_factory.mktemp("registry"))
    reg.start()
    yield reg
    reg.stop()


def start(
    cluster: ClusterInfo, tmp_path: Path, started: list[ControllerProcess]
) -> ControllerProcess:
    proc = ControllerProcess(
        kubeconfig=cluster.kubeconfig,
        log_path=tmp_path / f"reloader-{len(started)}.log",
        args=list(IMAGE_ARGS),
    )
    started.append(proc)
    proc.start()
    return proc


async def test_a_tag_moved_while_stopped_rolls_once_at_start_and_a_restart_rolls_nothing(
    kube: KubeClient,
    namespace: str,
    cluster: ClusterInfo,
    tmp_path: Path,
    controllers: list[ControllerProcess],
    registry: Registry,
) -> None:
    repo = f"{namespace}/app"
    first = registry.push(repo, "latest", "v1")
    image = f"{registry.host}/{repo}:latest"
    await create(kube, namespace, "Deployment", watched("web", image))

    running = start(cluster, tmp_path, controllers)
    recorded = await wait_recorded(kube, namespace, "web", image, first)
    assert RESTARTED_AT not in template_annotations(recorded)
    assert running.stop() == 0

    second = registry.push(repo, "latest", "v2")
    running = start(cluster, tmp_path, controllers)
    rolled = await wait_recorded(kube, namespace, "web", image, second)
    assert RESTARTED_AT in template_annotations(rolled)
    await wait_event(kube, namespace, "web", "ImageUpdated")
    assert running.stop() == 0

    # a restart of reloader, the tag unchanged: it looks at the registry and rolls nothing
    running = start(cluster, tmp_path, controllers)

    def lookups() -> int:
        return sum(1 for e in running.logs("image.lookup") if e.get("image") == image)

    async def looked_twice() -> bool:
        return lookups() >= 2

    await eventually(looked_twice, timeout=30, what="two lookups by the restarted controller")
    after = await get(kube, namespace, "Deployment", "web")
    assert after["spec"]["template"] == rolled["spec"]["template"]
    assert len(await events(kube, namespace, "web", "ImageUpdated")) == 1


async def test_a_dry_run_reports_what_it_would_write_and_writes_nothing(
    kube: KubeClient,
    namespace: str,
    cluster: ClusterInfo,
    tmp_path: Path,
    controllers: list[ControllerProcess],
    registry: Registry,
) -> None:
    repo = f"{namespace}/app"
    first = registry.push(repo, "latest", "d1")
    image = f"{registry.host}/{repo}:latest"
    created = await create(kube, namespace, "Deployment", watched("web", image))
    proc = ControllerProcess(
        kubeconfig=cluster.kubeconfig,
        log_path=tmp_path / "reloader-dry-run.log",
        args=[*IMAGE_ARGS, "--dry-run"],
    )
    controllers.append(proc)
    proc.start()

    def would(event: str) -> list[dict[str, Any]]:
        return [e for e in proc.logs(event) if e.get("name") == "web"]

    async def would_record() -> bool:
        return bool(would("would_write"))

    await eventually(would_record, timeout=30, what="a would_write of the first record")
    assert first in json.dumps(would("would_write")[0]["patch"])

    async def looked_again() -> bool:
        return sum(1 for e in proc.logs("image.lookup") if e.get("image") == image) >= 3

    await eventually(looked_again, timeout=30, what="more lookups")
    obj = await get(kube, namespace, "Deployment", "web")
    assert RECORD not in (obj["metadata"].get("annotations") or {})
    assert obj["spec"]["template"] == created["spec"]["template"]
    assert len(would("would_write")) == 1  # reported once, not at every poll
    assert await events(kube, namespace, "web", "ImageDigestRecorded") == []
