"""Leases in memory, with the API server's write semantics, for tests of Lease locks.

``create`` answers 409 when the Lease exists; ``replace`` answers 404 when it does not and 409
unless the body carries its current resourceVersion. Every write is recorded as sent, in
``sent``. The store is reachable three ways: :meth:`LeaseStore.one` (a ``LeaseClient`` for one
Lease, as leader election uses), the store itself (a ``LeaseWriter`` for any Lease) and
:meth:`LeaseStore.request` (enough of ``KubeClient.request`` for ``reloader.kube.resources``).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from reloader.errors import Conflict, KubeError, NotFound


class LeaseStore:
    def __init__(self) -> None:
        self.leases: dict[str, dict[str, Any]] = {}
        self.version = 0
        self.sent: list[tuple[str, dict[str, Any]]] = []
        #: when set, every write fails with this error (after being recorded)
        self.fail_writes: KubeError | None = None
        self.field_manager = "test"

    def put(self, name: str, spec: Mapping[str, Any], **meta: Any) -> dict[str, Any]:
        """Store a Lease as another writer would (a new resourceVersion)."""
        return self._store({"metadata": {"name": name, **meta}, "spec": dict(spec)})

    def spec(self, name: str) -> dict[str, Any]:
        return dict(self.leases[name]["spec"])

    def get(self, name: str) -> dict[str, Any]:
        if name not in self.leases:
            raise NotFound(f"lease {name} not found", status=404)
        return copy.deepcopy(self.leases[name])

    async def create(self, body: Mapping[str, Any]) -> dict[str, Any]:
        self._sent("create", body)
        if body["metadata"]["name"] in self.leases:
            raise Conflict("already exists", status=409)
        return self._store(body)

    async def replace(self, body: Mapping[str, Any]) -> dict[str, Any]:
        self._sent("replace", body)
        current = self.get(body["metadata"]["name"])
        if body["metadata"].get("resourceVersion") != current["metadata"]["resourceVersion"]:
            raise Conflict("the object has been modified", status=409)
        return self._store(body)

    def one(self, name: str) -> OneLease:
        return OneLease(self, name)

    async def request(
        self, method: str, path: str, *, query: Mapping[str, Any] | None = None, body: Any = None
    ) -> dict[str, Any]:
        """``/apis/coordination.k8s.io/v1/namespaces/{ns}/leases[/{name}]``."""
        parts = path.strip("/").split("/")
        assert parts[-1] == "leases" or parts[-2] == "leases", path
        if method == "GET" and parts[-1] == "leases":
            label = str((query or {}).get("labelSelector", ""))
            items = [o for o in self.leases.values() if _selected(o, label)]
            return {"kind": "LeaseList", "items": copy.deepcopy(items)}
        if method == "GET":
            return self.get(parts[-1])
        if method == "POST":
            return await self.create(body)
        assert method == "PUT", method
        assert body["metadata"]["name"] == parts[-1]
        return await self.replace(body)

    def _sent(self, verb: str, body: Mapping[str, Any]) -> None:
        self.sent.append((verb, copy.deepcopy(dict(body))))
        if self.fail_writes is not None:
            raise self.fail_writes

    def _store(self, body: Mapping[str, Any]) -> dict[str, Any]:
        self.version += 1
        stored = copy.deepcopy(dict(body))
        stored["metadata"] = {**stored["metadata"], "resourceVersion": str(self.version)}
        self.leases[stored["metadata"]["name"]] = stored
        return copy.deepcopy(stored)


@dataclass
class OneLease:
    """One Lease of a :class:`LeaseStore`, as a ``LeaseClient``."""

    store: LeaseStore
    name: str

    async def get(self) -> Mapping[str, Any]:
        return self.store.get(self.name)

    async def create(self, body: Mapping[str, Any]) -> Mapping[str, Any]:
        return await self.store.create(body)

    async def replace(self, body: Mapping[str, Any]) -> Mapping[str, Any]:
        return await self.store.replace(body)


def _selected(lease: Mapping[str, Any], selector: str) -> bool:
    labels = lease["metadata"].get("labels") or {}
    for term in filter(None, selector.split(",")):
        key, _, value = term.partition("=")
        if key not in labels or (value and labels[key] != value):
            return False
    return True
