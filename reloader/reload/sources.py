"""The sources side of the reload controller: ConfigMaps, Secrets and CSI pod statuses.

One informer per source type, each storing only a :class:`SourceView` (a SHA-1 of the data, never
the data), with two indexes: by namespace (for explicit reload lists, which may name sources the
pod template does not reference) and by name (a CSI SecretProviderClass has one
SecretProviderClassPodStatus per pod: the most recently updated one stands for the class).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from functools import partial
from typing import TYPE_CHECKING

from reloader.core.annotations import SourceKind
from reloader.core.objects import CONFIGMAPS, SECRETS, SPC_POD_STATUSES, EventType, ObjectKey
from reloader.reload.domain.plans import parse_record
from reloader.reload.domain.views import SourceView, summarize_source
from reloader.runtime.informer import is_newer

if TYPE_CHECKING:
    from reloader.core.objects import ResourceType
    from reloader.reload.domain.views import WorkloadView
    from reloader.settings import Settings
    from reloader.workloads.scope import InformerSet, Scope

SOURCE_TYPES: Mapping[SourceKind, ResourceType] = {
    SourceKind.CONFIGMAP: CONFIGMAPS,
    SourceKind.SECRET: SECRETS,
    SourceKind.SECRETPROVIDERCLASS: SPC_POD_STATUSES,
}
#: Reloader's resource_type metric label for each source kind: the resource's plural
RESOURCE_NAMES = {kind: rt.plural for kind, rt in SOURCE_TYPES.items()}

SourceHandler = Callable[[EventType, ObjectKey, SourceView | None, SourceView | None], None]


class Sources:
    """The source informers of the configured scope, and lookups over them."""

    def __init__(self, *, scope: Scope, settings: Settings, on_change: SourceHandler) -> None:
        self.settings = settings
        self.informers: dict[SourceKind, InformerSet[SourceView]] = {}
        for source_kind, rt in SOURCE_TYPES.items():
            if source_kind in settings.reload.resources_to_ignore:
                continue
            if source_kind is SourceKind.SECRETPROVIDERCLASS and not settings.reload.csi:
                continue
            inf = scope.informer(
                rt,
                transform=partial(summarize_source, source_kind),
                label_selector=settings.scope.resource_label_selector or None,
                # small pages: each raw page is held in memory until it is hashed
                page_size=100,
            )
            inf.add_index("namespace", lambda v: (v.namespace,))
            inf.add_index("name", lambda v: ((v.namespace, v.name),))
            inf.add_handler(on_change)
            self.informers[source_kind] = inf

    @property
    def synced(self) -> bool:
        return all(i.has_synced for i in self.informers.values())

    def get(self, kind: SourceKind, namespace: str, name: str) -> SourceView | None:
        """The cached source; for a SecretProviderClass, its most recently updated pod status."""
        inf = self.informers.get(kind)
        if inf is None:
            return None
        newest: SourceView | None = None
        for src in inf.by_index("name", (namespace, name)):
            newest = _newer(newest, src)
        return newest

    def candidates(self, view: WorkloadView) -> list[SourceView]:
        """The sources a workload's decision must see: referenced ones and, for each kind with
        an explicit reload list, every source of that kind in its namespace."""
        found: dict[tuple[SourceKind, str], SourceView] = {}
        explicit = set(explicit_kinds(view, self.settings))
        for source_kind, inf in self.informers.items():
            if source_kind in explicit:
                for src in inf.by_index("namespace", view.namespace):
                    found[(source_kind, src.name)] = _newer(found.get((source_kind, src.name)), src)
        for ref in view.references:
            src_or_none = self.get(ref.source_kind, view.namespace, ref.name)
            if src_or_none is not None:
                found[(ref.source_kind, ref.name)] = src_or_none
        return sorted(found.values(), key=lambda s: (s.kind.value, s.name))

    def deleted(self, view: WorkloadView) -> frozenset[str]:
        """Recorded ConfigMaps/Secrets that no longer exist (CSI statuses come and go with pods,
        so, as in Reloader, their deletion is not a change)."""
        record, _ = parse_record(view.annotations.get(self.settings.names.applied_hashes), key="")
        gone = set()
        for record_key in record:
            prefix, _, name = record_key.partition("/")
            for source_kind in self.informers:
                if (
                    source_kind.record_prefix == prefix
                    and source_kind is not SourceKind.SECRETPROVIDERCLASS
                    and self.get(source_kind, view.namespace, name) is None
                ):
                    gone.add(record_key)
        return frozenset(gone)


def explicit_kinds(view: WorkloadView, settings: Settings) -> Iterable[SourceKind]:
    """Source kinds whose explicit reload list is set on the workload (metadata or template)."""
    names = settings.names
    for source_kind, annotation in (
        (SourceKind.CONFIGMAP, names.configmap_reload),
        (SourceKind.SECRET, names.secret_reload),
        (SourceKind.SECRETPROVIDERCLASS, names.spc_reload),
    ):
        if annotation in view.annotations or annotation in view.template_annotations:
            yield source_kind


def _newer(current: SourceView | None, candidate: SourceView) -> SourceView:
    if current is None or is_newer(candidate.resource_version, current.resource_version):
        return candidate
    return current
