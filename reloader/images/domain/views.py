"""What the image watcher caches of a workload: its state, containers and pull credentials' names.

Workloads without ``reloader.stakater.com/image-watch`` (or with it set to false) are not cached
at all: the transform returns None.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from reloader.core.annotations import parse_bool
from reloader.images.domain.watch import Container
from reloader.workloads.domain.kinds import get_path
from reloader.workloads.domain.references import as_list, as_mapping, as_str, str_map
from reloader.workloads.domain.rollouts import WorkloadState, summarize_state

if TYPE_CHECKING:
    from collections.abc import Mapping
    from collections.abc import Set as AbstractSet

    from reloader.workloads.domain.kinds import WorkloadKind


@dataclass(frozen=True, slots=True)
class ImageWorkload:
    state: WorkloadState
    containers: tuple[Container, ...] = ()
    #: ``imagePullSecrets`` of the pod template
    pull_secrets: tuple[str, ...] = ()
    service_account: str = "default"

    @property
    def credential_source(self) -> str:
        """Where its pull credentials come from (lookups on registries that demand credentials
        are shared between workloads with the same source)."""
        if self.pull_secrets:
            return f"{self.namespace}/secrets:{','.join(sorted(self.pull_secrets))}"
        return f"{self.namespace}/serviceaccount:{self.service_account}"

    # the identity the informer keys and versions it by
    @property
    def kind(self) -> str:
        return self.state.kind

    @property
    def namespace(self) -> str:
        return self.state.namespace

    @property
    def name(self) -> str:
        return self.state.name

    @property
    def resource_version(self) -> str:
        return self.state.resource_version


def summarize_images(
    kind: WorkloadKind, obj: Mapping[str, Any], *, watch_key: str, keep: AbstractSet[str]
) -> ImageWorkload | None:
    """The cached form of an opted-in workload; None for any other (never raises)."""
    annotations = str_map(as_mapping(as_mapping(obj).get("metadata")).get("annotations"))
    value = annotations.get(watch_key)
    if value is None or parse_bool(value) is False:
        return None
    spec = as_mapping(get_path(obj, (*kind.template_path, "spec")))
    containers = tuple(
        Container(
            name=as_str(c.get("name")) or "",
            image=as_str(c.get("image")) or "",
            init=field == "initContainers",
        )
        for field in ("initContainers", "containers")
        for c in map(as_mapping, as_list(spec.get(field)))
    )
    secrets = tuple(
        name
        for s in map(as_mapping, as_list(spec.get("imagePullSecrets")))
        if (name := as_str(s.get("name")))
    )
    return ImageWorkload(
        state=summarize_state(kind, obj, keep=keep),
        containers=containers,
        pull_secrets=secrets,
        service_account=as_str(spec.get("serviceAccountName")) or "default",
    )
