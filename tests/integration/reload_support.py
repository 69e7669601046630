"""Helpers for reload tests: create sources and workloads, read what the controller wrote."""

from __future__ import annotations

import base64
import json
from typing import Any

from reloader.domain.objects import (
    CONFIGMAPS,
    DAEMONSETS,
    DEPLOYMENTS,
    SECRETS,
    STATEFULSETS,
    ResourceType,
)
from reloader.kube import resources
from reloader.kube.client import KubeClient
from tests.integration.support import deployment, eventually

WORKLOAD_TYPES: dict[str, ResourceType] = {
    "Deployment": DEPLOYMENTS,
    "DaemonSet": DAEMONSETS,
    "StatefulSet": STATEFULSETS,
}
LAST_RELOADED_FROM = "reloader.stakater.com/last-reloaded-from"
APPLIED = "reloader.stakater.com/applied-hashes"


async def make_configmap(
    kube: KubeClient, ns: str, name: str, data: dict[str, str], **meta: Any
) -> None:
    await resources.create(
        kube, CONFIGMAPS, namespace=ns, body={"metadata": {"name": name, **meta}, "data": data}
    )


async def make_secret(
    kube: KubeClient, ns: str, name: str, data: dict[str, str], **meta: Any
) -> None:
    encoded = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
    await resources.create(
        kube, SECRETS, namespace=ns, body={"metadata": {"name": name, **meta}, "data": encoded}
    )


async def update_configmap(kube: KubeClient, ns: str, name: str, data: dict[str, str]) -> None:
    await resources.patch(
        kube, CONFIGMAPS, namespace=ns, name=name, patch_type="merge", body={"data": data}
    )


async def update_secret(kube: KubeClient, ns: str, name: str, data: dict[str, str]) -> None:
    encoded = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
    await resources.patch(
        kube, SECRETS, namespace=ns, name=name, patch_type="merge", body={"data": encoded}
    )


async def make_workload(kube: KubeClient, ns: str, kind: str, name: str, **spec: Any) -> None:
    await resources.create(
        kube, WORKLOAD_TYPES[kind], namespace=ns, body=deployment(name, kind=kind, **spec)
    )


async def get_workload(kube: KubeClient, ns: str, kind: str, name: str) -> dict[str, Any]:
    return await resources.get(kube, WORKLOAD_TYPES[kind], namespace=ns, name=name)


async def wait_recorded(kube: KubeClient, ns: str, kind: str, name: str, *keys: str) -> None:
    """Wait until the controller has recorded (adopted) the hashes of these sources."""

    async def recorded() -> bool:
        obj = await get_workload(kube, ns, kind, name)
        record = json.loads(obj["metadata"].get("annotations", {}).get(APPLIED, "{}"))
        return all(k in record for k in keys)

    await eventually(recorded, timeout=30, what=f"{kind} {name} to record {keys}")


def template_of(obj: dict[str, Any]) -> dict[str, Any]:
    return dict(obj["spec"]["template"])


def stakater_env(obj: dict[str, Any]) -> dict[str, str]:
    """All STAKATER_ env vars across the containers of a workload's pod template."""
    out = {}
    for c in template_of(obj)["spec"].get("containers", []):
        for e in c.get("env") or []:
            if e["name"].startswith("STAKATER_"):
                out[e["name"]] = e.get("value", "")
    return out


def reload_marker(obj: dict[str, Any]) -> str | None:
    """The annotations-strategy marker on the pod template, if any."""
    return (template_of(obj).get("metadata", {}).get("annotations") or {}).get(LAST_RELOADED_FROM)
