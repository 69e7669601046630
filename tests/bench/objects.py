"""Manifests, Reloader's content hashes and bounded-concurrency writes for the benchmarks.

The hashes and env-var names are computed here from Reloader's rules (docs/compatibility.md#hashes),
not imported from the controller, so the harness can judge any Reloader-compatible controller.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import anyio

from reloader.core.objects import (
    CONFIGMAPS,
    DAEMONSETS,
    DEPLOYMENTS,
    NAMESPACES,
    SECRETS,
    STATEFULSETS,
    ResourceType,
)
from reloader.errors import Conflict, KubeConnectionError, KubeServerError, TooManyRequests
from reloader.kube import resources
from reloader.kube.client import KubeClient

AUTO = {"reloader.stakater.com/auto": "true"}
WORKLOAD_TYPES: dict[str, ResourceType] = {
    "Deployment": DEPLOYMENTS,
    "StatefulSet": STATEFULSETS,
    "DaemonSet": DAEMONSETS,
}
SOURCE_TYPES: dict[str, ResourceType] = {"ConfigMap": CONFIGMAPS, "Secret": SECRETS}
SUFFIX = {"ConfigMap": "CONFIGMAP", "Secret": "SECRET"}


@dataclass(frozen=True, slots=True, order=True)
class Source:
    """A ConfigMap or Secret the benchmark updates."""

    kind: str  # "ConfigMap" | "Secret"
    namespace: str
    name: str

    @property
    def env_var(self) -> str:
        return env_var_name(self.name, self.kind)


@dataclass(frozen=True, slots=True, order=True)
class Workload:
    kind: str  # "Deployment" | "StatefulSet" | "DaemonSet"
    namespace: str
    name: str


def env_var_name(name: str, kind: str) -> str:
    """``STAKATER_<NAME>_<KIND>`` as Reloader's ConvertToEnvVarName builds it."""
    out: list[str] = []
    last_valid = False
    for ch in name.upper():
        if ("A" <= ch <= "Z") or ("0" <= ch <= "9"):
            out.append(ch)
            last_valid = True
        elif last_valid:
            out.append("_")
            last_valid = False
    return f"STAKATER_{''.join(out)}_{SUFFIX[kind]}"


def content_hash(kind: str, data: dict[str, str]) -> str:
    """Reloader's SHA-1 of a ConfigMap's ``data`` or a Secret's decoded ``data``."""
    entries = sorted(f"{k}={v}".encode() for k, v in data.items())
    del kind  # the same for string data of both kinds
    return hashlib.sha1(b";".join(entries), usedforsecurity=False).hexdigest()


def padding(size: int, seed: str) -> str:
    """``size`` characters of incompressible-looking text, distinct per ``seed``."""
    block = hashlib.sha256(seed.encode()).hexdigest()
    reps = size // len(block) + 1
    return (block * reps)[:size]


def source_body(src: Source, data: dict[str, str]) -> dict[str, Any]:
    meta = {"name": src.name, "namespace": src.namespace}
    if src.kind == "Secret":
        encoded = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
        return {"metadata": meta, "type": "Opaque", "data": encoded}
    return {"metadata": meta, "data": data}


def data_patch(src: Source, data: dict[str, str]) -> dict[str, Any]:
    if src.kind == "Secret":
        return {"data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}}
    return {"data": data}


def workload_body(
    wl: Workload,
    *,
    containers: list[dict[str, Any]],
    init_containers: list[dict[str, Any]] | None = None,
    volumes: list[dict[str, Any]] | None = None,
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A one-replica workload (kwok runs its pods) that rolls fast: no grace, surge 1."""
    labels = {"app": wl.name}
    pod: dict[str, Any] = {"containers": containers, "terminationGracePeriodSeconds": 0}
    if init_containers:
        pod["initContainers"] = init_containers
    if volumes:
        pod["volumes"] = volumes
    spec: dict[str, Any] = {
        "selector": {"matchLabels": labels},
        "template": {"metadata": {"labels": labels}, "spec": pod},
    }
    if wl.kind == "Deployment":
        spec["replicas"] = 1
        spec["strategy"] = {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 1},
        }
    elif wl.kind == "StatefulSet":
        spec["replicas"] = 1
        spec["serviceName"] = wl.name
    return {
        "metadata": {
            "name": wl.name,
            "namespace": wl.namespace,
            "annotations": dict(AUTO if annotations is None else annotations),
        },
        "spec": spec,
    }


def env_from(*sources: Source) -> list[dict[str, Any]]:
    return [
        {"configMapRef": {"name": s.name}}
        if s.kind == "ConfigMap"
        else {"secretRef": {"name": s.name}}
        for s in sources
    ]


def container(name: str = "app", **extra: Any) -> dict[str, Any]:
    return {"name": name, "image": "registry.local/app:1", **extra}


# ---------------------------------------------------------------------- writes

_RETRYABLE = (KubeConnectionError, KubeServerError, TooManyRequests)


async def with_retries(call: Callable[[], Awaitable[Any]], *, attempts: int = 8) -> Any:
    """Retry transient failures (no answer, 5xx, 429) with a short backoff; Conflict passes."""
    delay = 0.05
    for attempt in range(attempts):
        try:
            return await call()
        except _RETRYABLE:
            if attempt == attempts - 1:
                raise
            await anyio.sleep(delay)
            delay = min(delay * 2, 2.0)
    raise AssertionError("unreachable")  # pragma: no cover


async def create_namespace(kube: KubeClient, name: str) -> None:
    with contextlib.suppress(Conflict):
        await resources.create(kube, NAMESPACES, namespace=None, body={"metadata": {"name": name}})
    # The default ServiceAccount must exist before pods can be created in the namespace.
    deadline = time.monotonic() + 30
    while True:
        page = await resources.list_page(
            kube,
            ResourceType("", "v1", "serviceaccounts", "ServiceAccount"),
            namespace=name,
        )
        if page.get("items"):
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"no default ServiceAccount in {name}")
        await anyio.sleep(0.1)


async def create_all(
    kube: KubeClient,
    items: Iterable[tuple[ResourceType, dict[str, Any]]],
    *,
    concurrency: int = 32,
) -> int:
    """Create every ``(type, body)`` with at most ``concurrency`` requests in flight.

    Bodies are drawn lazily from ``items``, so a generator keeps the harness's memory flat.
    """
    iterator = iter(items)
    count = 0

    async def worker() -> None:
        nonlocal count
        for rt, body in iterator:
            ns = body["metadata"].get("namespace")

            async def once(
                rt: ResourceType = rt, body: dict[str, Any] = body, ns: str | None = ns
            ) -> Any:
                try:
                    return await resources.create(kube, rt, namespace=ns, body=body)
                except Conflict:
                    return None  # a retried create whose first attempt had landed

            await with_retries(once)
            count += 1

    async with anyio.create_task_group() as tg:
        for _ in range(concurrency):
            tg.start_soon(worker)
    return count


async def update_source(kube: KubeClient, src: Source, data: dict[str, str]) -> dict[str, Any]:
    """Merge-patch the data; returns the object as stored (the API server's answer)."""
    result: dict[str, Any] = await with_retries(
        lambda: resources.patch(
            kube,
            SOURCE_TYPES[src.kind],
            namespace=src.namespace,
            name=src.name,
            patch_type="merge",
            body=data_patch(src, data),
        )
    )
    return result


async def annotate_source(kube: KubeClient, src: Source, key: str, value: str) -> None:
    await with_retries(
        lambda: resources.patch(
            kube,
            SOURCE_TYPES[src.kind],
            namespace=src.namespace,
            name=src.name,
            patch_type="merge",
            body={"metadata": {"annotations": {key: value}}},
        )
    )


async def ticker(period: float, duration: float) -> AsyncIterator[int]:
    """Yield 0, 1, 2 ... at a fixed cadence for ``duration`` seconds (a load generator's clock)."""
    start = time.monotonic()
    i = 0
    while True:
        due = start + i * period
        if due - start >= duration:
            return
        now = time.monotonic()
        if due > now:
            await anyio.sleep(due - now)
        yield i
        i += 1
