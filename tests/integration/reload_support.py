"""Helpers for reload tests: create sources and workloads, read what the controller wrote."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import time
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from reloader.core.objects import (
    CONFIGMAPS,
    DAEMONSETS,
    DEPLOYMENTS,
    EVENTS,
    NAMESPACES,
    SECRETS,
    STATEFULSETS,
    ResourceType,
)
from reloader.errors import NotFound
from reloader.kube import resources
from reloader.kube.client import KubeClient
from tests.integration.controller import ControllerProcess
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


# ---------------------------------------------------------------------- expected values
# Reloader's hashes (docs/compatibility.md#hashes), computed apart from reload/domain/hashing.py.


def configmap_hash(data: dict[str, str]) -> str:
    """SHA-1 of the sorted ``key=value`` entries joined with ``;``."""
    joined = ";".join(sorted(f"{k}={v}" for k, v in data.items()))
    return hashlib.sha1(joined.encode()).hexdigest()


def secret_hash(data: dict[str, str]) -> str:
    """Secrets hash the raw (decoded) values, like ConfigMaps."""
    return configmap_hash(data)


def env_name(name: str, source_type: str) -> str:
    """``STAKATER_<NAME>_<TYPE>`` for simple names (letters, digits, single separators)."""
    converted = "".join(c if c.isalnum() else "_" for c in name.upper())
    return f"STAKATER_{converted}_{source_type}"


def workload_key(kind: str, ns: str, name: str) -> str:
    """The controller's work-queue key, as it appears in ``reconcile.done`` log lines."""
    return f"{kind}/{ns}/{name}"


# ---------------------------------------------------------------------- reading workloads


def parsed_marker(obj: dict[str, Any]) -> dict[str, Any] | None:
    """The ``last-reloaded-from`` JSON, decoded."""
    raw = reload_marker(obj)
    return None if raw is None else dict(json.loads(raw))


def applied_record(obj: dict[str, Any]) -> dict[str, str]:
    """The controller's record of applied hashes on the workload metadata."""
    return dict(json.loads(obj["metadata"].get("annotations", {}).get(APPLIED, "{}")))


def container_env(obj: dict[str, Any], container: str) -> dict[str, str]:
    """The STAKATER_ env vars of one container."""
    for c in template_of(obj)["spec"].get("containers", []):
        if c["name"] == container:
            return {
                e["name"]: e.get("value", "")
                for e in c.get("env") or []
                if e["name"].startswith("STAKATER_")
            }
    raise AssertionError(f"no container {container!r}")


async def wait_marker(
    kube: KubeClient, ns: str, kind: str, name: str, *, source: str, hash: str
) -> dict[str, Any]:
    """Wait until the annotations strategy stamped ``source`` with ``hash``; return the marker."""

    async def stamped() -> dict[str, Any] | None:
        marker = parsed_marker(await get_workload(kube, ns, kind, name))
        if marker is not None and marker.get("name") == source and marker.get("hash") == hash:
            return marker
        return None

    marker = await eventually(
        stamped, timeout=20, what=f"{kind} {name} to be reloaded from {source} ({hash[:8]})"
    )
    assert marker is not None
    return marker


async def wait_env(
    kube: KubeClient, ns: str, kind: str, name: str, var: str, value: str
) -> dict[str, Any]:
    """Wait until some container of the workload has ``var=value``; return the workload."""

    async def stamped() -> dict[str, Any] | None:
        obj = await get_workload(kube, ns, kind, name)
        return obj if stakater_env(obj).get(var) == value else None

    obj = await eventually(stamped, timeout=20, what=f"{kind} {name} to get {var}={value[:8]}")
    assert obj is not None
    return obj


# ---------------------------------------------------------------------- proving a non-event


def log_mark(controller: ControllerProcess) -> int:
    """How many log lines the controller has written: later lines come after this instant."""
    return len(controller.logs())


def _timestamp(entry: dict[str, Any]) -> float:
    return datetime.fromisoformat(str(entry["timestamp"])).timestamp()


async def wait_seen(controller: ControllerProcess, kind: str, ns: str, name: str) -> None:
    """Wait until the controller has reconciled this workload at least once."""
    key = workload_key(kind, ns, name)

    async def seen() -> bool:
        return any(e.get("key") == key for e in controller.logs("reconcile.done"))

    await eventually(seen, timeout=30, what=f"a reconcile of {key}")


async def wait_reconciled_after_change(
    controller: ControllerProcess,
    *,
    since: int,
    source_ns: str,
    source: str,
    kind: str,
    ns: str,
    name: str,
) -> None:
    """Wait until the workload was reconciled with the change of ``source`` in the caches.

    The controller logs ``source.changed`` right after it queued the workloads a source change
    concerns; a ``reconcile.done`` of the workload that *started* after that line has read the
    new state of the source. ``since`` is a :func:`log_mark` taken before the change.
    """
    key = workload_key(kind, ns, name)

    async def reconciled() -> bool:
        entries = controller.logs()[since:]
        changed = [
            _timestamp(e)
            for e in entries
            if e.get("event") == "source.changed"
            and e.get("namespace") == source_ns
            and e.get("source") == source
        ]
        if not changed:
            return False
        return any(
            e.get("event") == "reconcile.done"
            and e.get("key") == key
            and _timestamp(e) - float(e.get("duration_s", 0)) > changed[0]
            for e in entries
        )

    await eventually(reconciled, timeout=30, what=f"a reconcile of {key} after {source} changed")


async def wait_metric_increase(
    controller: ControllerProcess, name: str, labels: dict[str, str], before: float
) -> float:
    async def increased() -> float | None:
        value = controller.metric(name, labels)
        return value if value > before else None

    value = await eventually(increased, timeout=20, what=f"{name}{labels} to exceed {before}")
    assert value is not None
    return value


# ---------------------------------------------------------------------- sources' metadata


async def patch_metadata(
    kube: KubeClient,
    source_type: ResourceType,
    ns: str,
    name: str,
    *,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
) -> None:
    """Change only labels and/or annotations of a ConfigMap or Secret (no data change)."""
    meta: dict[str, Any] = {}
    if labels is not None:
        meta["labels"] = labels
    if annotations is not None:
        meta["annotations"] = annotations
    await resources.patch(
        kube, source_type, namespace=ns, name=name, patch_type="merge", body={"metadata": meta}
    )


# ---------------------------------------------------------------------- events and namespaces


async def workload_events(kube: KubeClient, ns: str, name: str) -> list[dict[str, Any]]:
    """The Kubernetes Events about the object ``name`` in ``ns``."""
    page = await resources.list_page(kube, EVENTS, namespace=ns)
    return [e for e in page["items"] if e.get("involvedObject", {}).get("name") == name]


@contextlib.asynccontextmanager
async def extra_namespace(
    kube: KubeClient, name: str, labels: dict[str, str] | None = None
) -> AsyncIterator[str]:
    """A namespace with these labels for the duration of the block (deleted afterwards)."""
    body = {"metadata": {"name": name, "labels": labels or {}}}
    await resources.create(kube, NAMESPACES, namespace=None, body=body)
    try:
        yield name
    finally:
        with contextlib.suppress(NotFound):
            await resources.delete(kube, NAMESPACES, namespace=None, name=name)


# ---------------------------------------------------------------------- pod spec pieces


def container(
    name: str = "app",
    *,
    env_from: list[dict[str, Any]] | None = None,
    env: list[dict[str, Any]] | None = None,
    mounts: list[str] | None = None,
) -> dict[str, Any]:
    """A container; ``mounts`` are volume names, mounted at ``/mnt/<volume>``."""
    c: dict[str, Any] = {"name": name, "image": "registry.local/app:1"}
    if env_from:
        c["envFrom"] = env_from
    if env:
        c["env"] = env
    if mounts:
        c["volumeMounts"] = [{"name": m, "mountPath": f"/mnt/{m}"} for m in mounts]
    return c


def cm_env_from(name: str) -> dict[str, Any]:
    return {"configMapRef": {"name": name}}


def secret_env_from(name: str) -> dict[str, Any]:
    return {"secretRef": {"name": name}}


def cm_key_env(name: str, key: str = "k") -> dict[str, Any]:
    return {"name": "FROM_CM", "valueFrom": {"configMapKeyRef": {"name": name, "key": key}}}


def secret_key_env(name: str, key: str = "k") -> dict[str, Any]:
    return {"name": "FROM_SECRET", "valueFrom": {"secretKeyRef": {"name": name, "key": key}}}


def cm_volume(volume: str, name: str) -> dict[str, Any]:
    return {"name": volume, "configMap": {"name": name}}


def secret_volume(volume: str, name: str) -> dict[str, Any]:
    return {"name": volume, "secret": {"secretName": name}}


def projected_volume(
    volume: str, *, configmaps: tuple[str, ...] = (), secrets: tuple[str, ...] = ()
) -> dict[str, Any]:
    sources = [{"configMap": {"name": n}} for n in configmaps]
    sources += [{"secret": {"name": n}} for n in secrets]
    return {"name": volume, "projected": {"sources": sources}}


# ---------------------------------------------------------------------- strategy-neutral checks


async def update_source(
    kube: KubeClient, ns: str, source_type: str, name: str, data: dict[str, str]
) -> str:
    """Change the data of a ConfigMap (``CONFIGMAP``) or Secret (``SECRET``); the new hash."""
    if source_type == "CONFIGMAP":
        await update_configmap(kube, ns, name, data)
        return configmap_hash(data)
    await update_secret(kube, ns, name, data)
    return secret_hash(data)


def stamped_with(obj: dict[str, Any], source_type: str, source: str, hash: str) -> bool:
    """The workload carries ``hash`` for this source, by either strategy's marker."""
    marker = parsed_marker(obj)
    if marker is not None and (marker.get("type"), marker.get("name"), marker.get("hash")) == (
        source_type,
        source,
        hash,
    ):
        return True
    return stakater_env(obj).get(env_name(source, source_type)) == hash


async def wait_stamped(
    kube: KubeClient, ns: str, kind: str, name: str, *, source_type: str, source: str, hash: str
) -> dict[str, Any]:
    """Wait until the workload was reloaded for ``source`` at ``hash`` (either strategy)."""

    async def stamped() -> dict[str, Any] | None:
        obj = await get_workload(kube, ns, kind, name)
        return obj if stamped_with(obj, source_type, source, hash) else None

    obj = await eventually(stamped, timeout=20, what=f"{kind} {name} reloaded from {source}")
    assert obj is not None
    return obj


CANARY = "canary"


async def make_canary(
    kube: KubeClient, ns: str, *, configmap: str | None = None, secret: str | None = None
) -> None:
    """A Deployment that auto-reloads from the source, to prove an update was processed."""
    refs = [cm_env_from(configmap)] if configmap else []
    refs += [secret_env_from(secret)] if secret else []
    await make_workload(
        kube,
        ns,
        "Deployment",
        CANARY,
        annotations={"reloader.stakater.com/auto": "true"},
        containers=[container(env_from=refs)],
    )
    keys = [f"configmap/{configmap}"] if configmap else []
    keys += [f"secret/{secret}"] if secret else []
    await wait_recorded(kube, ns, "Deployment", CANARY, *keys)


async def assert_not_reloaded(
    kube: KubeClient,
    controller: ControllerProcess,
    ns: str,
    kind: str,
    name: str,
    *,
    before: dict[str, Any],
    since: int,
    source_type: str,
    source: str,
    canary_hash: str | None,
    queued: bool = True,
) -> dict[str, Any]:
    """Prove the change of ``source`` was processed and left the workload's template alone.

    ``canary_hash``: the canary Deployment must first be reloaded with it (None: no canary);
    ``queued``: the workload is related to the source, so it must be reconciled after the change.
    """
    if canary_hash is not None:
        await wait_stamped(
            kube, ns, "Deployment", CANARY, source_type=source_type, source=source, hash=canary_hash
        )
    if queued:
        await wait_reconciled_after_change(
            controller, since=since, source_ns=ns, source=source, kind=kind, ns=ns, name=name
        )
    after = await get_workload(kube, ns, kind, name)
    rolled = f"{kind} {name} was rolled by the change of {source}"
    assert after["metadata"]["generation"] == before["metadata"]["generation"], rolled
    assert template_of(after) == template_of(before), rolled
    return after


# ---------------------------------------------------------------------- annotations strategy

MARKER_FIELDS = ["type", "name", "namespace", "hash", "containerRefs", "observedAt"]


async def assert_reloaded(
    kube: KubeClient,
    ns: str,
    kind: str,
    name: str,
    *,
    source_type: str,
    source: str,
    hash: str,
    container: str = "app",
) -> dict[str, Any]:
    """Wait for the marker of this source and hash, and check it field by field."""
    marker = await wait_marker(kube, ns, kind, name, source=source, hash=hash)
    obj = await get_workload(kube, ns, kind, name)
    assert list(marker) == MARKER_FIELDS
    assert marker == {
        "type": source_type,
        "name": source,
        "namespace": ns,
        "hash": hash,
        "containerRefs": [container],
        "observedAt": marker["observedAt"],
    }
    assert isinstance(marker["observedAt"], int)
    assert abs(marker["observedAt"] - time.time()) < 120
    assert reload_marker(obj) == json.dumps(marker, separators=(",", ":"))
    assert applied_record(obj)[f"{source_type.lower()}/{source}"] == hash
    assert stakater_env(obj) == {}, "the annotations strategy adds no env var"
    return obj


WAVE_RECORD = "reloader.stakater.com/wave"
WAVE_VERDICTS = ('"state":"healthy"', '"state":"failed"', '"state":"released"')


def template_writes(before: dict[str, Any], after: dict[str, Any]) -> int:
    """How many writes changed the workload between two reads, not counting a wave's verdict.

    A Deployment's generation also counts metadata annotation changes; when a change rolls in
    waves, reloader writes the verdict (``healthy``) into the wave record after the rollout, so
    the verdict is one write more that rolls nothing. It is told apart by the record it leaves.
    """
    writes = after["metadata"]["generation"] - before["metadata"]["generation"]
    old = before["metadata"].get("annotations", {}).get(WAVE_RECORD)
    new = after["metadata"].get("annotations", {}).get(WAVE_RECORD)
    if new is not None and new != old and any(v in new for v in WAVE_VERDICTS):
        writes -= 1
    return int(writes)


async def adopt_then_reload(
    kube: KubeClient,
    ns: str,
    kind: str,
    *,
    recorded: tuple[str, ...],
    update: tuple[str, str, dict[str, str]],
    container: str = "app",
    **spec: Any,
) -> dict[str, Any]:
    """Create workload ``web``, wait for the adoption (no rollout), change a source, check it."""
    await make_workload(kube, ns, kind, "web", **spec)
    await wait_recorded(kube, ns, kind, "web", *recorded)
    before = await get_workload(kube, ns, kind, "web")
    assert reload_marker(before) is None, "adopting a source must not roll the workload"
    source_type, source, data = update
    new_hash = await update_source(kube, ns, source_type, source, data)
    obj = await assert_reloaded(
        kube,
        ns,
        kind,
        "web",
        source_type=source_type,
        source=source,
        hash=new_hash,
        container=container,
    )
    assert template_writes(before, obj) == 1
    return obj


# ---------------------------------------------------------------------- --resources-to-ignore


async def ignored_type_does_not_reload(
    kube: KubeClient, controller: ControllerProcess, ns: str, *, ignored: str
) -> None:
    """With ``--resources-to-ignore`` of ``ignored`` (``CONFIGMAP``/``SECRET``), a change of that
    type does nothing: the controller does not even watch it (no event of that type received).

    The workload ``web`` auto-reloads from one source of each type; the ignored one is changed
    first, then the other, and the single reload that follows carries only the watched one.
    """
    kept = "SECRET" if ignored == "CONFIGMAP" else "CONFIGMAP"
    plural = {"CONFIGMAP": "configmaps", "SECRET": "secrets"}
    await make_configmap(kube, ns, "src-cm", {"k": "v1"})
    await make_secret(kube, ns, "src-secret", {"k": "v1"})
    names = {"CONFIGMAP": "src-cm", "SECRET": "src-secret"}
    await make_workload(
        kube,
        ns,
        "Deployment",
        "web",
        annotations={"reloader.stakater.com/auto": "true"},
        containers=[container(env_from=[cm_env_from("src-cm"), secret_env_from("src-secret")])],
    )
    kept_key = f"{kept.lower()}/{names[kept]}"
    await wait_recorded(kube, ns, "Deployment", "web", kept_key)
    before = await get_workload(kube, ns, "Deployment", "web")
    assert list(applied_record(before)) == [kept_key], "the ignored type is not seen at all"

    await update_source(kube, ns, ignored, names[ignored], {"k": "v2"})
    kept_hash = await update_source(kube, ns, kept, names[kept], {"k": "v2"})

    after = await wait_stamped(
        kube, ns, "Deployment", "web", source_type=kept, source=names[kept], hash=kept_hash
    )
    assert stakater_env(after) == {env_name(names[kept], kept): kept_hash}
    assert template_writes(before, after) == 1
    received = {"resource_type": plural[ignored]}
    assert controller.metric("reloader_events_received_total", received) == 0
    assert controller.metric("reloader_events_received_total", {"resource_type": plural[kept]}) > 0


async def kept_type_reloads(kube: KubeClient, ns: str, *, source_type: str) -> None:
    """The type that is not ignored reloads as usual (explicit annotation, volume reference)."""
    if source_type == "CONFIGMAP":
        await make_configmap(kube, ns, "src", {"k": "v1"})
        volume = cm_volume("src", "src")
        annotation = "configmap.reloader.stakater.com/reload"
    else:
        await make_secret(kube, ns, "src", {"k": "v1"})
        volume = secret_volume("src", "src")
        annotation = "secret.reloader.stakater.com/reload"
    await make_workload(
        kube,
        ns,
        "Deployment",
        "web",
        annotations={annotation: "src"},
        containers=[container(mounts=["src"])],
        volumes=[volume],
    )
    await wait_recorded(kube, ns, "Deployment", "web", f"{source_type.lower()}/src")

    new_hash = await update_source(kube, ns, source_type, "src", {"k": "v2"})

    after = await wait_stamped(
        kube, ns, "Deployment", "web", source_type=source_type, source="src", hash=new_hash
    )
    assert stakater_env(after) == {env_name("src", source_type): new_hash}
