"""Helpers for integration tests: manifests, and polling the cluster with a deadline."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import anyio

from reloader.core.objects import ResourceType
from reloader.errors import Conflict
from reloader.kube import resources
from reloader.kube.client import KubeClient

T = TypeVar("T")

PODS = ResourceType("", "v1", "pods", "Pod")


@dataclass(frozen=True)
class ClusterInfo:
    kubeconfig: Path
    bin_dir: Path | None  # None when the cluster was given by RELOADER_TEST_KUBECONFIG


async def eventually(
    probe: Callable[[], Awaitable[T]],
    *,
    timeout: float = 60.0,
    interval: float = 0.2,
    what: str = "condition",
) -> T:
    """Poll ``probe`` until it returns a truthy value; fail with the last value at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        last = await probe()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")
        await anyio.sleep(interval)


async def running_pods(kube: KubeClient, namespace: str) -> list[str]:
    """Names of the pods in ``namespace`` whose phase is Running."""
    page = await resources.list_page(kube, PODS, namespace=namespace)
    return [p["metadata"]["name"] for p in page["items"] if p["status"].get("phase") == "Running"]


def deployment(
    name: str,
    *,
    replicas: int = 1,
    annotations: dict[str, str] | None = None,
    template_annotations: dict[str, str] | None = None,
    containers: list[dict[str, Any]] | None = None,
    init_containers: list[dict[str, Any]] | None = None,
    volumes: list[dict[str, Any]] | None = None,
    kind: str = "Deployment",
) -> dict[str, Any]:
    """A minimal workload manifest (Deployment, DaemonSet or StatefulSet) that kwok runs."""
    labels = {"app": name}
    pod_spec: dict[str, Any] = {
        "containers": containers or [{"name": "app", "image": "registry.local/app:1"}],
    }
    if init_containers:
        pod_spec["initContainers"] = init_containers
    if volumes:
        pod_spec["volumes"] = volumes
    spec: dict[str, Any] = {
        "selector": {"matchLabels": labels},
        "template": {
            "metadata": {"labels": labels, "annotations": template_annotations or {}},
            "spec": pod_spec,
        },
    }
    if kind != "DaemonSet":
        spec["replicas"] = replicas
    if kind == "StatefulSet":
        spec["serviceName"] = name
    return {
        "apiVersion": "apps/v1",
        "kind": kind,
        "metadata": {"name": name, "annotations": annotations or {}},
        "spec": spec,
    }


CRDS = ResourceType(
    "apiextensions.k8s.io",
    "v1",
    "customresourcedefinitions",
    "CustomResourceDefinition",
    namespaced=False,
)


def install_crds(kubeconfig: Path, *manifests: Path) -> None:
    """Create CRDs (JSON manifests) unless present, and wait until they are Established.

    Synchronous (its own event loop) so module-scoped fixtures can call it before a controller
    that checks for the API at startup is started.
    """

    async def install() -> None:
        async with await KubeClient.connect(kubeconfig=str(kubeconfig)) as kube:
            for manifest in manifests:
                body = json.loads(manifest.read_text())
                with contextlib.suppress(Conflict):
                    await resources.create(kube, CRDS, namespace=None, body=body)

                async def established(name: str = body["metadata"]["name"]) -> bool:
                    crd = await resources.get(kube, CRDS, namespace=None, name=name)
                    return any(
                        c["type"] == "Established" and c["status"] == "True"
                        for c in (crd.get("status") or {}).get("conditions") or []
                    )

                await eventually(established, timeout=30, what=f"CRD {body['metadata']['name']}")

    anyio.run(install)
