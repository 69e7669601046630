"""The reduced forms of sources and workloads that the informer caches keep.

Reloader caches every ConfigMap and Secret whole, which is why it runs out of memory on large
clusters. A decision needs far less: of a source, its identity, its annotations and a
content hash; of a workload, its annotations, the sources its pod template references, the
container names and the ``STAKATER_*`` env vars already set. Everything else, in particular all
ConfigMap and Secret data, is dropped as soon as an object arrives. kubectl's
``last-applied-configuration`` annotation is dropped too: it is a full copy of the object (with a
Secret's data in it) and never an input to a decision.

Summaries never raise: a malformed object (missing metadata, ``containers: null``, ``env: "x"``)
gives a view in which the unusable parts are absent.
"""

from __future__ import annotations

import sys
from bisect import bisect_left
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from reloader.core.annotations import LAST_APPLIED, SourceKind
from reloader.reload.domain.hashing import key_digests, source_hash
from reloader.workloads.domain.kinds import pod_template
from reloader.workloads.domain.references import (
    Reference,
    as_list,
    as_mapping,
    as_str,
    find_references,
    named_containers,
    str_map,
    target_container,
)
from reloader.workloads.domain.rollouts import WorkloadIdentity, rollout_outcome, summarize_state
from reloader.workloads.domain.wave_pods import Revision, revision_of

if TYPE_CHECKING:
    from reloader.workloads.domain.kinds import WorkloadKind

ENV_PREFIX = "STAKATER_"

#: the annotations or labels of every source that has none: one shared, read-only empty mapping
#: instead of an empty dict per object
NO_STRINGS: Mapping[str, str] = MappingProxyType({})

_DIGEST_BYTES = 6  # the 12 hex characters of hashing.key_digests


class KeyDigests(Mapping[str, str]):
    """The per-key digests of one source, kept compactly: the key names, sorted, and one bytes.

    Reads as the ``{key: 12 hex characters}`` mapping ``hashing.key_digests`` returns (the hex
    text is made again on each read, identical), at a third of a dict's size: a dict of two keys
    and two 12-character strings is about 330 bytes, this about 150.
    """

    __slots__ = ("_digests", "_keys")

    def __init__(self, keys: tuple[str, ...] = (), digests: bytes = b"") -> None:
        self._keys = keys
        self._digests = digests

    @classmethod
    def of(cls, hex_digests: Mapping[str, str]) -> Mapping[str, str]:
        """The compact form of ``hex_digests``; the mapping itself if a value is not 12 hex."""
        if not hex_digests:
            return NO_DIGESTS
        keys = tuple(sorted(hex_digests))
        try:
            raw = b"".join(bytes.fromhex(hex_digests[k]) for k in keys)
        except ValueError:
            return hex_digests
        if len(raw) != _DIGEST_BYTES * len(keys):
            return hex_digests
        return cls(keys, raw)

    def __getitem__(self, key: str) -> str:
        i = bisect_left(self._keys, key)
        if i == len(self._keys) or self._keys[i] != key:
            raise KeyError(key)
        return self._digests[i * _DIGEST_BYTES : (i + 1) * _DIGEST_BYTES].hex()

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def __hash__(self) -> int:  # immutable, unlike a dict
        return hash((self._keys, self._digests))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, KeyDigests):
            return self._keys == other._keys and self._digests == other._digests
        return super().__eq__(other)

    def __repr__(self) -> str:
        return f"KeyDigests({dict(self)!r})"


NO_DIGESTS = KeyDigests()


@dataclass(frozen=True, slots=True)
class SourceView:
    """What reloader keeps of a ConfigMap, a Secret or a SecretProviderClassPodStatus."""

    kind: SourceKind
    namespace: str
    #: for SECRETPROVIDERCLASS the SecretProviderClass name (what workloads reference)
    name: str
    annotations: Mapping[str, str]
    labels: Mapping[str, str]
    hash: str
    resource_version: str = ""
    #: a short digest per data key, for key-level filters (``reloader.stakater.com/reload-keys``)
    key_hashes: Mapping[str, str] = NO_DIGESTS


def _annotations(meta: Mapping[str, Any]) -> dict[str, str]:
    values = str_map(meta.get("annotations"))
    values.pop(LAST_APPLIED, None)
    return values


def summarize_source(source_kind: SourceKind, obj: Mapping[str, Any]) -> SourceView:
    """Reduce a source object to its view; its data is hashed and dropped.

    For ``SECRETPROVIDERCLASS`` the object is a SecretProviderClassPodStatus: the name is its
    ``status.secretProviderClassName`` (what pod volumes name), the hash covers its mounted object
    versions. Its own annotations and labels are kept; Reloader reads ``ignore``/``match`` from the
    SecretProviderClass itself, so a caller that has those may substitute them
    (``dataclasses.replace``).
    """
    obj = as_mapping(obj)
    meta = as_mapping(obj.get("metadata"))
    if source_kind is SourceKind.SECRETPROVIDERCLASS:
        name = as_str(as_mapping(obj.get("status")).get("secretProviderClassName")) or ""
    else:
        name = as_str(meta.get("name")) or ""
    # Kept for every ConfigMap and Secret of the cluster, so kept small: namespaces interned
    # (thousands of sources share a few), one shared empty mapping for no annotations or labels,
    # the per-key digests as KeyDigests (measured by tests/bench/memory_probe.py).
    return SourceView(
        kind=source_kind,
        namespace=sys.intern(as_str(meta.get("namespace")) or ""),
        name=name,
        annotations=_annotations(meta) or NO_STRINGS,
        labels=str_map(meta.get("labels")) or NO_STRINGS,
        hash=source_hash(source_kind, obj),
        resource_version=as_str(meta.get("resourceVersion")) or "",
        key_hashes=KeyDigests.of(key_digests(source_kind, obj)),
    )


@dataclass(frozen=True, slots=True)
class WorkloadView(WorkloadIdentity):
    """What reloader keeps of a Deployment, DaemonSet, StatefulSet, CronJob, Job or Rollout."""

    #: metadata annotations
    annotations: Mapping[str, str] = field(default_factory=dict)
    #: pod-template annotations
    template_annotations: Mapping[str, str] = field(default_factory=dict)
    references: tuple[Reference, ...] = ()
    #: regular container names, in pod order
    containers: tuple[str, ...] = ()
    #: container name → {env var name → value}, only ``STAKATER_*`` vars of regular containers
    stakater_env: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    paused: bool = False
    #: (source kind, name) → the container Reloader would stamp, for referenced sources
    targets: Mapping[tuple[SourceKind, str], str] = field(default_factory=dict)
    #: the workload's own controller reports its last rollout finished (always True for kinds
    #: without rollouts: CronJob, Job)
    rollout_complete: bool = True
    #: why the last rollout will not finish by itself (progress deadline exceeded, paused,
    #: degraded), or "": what a wave's health verdict reads (``workloads/domain/waves.py``)
    rollout_failure: str = ""
    #: the pod label selector as a query string: the pods a wave's verdict looks at
    selector: str | None = None
    #: ``spec.progressDeadlineSeconds`` (Deployments, Rollouts): bounds the default health timeout
    progress_deadline: int | None = None
    #: how its latest pods are told from older ones (``workloads/domain/wave_pods.py``)
    revision: Revision | None = None


def _stakater_env(pod_spec: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for container in named_containers(pod_spec, "containers"):
        found: dict[str, str] = {}
        for env in as_list(container.get("env")):
            env = as_mapping(env)
            name, value = as_str(env.get("name")), env.get("value")
            if name and name.startswith(ENV_PREFIX) and isinstance(value, str):
                found.setdefault(name, value)
        if found:
            out.setdefault(container["name"], found)
    return out


def summarize_workload(kind: WorkloadKind, obj: Mapping[str, Any]) -> WorkloadView:
    """Reduce a workload object to its view; never raises on a malformed object."""
    obj = as_mapping(obj)
    meta = as_mapping(obj.get("metadata"))
    template = as_mapping(pod_template(kind, obj))
    pod_spec = as_mapping(template.get("spec"))
    references = find_references(pod_spec)
    targets: dict[tuple[SourceKind, str], str] = {}
    for kind_name in dict.fromkeys((ref.source_kind, ref.name) for ref in references):
        if (target := target_container(pod_spec, *kind_name)) is not None:
            targets[kind_name] = target
    return WorkloadView(
        kind=kind.kind,
        namespace=as_str(meta.get("namespace")) or "",
        name=as_str(meta.get("name")) or "",
        uid=as_str(meta.get("uid")) or "",
        resource_version=as_str(meta.get("resourceVersion")) or "",
        annotations=_annotations(meta),
        template_annotations=_annotations(as_mapping(template.get("metadata"))),
        references=references,
        containers=tuple(c["name"] for c in named_containers(pod_spec, "containers")),
        stakater_env=_stakater_env(pod_spec),
        paused=as_mapping(obj.get("spec")).get("paused") is True,
        targets=targets,
        **_rollout_fields(kind, obj),
    )


def _rollout_fields(
    kind: WorkloadKind, obj: Mapping[str, Any], *, metadata_written: bool = False
) -> dict[str, Any]:
    """Whether no rollout of the workload is under way (what the rollout gate waits for), and
    what a wave's health verdict reads.

    ``rollout_complete`` is ``reloader.workloads.domain.rollouts.rollout_progress`` (``kubectl
    rollout status``), where a rollout that will not finish by itself (past its progress deadline,
    paused, a degraded Argo Rollout) is not under way either, and pods that are only replaced
    when deleted (OnDelete) or kept by a partition count as rolled out. Kinds without rollouts
    (Jobs, CronJobs): always complete. ``metadata_written``: ``obj`` is what our own
    metadata-only write returned, whose generation bump is no rollout (``rollout_progress``).
    """
    if not kind.rolls_out:
        return {}
    state = summarize_state(kind, obj)
    outcome = rollout_outcome(state, metadata_written=metadata_written)
    return {
        "rollout_complete": outcome.settled,
        "rollout_failure": outcome.failure,
        "selector": state.selector,
        "progress_deadline": state.progress_deadline,
        "revision": revision_of(state),
    }


def rollout_complete(
    kind: WorkloadKind, obj: Mapping[str, Any], *, metadata_written: bool = False
) -> bool:
    """Whether no rollout of the workload is under way (see ``_rollout_fields``)."""
    fields = _rollout_fields(kind, obj, metadata_written=metadata_written)
    return bool(fields.get("rollout_complete", True))
