"""A stateful fake API server for the controller tests: objects of any resource type, in memory.

Its parent (``tests/unit/kube/fake_apiserver.py``) plays scripted LISTs and WATCHes of one
collection, for the watch tests; this one keeps objects and answers the verbs the controllers use:
LIST, WATCH (from a resourceVersion: the changes after it are replayed from the history, then
streamed as they happen), GET, POST, PUT, PATCH (strategic merge, JSON merge; a
``metadata.resourceVersion`` in the body is a precondition: 409 when stale) and DELETE. It reuses
the parent's HTTP plumbing: ``start``/``stop``, the log of requests and ``wait_for``.

As on a real API server, every write that changes an object bumps the cluster's resourceVersion
and is sent to the open watches, a write that changes nothing bumps nothing, and a change of
``spec`` bumps ``metadata.generation``, so a workload's rollout is under way (its status lags
behind) until the test plays the workload's controller with :meth:`FakeCluster.complete_rollout`.
Tests change objects directly with :meth:`FakeCluster.put` and :meth:`FakeCluster.modify`
(watched, not logged as requests).
"""

from __future__ import annotations

import asyncio
import copy
import itertools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anyio
import orjson
from aiohttp import web

from reloader.core.objects import EVENTS, ResourceType
from tests.unit.kube.fake_apiserver import Answer, FakeApiServer, Recorded, _respond, status

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

Obj = dict[str, Any]

STRATEGIC = "application/strategic-merge-patch+json"
MERGE = "application/merge-patch+json"
#: list fields a strategic merge patch merges by ``name`` (the others are replaced)
MERGE_BY_NAME = frozenset({"containers", "initContainers", "env", "volumes", "ports"})


@dataclass(frozen=True)
class Route:
    """What a request path names: a collection (``/apis/apps/v1/deployments``), maybe one
    namespace of it, maybe one object."""

    collection: str
    namespace: str | None
    name: str | None


def route_of(path: str) -> Route | None:
    parts = [p for p in path.split("/") if p]
    if parts[:1] == ["api"] and len(parts) >= 3:
        prefix, rest = "/".join(parts[:2]), parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 4:
        prefix, rest = "/".join(parts[:3]), parts[3:]
    else:
        return None
    namespace = None
    if rest[0] == "namespaces" and len(rest) >= 3:
        namespace, rest = rest[1], rest[2:]
    if len(rest) > 2:
        return None  # subresources: not served
    return Route(f"/{prefix}/{rest[0]}", namespace, rest[1] if len(rest) == 2 else None)


def strategic_merge(target: Obj, patch: Obj) -> Obj:
    """A strategic merge patch as the API server applies it to built-in kinds (the part used
    here): maps merge, null deletes, the lists of ``MERGE_BY_NAME`` merge by ``name`` (an item
    ``{"name": n, "$patch": "delete"}`` removes one), other lists are replaced."""
    out = dict(target)
    for key, value in patch.items():
        current = out.get(key)
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(current, dict):
            out[key] = strategic_merge(current, value)
        elif key in MERGE_BY_NAME and isinstance(value, list) and isinstance(current, list):
            out[key] = _merge_named(current, value)
        else:
            out[key] = _without_directives(value)
    return out


def _merge_named(current: list[Any], patch: list[Any]) -> list[Any]:
    items = {item["name"]: item for item in current}
    for item in patch:
        if item.get("$patch") == "delete":
            items.pop(item["name"], None)
        elif item["name"] in items:
            items[item["name"]] = strategic_merge(items[item["name"]], item)
        else:
            items[item["name"]] = _without_directives(item)
    return list(items.values())


def _without_directives(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: _without_directives(v)
            for k, v in value.items()
            if v is not None and not k.startswith("$")
        }
    if isinstance(value, list):
        return [_without_directives(v) for v in value]
    return value


def json_merge(target: Obj, patch: Obj) -> Obj:
    """RFC 7386: maps merge, null deletes, anything else (lists too) replaces."""
    out = dict(target)
    for key, value in patch.items():
        current = out.get(key)
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict):
            out[key] = json_merge(current if isinstance(current, dict) else {}, value)
        else:
            out[key] = value
    return out


def _matches(obj: Obj, selector: str | None) -> bool:
    """Equality-based label selectors (``a=b,c=d``); anything else is not served."""
    if not selector:
        return True
    labels = obj.get("metadata", {}).get("labels") or {}
    for term in selector.split(","):
        key, sep, value = term.partition("=")
        if not sep or value.startswith("=") or key.endswith("!"):
            raise ValueError(f"label selector {selector!r}: only k=v terms are served")
        if labels.get(key.strip()) != value.strip():
            return False
    return True


def _without_version(obj: Obj) -> Obj:
    meta = {k: v for k, v in obj["metadata"].items() if k != "resourceVersion"}
    return {**obj, "metadata": meta}


@dataclass
class _Watch:
    collection: str
    namespace: str | None
    selector: str | None
    queue: asyncio.Queue[tuple[str, Obj] | None] = field(default_factory=asyncio.Queue)

    def wants(self, collection: str, obj: Obj) -> bool:
        namespace = obj.get("metadata", {}).get("namespace")
        return (
            collection == self.collection
            and self.namespace in (None, namespace)
            and _matches(obj, self.selector)
        )


class FakeCluster(FakeApiServer):
    def __init__(self) -> None:
        super().__init__()
        self.revision = 1000
        #: collection path → (namespace, name) → object
        self.store: dict[str, dict[tuple[str, str], Obj]] = {}
        #: collection path → (resourceVersion, event type, object) of every change
        self.history: dict[str, list[tuple[int, str, Obj]]] = {}
        self._watches: list[_Watch] = []
        self._uids = itertools.count(1)

    # ------------------------------------------------------------------ the test's side
    def put(self, rt: ResourceType, obj: Obj) -> Obj:
        """Create ``obj``, or replace the object of that name (``kubectl apply``)."""
        meta = obj["metadata"]
        ident = (meta.get("namespace", ""), meta["name"])
        body = {"apiVersion": rt.api_version, "kind": rt.kind, **copy.deepcopy(obj)}
        return self._commit(rt.path(), ident, body)

    def modify(
        self, rt: ResourceType, namespace: str, name: str, change: Callable[[Obj], None]
    ) -> Obj:
        """Change the stored object in place with ``change`` (a user's edit, a controller's
        status update); watched like any write."""
        body = self.get(rt, namespace, name)
        change(body)
        return self._commit(rt.path(), (namespace, name), body)

    def get(self, rt: ResourceType, namespace: str, name: str) -> Obj:
        return copy.deepcopy(self.store[rt.path()][(namespace, name)])

    def complete_rollout(self, rt: ResourceType, namespace: str, name: str) -> Obj:
        """Play the workload's controller: every replica updated and available at the latest
        generation."""

        def rolled_out(obj: Obj) -> None:
            replicas = obj.get("spec", {}).get("replicas", 1)
            obj["status"] = {
                "observedGeneration": obj["metadata"]["generation"],
                "replicas": replicas,
                "updatedReplicas": replicas,
                "readyReplicas": replicas,
                "availableReplicas": replicas,
            }

        return self.modify(rt, namespace, name, rolled_out)

    def writes(self, rt: ResourceType, namespace: str, name: str, method: str = "PATCH") -> int:
        """How many ``method`` requests were made to this object."""
        path = rt.path(namespace=namespace, name=name)
        return sum(1 for r in self.requests if r.method == method and r.path == path)

    def events(self, *, reason: str | None = None, name: str | None = None) -> list[Obj]:
        """The Events posted, oldest first; only those with this reason / about this object."""
        return [
            e
            for e in self.store.get(EVENTS.path(), {}).values()
            if reason in (None, e.get("reason"))
            and name in (None, e.get("involvedObject", {}).get("name"))
        ]

    # ------------------------------------------------------------------ the store
    def _commit(self, collection: str, ident: tuple[str, str], obj: Obj) -> Obj:
        """Store ``obj`` (created, or replacing the object of that identity) and watch it."""
        objects = self.store.setdefault(collection, {})
        old = objects.get(ident)
        meta = obj.setdefault("metadata", {})
        meta.pop("resourceVersion", None)
        if old is not None:
            old_meta = old["metadata"]
            for kept in ("uid", "creationTimestamp", "generation"):
                meta[kept] = old_meta[kept]
            if obj == _without_version(old):
                return copy.deepcopy(old)  # nothing changed: no new resourceVersion, no event
            if obj.get("spec") != old.get("spec"):
                meta["generation"] = old_meta["generation"] + 1
        else:
            meta["uid"] = meta.get("uid") or f"uid-{next(self._uids)}"
            meta["creationTimestamp"] = "2024-01-01T00:00:00Z"
            meta["generation"] = 1
        self.revision += 1
        meta["resourceVersion"] = str(self.revision)
        objects[ident] = obj
        self._emit(collection, "ADDED" if old is None else "MODIFIED", obj)
        return copy.deepcopy(obj)

    def _remove(self, collection: str, ident: tuple[str, str]) -> Obj:
        obj = self.store[collection].pop(ident)
        self.revision += 1
        obj["metadata"]["resourceVersion"] = str(self.revision)
        self._emit(collection, "DELETED", obj)
        return copy.deepcopy(obj)

    def _emit(self, collection: str, kind: str, obj: Obj) -> None:
        snapshot = copy.deepcopy(obj)
        self.history.setdefault(collection, []).append((self.revision, kind, snapshot))
        for watch in self._watches:
            if watch.wants(collection, snapshot):
                watch.queue.put_nowait((kind, snapshot))

    def _in(self, route: Route, selector: str | None) -> Iterator[Obj]:
        for (namespace, _), obj in self.store.get(route.collection, {}).items():
            if route.namespace in (None, namespace) and _matches(obj, selector):
                yield obj

    # ------------------------------------------------------------------ HTTP
    async def stop(self) -> None:
        for watch in self._watches:
            watch.queue.put_nowait(None)  # end the streams still open
        await super().stop()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.requests.append(
            Recorded(
                method=request.method,
                path=request.path,
                query=dict(request.query),
                headers=dict(request.headers),
                body=body,
            )
        )
        self._changed.set()
        self._changed = anyio.Event()
        route = route_of(request.path)
        if route is None:
            return _respond(Answer(404, status(404, "NotFound", f"{request.path} not served")))
        try:
            if request.method == "GET" and route.name is None:
                if request.query.get("watch") == "true":
                    return await self._serve_watch(request, route)
                return self._serve_list(route, request.query.get("labelSelector"))
            answer = self._serve_object(request.method, route, request.content_type, body)
        except ValueError as exc:
            answer = Answer(400, status(400, "BadRequest", str(exc)))
        return _respond(answer)

    def _serve_list(self, route: Route, selector: str | None) -> web.Response:
        items = [copy.deepcopy(o) for o in self._in(route, selector)]
        meta = {"resourceVersion": str(self.revision)}
        return _respond(Answer(200, {"kind": "List", "metadata": meta, "items": items}))

    async def _serve_watch(self, request: web.Request, route: Route) -> web.StreamResponse:
        watch = _Watch(route.collection, route.namespace, request.query.get("labelSelector"))
        since = request.query.get("resourceVersion")
        if since:
            for revision, kind, obj in self.history.get(route.collection, []):
                if revision > int(since) and watch.wants(route.collection, obj):
                    watch.queue.put_nowait((kind, obj))
        else:
            for obj in self._in(route, watch.selector):
                watch.queue.put_nowait(("ADDED", copy.deepcopy(obj)))
        self._watches.append(watch)
        try:
            response = web.StreamResponse()
            response.content_type = "application/json"
            await response.prepare(request)
            while (item := await watch.queue.get()) is not None:
                kind, obj = item
                await response.write(orjson.dumps({"type": kind, "object": obj}) + b"\n")
            await response.write_eof()
            return response
        finally:
            self._watches.remove(watch)

    def _serve_object(self, method: str, route: Route, content_type: str, raw: bytes) -> Answer:
        objects = self.store.get(route.collection, {})
        if method == "POST" and route.name is None and route.namespace is not None:
            obj = orjson.loads(raw)
            meta = obj.setdefault("metadata", {})
            meta["namespace"] = route.namespace
            ident = (route.namespace, meta["name"])
            if ident in objects:
                return Answer(409, status(409, "AlreadyExists", f"{meta['name']} exists"))
            return Answer(201, self._commit(route.collection, ident, obj))
        if route.name is None or route.namespace is None:
            return Answer(405, status(405, "MethodNotAllowed", f"{method} {route}"))
        ident = (route.namespace, route.name)
        current = objects.get(ident)
        if current is None:
            return Answer(404, status(404, "NotFound", f"{route.name} not found"))
        if method == "GET":
            return Answer(200, copy.deepcopy(current))
        if method == "DELETE":
            return Answer(200, self._remove(route.collection, ident))
        if method == "PATCH" and content_type not in (STRATEGIC, MERGE):
            return Answer(415, status(415, "UnsupportedMediaType", content_type))
        if method not in ("PUT", "PATCH"):
            return Answer(405, status(405, "MethodNotAllowed", f"{method} {route}"))
        body = orjson.loads(raw)
        wanted = (body.get("metadata") or {}).get("resourceVersion")
        if wanted is not None and wanted != current["metadata"]["resourceVersion"]:
            return Answer(409, status(409, "Conflict", "the object has been modified"))
        if method == "PATCH":
            body["metadata"] = {
                k: v for k, v in (body.get("metadata") or {}).items() if k != "resourceVersion"
            }
            merge = strategic_merge if content_type == STRATEGIC else json_merge
            body = merge(current, body)
        return Answer(200, self._commit(route.collection, ident, body))
