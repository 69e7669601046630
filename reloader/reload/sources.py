"""The sources side of the reload controller: ConfigMaps, Secrets and CSI pod statuses.

One informer per watched source type, each storing only a :class:`SourceView` (a SHA-1 of the
data, never the data), indexed by namespace (for explicit reload lists, which may name sources the
pod template does not reference). A referenced or recorded ConfigMap or Secret is found by its
key in the store; a SecretProviderClass by a second index, by name, since the objects cached for
it (its pod statuses) have names of their own. No index is kept that the store's key already
answers: each entry costs about as much as the view itself.
Which of them a workload's decision sees is ``domain.candidates``, the rule ``reloader explain``
applies to a LIST of the namespace.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

from reloader.core.annotations import SourceKind
from reloader.core.objects import EventType, ObjectKey
from reloader.reload.domain import candidates as rules
from reloader.reload.domain.candidates import (
    RESOURCE_NAMES,
    SOURCE_TYPES,
    Candidates,
    watched_kinds,
)
from reloader.reload.domain.views import SourceView, summarize_source

if TYPE_CHECKING:
    from reloader.reload.domain.views import WorkloadView
    from reloader.settings import Settings
    from reloader.workloads.scope import InformerSet, Scope

__all__ = ["RESOURCE_NAMES", "SOURCE_TYPES", "SourceHandler", "Sources"]

SourceHandler = Callable[[EventType, ObjectKey, SourceView | None, SourceView | None], None]


class Sources:
    """The source informers of the configured scope, and lookups over them."""

    def __init__(self, *, scope: Scope, settings: Settings, on_change: SourceHandler) -> None:
        self.settings = settings
        self.informers: dict[SourceKind, InformerSet[SourceView]] = {}
        for source_kind in watched_kinds(settings.reload):
            inf = scope.informer(
                SOURCE_TYPES[source_kind],
                transform=partial(summarize_source, source_kind),
                label_selector=settings.scope.resource_label_selector or None,
                # small pages: each raw page is held in memory until it is hashed
                page_size=100,
            )
            inf.add_index("namespace", _namespace)
            if source_kind is SourceKind.SECRETPROVIDERCLASS:
                inf.add_index("name", _namespace_name)
            inf.add_handler(on_change)
            self.informers[source_kind] = inf

    @property
    def synced(self) -> bool:
        return all(i.has_synced for i in self.informers.values())

    def find(self, kind: SourceKind, namespace: str, name: str) -> SourceView | None:
        """One cached source by name (for a CSI class: one of its pod statuses)."""
        return next(iter(self._by_name(kind, namespace, name)), None)

    def _by_name(self, kind: SourceKind, namespace: str, name: str) -> list[SourceView]:
        """ConfigMaps and Secrets by store key; a CSI class's pod statuses by its name index."""
        informer = self.informers.get(kind)
        if informer is None:
            return []
        if kind is SourceKind.SECRETPROVIDERCLASS:
            return list(informer.by_index("name", (namespace, name)))
        source = informer.get(ObjectKey(SOURCE_TYPES[kind].kind, namespace, name))
        return [] if source is None else [source]

    def lookup(self, view: WorkloadView) -> Candidates:
        """``domain.candidates`` over the cached sources that it may need."""
        names = self.settings.names
        want = rules.wanted(view, names=names, kinds=self.informers.keys())
        found: list[SourceView] = []
        for source_kind in want.kinds:
            found.extend(self.informers[source_kind].by_index("namespace", view.namespace))
        for source_kind, name in want.names:
            found.extend(self._by_name(source_kind, view.namespace, name))
        return rules.candidates(view, found, names=names, kinds=self.informers.keys())


def _namespace(view: SourceView) -> tuple[str]:
    return (view.namespace,)


def _namespace_name(view: SourceView) -> tuple[tuple[str, str]]:
    return ((view.namespace, view.name),)
