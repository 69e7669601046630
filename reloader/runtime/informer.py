"""A local cache of one resource type, fed by a list-then-watch stream.

Controllers never LIST per event: they read this store and its indexes. The informer is generic and
knows nothing about Kubernetes clients: the application injects ``watch``, a factory of async
iterators of :class:`~reloader.core.objects.WatchEvent` that ``reloader.kube`` implements with the
stream contract documented on :class:`~reloader.core.objects.EventType` (RESET, one ADDED per
listed object, SYNCED, then ADDED/MODIFIED/DELETED; RESET again after every relist).

Memory is the main risk of caching every ConfigMap and Secret of a cluster, so the raw object is
handed to ``transform`` the moment it arrives and then dropped: the store keeps only what
``transform`` returns (a content hash and a few fields, say), keyed by
:class:`~reloader.core.objects.ObjectKey`. ``transform`` returning None means "do not store".

Change notifications are synchronous calls ``handler(event_type, key, old, new)`` made after the
store and its indexes are updated; handlers only map the change to work-queue keys. The event type
describes the change *to the store* (ADDED: ``old`` is None; DELETED: ``new`` is None). A relist
compares versions, so the objects that did not change while the watch was down notify nothing, and
the objects that vanished are deleted with a DELETED notification at SYNCED.

:meth:`Informer.upsert` lets a controller store the object its own successful write returned, so
that the next reconcile does not act again on a cache the watch has not refreshed yet. Until the
watch catches up with an upserted version, older versions from the watch (or from a relist
snapshot taken before the write) are ignored.
"""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator, Callable, Hashable, Iterable
from typing import Any, Generic, TypeVar

import anyio
import structlog

from reloader.core.objects import (
    EventType,
    ObjectKey,
    RawObject,
    WatchEvent,
    is_newer,
    key_of,
    version_number,
)
from reloader.runtime.backoff import Backoff
from reloader.runtime.clock import Clock, RealClock

__all__ = ["Handler", "IndexFunc", "Informer", "is_newer"]

log = structlog.get_logger(__name__)

T = TypeVar("T")

Handler = Callable[[EventType, ObjectKey, T | None, T | None], None]
"""``handler(event_type, key, old, new)``, called synchronously for every change to the store."""

IndexFunc = Callable[[T], Iterable[Hashable]]
"""Returns the values under which an object is filed in a named index (none, one or many)."""


def _default_version(obj: object) -> str:
    version = getattr(obj, "resource_version", None)
    if version is None:
        raise TypeError("cached objects need a resource_version attribute, or pass version_of=")
    return str(version)


class Informer(Generic[T]):
    """Store of transformed objects of one kind, with indexes and change handlers.

    :param kind: the kind written into every :class:`ObjectKey` of this store.
    :param watch: returns a fresh event stream; called again when the previous one ends or fails.
        None makes a *follower*: it is never run, and is fed the events of the informer it
        follows (see :meth:`add_follower`).
    :param transform: raw object -> cached value, or None to not store it.
    :param version_of: the resourceVersion of a cached value (default: its ``resource_version``).
    :param key_of: the key of a cached value, used by :meth:`upsert` (default: ``kind`` with the
        value's ``namespace`` and ``name`` attributes).
    :param clock: waits between stream restarts.
    :param restart_backoff: delays between stream restarts (default 1 s doubling to 30 s); reset
        each time a stream reaches SYNCED.
    """

    def __init__(
        self,
        *,
        kind: str,
        watch: Callable[[], AsyncIterator[WatchEvent]] | None,
        transform: Callable[[RawObject], T | None],
        version_of: Callable[[T], str] | None = None,
        key_of: Callable[[T], ObjectKey] | None = None,
        clock: Clock | None = None,
        restart_backoff: Backoff[str] | None = None,
    ) -> None:
        self.kind = kind
        self._watch = watch
        self._transform = transform
        self._version_of: Callable[[T], str] = version_of or _default_version
        self._key_of: Callable[[T], ObjectKey] = key_of or self._default_key
        self._clock: Clock = clock if clock is not None else RealClock()
        self._restarts: Backoff[str] = restart_backoff or Backoff(base=1.0, cap=30.0)
        self._store: dict[ObjectKey, T] = {}
        self._handlers: list[Handler[T]] = []
        self._index_funcs: dict[str, IndexFunc[T]] = {}
        self._indexes: dict[str, dict[Hashable, dict[ObjectKey, None]]] = {}
        self._relisting = False
        self._seen: set[ObjectKey] = set()
        self._pinned: dict[ObjectKey, int] = {}  # upserted versions the watch has not reached
        self._synced = anyio.Event()
        self._followers: list[Informer[Any]] = []

    # ------------------------------------------------------------------ wiring

    def add_handler(self, handler: Handler[T]) -> None:
        """Call ``handler(event_type, key, old, new)`` after every change to the store."""
        self._handlers.append(handler)

    def add_follower(self, follower: Informer[Any]) -> None:
        """Feed ``follower`` (an informer without a watch) every event of this one's streams.

        Two controllers that cache the same objects under different transforms share one
        LIST and WATCH (and one JSON parse per event) this way; each keeps its own store.
        """
        if follower._watch is not None:
            raise ValueError("a follower has no watch of its own")
        self._followers.append(follower)

    def add_index(self, name: str, func: IndexFunc[T]) -> None:
        """Maintain the index ``name``: each object is filed under every value ``func`` returns.

        ``func`` must be a pure function of the cached value: what an object was filed under is
        not stored but computed again from the old value when it is replaced or removed (one
        set per object and index would cost more than the object itself).
        """
        if name in self._index_funcs:
            raise ValueError(f"index {name!r} already exists on the {self.kind} informer")
        self._index_funcs[name] = func
        self._indexes[name] = {}
        for key, obj in self._store.items():
            self._file(name, key, None, obj)

    # ------------------------------------------------------------------ reading

    @property
    def synced(self) -> anyio.Event:
        """Set once the first complete listing has been stored (and never cleared)."""
        return self._synced

    @property
    def has_synced(self) -> bool:
        return self._synced.is_set()

    def get(self, key: ObjectKey) -> T | None:
        return self._store.get(key)

    def list(self) -> builtins.list[T]:
        return builtins.list(self._store.values())

    def keys(self) -> builtins.list[ObjectKey]:
        return builtins.list(self._store)

    def __len__(self) -> int:
        return len(self._store)

    def __contains__(self, key: object) -> bool:
        return key in self._store

    def by_index(self, name: str, value: Hashable) -> builtins.list[T]:
        """The objects filed under ``value`` in index ``name``.

        :raises KeyError: when no index ``name`` was added.
        """
        return [self._store[key] for key in self.keys_by_index(name, value)]

    def keys_by_index(self, name: str, value: Hashable) -> builtins.list[ObjectKey]:
        """The keys of the objects filed under ``value`` in index ``name``.

        :raises KeyError: when no index ``name`` was added.
        """
        return builtins.list(self._indexes[name].get(value, ()))

    # ------------------------------------------------------------------ writing

    def apply(self, event: WatchEvent) -> None:
        """Apply one stream event to the store (what :meth:`run` does; public for tests)."""
        if event.type is EventType.RESET:
            self._relisting = True
            self._seen = set()
            log.debug("informer.relist_started", kind=self.kind, objects=len(self._store))
        elif event.type is EventType.SYNCED:
            self._finish_listing()
        elif event.object is None:
            log.warning("informer.event_without_object", kind=self.kind, type=str(event.type))
        elif event.type is EventType.DELETED:
            key = key_of(self.kind, event.object)
            self._pinned.pop(key, None)
            self._remove(key)
        else:
            key = key_of(self.kind, event.object)
            if self._relisting:
                self._seen.add(key)
            new = self._transform(event.object)
            if new is None:
                self._remove(key)
            else:
                self._store_from_watch(key, new)

    def upsert(self, obj: T, *, notify: bool = True) -> bool:
        """Store ``obj`` (typically what a successful write returned) unless the cache is newer.

        The cached value is replaced only when ``obj`` has a newer resourceVersion (see
        :func:`is_newer`), or when there is none; handlers are notified as for a watch event,
        unless ``notify`` is False (a controller storing its own write, which it has already
        acted on). Returns whether the store changed.
        """
        key = self._key_of(obj)
        old = self._store.get(key)
        version = self._version_of(obj)
        if old is not None and not is_newer(version, self._version_of(old)):
            return False
        as_int = version_number(version)
        if as_int is not None:
            self._pinned[key] = as_int
        if self._relisting:
            self._seen.add(key)
        self._replace(key, old, obj, notify=notify)
        return True

    # ------------------------------------------------------------------ running

    async def run(self) -> None:
        """Consume watch streams forever; a stream that ends or fails is restarted with backoff.

        A failure is an exception from the stream or from ``transform`` or an index function; it
        is logged with its traceback. Each new stream starts with RESET, so the store is
        reconciled with the new listing. Only cancellation ends this.
        """
        if self._watch is None:
            raise RuntimeError(f"the {self.kind} informer is a follower: run the one it follows")
        while True:
            try:
                await self._consume()
                log.warning("informer.watch_ended", kind=self.kind)
            except Exception:
                log.exception("informer.watch_failed", kind=self.kind)
            delay = self._restarts.next_delay("watch")
            log.info("informer.watch_restarting", kind=self.kind, delay_s=round(delay, 3))
            await self._clock.sleep(delay)

    async def _consume(self) -> None:
        assert self._watch is not None  # noqa: S101 - run() checked it
        stream = self._watch()
        try:
            async for event in stream:
                self.apply(event)
                for follower in self._followers:
                    follower.apply(event)
                if event.type is EventType.SYNCED:
                    self._restarts.forget("watch")
        finally:
            aclose = getattr(stream, "aclose", None)
            if aclose is not None:
                await aclose()

    # ------------------------------------------------------------------ internals

    def _default_key(self, obj: T) -> ObjectKey:
        namespace, name = getattr(obj, "namespace", None), getattr(obj, "name", None)
        if name is None:
            raise TypeError("cached objects need namespace and name attributes, or pass key_of=")
        return ObjectKey(self.kind, str(namespace or ""), str(name))

    def _finish_listing(self) -> None:
        first = not self._synced.is_set()
        deleted = 0
        if self._relisting:
            for key in [key for key in self._store if key not in self._seen]:
                self._pinned.pop(key, None)
                self._remove(key)
                deleted += 1
        self._relisting = False
        self._seen = set()
        self._synced.set()
        emit = log.info if first else log.debug
        emit("informer.synced", kind=self.kind, objects=len(self._store), deleted=deleted)

    def _store_from_watch(self, key: ObjectKey, new: T) -> None:
        version = self._version_of(new)
        pinned = self._pinned.get(key)
        if pinned is not None:
            as_int = version_number(version)
            if as_int is not None and as_int < pinned:
                log.debug("informer.stale_ignored", kind=self.kind, resource_version=version)
                return
            del self._pinned[key]
        old = self._store.get(key)
        if old is not None and self._version_of(old) == version:
            return
        self._replace(key, old, new)

    def _replace(self, key: ObjectKey, old: T | None, new: T, *, notify: bool = True) -> None:
        self._store[key] = new
        for name in self._index_funcs:
            self._file(name, key, old, new)
        if notify:
            self._notify(EventType.ADDED if old is None else EventType.MODIFIED, key, old, new)

    def _remove(self, key: ObjectKey) -> None:
        old = self._store.pop(key, None)
        if old is None:
            return
        for name in self._index_funcs:
            self._file(name, key, old, None)
        self._notify(EventType.DELETED, key, old, None)

    def _file(self, name: str, key: ObjectKey, old: T | None, new: T | None) -> None:
        """Move ``key`` in index ``name`` from the values of ``old`` to those of ``new``."""
        func = self._index_funcs[name]
        index = self._indexes[name]
        before = set(func(old)) if old is not None else set()
        after = set(func(new)) if new is not None else set()
        for value in before - after:
            bucket = index.get(value)
            if bucket is not None:
                bucket.pop(key, None)
                if not bucket:
                    del index[value]
        for value in after - before:
            index.setdefault(value, {})[key] = None

    def _notify(self, event_type: EventType, key: ObjectKey, old: T | None, new: T | None) -> None:
        for handler in self._handlers:
            try:
                handler(event_type, key, old, new)
            except Exception:
                # The store is already updated; one faulty handler must not starve the others.
                log.exception("informer.handler_failed", kind=self.kind, key=str(key))
