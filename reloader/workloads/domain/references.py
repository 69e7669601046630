"""Which ConfigMaps, Secrets and SecretProviderClasses a pod spec uses, and through what.

Two questions depend on references: whether an *auto* decision may act at all (it needs a
reference), and which container receives the ``STAKATER_*`` env var. Reloader answers the second
with a precise order (first volume, then env; init containers redirect to the first regular
container) that this module reproduces, so a workload Reloader stamped keeps its env var in the
same container.

Pod specs are raw JSON and may be malformed (``containers: null``, ``env: "x"``): the accessors
below treat anything of the wrong type as absent, so discovery never raises.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from reloader.core.annotations import SourceKind

Via = Literal["env", "envFrom", "volume", "projected", "csi"]


def as_mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def as_str(value: Any) -> str | None:
    """The value if it is a non-empty string, else None."""
    return value if isinstance(value, str) and value else None


def str_map(value: Any) -> dict[str, str]:
    """The string-to-string entries of a mapping (annotations, labels); others dropped."""
    return {k: v for k, v in as_mapping(value).items() if isinstance(v, str)}


@dataclass(frozen=True, slots=True)
class Reference:
    """One use of a source by one container of a pod template."""

    source_kind: SourceKind
    name: str
    container: str
    via: Via
    #: the container is an init container
    init: bool = False
    #: the pod volume, for volume, projected and csi references
    volume: str | None = None


def named_containers(pod_spec: Mapping[str, Any], field: str) -> list[Mapping[str, Any]]:
    """The containers (or initContainers) that are mappings with a name, in order."""
    return [
        c
        for c in as_list(as_mapping(pod_spec).get(field))
        if isinstance(c, Mapping) and as_str(c.get("name"))
    ]


def _volume_sources(volume: Mapping[str, Any]) -> Iterator[tuple[SourceKind, str, Via]]:
    if name := as_str(as_mapping(volume.get("configMap")).get("name")):
        yield SourceKind.CONFIGMAP, name, "volume"
    if name := as_str(as_mapping(volume.get("secret")).get("secretName")):
        yield SourceKind.SECRET, name, "volume"
    for source in as_list(as_mapping(volume.get("projected")).get("sources")):
        source = as_mapping(source)
        if name := as_str(as_mapping(source.get("configMap")).get("name")):
            yield SourceKind.CONFIGMAP, name, "projected"
        if name := as_str(as_mapping(source.get("secret")).get("name")):
            yield SourceKind.SECRET, name, "projected"
    attributes = as_mapping(as_mapping(volume.get("csi")).get("volumeAttributes"))
    if name := as_str(attributes.get("secretProviderClass")):
        yield SourceKind.SECRETPROVIDERCLASS, name, "csi"


def _volumes(pod_spec: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    out: list[tuple[str, Mapping[str, Any]]] = []
    for volume in as_list(pod_spec.get("volumes")):
        volume = as_mapping(volume)
        if name := as_str(volume.get("name")):
            out.append((name, volume))
    return out


def _env_sources(container: Mapping[str, Any]) -> Iterator[tuple[SourceKind, str, Via]]:
    for env in as_list(container.get("env")):
        value_from = as_mapping(as_mapping(env).get("valueFrom"))
        if name := as_str(as_mapping(value_from.get("configMapKeyRef")).get("name")):
            yield SourceKind.CONFIGMAP, name, "env"
        if name := as_str(as_mapping(value_from.get("secretKeyRef")).get("name")):
            yield SourceKind.SECRET, name, "env"
    for env_from in as_list(container.get("envFrom")):
        env_from = as_mapping(env_from)
        if name := as_str(as_mapping(env_from.get("configMapRef")).get("name")):
            yield SourceKind.CONFIGMAP, name, "envFrom"
        if name := as_str(as_mapping(env_from.get("secretRef")).get("name")):
            yield SourceKind.SECRET, name, "envFrom"


def _mounts(container: Mapping[str, Any]) -> list[str]:
    return [
        name
        for m in as_list(container.get("volumeMounts"))
        if (name := as_str(as_mapping(m).get("name")))
    ]


def find_references(pod_spec: Mapping[str, Any] | None) -> tuple[Reference, ...]:
    """Every reference of every (init) container, without duplicates, in a stable order.

    Order: regular containers then init containers, each in pod order; within a container env,
    envFrom, then its volume mounts in mount order. A volume counts only for the containers that
    mount it (by ``volumeMounts[].name``, with or without subPath).
    """
    spec = as_mapping(pod_spec)
    volumes = dict(reversed(_volumes(spec)))  # the first volume of a (duplicated) name wins
    found: dict[Reference, None] = {}
    for field, init in (("containers", False), ("initContainers", True)):
        for container in named_containers(spec, field):
            cname = container["name"]
            for kind, name, via in _env_sources(container):
                found.setdefault(Reference(kind, name, cname, via, init))
            for mount in _mounts(container):
                for kind, name, via in _volume_sources(volumes.get(mount, {})):
                    found.setdefault(Reference(kind, name, cname, via, init, mount))
    return tuple(found)


def _first_volume(spec: Mapping[str, Any], source_kind: SourceKind, name: str) -> str | None:
    for vname, volume in _volumes(spec):
        for kind, source, _via in _volume_sources(volume):
            if kind is source_kind and source == name:
                return vname
    return None


def target_container(
    pod_spec: Mapping[str, Any] | None, source_kind: SourceKind, name: str
) -> str | None:
    """The container Reloader stamps for a source, or None when nothing references it.

    1. The *first* volume that holds the source: the first regular container mounting it; if only
       an init container mounts it, the first regular container. If nobody mounts that volume,
       go on to env references (other volumes with the same source are not considered).
    2. The first regular container with an env/envFrom reference; if only an init container has
       one, the first regular container.
    3. None. (An explicit-list decision then falls back to the first regular container; that
       choice belongs to the caller, which knows the decision.)
    """
    spec = as_mapping(pod_spec)
    containers = named_containers(spec, "containers")
    inits = named_containers(spec, "initContainers")
    first = containers[0]["name"] if containers else None
    volume = _first_volume(spec, source_kind, name)
    if volume is not None:
        for container in containers:
            if volume in _mounts(container):
                return str(container["name"])
        if any(volume in _mounts(c) for c in inits):
            return first
    for container in containers:
        if any(k is source_kind and n == name for k, n, _ in _env_sources(container)):
            return str(container["name"])
    for container in inits:
        if any(k is source_kind and n == name for k, n, _ in _env_sources(container)):
            return first
    return None
