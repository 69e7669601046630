"""Bytes kept per ConfigMap and Secret by the reload controller: ``tests.bench.memory_probe``.

Feeds N synthetic ConfigMaps and N Secrets, shaped as the API server lists them (metadata with
uid, resourceVersion, creationTimestamp and managedFields; two data keys, one of them
``--size`` KiB), through the real :class:`reloader.reload.sources.Sources` (its informers'
transform, store and indexes) and reports, with tracemalloc, the bytes still allocated per object
once every raw object is gone, and what a kept object is made of. The data is never kept, so the
size changes nothing but the time it takes. Nothing here asserts a figure: the target (1 KiB per
object) is checked by reading this output and the benchmark's scale scenario.
"""

from __future__ import annotations

import argparse
import base64
import gc
import logging
import tracemalloc
from collections import Counter
from typing import Any

import structlog

from reloader.core.objects import EventType, WatchEvent
from reloader.reload.sources import Sources
from reloader.runtime.informer import Informer
from reloader.settings import Settings
from reloader.workloads.scope import InformerSet

NAMESPACES = 20


class _Scope:
    """What Sources uses of :class:`reloader.workloads.scope.Scope`, without a client."""

    def informer(self, rt: Any, *, transform: Any, **_: Any) -> InformerSet[Any]:
        return InformerSet({None: Informer(kind=rt.kind, watch=None, transform=transform)})


def raw_source(kind: str, i: int, size: int) -> dict[str, Any]:
    """A ConfigMap or Secret as a LIST page carries it, after JSON decoding."""
    ns = f"bench-scale-{i % NAMESPACES:02d}"
    name = f"{'cm' if kind == 'ConfigMap' else 'secret'}-{i // NAMESPACES}"
    data = {"k": f"v{i}", "blob": ("x" * 1024 * size) + str(i)}
    if kind == "Secret":
        data = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
    return {
        "metadata": {
            "name": name,
            "namespace": ns,
            "uid": f"6f1c2b6e-0000-4000-8000-{i:012d}",
            "resourceVersion": str(100_000 + i),
            "creationTimestamp": "2026-01-01T00:00:00Z",
            "managedFields": [
                {
                    "manager": "bench",
                    "operation": "Update",
                    "apiVersion": "v1",
                    "time": "2026-01-01T00:00:00Z",
                    "fieldsType": "FieldsV1",
                    "fieldsV1": {"f:data": {"f:k": {}, "f:blob": {}}},
                }
            ],
        },
        "data": data,
        **({"type": "Opaque"} if kind == "Secret" else {}),
    }


def probe(n: int, size: int) -> dict[str, Any]:
    """Feed ``n`` ConfigMaps and ``n`` Secrets; the bytes kept per object, and by where."""
    gc.collect()
    tracemalloc.start(1)
    before = tracemalloc.take_snapshot()
    sources = Sources(scope=_Scope(), settings=Settings(), on_change=lambda *_: None)  # type: ignore[arg-type]
    for informers in sources.informers.values():
        (inf,) = informers.members.values()
        inf.apply(WatchEvent(EventType.RESET))
        for i in range(n):
            inf.apply(WatchEvent(EventType.ADDED, raw_source(inf.kind, i, size)))
        inf.apply(WatchEvent(EventType.SYNCED))
    gc.collect()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    objects = sum(len(i) for s in sources.informers.values() for i in s.members.values())
    diff = after.compare_to(before, "lineno")
    total = sum(d.size_diff for d in diff)
    by_line = Counter[str]()
    for d in diff:
        frame = d.traceback[0]
        by_line[f"{frame.filename.rsplit('/reloader/', 1)[-1]}:{frame.lineno}"] += d.size_diff
    return {
        "objects": objects,
        "bytes": total,
        "bytes_per_object": round(total / objects, 1),
        "top": [(where, size / objects) for where, size in by_line.most_common(12)],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=10_000, help="ConfigMaps, and as many Secrets")
    parser.add_argument("--size", type=int, default=4, help="KiB of data per object")
    args = parser.parse_args(argv)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    out = probe(args.n, args.size)
    print(  # noqa: T201 - a command-line tool
        f"{out['objects']} objects kept: {out['bytes'] / 1e6:.2f} MB, "
        f"{out['bytes_per_object']} bytes per object"
    )
    for where, per in out["top"]:
        print(f"  {per:8.1f} B/object  {where}")  # noqa: T201
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
