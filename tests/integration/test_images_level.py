"""Image watching is level-triggered: the digest a workload was last rolled for is on the
workload, so a tag that moved while reloader was stopped rolls once when it starts, and a restart
of reloader rolls nothing.

Each test starts and stops its own controllers (no module controller runs in this module).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from reloader.kube.client import KubeClient
from tests.integration.controller import ControllerProcess
from tests.integration.image_support import IMAGE_ARGS, wait_recorded, watched
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
