"""The image-watch scenario: 1,000 Deployments over 50 image references on a local registry.

The registry is Debian's docker-registry on loopback (``tests/integration/registry_support.py``);
each reference is pushed once, then every Deployment is created with
``reloader.stakater.com/image-watch`` and the controller starts with a 10 s poll interval. The
report: the time until every Deployment has recorded its digest, the registry requests per
interval over several intervals (one per reference is the target: 50, whatever the number of
Deployments), the controller's CPU per poll round, and, after one tag moves, how long until its
Deployments have rolled and whether any other did. ``--scale`` multiplies both counts.
"""

from __future__ import annotations

import json
import time
from typing import Any

import anyio

from reloader.core.objects import DEPLOYMENTS
from reloader.kube import resources
from reloader.kube.client import KubeClient
from tests.bench.controller import ControllerUnderTest
from tests.bench.objects import Workload, container, create_all, create_namespace, workload_body
from tests.bench.scenarios import Options, controller_for
from tests.integration.registry_support import Registry

#: the scenario names this module runs
IMAGE_RUNS = ("images",)
FULL = {"deployments": 1_000, "references": 50, "namespaces": 10}
INTERVAL = 10.0
ROUNDS = 5
WATCH = "reloader.stakater.com/image-watch"
RECORD = "reloader.stakater.com/image-digests"
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
REQUESTS = "reloader_image_registry_requests_total"


def image_counts(scale: float) -> dict[str, int]:
    deployments = max(1, round(FULL["deployments"] * scale))
    return {
        "deployments": deployments,
        "references": max(1, min(deployments, round(FULL["references"] * scale))),
        "namespaces": max(1, min(FULL["namespaces"], deployments)),
    }


async def _deployments(kube: KubeClient, namespaces: list[str]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for ns in namespaces:
        out.extend(await resources.list_all(kube, DEPLOYMENTS, namespace=ns))
    return out


def _recorded(obj: dict[str, Any]) -> dict[str, str]:
    raw = (obj["metadata"].get("annotations") or {}).get(RECORD)
    return dict(json.loads(raw)) if raw else {}


def _rolled(obj: dict[str, Any]) -> bool:
    template = obj["spec"]["template"].get("metadata") or {}
    return RESTARTED_AT in (template.get("annotations") or {})


async def _wait(kube: KubeClient, namespaces: list[str], done: Any, timeout: float) -> float:
    """Seconds until ``done(deployments)``; TimeoutError past ``timeout``."""
    t0 = time.monotonic()
    while not done(await _deployments(kube, namespaces)):
        if time.monotonic() - t0 > timeout:
            raise TimeoutError(f"not done after {timeout}s")
        await anyio.sleep(0.5)
    return time.monotonic() - t0


async def _ready(controller: ControllerUnderTest, timeout: float) -> float:
    """Seconds from the process start to its first ``/ready`` 200 (the scenario is reloader's
    own, so the endpoint is there)."""
    while await controller.http_status("/ready") != 200:
        controller.check_alive()
        if time.monotonic() - controller.started_at > timeout:
            raise TimeoutError(f"controller not ready after {timeout}s: {controller.tail()}")
        await anyio.sleep(0.05)
    return time.monotonic() - controller.started_at


async def run_images(opts: Options) -> dict[str, Any]:
    n = image_counts(opts.scale)
    registry = Registry(opts.out_dir / "registry-images")
    registry.start()
    try:
        return await _run(opts, n, registry)
    finally:
        registry.stop()


async def _run(opts: Options, n: dict[str, int], registry: Registry) -> dict[str, Any]:
    refs = [f"{registry.host}/bench/app-{i}:latest" for i in range(n["references"])]
    digests = {ref: registry.push(f"bench/app-{i}", "latest", "v1") for i, ref in enumerate(refs)}
    namespaces = [f"bench-images-{i:02d}" for i in range(n["namespaces"])]
    async with await KubeClient.connect(
        kubeconfig=str(opts.kubeconfig), field_manager="bench", max_connections=100
    ) as kube:
        for ns in namespaces:
            await create_namespace(kube, ns)
        bodies = []
        for i in range(n["deployments"]):
            wl = Workload("Deployment", namespaces[i % len(namespaces)], f"app-{i}")
            body = workload_body(
                wl,
                containers=[container(image=refs[i % len(refs)])],
                annotations={WATCH: "true"},
            )
            body["metadata"]["namespace"] = wl.namespace
            bodies.append((DEPLOYMENTS, body))
        await create_all(kube, bodies)
        controller = controller_for(
            opts, "images", [f"--image-poll-interval={INTERVAL:g}s", "--image-poll-interval-min=1s"]
        )
        async with controller:
            controller.spawn()
            sync_s = await _ready(controller, timeout=600)
            record_s = await _wait(
                kube,
                namespaces,
                lambda ds: all(_recorded(d) for d in ds) and len(ds) == n["deployments"],
                timeout=600,
            )
            # a whole interval after the first round, then several rounds measured
            await anyio.sleep(INTERVAL)
            before, cpu0 = await controller.scrape(), controller.cpu_seconds()
            await anyio.sleep(ROUNDS * INTERVAL)
            after, cpu1 = await controller.scrape(), controller.cpu_seconds()
            requests = (after.value(REQUESTS) or 0.0) - (before.value(REQUESTS) or 0.0)
            rss_mb = round(controller.rss() / 1e6, 1)

            moved = refs[0]
            new = registry.push("bench/app-0", "latest", "v2")
            users = sum(1 for i in range(n["deployments"]) if i % len(refs) == 0)
            roll_s = await _wait(
                kube,
                namespaces,
                lambda ds: sum(1 for d in ds if _recorded(d).get(moved) == new) == users,
                timeout=300,
            )
            await anyio.sleep(INTERVAL)  # one more round: nothing else may roll
            final = await _deployments(kube, namespaces)
            exit_code = await controller.stop()
    rolled = [d for d in final if _rolled(d)]
    others = [d for d in rolled if d["spec"]["template"]["spec"]["containers"][0]["image"] != moved]
    return {
        "title": f"images: {n['deployments']} Deployments over {n['references']} references, "
        f"poll interval {INTERVAL:g}s",
        "objects": n,
        "sync_s": round(sync_s, 2),
        "all_recorded_s": round(record_s, 2),
        "rounds": ROUNDS,
        "registry_requests_per_interval": round(requests / ROUNDS, 1),
        "target_requests_per_interval": n["references"],
        "cpu_s_per_round": round((cpu1 - cpu0) / ROUNDS, 3),
        "rss_mb_end": rss_mb,
        "moved": {
            "image": moved,
            "old": digests[moved],
            "new": new,
            "workloads": users,
            "rolled_s": round(roll_s, 2),
            "rolled": len(rolled),
            "others_rolled": len(others),
        },
        "errors": {"harness": [], "controller_exit_codes": controller.exit_codes},
        "exit_code": exit_code,
    }


def render_images(results: dict[str, Any]) -> list[str]:
    r = results.get("images")
    if not r:
        return []
    moved = r["moved"]
    recorded = (
        f"  every Deployment recorded its digest {r['all_recorded_s']}s after ready "
        f"(ready in {r['sync_s']}s)"
    )
    requests = (
        f"  registry requests per interval: {r['registry_requests_per_interval']} "
        f"(target {r['target_requests_per_interval']}: one per reference), "
        f"over {r['rounds']} intervals"
    )
    cpu = f"  controller CPU per poll round: {r['cpu_s_per_round']}s; RSS {r['rss_mb_end']} MB"
    rolled = (
        f"  one tag moved: its {moved['workloads']} Deployments rolled in {moved['rolled_s']}s; "
        f"Deployments rolled in all {moved['rolled']}, others {moved['others_rolled']}"
    )
    return ["", f"Image watching ({r['title']})", recorded, requests, cpu, rolled]
