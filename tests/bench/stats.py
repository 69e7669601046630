"""Which update each workload change reflects, and the latencies that follow.

Every update writes new data, so its content hash names it: a workload whose ``STAKATER_*`` value
is the hash of update N of source S reflects S up to N. The reaction latency of update N for a
workload is the first instant (on the watch) at which that workload reflects N *or a later
update* of S (coalescing may skip N), minus the instant the API server answered the update.
"""

from __future__ import annotations

import bisect
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tests.bench.objects import Source, Workload, content_hash
from tests.bench.observe import WorkloadWatcher


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of non-empty ``values``."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def summary(values: Sequence[float]) -> dict[str, float | int | None]:
    if not values:
        return {"n": 0, "p50": None, "p95": None, "p99": None, "max": None, "mean": None}
    return {
        "n": len(values),
        "p50": percentile(values, 50),
        "p95": percentile(values, 95),
        "p99": percentile(values, 99),
        "max": max(values),
        "mean": sum(values) / len(values),
    }


@dataclass
class Update:
    source: Source
    seq: int
    hash: str
    sent: float
    answered: float


@dataclass
class Tracker:
    """Sources, the workloads that depend on them, and every update made."""

    deps: dict[Source, list[Workload]] = field(default_factory=dict)
    updates: list[Update] = field(default_factory=list)
    seq_of: dict[tuple[Source, str], int] = field(default_factory=dict)
    last_seq: dict[Source, int] = field(default_factory=dict)
    errors: int = 0

    def depend(self, workload: Workload, *sources: Source) -> None:
        for s in sources:
            self.deps.setdefault(s, []).append(workload)
            self.last_seq.setdefault(s, 0)

    def sources_of(self, workload: Workload) -> list[Source]:
        return [s for s, wls in self.deps.items() if workload in wls]

    @property
    def workloads(self) -> list[Workload]:
        return sorted({w for wls in self.deps.values() for w in wls})

    def register(self, source: Source, seq: int, data: dict[str, str]) -> str:
        """Remember the hash of ``data`` (creation is seq 0) before it is written."""
        digest = content_hash(source.kind, data)
        self.seq_of[(source, digest)] = seq
        return digest

    def record(self, source: Source, seq: int, digest: str, sent: float, answered: float) -> None:
        self.updates.append(Update(source, seq, digest, sent, answered))
        self.last_seq[source] = max(self.last_seq.get(source, 0), seq)

    # ------------------------------------------------------------------ evaluation
    def reflected_seq(self, watcher: WorkloadWatcher, workload: Workload, source: Source) -> int:
        st = watcher.state.get(workload)
        if st is None:
            return -1
        value = st.values.get(source.env_var)
        if value is None:
            return 0  # never rolled for this source: it shows the data it was adopted with
        return self.seq_of.get((source, value), -1)

    def converged(self, watcher: WorkloadWatcher) -> bool:
        """Every workload reflects the last update of every source it depends on."""
        return not self.pending(watcher)

    def pending(self, watcher: WorkloadWatcher) -> list[tuple[Workload, Source]]:
        out: list[tuple[Workload, Source]] = []
        for source, wls in self.deps.items():
            final = self.last_seq.get(source, 0)
            if final == 0:
                continue
            out.extend((w, source) for w in wls if self.reflected_seq(watcher, w, source) < final)
        return out

    def observations(
        self, watcher: WorkloadWatcher, workload: Workload, source: Source
    ) -> tuple[list[float], list[int]]:
        """(instants, running max of reflected seq) of the workload's values for ``source``."""
        st = watcher.state.get(workload)
        times: list[float] = []
        seqs: list[int] = []
        best = 0
        for at, var, value in st.history if st else []:
            if var != source.env_var:
                continue
            seq = self.seq_of.get((source, value))
            if seq is None or seq <= best:
                continue
            best = seq
            times.append(at)
            seqs.append(best)
        return times, seqs

    def completed_at(
        self, watcher: WorkloadWatcher, workload: Workload, source: Source, seq: int
    ) -> float | None:
        """The first instant the workload's rollout was complete with update ``seq`` of
        ``source`` (or a later one) in its template; None if it never was."""
        st = watcher.state.get(workload)
        for at, values in st.completions if st else []:
            value = values.get(source.env_var)
            if value is not None and self.seq_of.get((source, value), -1) >= seq:
                return at
        return None

    def all_complete(self, watcher: WorkloadWatcher, update: Update) -> float | None:
        """Seconds from ``update`` (answered) until the last of its source's dependents had
        rolled it (or a later update) *and* completed that rollout; None if one never did."""
        worst = 0.0
        for w in self.deps.get(update.source, []):
            at = self.completed_at(watcher, w, update.source, update.seq)
            if at is None:
                return None
            worst = max(worst, at - update.answered)
        return worst

    def incomplete(self, watcher: WorkloadWatcher) -> list[tuple[Workload, Source]]:
        """(workload, shared source) pairs whose rollout of the source's last update (or a later
        one) has not completed; only sources shared by several workloads (a fan-out) count."""
        out: list[tuple[Workload, Source]] = []
        for source, wls in self.deps.items():
            final = self.last_seq.get(source, 0)
            if final == 0 or len(wls) < 2:
                continue
            out.extend(
                (w, source) for w in wls if self.completed_at(watcher, w, source, final) is None
            )
        return out

    def evaluate(self, watcher: WorkloadWatcher) -> Evaluation:
        ev = Evaluation()
        obs: dict[tuple[Workload, Source], tuple[list[float], list[int]]] = {}
        for source, wls in self.deps.items():
            for w in wls:
                obs[(w, source)] = self.observations(watcher, w, source)
        for u in self.updates:
            worst = 0.0
            complete = True
            for w in self.deps.get(u.source, []):
                times, seqs = obs[(w, u.source)]
                i = bisect.bisect_left(seqs, u.seq)
                if i == len(seqs):
                    ev.unreacted += 1
                    complete = False
                    continue
                latency = times[i] - u.answered
                if latency < 0:
                    ev.negative += 1
                    latency = 0.0
                ev.latencies.append(latency)
                worst = max(worst, latency)
            if complete and self.deps.get(u.source):
                ev.all_changed.append(worst)
            done = self.all_complete(watcher, u) if u.seq > 0 else None
            if done is not None:
                ev.all_complete.append(done)
                shared = len(self.deps.get(u.source, [])) > 1  # a fan-out: waves apply
                if shared and u.seq == self.last_seq.get(u.source):
                    ev.last_all_complete = max(ev.last_all_complete or 0.0, done)
        updates_per_workload: dict[Workload, int] = defaultdict(int)
        for u in self.updates:
            for w in self.deps.get(u.source, []):
                updates_per_workload[w] += 1
        for w in self.workloads:
            st = watcher.state.get(w)
            rollouts = st.rollouts if st else 0
            ev.rollouts[w] = rollouts
            ev.updates[w] = updates_per_workload.get(w, 0)
            for change in st.changes if st else []:
                if not any(var.startswith("STAKATER_") for var in change.changed):
                    ev.redundant += 1
        ev.pending = len(self.pending(watcher))
        return ev


@dataclass
class Evaluation:
    latencies: list[float] = field(default_factory=list)
    all_changed: list[float] = field(default_factory=list)  # per update: slowest dependent
    all_complete: list[float] = field(default_factory=list)  # ... rolled and complete
    last_all_complete: float | None = None  # that of each shared source's last update (slowest)
    unreacted: int = 0
    negative: int = 0
    redundant: int = 0  # template changes that carried no newer source value
    pending: int = 0  # (workload, source) pairs not at the final update at the end
    rollouts: dict[Workload, int] = field(default_factory=dict)
    updates: dict[Workload, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        rollouts = list(self.rollouts.values())
        updates = list(self.updates.values())
        return {
            "latency_s": summary(self.latencies),
            "all_dependents_changed_s": summary(self.all_changed),
            "all_dependents_complete_s": summary(self.all_complete),
            "last_update_all_complete_s": self.last_all_complete,
            "unreacted_update_workload_pairs": self.unreacted,
            "latency_clipped_negative": self.negative,
            "redundant_rollouts": self.redundant,
            "not_converged_pairs": self.pending,
            "workloads": len(rollouts),
            "rollouts_total": sum(rollouts),
            "rollouts_per_workload": _spread(rollouts),
            "updates_seen_per_workload": _spread(updates),
        }


def _spread(values: Iterable[int]) -> dict[str, float | int | None]:
    items = list(values)
    if not items:
        return {"min": None, "mean": None, "max": None}
    return {"min": min(items), "mean": sum(items) / len(items), "max": max(items)}
