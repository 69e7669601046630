"""Which namespaces the controller watches and acts in (docs/flags.md#watch-scope).

Global mode watches every namespace with one stream per resource type, then applies
``--namespaces-to-ignore`` and ``--namespace-selector`` (a Namespace informer keeps the selected
names). Scoped mode (``--namespaces`` or ``KUBERNETES_NAMESPACE``) opens one stream per namespace
and type, so that namespaced RBAC is enough; an :class:`InformerSet` makes them look like one
store.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Container, Hashable, Iterable
from typing import TYPE_CHECKING, Generic, TypeVar

from reloader.core.objects import (
    NAMESPACES,
    EventType,
    ObjectKey,
    RawObject,
    ResourceType,
    WatchEvent,
)
from reloader.kube.watch import list_then_watch
from reloader.runtime.informer import Handler, Informer

if TYPE_CHECKING:
    from reloader.kube.client import KubeClient
    from reloader.settings import ScopeSettings

T = TypeVar("T")


class InformerSet(Generic[T]):
    """Several informers of one kind (one per namespace) read as one store."""

    def __init__(self, members: dict[str | None, Informer[T]]) -> None:
        self.members = members

    def _for(self, namespace: str) -> Informer[T] | None:
        return self.members.get(namespace) or self.members.get(None)

    @property
    def has_synced(self) -> bool:
        return all(m.has_synced for m in self.members.values())

    def add_handler(self, handler: Handler[T]) -> None:
        for m in self.members.values():
            m.add_handler(handler)

    def add_index(self, name: str, func: Callable[[T], Iterable[Hashable]]) -> None:
        for m in self.members.values():
            m.add_index(name, func)

    def get(self, key: ObjectKey) -> T | None:
        inf = self._for(key.namespace)
        return inf.get(key) if inf is not None else None

    def upsert(self, obj: T, *, notify: bool = True) -> bool:
        namespace = str(getattr(obj, "namespace", ""))
        inf = self._for(namespace)
        return inf.upsert(obj, notify=notify) if inf is not None else False

    def by_index(self, name: str, value: Hashable) -> list[T]:
        return [o for m in self.members.values() for o in m.by_index(name, value)]

    def keys_by_index(self, name: str, value: Hashable) -> list[ObjectKey]:
        return [k for m in self.members.values() for k in m.keys_by_index(name, value)]

    def keys(self) -> list[ObjectKey]:
        return [k for m in self.members.values() for k in m.keys()]  # noqa: SIM118 - a method

    def list(self) -> list[T]:
        return [o for m in self.members.values() for o in m.list()]


class Scope:
    """Creates the informers for the configured scope and answers "is this namespace in it?"."""

    def __init__(self, *, client: KubeClient, settings: ScopeSettings) -> None:
        self.client = client
        self.settings = settings
        self.scoped = bool(settings.namespaces)
        self.informer_sets: list[InformerSet[object]] = []
        #: (resource, namespace, label selector, page size) -> the informer that runs its watch
        self._leaders: dict[tuple[ResourceType, str | None, str | None, int], Informer[object]] = {}
        self._selected: set[str] = set()
        self._listeners: list[Callable[[str], None]] = []
        self.namespaces: Informer[str] | None = None
        if not self.scoped and settings.namespace_selector:
            self.namespaces = Informer(
                kind="Namespace",
                watch=self._watch(NAMESPACES, None, settings.namespace_selector),
                transform=_namespace_version,
                version_of=lambda v: v.split("@", 1)[1],
                key_of=lambda v: ObjectKey("Namespace", "", v.split("@", 1)[0]),
            )
            self.namespaces.add_handler(self._on_namespace)

    def _watch(
        self,
        rt: ResourceType,
        namespace: str | None,
        label_selector: str | None,
        page_size: int = 500,
    ) -> Callable[[], AsyncIterator[WatchEvent]]:
        def factory() -> AsyncIterator[WatchEvent]:
            return list_then_watch(
                self.client,
                rt,
                namespace=namespace,
                label_selector=label_selector,
                page_size=page_size,
            )

        return factory

    def informer(
        self,
        rt: ResourceType,
        *,
        transform: Callable[[RawObject], T | None],
        label_selector: str | None = None,
        page_size: int = 500,
    ) -> InformerSet[T]:
        """Informers of ``rt`` in the scope, caching ``transform`` of each object.

        Asking twice for the same objects (the reload and schedule controllers both cache the
        workloads) opens one watch: the second informer follows the first.
        """
        namespaces: tuple[str | None, ...] = self.settings.namespaces if self.scoped else (None,)
        members: dict[str | None, Informer[T]] = {}
        for ns in namespaces:
            stream = (rt, ns, label_selector, page_size)
            leader = self._leaders.get(stream)
            if leader is None:
                member = Informer(
                    kind=rt.kind,
                    watch=self._watch(rt, ns, label_selector, page_size),
                    transform=transform,
                )
                self._leaders[stream] = member  # type: ignore[assignment]
            else:
                member = Informer(kind=rt.kind, watch=None, transform=transform)
                leader.add_follower(member)
            members[ns] = member
        result = InformerSet(members)
        self.informer_sets.append(result)  # type: ignore[arg-type]
        return result

    def all_informers(self) -> list[Informer[object]]:
        """The informers to run (followers are fed by them) and wait for."""
        out: list[Informer[object]] = list(self._leaders.values())
        if self.namespaces is not None:
            out.append(self.namespaces)  # type: ignore[arg-type]
        return out

    def synced(self) -> bool:
        return self.namespaces is None or self.namespaces.has_synced

    def on_namespace_change(self, listener: Callable[[str], None]) -> None:
        self._listeners.append(listener)

    def _on_namespace(
        self, event: EventType, key: ObjectKey, old: str | None, new: str | None
    ) -> None:
        if new is None:
            self._selected.discard(key.name)
        else:
            self._selected.add(key.name)
        if old is None or new is None:
            for listener in self._listeners:
                listener(key.name)

    def namespace_allowed(self, namespace: str) -> bool:
        selected = self._selected if self.namespaces is not None else None
        return namespace_in_scope(namespace, self.settings, selected=selected)


def namespace_in_scope(
    namespace: str, settings: ScopeSettings, *, selected: Container[str] | None
) -> bool:
    """Whether the controller acts in ``namespace``: scoped mode, exactly ``--namespaces``;
    global mode, not ``--namespaces-to-ignore`` and, with ``--namespace-selector``, among
    ``selected`` (the namespaces the selector matches; None: no selector)."""
    if settings.namespaces:
        return namespace in settings.namespaces
    if namespace in settings.namespaces_to_ignore:
        return False
    return selected is None or namespace in selected


def _namespace_version(obj: RawObject) -> str:
    meta = obj.get("metadata") or {}
    return f"{meta.get('name', '')}@{meta.get('resourceVersion', '')}"
