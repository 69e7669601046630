"""A fleet of workloads and sources, a burst of updates, and the checks after a fault.

The fleet: N Deployments, each auto-reloading from one source of its own (half ConfigMaps, half
Secrets). A burst changes the sources round-robin, each update giving the source new, never-seen
content (``{"v": "<source>-<seq>"}``), so every hash maps back to one (source, seq) and the order
of the states of each source is known.

After the burst the checks are:

- **converged**: every Deployment carries, in its ``STAKATER_…`` env var, the hash of its source's
  final content (read back from the cluster);
- **one rollout per state at most, never backwards**: the hashes the controller rolled each
  Deployment to (its ``workload.reloaded`` log lines, kept across controller restarts) and the
  templates of the Deployment's ReplicaSets (ordered by revision; ``revisionHistoryLimit`` is
  raised so none is garbage collected) name strictly increasing states: no state rolled twice,
  no older state rolled after a newer one, no template reused;
- **missed states are skipped**: a state that was written and superseded while the controller
  could not see it (it was killed, or its watch had to relist) is never rolled out.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio

from reloader.core.objects import CONFIGMAPS, DEPLOYMENTS, SECRETS, ResourceType
from reloader.errors import KubeError
from reloader.kube import resources
from reloader.kube.client import KubeClient
from tests.integration.controller import ControllerProcess
from tests.integration.reload_support import (
    cm_env_from,
    configmap_hash,
    container,
    env_name,
    secret_env_from,
)
from tests.integration.support import deployment, eventually

REPLICASETS = ResourceType("apps", "v1", "replicasets", "ReplicaSet")
REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
APPLIED = "reloader.stakater.com/applied-hashes"


# ---------------------------------------------------------------------- the controller


def proxied_kubeconfig(kubeconfig: Path, port: int, out: Path) -> Path:
    """A copy of ``kubeconfig`` whose server is ``https://127.0.0.1:<port>`` (a proxy)."""
    config = json.loads(kubeconfig.read_text())
    for entry in config["clusters"]:
        entry["cluster"]["server"] = f"https://127.0.0.1:{port}"
    out.write_text(json.dumps(config))
    return out


def idle_probe(controller: ControllerProcess) -> tuple[float, float, float] | None:
    """(ready depth, held reloads, reconciles so far), or None when /metrics does not answer."""
    status, text = controller.get("/metrics")
    if status != 200:
        return None
    values: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        series, _, value = line.rpartition(" ")
        name = series.partition("{")[0]
        if name in (
            "reloader_workqueue_depth",
            "reloader_reloads_held",
            "reloader_reconcile_total",
        ):
            values[name] = values.get(name, 0.0) + float(value)
    return (
        values.get("reloader_workqueue_depth", 0.0),
        values.get("reloader_reloads_held", 0.0),
        values.get("reloader_reconcile_total", 0.0),
    )


async def settle(
    controller: ControllerProcess, *, quiet: float = 1.5, timeout: float = 120.0
) -> float:
    """Wait until the controller is idle: nothing ready in its queue, no reload held, and no
    reconcile finished for ``quiet`` seconds (polled, never a blind sleep). Returns the time
    it took."""
    started = time.monotonic()
    deadline = started + timeout
    last_count: float | None = None
    quiet_since = time.monotonic()
    last: tuple[float, float, float] | None = None
    while time.monotonic() < deadline:
        last = await anyio.to_thread.run_sync(idle_probe, controller)
        now = time.monotonic()
        if last is None or last[0] > 0 or last[1] > 0 or last[2] != last_count:
            quiet_since = now
            last_count = None if last is None else last[2]
        elif now - quiet_since >= quiet:
            return now - started
        await anyio.sleep(0.2)
    raise AssertionError(f"the controller did not become idle in {timeout}s; last: {last}")


# ---------------------------------------------------------------------- the fleet


@dataclass
class Update:
    source: str
    seq: int
    sent: float
    acked: float = 0.0


@dataclass
class Fleet:
    namespace: str
    size: int
    #: workload → (source type, source name)
    sources: dict[str, tuple[str, str]] = field(default_factory=dict)
    #: source → its updates in order (seq 0 is the initial content)
    updates: dict[str, list[Update]] = field(default_factory=dict)
    #: hash → (source, seq)
    states: dict[str, tuple[str, int]] = field(default_factory=dict)

    @property
    def workloads(self) -> list[str]:
        return sorted(self.sources)

    @staticmethod
    def content(source: str, seq: int) -> dict[str, str]:
        return {"v": f"{source}-{seq}"}

    def remember(self, source: str, seq: int) -> str:
        digest = configmap_hash(self.content(source, seq))  # a Secret hashes the same way
        self.states[digest] = (source, seq)
        return digest


async def _retry(what: str, call: Callable[[], Awaitable[Any]], timeout: float = 180.0) -> Any:
    """Call until it succeeds (the API server may be restarting); fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await call()
        except (KubeError, OSError):
            if time.monotonic() > deadline:
                raise
            await anyio.sleep(0.2)


async def create_fleet(
    kube: KubeClient, namespace: str, size: int = 20, *, history_limit: int = 10_000
) -> Fleet:
    """``size`` Deployments ``w-NN``, each auto-reloading from ``cm-NN`` or ``secret-NN``;
    returns once the controller has recorded every source (adopted, nothing rolled)."""
    fleet = Fleet(namespace=namespace, size=size)
    for i in range(size):
        workload = f"w-{i:02d}"
        if i % 2 == 0:
            source_type, source, rt = "CONFIGMAP", f"cm-{i:02d}", CONFIGMAPS
            body: dict[str, Any] = {"data": fleet.content(f"cm-{i:02d}", 0)}
            ref = cm_env_from(source)
        else:
            source_type, source, rt = "SECRET", f"secret-{i:02d}", SECRETS
            body = {"data": _b64(fleet.content(f"secret-{i:02d}", 0))}
            ref = secret_env_from(source)
        await resources.create(
            kube, rt, namespace=namespace, body={"metadata": {"name": source}, **body}
        )
        manifest = deployment(
            workload,
            annotations={"reloader.stakater.com/auto": "true"},
            containers=[container(env_from=[ref])],
        )
        manifest["spec"]["revisionHistoryLimit"] = history_limit  # by default keep them all
        await resources.create(kube, DEPLOYMENTS, namespace=namespace, body=manifest)
        fleet.sources[workload] = (source_type, source)
        fleet.updates[source] = [Update(source, 0, time.monotonic(), time.monotonic())]
        fleet.remember(source, 0)
    return fleet


async def list_all(kube: KubeClient, rt: ResourceType, namespace: str) -> list[dict[str, Any]]:
    """Every object of a LIST, page after page (a burst leaves hundreds of ReplicaSets)."""
    items: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        page = await resources.list_page(kube, rt, namespace=namespace, continue_token=token)
        items.extend(page["items"])
        token = (page.get("metadata") or {}).get("continue") or None
        if token is None:
            return items


async def wait_adopted(kube: KubeClient, fleet: Fleet, timeout: float = 120.0) -> None:
    """Every workload recorded its source, and has its original ReplicaSet: the history check
    expects one, and kube-controller-manager may lag (it relists after an etcd or API server
    restart of an earlier scenario), in which case a burst would start before it exists."""

    async def adopted() -> bool:
        page = await resources.list_page(kube, DEPLOYMENTS, namespace=fleet.namespace)
        done = 0
        for obj in page["items"]:
            record = json.loads((obj["metadata"].get("annotations") or {}).get(APPLIED, "{}"))
            if record:
                done += 1
        return done == fleet.size

    async def originals() -> bool:
        owners = {
            o["name"]
            for rs in await list_all(kube, REPLICASETS, fleet.namespace)
            for o in rs["metadata"].get("ownerReferences") or []
            if o["kind"] == "Deployment"
        }
        return owners >= set(fleet.workloads)

    await eventually(adopted, timeout=timeout, what="every workload to record its source")
    await eventually(originals, timeout=timeout, what="every workload's original ReplicaSet")


def _b64(data: dict[str, str]) -> dict[str, str]:
    return {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}


async def update_source(kube: KubeClient, fleet: Fleet, source: str) -> Update:
    """Give ``source`` its next content; retried (same content) until the API server takes it."""
    history = fleet.updates[source]
    seq = history[-1].seq + 1
    fleet.remember(source, seq)
    update = Update(source, seq, time.monotonic())
    history.append(update)
    data = fleet.content(source, seq)
    rt = CONFIGMAPS if source.startswith("cm-") else SECRETS
    body = {"data": data if rt is CONFIGMAPS else _b64(data)}
    await _retry(
        f"update {source}",
        lambda: resources.patch(
            kube, rt, namespace=fleet.namespace, name=source, patch_type="merge", body=body
        ),
    )
    update.acked = time.monotonic()
    return update


@dataclass
class BurstResult:
    updates: int
    seconds: float
    started: float
    ended: float


async def burst(
    kube: KubeClient,
    fleet: Fleet,
    *,
    total: int = 1000,
    rate: float = 25.0,
    progress: Callable[[int], None] | None = None,
    seed: int = 0,
) -> BurstResult:
    """``total`` updates spread evenly over the fleet's sources, at about ``rate`` per second
    (the schedule catches up after a stall, as a queue of pending changes would)."""
    order = sorted({src for _, src in fleet.sources.values()})
    random.Random(seed).shuffle(order)
    started = time.monotonic()
    for i in range(total):
        due = started + i / rate
        if (delay := due - time.monotonic()) > 0:
            await anyio.sleep(delay)
        await update_source(kube, fleet, order[i % len(order)])
        if progress is not None:
            progress(i + 1)
    ended = time.monotonic()
    return BurstResult(total, ended - started, started, ended)


# ---------------------------------------------------------------------- checks


async def final_hashes(kube: KubeClient, fleet: Fleet) -> dict[str, str]:
    """source → hash of its content as stored in the cluster now."""
    out: dict[str, str] = {}
    for rt in (CONFIGMAPS, SECRETS):
        page = await resources.list_page(kube, rt, namespace=fleet.namespace)
        for obj in page["items"]:
            name = obj["metadata"]["name"]
            data = obj.get("data") or {}
            if rt is SECRETS:
                data = {k: base64.b64decode(v).decode() for k, v in data.items()}
            out[name] = configmap_hash(data)
    return out


def workload_env(obj: dict[str, Any]) -> dict[str, str]:
    env: dict[str, str] = {}
    for c in obj["spec"]["template"]["spec"].get("containers", []):
        for e in c.get("env") or []:
            if e["name"].startswith("STAKATER_"):
                env[e["name"]] = e.get("value", "")
    return env


async def wait_converged(kube: KubeClient, fleet: Fleet, *, timeout: float = 240.0) -> float:
    """Wait until every workload carries its source's final hash; returns the seconds it took."""
    started = time.monotonic()
    expected = await final_hashes(kube, fleet)

    async def converged() -> list[str] | bool:
        page = await resources.list_page(kube, DEPLOYMENTS, namespace=fleet.namespace)
        behind = []
        for obj in page["items"]:
            workload = obj["metadata"]["name"]
            source_type, source = fleet.sources[workload]
            if workload_env(obj).get(env_name(source, source_type)) != expected[source]:
                behind.append(workload)
        return bool(not behind)

    try:
        await eventually(
            converged, timeout=timeout, interval=0.5, what="every workload to converge"
        )
    except AssertionError:
        page = await resources.list_page(kube, DEPLOYMENTS, namespace=fleet.namespace)
        lagging = {}
        for obj in page["items"]:
            workload = obj["metadata"]["name"]
            source_type, source = fleet.sources[workload]
            have = workload_env(obj).get(env_name(source, source_type))
            if have != expected[source]:
                lagging[workload] = (fleet.states.get(have or "", None), expected[source][:8])
        raise AssertionError(f"not converged after {timeout}s: {lagging}") from None
    return time.monotonic() - started


@dataclass
class History:
    """What was rolled, per workload: seqs of the controller's reloads and of ReplicaSets."""

    reloaded: dict[str, list[int]]
    replicasets: dict[str, list[int]]
    reused_templates: list[str]
    #: workloads whose ReplicaSets/reloads name a state of another source (never expected)
    foreign: list[str]

    def rollouts(self) -> dict[str, int]:
        return {w: len(seqs) for w, seqs in self.reloaded.items()}


async def rollout_history(
    kube: KubeClient, fleet: Fleet, controller_logs: list[dict[str, Any]]
) -> History:
    reloaded: dict[str, list[int]] = {w: [] for w in fleet.workloads}
    foreign: list[str] = []
    by_prefix = {h[:12]: state for h, state in fleet.states.items()}
    for entry in controller_logs:
        if entry.get("event") != "workload.reloaded" or entry.get("namespace") != fleet.namespace:
            continue
        workload = str(entry.get("name"))
        for short in entry.get("hashes") or []:
            state = by_prefix.get(str(short))
            if state is None or state[0] != fleet.sources[workload][1]:
                foreign.append(f"{workload}:{short}")
                continue
            reloaded[workload].append(state[1])
    replicasets: dict[str, list[tuple[int, int]]] = {w: [] for w in fleet.workloads}
    reused: list[str] = []
    for rs in await list_all(kube, REPLICASETS, fleet.namespace):
        meta = rs["metadata"]
        owner = next(
            (o["name"] for o in meta.get("ownerReferences") or [] if o["kind"] == "Deployment"),
            None,
        )
        if owner not in replicasets:
            continue
        annotations = meta.get("annotations") or {}
        if REVISION_HISTORY in annotations:
            reused.append(f"{owner}:{meta['name']}")
        source_type, source = fleet.sources[owner]
        value = workload_env(rs).get(env_name(source, source_type))
        seq = 0 if value is None else fleet.states.get(value, ("?", -1))[1]
        if value is not None and fleet.states.get(value, ("",))[0] != source:
            foreign.append(f"{owner}:{meta['name']}")
        replicasets[owner].append((int(annotations.get(REVISION, "0")), seq))
    return History(
        reloaded=reloaded,
        replicasets={w: [seq for _, seq in sorted(r)] for w, r in replicasets.items()},
        reused_templates=reused,
        foreign=foreign,
    )


def strictly_increasing(seqs: list[int]) -> bool:
    return all(a < b for a, b in itertools.pairwise(seqs))


def missed_states(fleet: Fleet, blind_from: float, blind_until: float) -> dict[str, set[int]]:
    """source → seqs written after ``blind_from`` and superseded before ``blind_until``."""
    out: dict[str, set[int]] = {}
    for source, history in fleet.updates.items():
        for current, following in itertools.pairwise(history):
            if current.sent >= blind_from and following.acked and following.acked <= blind_until:
                out.setdefault(source, set()).add(current.seq)
    return out


def _timeline(fleet: Fleet, source: str, seq: int) -> str:
    history = fleet.updates[source]
    mine = history[seq]
    following = history[seq + 1] if seq + 1 < len(history) else None
    text = f"{source}#{seq} sent {mine.sent:.3f} acked {mine.acked:.3f}"
    if following is not None:
        text += f", superseded: sent {following.sent:.3f} acked {following.acked:.3f}"
    return text


def check_history(
    fleet: Fleet, history: History, *, missed: dict[str, set[int]] | None = None
) -> dict[str, Any]:
    """Assert the rollout invariants; return a summary of the numbers."""
    assert not history.foreign, f"rolled to content of another source: {history.foreign}"
    assert not history.reused_templates, f"a template came back: {history.reused_templates}"
    for workload in fleet.workloads:
        reloads = history.reloaded[workload]
        assert strictly_increasing(reloads), f"{workload} rolled out of order: {reloads}"
        rs = history.replicasets[workload]
        assert rs, f"{workload} has no ReplicaSet"
        assert rs[0] == 0, f"{workload}: the first ReplicaSet is not the original: {rs}"
        assert strictly_increasing(rs), f"{workload} ReplicaSets out of order: {rs}"
        if missed:
            source = fleet.sources[workload][1]
            skipped = missed.get(source, set())
            seen = sorted(skipped & set(reloads))
            assert not seen, (
                f"{workload} rolled states it could not have seen: {seen}: "
                + "; ".join(_timeline(fleet, source, seq) for seq in seen)
            )
            assert not skipped & set(rs), f"{workload}: ReplicaSets of missed states {rs}"
    counts = history.rollouts()
    updates = {w: len(fleet.updates[fleet.sources[w][1]]) - 1 for w in fleet.workloads}
    return {
        "rollouts_total": sum(counts.values()),
        "rollouts_max_per_workload": max(counts.values()),
        "rollouts_min_per_workload": min(counts.values()),
        "updates_per_workload": max(updates.values()),
        "replicasets_total": sum(len(r) for r in history.replicasets.values()),
        "missed_states": sum(len(s) for s in (missed or {}).values()),
    }


def count_logs(controller: ControllerProcess, event: str, **fields: str) -> int:
    return sum(
        1 for e in controller.logs(event) if all(str(e.get(k)) == v for k, v in fields.items())
    )


@contextlib.contextmanager
def timed(into: dict[str, Any], key: str) -> Any:
    started = time.monotonic()
    try:
        yield
    finally:
        into[key] = round(time.monotonic() - started, 1)
