"""Which sources a workload's reload decision sees, and which recorded ones are gone.

One rule for the controller (over its informer caches, ``reload/sources.py``) and for
``reloader explain`` (over a LIST of the workload's namespace), so the two cannot disagree:

- the *candidates* are the sources the pod template references and, for each kind whose explicit
  reload list is set on the workload (metadata or pod template), every source of that kind in its
  namespace (a list may name sources the pod spec does not use);
- a CSI SecretProviderClass has one SecretProviderClassPodStatus per pod, all with the class's
  name: the one with the newest resourceVersion stands for the class;
- the *missing* sources are the record keys (``configmap/<name>``) of ConfigMaps and Secrets that
  are recorded on the workload and no longer exist (CSI statuses come and go with pods, so, as in
  Reloader, their deletion is not a change);
- the *peers* of a source (the workloads a change of it may roll) are those whose pod template
  references it and those with an explicit reload list in its namespace: the controller's two
  informer indexes and explain's waves both read this rule;
- only the watched kinds count (``--resources-to-ignore``, ``--enable-csi-integration``): a
  source of another kind is neither a candidate nor missing.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from reloader.core.annotations import SourceKind
from reloader.core.objects import CONFIGMAPS, SECRETS, SPC_POD_STATUSES, is_newer
from reloader.reload.domain.stamps import parse_record

if TYPE_CHECKING:
    from reloader.core.annotations import AnnotationNames
    from reloader.core.objects import ResourceType
    from reloader.reload.domain.views import SourceView, WorkloadView
    from reloader.settings import ReloadSettings

#: the API resource of each source kind
SOURCE_TYPES: Mapping[SourceKind, ResourceType] = {
    SourceKind.CONFIGMAP: CONFIGMAPS,
    SourceKind.SECRET: SECRETS,
    SourceKind.SECRETPROVIDERCLASS: SPC_POD_STATUSES,
}
#: Reloader's name of each source type (its resource's plural): ``resource_type`` labels, Event
#: components, ``--resources-to-ignore`` values
RESOURCE_NAMES: Mapping[SourceKind, str] = {kind: rt.plural for kind, rt in SOURCE_TYPES.items()}

SourceId = tuple[SourceKind, str]


@dataclass(frozen=True, slots=True)
class Candidates:
    #: what the plan sees, one per (kind, name), in (kind, name) order
    sources: tuple[SourceView, ...]
    #: record keys of recorded ConfigMaps/Secrets that no longer exist
    missing: frozenset[str]


@dataclass(frozen=True, slots=True)
class Wanted:
    """What a caller must look up so that :func:`candidates` sees everything it needs."""

    #: every source of these kinds in the workload's namespace
    kinds: frozenset[SourceKind]
    #: and these (kind, name): the referenced and the recorded ones
    names: frozenset[SourceId]


def watched_kinds(settings: ReloadSettings) -> tuple[SourceKind, ...]:
    """The source kinds the controller watches: not ``--resources-to-ignore``d, CSI only with
    ``--enable-csi-integration``."""
    return tuple(
        kind
        for kind in SourceKind
        if kind not in settings.resources_to_ignore
        and (kind is not SourceKind.SECRETPROVIDERCLASS or settings.csi)
    )


def explicit_kinds(view: WorkloadView, names: AnnotationNames) -> Iterator[SourceKind]:
    """Source kinds whose explicit reload list is set on the workload (metadata or template)."""
    for source_kind in SourceKind:
        annotation = source_kind.explicit_key(names)
        if annotation in view.annotations or annotation in view.template_annotations:
            yield source_kind


SourceRef = tuple[SourceKind, str, str]  # (kind, namespace, name)


def reference_keys(view: WorkloadView) -> frozenset[SourceRef]:
    """The sources a workload's pod template uses (the ``references`` index)."""
    return frozenset((r.source_kind, view.namespace, r.name) for r in view.references)


def explicit_namespaces(view: WorkloadView, names: AnnotationNames) -> tuple[str, ...]:
    """The namespace of a workload with an explicit reload list (the ``explicit`` index)."""
    return (view.namespace,) if any(True for _ in explicit_kinds(view, names)) else ()


def is_peer(view: WorkloadView, source: SourceRef, names: AnnotationNames) -> bool:
    """A change of ``source`` may roll ``view``: the two indexes above, as one predicate."""
    return source in reference_keys(view) or source[1] in explicit_namespaces(view, names)


def _recorded(view: WorkloadView, names: AnnotationNames) -> Iterator[SourceId]:
    record, _ = parse_record(view.annotations.get(names.applied_hashes), key="")
    for record_key in record:
        if (parsed := SourceKind.of_record_key(record_key)) is not None:
            yield parsed


def wanted(view: WorkloadView, *, names: AnnotationNames, kinds: Iterable[SourceKind]) -> Wanted:
    kinds = frozenset(kinds)
    named = {(r.source_kind, r.name) for r in view.references} | set(_recorded(view, names))
    return Wanted(
        kinds=frozenset(explicit_kinds(view, names)) & kinds,
        names=frozenset(n for n in named if n[0] in kinds),
    )


def newest(sources: Iterable[SourceView]) -> dict[SourceId, SourceView]:
    """One source per (kind, name): the newest resourceVersion (several CSI pod statuses of one
    SecretProviderClass); of equal versions, the first."""
    out: dict[SourceId, SourceView] = {}
    for src in sources:
        key = (src.kind, src.name)
        current = out.get(key)
        if current is None or is_newer(src.resource_version, current.resource_version):
            out[key] = src
    return out


def candidates(
    view: WorkloadView,
    sources: Iterable[SourceView],
    *,
    names: AnnotationNames,
    kinds: Iterable[SourceKind],
) -> Candidates:
    """The candidates and missing sources of ``view`` among ``sources``.

    ``sources``: sources of the workload's namespace, at least those :func:`wanted` names (more
    do no harm: a whole LIST of the namespace will do); sources of other namespaces or kinds
    are ignored.
    """
    kinds = frozenset(kinds)
    existing = newest(s for s in sources if s.namespace == view.namespace and s.kind in kinds)
    explicit = frozenset(explicit_kinds(view, names))
    referenced = {(r.source_kind, r.name) for r in view.references}
    chosen = [s for key, s in sorted(existing.items()) if key[0] in explicit or key in referenced]
    missing = {
        source_kind.record_key(name)
        for source_kind, name in _recorded(view, names)
        if source_kind in kinds
        and source_kind is not SourceKind.SECRETPROVIDERCLASS
        and (source_kind, name) not in existing
    }
    return Candidates(sources=tuple(chosen), missing=frozenset(missing))
