"""A source change shared by several workloads rolls in health-gated waves (docs/waves.md).

The reload side of ``workloads/waves.py``: which workloads are the targets of one source change
(its *peers*), read from the caches the controller already keeps (or, for ``reloader explain``,
from one LIST), and the one decision for a workload whose plan rolls one or more changes. A
change is the source's record key (``configmap/app``) and its new hash; the peers are the
workloads of kinds with rollouts whose own plan rolls the same hash (pending) or that carry it
already (rolled).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from reloader.core.annotations import parse_bool
from reloader.reload.domain.stamps import parse_record
from reloader.workloads.domain.kinds import KINDS
from reloader.workloads.domain.waves import (
    Go,
    Peer,
    PeerStatus,
    WaveDecision,
    canary_size_for,
    decide,
    governing,
    read_record,
    status_of,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from reloader.core.annotations import AnnotationNames, SourceKind
    from reloader.core.objects import ObjectKey
    from reloader.reload.domain.plans import ReloadPlan, RolledSource
    from reloader.reload.domain.views import SourceView, WorkloadView


@dataclass(frozen=True, slots=True)
class ReloadWave:
    """The decision for one workload's plan: the strictest of its changes' decisions."""

    decision: WaveDecision
    #: the change the decision is about (a halted or waiting one; for ROLL, the first waved)
    rolled: RolledSource | None = None
    #: changes that roll in waves: recorded on the workload with the rollout
    waved: tuple[RolledSource, ...] = ()
    warnings: tuple[str, ...] = ()

    def describe(self) -> str:
        r = self.rolled
        return "" if r is None else f"{r.source_kind.value.title()} {r.name} change {r.hash[:12]}"


#: peers' answers remembered (forgotten all at once beyond this many)
TARGETS_KEPT = 10_000


class ReloadWaves:
    def __init__(
        self,
        *,
        names: AnnotationNames,
        canary_size: str,
        workload: Callable[[ObjectKey], WorkloadView | None],
        source: Callable[[SourceKind, str, str], SourceView | None],
        peers_of: Callable[[RolledSource, str], Iterable[ObjectKey]],
        plan: Callable[[ObjectKey, WorkloadView], ReloadPlan],
        noted: Callable[[str, str, str, WaveDecision], None] | None = None,
    ) -> None:
        """``workload``, ``source``: cached views by key and by (kind, namespace, name);
        ``peers_of``: the workloads that may roll for a source; ``plan``: the controller's plan
        of a workload; ``noted``: told each decision (the halted-changes gauge)."""
        self.names = names
        self.canary_size = canary_size
        self.workload = workload
        self.source = source
        self.peers_of = peers_of
        self.plan = plan
        self.noted = noted
        self._peer_memo: dict[tuple[object, ...], Peer | None] = {}

    def decide(self, key: ObjectKey, view: WorkloadView, plan: ReloadPlan) -> ReloadWave:
        """Whether ``key`` rolls its plan now; Jobs and CronJobs always do (not gated)."""
        if not KINDS[key.kind].rolls_out:
            return ReloadWave(WaveDecision(Go.ROLL))
        decisions: list[WaveDecision] = []
        warnings: list[str] = []
        for rolled in plan.rolled:
            source = self.source(rolled.source_kind, key.namespace, rolled.name)
            size, problems = canary_size_for(
                source.annotations if source is not None else {}, self.names, self.canary_size
            )
            warnings.extend(problems)
            peers = self._peers(key, rolled, source.resource_version if source else "")
            decisions.append(decide(_name(key), peers, size))
            if self.noted is not None:
                change = rolled.source_kind.record_key(rolled.name)
                self.noted(key.namespace, change, rolled.hash, decisions[-1])
        waved = tuple(r for r, d in zip(plan.rolled, decisions, strict=True) if d.waved)
        if (i := governing(decisions)) is None:
            return ReloadWave(WaveDecision(Go.ROLL), warnings=tuple(warnings))
        return ReloadWave(decisions[i], plan.rolled[i], waved, tuple(warnings))

    def _peers(self, key: ObjectKey, rolled: RolledSource, source: str) -> list[Peer]:
        """Every target of (source, hash), ``key`` among them as pending; ``source``: the
        source's resourceVersion (a peer's answer is remembered per both versions)."""
        peers: list[Peer] = []
        if len(self._peer_memo) > TARGETS_KEPT:
            self._peer_memo.clear()
        for peer in self.peers_of(rolled, key.namespace):
            if not KINDS[peer.kind].rolls_out:
                continue
            view = self.workload(peer)
            if view is None:
                continue
            if peer == key:
                preferred = parse_bool(view.annotations.get(self.names.canary, "")) is True
                peers.append(Peer(_name(key), PeerStatus.PENDING, preferred=preferred))
                continue
            memo = (
                peer,
                view.resource_version,
                rolled.source_kind,
                rolled.name,
                source,
                rolled.hash,
            )
            if memo in self._peer_memo:
                found = self._peer_memo[memo]
            else:
                found = self._peer_memo[memo] = self._peer(peer, view, rolled)
            if found is not None:
                peers.append(found)
        if not any(p.name == _name(key) for p in peers):
            peers.append(Peer(_name(key), PeerStatus.PENDING))
        return peers

    def _peer(self, peer: ObjectKey, view: WorkloadView, rolled: RolledSource) -> Peer | None:
        """Where another workload stands for (source, hash): None when it is not a target (its
        own plan does not roll it). Every target of a fan-out asks about every other one at each
        look, so the answer is remembered per (peer, its resourceVersion, the source, its
        resourceVersion, the hash): all that it reads."""
        change = rolled.source_kind.record_key(rolled.name)
        applied, _ = parse_record(view.annotations.get(self.names.applied_hashes), key="")
        carries = applied.get(change) == rolled.hash
        if not carries and not _rolls(self.plan(peer, view), rolled):
            return None
        record = read_record(view.annotations, self.names)
        return Peer(
            _name(peer),
            status_of(record, change, rolled.hash, rolled=carries),
            preferred=parse_bool(view.annotations.get(self.names.canary, "")) is True,
            reason=record.reason if record is not None else "",
        )


def _rolls(plan: ReloadPlan, rolled: RolledSource) -> bool:
    return any(
        r.source_kind is rolled.source_kind and r.name == rolled.name and r.hash == rolled.hash
        for r in plan.rolled
    )


def _name(key: ObjectKey) -> str:
    return f"{key.kind.lower()}/{key.name}"


def wave_record_changes(waved: tuple[RolledSource, ...]) -> dict[str, str]:
    """What a waved rollout records: each waved change's record key → its hash."""
    return {r.source_kind.record_key(r.name): r.hash for r in waved}
