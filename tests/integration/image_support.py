"""Workloads that watch images, and what the image-watch tests read back from them."""

from __future__ import annotations

import base64
import json
from typing import Any

from reloader.core.objects import ResourceType
from reloader.kube.client import KubeClient
from tests.integration.schedule_support import annotations_of, get
from tests.integration.support import deployment, eventually

WATCH = "reloader.stakater.com/image-watch"
INTERVAL = "reloader.stakater.com/image-poll-interval"
RECORD = "reloader.stakater.com/image-digests"
PIN = "reloader.stakater.com/image-pin"
WINDOW = "reloader.stakater.com/reload-window"
SERVICEACCOUNTS = ResourceType("", "v1", "serviceaccounts", "ServiceAccount")
#: a short poll interval, so that "overnight" is several polls
POLL = 2.0
IMAGE_ARGS = [f"--image-poll-interval={POLL:g}s", "--image-poll-interval-min=1s"]


def watched(name: str, image: str, **extra: Any) -> dict[str, Any]:
    body = deployment(
        name,
        annotations={WATCH: "true"},
        containers=[{"name": "app", "image": image}],
    )
    body["spec"]["template"]["spec"].update(extra)
    return body


def record_of(obj: dict[str, Any]) -> dict[str, str]:
    return dict(json.loads(annotations_of(obj).get(RECORD, "{}")))


def pull_secret(
    name: str, host: str, user: str, password: str, *, legacy: bool = False
) -> dict[str, Any]:
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    doc: dict[str, Any]
    if legacy:
        field, doc, type_ = ".dockercfg", {host: {"auth": auth}}, "kubernetes.io/dockercfg"
    else:
        field = ".dockerconfigjson"
        doc = {"auths": {f"http://{host}": {"username": user, "password": password}}}
        type_ = "kubernetes.io/dockerconfigjson"
    data = base64.b64encode(json.dumps(doc).encode()).decode()
    return {"metadata": {"name": name}, "type": type_, "data": {field: data}}


async def wait_recorded(
    kube: KubeClient, ns: str, name: str, image: str, digest: str
) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        obj = await get(kube, ns, "Deployment", name)
        return obj if record_of(obj).get(image) == digest else None

    found = await eventually(probe, timeout=30, what=f"{name} to record {image} at {digest}")
    assert found is not None
    return found
