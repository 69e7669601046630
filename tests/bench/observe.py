"""Watch the workloads (opened before any update) and timestamp what changes, with monotonic time.

For every workload the watcher keeps the digest of its pod template (a change is a rollout), the
``STAKATER_*`` env vars of every container and init container, the source named by the
annotations strategy's ``last-reloaded-from`` (read as the same ``STAKATER_*`` name), and the
keys of the level-triggered record ``reloader.stakater.com/applied-hashes``. Each change of a
value is kept with the instant the harness received the watch event, and so is each instant a
workload's rollout became complete (with the values it was complete with).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

import anyio
import orjson

from reloader.core.objects import EventType
from reloader.kube.client import KubeClient
from reloader.kube.watch import list_then_watch
from tests.bench.objects import WORKLOAD_TYPES, Workload, env_var_name

APPLIED = "reloader.stakater.com/applied-hashes"
LAST_RELOADED_FROM = "reloader.stakater.com/last-reloaded-from"
_KIND_OF_TYPE = {"CONFIGMAP": "ConfigMap", "SECRET": "Secret"}


@dataclass
class TemplateChange:
    at: float
    changed: dict[str, str]  # tracked values that changed in the same event: var -> value


@dataclass
class WorkloadState:
    template: str = ""
    baseline: str = ""
    values: dict[str, str] = field(default_factory=dict)
    history: list[tuple[float, str, str]] = field(default_factory=list)  # (at, var, value)
    changes: list[TemplateChange] = field(default_factory=list)  # since the baseline
    recorded: frozenset[str] = frozenset()
    available: bool = False  # status says every replica is updated and available
    complete: bool = False  # the rollout is complete, as `kubectl rollout status` judges it
    completions: list[tuple[float, dict[str, str]]] = field(default_factory=list)  # (at, values)
    deleted: bool = False

    @property
    def rollouts(self) -> int:
        return len(self.changes)


def tracked_values(obj: Mapping[str, Any]) -> dict[str, str]:
    """``STAKATER_*`` env values of the pod template, and the last-reloaded-from source."""
    template = (obj.get("spec") or {}).get("template") or {}
    pod = template.get("spec") or {}
    out: dict[str, str] = {}
    for c in [*(pod.get("initContainers") or []), *(pod.get("containers") or [])]:
        for env in c.get("env") or []:
            name = env.get("name", "")
            if name.startswith("STAKATER_") and isinstance(env.get("value"), str):
                out[name] = env["value"]
    annotation = ((template.get("metadata") or {}).get("annotations") or {}).get(LAST_RELOADED_FROM)
    if annotation:
        try:
            info = json.loads(annotation)
            kind = _KIND_OF_TYPE.get(str(info.get("type")))
            if kind is not None:
                out[env_var_name(str(info.get("name")), kind)] = str(info.get("hash"))
        except (ValueError, AttributeError):
            pass
    return out


def template_digest(obj: Mapping[str, Any]) -> str:
    template = (obj.get("spec") or {}).get("template") or {}
    return hashlib.sha1(
        orjson.dumps(template, option=orjson.OPT_SORT_KEYS), usedforsecurity=False
    ).hexdigest()


def is_available(obj: Mapping[str, Any]) -> bool:
    """The controller of the workload has rolled it out: its pods are updated and available."""
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    meta = obj.get("metadata") or {}
    if status.get("observedGeneration", -1) < meta.get("generation", 0):
        return False
    if "replicas" in spec:  # Deployment, StatefulSet
        want = spec["replicas"]
        return bool(
            status.get("updatedReplicas", 0) >= want and status.get("availableReplicas", 0) >= want
        )
    want = status.get("desiredNumberScheduled", 0)  # DaemonSet
    return bool(want and status.get("numberAvailable", 0) >= want)


def rollout_complete(obj: Mapping[str, Any], kind: str | None = None) -> bool:
    """The rollout of the current pod template is complete, as ``kubectl rollout status`` says:
    every replica updated and available, and no replica of an older template left."""
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    meta = obj.get("metadata") or {}
    if status.get("observedGeneration", -1) < meta.get("generation", 0):
        return False
    kind = kind or obj.get("kind")
    if kind == "DaemonSet" or "replicas" not in spec:
        want = status.get("desiredNumberScheduled", 0)
        return bool(
            want
            and status.get("updatedNumberScheduled", 0) >= want
            and status.get("numberAvailable", 0) >= want
        )
    want = spec["replicas"]
    if kind == "StatefulSet":
        return bool(
            status.get("readyReplicas", 0) >= want
            and status.get("currentRevision") == status.get("updateRevision")
        )
    updated = status.get("updatedReplicas", 0)
    return bool(
        updated >= want
        and status.get("replicas", 0) <= updated
        and status.get("availableReplicas", 0) >= updated
    )


def recorded_keys(obj: Mapping[str, Any]) -> frozenset[str]:
    raw = ((obj.get("metadata") or {}).get("annotations") or {}).get(APPLIED)
    if not raw:
        return frozenset()
    try:
        record = json.loads(raw)
    except ValueError:
        return frozenset()
    return frozenset(record) if isinstance(record, dict) else frozenset()


class WorkloadWatcher:
    """List-then-watch Deployments, StatefulSets and DaemonSets in every namespace."""

    def __init__(self, client: KubeClient, kinds: tuple[str, ...] = tuple(WORKLOAD_TYPES)) -> None:
        self.client = client
        self.kinds = kinds
        self.state: dict[Workload, WorkloadState] = {}
        self.events = 0
        self._synced: dict[str, bool] = dict.fromkeys(kinds, False)
        self._changed = anyio.Event()

    async def run(self) -> None:
        async with anyio.create_task_group() as tg:
            for kind in self.kinds:
                tg.start_soon(self._watch, kind)

    async def _watch(self, kind: str) -> None:
        rt = WORKLOAD_TYPES[kind]
        async with aclosing(list_then_watch(self.client, rt, inactivity_timeout=30)) as stream:
            async for event in stream:
                now = time.monotonic()
                if event.type is EventType.SYNCED:
                    self._synced[kind] = True
                elif event.object is not None:
                    self._apply(kind, event.type, event.object, now)
                self._notify()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = anyio.Event()

    def _apply(self, kind: str, etype: EventType, obj: Mapping[str, Any], now: float) -> None:
        meta = obj.get("metadata") or {}
        key = Workload(kind, str(meta.get("namespace", "")), str(meta.get("name", "")))
        st = self.state.get(key)
        if st is None:
            st = self.state[key] = WorkloadState()
        self.events += 1
        if etype is EventType.DELETED:
            st.deleted = True
            return
        st.recorded = recorded_keys(obj)
        st.available = is_available(obj)
        values = tracked_values(obj)
        changed = {k: v for k, v in values.items() if st.values.get(k) != v}
        for var, value in changed.items():
            st.history.append((now, var, value))
        st.values = values
        complete = rollout_complete(obj, kind)
        if complete and (not st.complete or changed):
            st.completions.append((now, values))
        st.complete = complete
        digest = template_digest(obj)
        if st.template and digest != st.template and st.baseline:
            st.changes.append(TemplateChange(at=now, changed=changed))
        st.template = digest

    @property
    def synced(self) -> bool:
        return all(self._synced.values())

    def mark_baseline(self) -> None:
        """Start counting rollouts (template changes) from now; history is kept."""
        for st in self.state.values():
            st.baseline = st.template or "-"
            st.changes.clear()

    async def wait_for(self, predicate: Callable[[], bool], *, timeout: float, what: str) -> float:
        """Wait until ``predicate()`` holds, re-checking on every event; return seconds waited.

        :raises TimeoutError: at the deadline.
        """
        start = time.monotonic()
        deadline = start + timeout
        while not predicate():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
            with anyio.move_on_after(min(remaining, 0.5)):
                await self._changed.wait()
        return time.monotonic() - start
