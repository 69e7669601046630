"""Plain values shared by every layer: resource types, object references and watch events.

Objects from the API server stay raw JSON dicts (``Mapping[str, Any]``); these types name them.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

RawObject = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class ResourceType:
    """An API resource: where it lives (group/version/plural) and what it is called (kind)."""

    group: str  # "" for the core group
    version: str
    plural: str
    kind: str
    namespaced: bool = True

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(self, *, namespace: str | None = None, name: str | None = None) -> str:
        """The REST path: collection (all namespaces or one) or a single object."""
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if namespace is not None and self.namespaced:
            base += f"/namespaces/{namespace}"
        base += f"/{self.plural}"
        if name is not None:
            base += f"/{name}"
        return base


CONFIGMAPS = ResourceType("", "v1", "configmaps", "ConfigMap")
SECRETS = ResourceType("", "v1", "secrets", "Secret")
NAMESPACES = ResourceType("", "v1", "namespaces", "Namespace", namespaced=False)
EVENTS = ResourceType("", "v1", "events", "Event")
DEPLOYMENTS = ResourceType("apps", "v1", "deployments", "Deployment")
DAEMONSETS = ResourceType("apps", "v1", "daemonsets", "DaemonSet")
STATEFULSETS = ResourceType("apps", "v1", "statefulsets", "StatefulSet")
CRONJOBS = ResourceType("batch", "v1", "cronjobs", "CronJob")
JOBS = ResourceType("batch", "v1", "jobs", "Job")
ROLLOUTS = ResourceType("argoproj.io", "v1alpha1", "rollouts", "Rollout")
SPC_POD_STATUSES = ResourceType(
    "secrets-store.csi.x-k8s.io",
    "v1",
    "secretproviderclasspodstatuses",
    "SecretProviderClassPodStatus",
)
LEASES = ResourceType("coordination.k8s.io", "v1", "leases", "Lease")
NODES = ResourceType("", "v1", "nodes", "Node", namespaced=False)
PODS = ResourceType("", "v1", "pods", "Pod")
REPLICASETS = ResourceType("apps", "v1", "replicasets", "ReplicaSet")


@dataclass(frozen=True, slots=True, order=True)
class ObjectKey:
    """Identity of one namespaced object of one kind: the unit of work of a controller."""

    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind}/{self.namespace}/{self.name}"


def version_number(version: str) -> int | None:
    """A resourceVersion as an integer (what etcd revisions are), or None when it is not one."""
    try:
        return int(version)
    except ValueError:
        return None


def is_newer(candidate: str, current: str) -> bool:
    """Whether ``candidate`` is a newer resourceVersion than ``current``.

    resourceVersions are opaque strings; in practice they are etcd revisions, so they are compared
    as integers when both parse as such. Otherwise any *different* version is taken as newer.
    """
    new, old = version_number(candidate), version_number(current)
    if new is not None and old is not None:
        return new > old
    return candidate != current


def key_of(kind: str, obj: RawObject) -> ObjectKey:
    """The key of a raw object; its namespace interned (caches hold thousands of keys per one)."""
    meta = obj.get("metadata") or {}
    namespace = meta.get("namespace") or ""
    return ObjectKey(
        kind,
        sys.intern(namespace) if type(namespace) is str else str(namespace),
        str(meta.get("name") or ""),
    )


class EventType(StrEnum):
    """What a list-then-watch stream reports.

    A stream is: RESET, one ADDED per listed object, SYNCED, then ADDED/MODIFIED/DELETED as they
    happen; after a relist (410, reconnect without a resourceVersion) it starts again with RESET.
    A consumer that sees SYNCED drops every object it was not told about since the last RESET.
    """

    RESET = "RESET"
    ADDED = "ADDED"
    MODIFIED = "MODIFIED"
    DELETED = "DELETED"
    SYNCED = "SYNCED"


@dataclass(frozen=True, slots=True)
class WatchEvent:
    type: EventType
    object: RawObject | None = None
