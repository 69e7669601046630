"""The floor of the initial sync: a bare paginated LIST of the scale scenario's sources, JSON
against protobuf.

    python -m tests.bench.list_floor                        # a fresh cluster, full scale, 40 KiB
    python -m tests.bench.list_floor --scale 0.1 --rounds 1 # a quick one
    python -m tests.bench.list_floor --cluster-dir DIR      # a cluster ``tools/cluster`` started

Creates the ConfigMaps and Secrets of the scale scenario (``tests/bench/scale.py``: 10,000 +
10,000 of ``--size-kib`` in 20 namespaces; creating what already exists is skipped), then pages
through a LIST of every ConfigMap and every Secret of the cluster as the controller's informers
do (``limit`` 100, the sources' page size), once per content type and mode per round,
alternating. Per pass: the wall time, the bytes received, the CPU seconds of kube-apiserver and
etcd (``/proc/PID/stat``, the cluster's PIDs) and of this process (``time.process_time``).

Modes: ``read`` reads each page and discards it (what the API server and the HTTP client cost);
``decode`` also decodes the page and summarizes every object into the ``SourceView`` the
controller keeps (``summarize_source``): the controller's own floor for the sync, without its
informer, indexes and handlers. The machine's load average is printed with the figures: on a
shared machine the wall times carry the other processes' load, the CPU seconds much less.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import anyio
import msgspec

from reloader.core.annotations import SourceKind
from reloader.core.objects import CONFIGMAPS, SECRETS, ResourceType
from reloader.kube import proto
from reloader.kube.client import KubeClient
from reloader.kube.wire import decode_object
from reloader.reload.domain.views import summarize_source
from tests.bench.objects import SOURCE_TYPES, create_all, create_namespace, source_body
from tests.bench.scale import scale_setup

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tools" / "cluster"))
import cluster as local_cluster  # type: ignore[import-not-found]  # noqa: E402

ACCEPT = {
    "json": "application/json",
    "protobuf": proto.ACCEPT,
}
KINDS = {"ConfigMap": SourceKind.CONFIGMAP, "Secret": SourceKind.SECRET}


@dataclass
class Pass:
    """One LIST of every ConfigMap and every Secret in one content type and mode."""

    content_type: str
    mode: str
    objects: int = 0
    pages: int = 0
    megabytes: float = 0.0
    wall_s: float = 0.0
    apiserver_cpu_s: float = 0.0
    etcd_cpu_s: float = 0.0
    client_cpu_s: float = 0.0


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of a process, from ``/proc/PID/stat``."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def create_sources(kube: KubeClient, scale: float, size_kib: int) -> int:
    setup = scale_setup(scale, size_kib * 1024)
    for ns in setup.namespaces:
        await create_namespace(kube, ns)

    def bodies() -> Iterator[tuple[ResourceType, dict[str, Any]]]:
        for s in setup.sources:
            yield SOURCE_TYPES[s.kind], source_body(s, setup.payload(s, 0))

    return await create_all(kube, bodies(), concurrency=32)


def _decode(rt: ResourceType, payload: bytes, content_type: str) -> dict[str, Any]:
    if proto.is_protobuf(content_type):
        return proto.decode_list(rt, payload)
    return decode_object(payload)


class _ListMeta(msgspec.Struct):
    metadata: dict[str, Any] = {}


def _continue_token(rt: ResourceType, payload: bytes, content_type: str) -> str | None:
    """The next page's token, reading as little of the page as each format allows."""
    if proto.is_protobuf(content_type):
        meta = proto.list_metadata(rt, payload)
    else:
        meta = msgspec.json.decode(payload, type=_ListMeta).metadata
    return meta.get("continue") or None


async def list_all(
    kube: KubeClient, result: Pass, rt: ResourceType, page_size: int, decode: bool
) -> None:
    token: str | None = None
    while True:
        query: dict[str, str | int | bool] = {"limit": page_size}
        if token:
            query["continue"] = token
        payload, content_type = await kube.request_raw(
            rt.path(), accept=ACCEPT[result.content_type], query=query, timeout=120
        )
        if (result.content_type == "protobuf") != proto.is_protobuf(content_type):
            raise RuntimeError(f"asked for {result.content_type}, got {content_type!r}")
        result.pages += 1
        result.megabytes += len(payload) / 1e6
        if decode:
            page = _decode(rt, payload, content_type)
            items = page.get("items") or []
            for item in items:
                summarize_source(KINDS[rt.kind], item)
            result.objects += len(items)
            token = (page.get("metadata") or {}).get("continue") or None
        else:
            token = _continue_token(rt, payload, content_type)
        del payload
        if token is None:
            return


async def one_pass(
    kube: KubeClient, pids: dict[str, int], content_type: str, mode: str, page_size: int
) -> Pass:
    result = Pass(content_type, mode)
    api0, etcd0 = process_cpu(pids["kube-apiserver"]), process_cpu(pids["etcd"])
    cpu0, wall0 = time.process_time(), time.monotonic()
    for rt in (CONFIGMAPS, SECRETS):
        await list_all(kube, result, rt, page_size, decode=mode == "decode")
    result.wall_s = time.monotonic() - wall0
    result.client_cpu_s = time.process_time() - cpu0
    result.apiserver_cpu_s = process_cpu(pids["kube-apiserver"]) - api0
    result.etcd_cpu_s = process_cpu(pids["etcd"]) - etcd0
    return result


async def measure(args: argparse.Namespace, kubeconfig: Path, pids: dict[str, int]) -> list[Pass]:
    async with await KubeClient.connect(
        kubeconfig=str(kubeconfig), field_manager="bench", max_connections=64
    ) as kube:
        t0 = time.monotonic()
        created = await create_sources(kube, args.scale, args.size_kib)
        sys.stderr.write(f"created {created} sources in {time.monotonic() - t0:.0f}s\n")
        passes: list[Pass] = []
        for r in range(args.rounds):
            for mode in args.modes:
                for content_type in ("json", "protobuf") if r % 2 == 0 else ("protobuf", "json"):
                    p = await one_pass(kube, pids, content_type, mode, args.page_size)
                    sys.stderr.write(f"round {r}: {_row(p)}\n")
                    passes.append(p)
        return passes


def _row(p: Pass) -> str:
    return (
        f"{p.content_type:8} {p.mode:6} {p.pages:4} pages {p.megabytes:7.1f} MB "
        f"wall {p.wall_s:6.2f} s  apiserver {p.apiserver_cpu_s:6.2f} s  "
        f"etcd {p.etcd_cpu_s:5.2f} s  client {p.client_cpu_s:6.2f} s CPU"
    )


def summary(passes: list[Pass]) -> str:
    """The median of each figure per content type and mode."""
    lines = [f"load average (1, 5, 15 min): {', '.join(f'{x:.2f}' for x in os.getloadavg())}"]
    groups: dict[tuple[str, str], list[Pass]] = {}
    for p in passes:
        groups.setdefault((p.mode, p.content_type), []).append(p)
    for (mode, content_type), group in sorted(groups.items()):
        med = Pass(content_type, mode)
        for name in (
            "objects",
            "pages",
            "megabytes",
            "wall_s",
            "apiserver_cpu_s",
            "etcd_cpu_s",
            "client_cpu_s",
        ):
            values = sorted(getattr(p, name) for p in group)
            setattr(med, name, values[len(values) // 2])
        lines.append(f"median of {len(group)}: {_row(med)}")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cluster-dir", type=Path, help="a running cluster (tools/cluster)")
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--size-kib", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--page-size", type=int, default=100)
    parser.add_argument("--modes", default="read,decode", help="read, decode or both")
    parser.add_argument("--json", type=Path, help="also write every pass here")
    args = parser.parse_args()
    args.modes = [m for m in args.modes.split(",") if m]
    with ExitStack() as stack:
        if args.cluster_dir is not None:
            cluster = local_cluster.attach(args.cluster_dir.resolve())
        else:
            directory = REPO / ".bench" / "list-floor-cluster"
            directory.parent.mkdir(exist_ok=True)
            (directory.parent / ".gitignore").write_text("*\n")
            cluster = stack.enter_context(local_cluster.running(directory, nodes=1))
        passes = anyio.run(measure, args, cluster.kubeconfig, cluster.pids)
    text = summary(passes)
    sys.stdout.write(text)
    if args.json is not None:
        args.json.write_text(json.dumps([asdict(p) for p in passes], indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
