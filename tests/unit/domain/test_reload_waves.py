"""reload/waves.py over stand-in caches: who the targets of a change are, and what each decides."""

from __future__ import annotations

import json

from reloader.core.annotations import AnnotationNames, SourceKind
from reloader.core.objects import ObjectKey
from reloader.reload.domain.decisions import DecisionReason
from reloader.reload.domain.plans import ReloadPlan, RolledSource
from reloader.reload.domain.views import SourceView, WorkloadView
from reloader.reload.waves import ReloadWaves
from reloader.workloads.domain.waves import Go

NAMES = AnnotationNames()
NEW = "b" * 40
ROLLED = RolledSource(SourceKind.CONFIGMAP, "shared", NEW, "app", DecisionReason.AUTO)
SOURCE = SourceView(SourceKind.CONFIGMAP, "ns", "shared", {}, {}, NEW, resource_version="7")


def _view(
    name: str,
    *,
    carries: bool = False,
    kind: str = "Deployment",
    extra: dict[str, str] | None = None,
) -> WorkloadView:
    annotations = dict(extra or {})
    if carries:
        annotations[NAMES.applied_hashes] = json.dumps({"configmap/shared": NEW})
    return WorkloadView(kind, "ns", name, resource_version="1", annotations=annotations)


class _World:
    """The caches a ReloadWaves reads, and a count of the plans it asks for."""

    def __init__(self, views: list[WorkloadView]) -> None:
        self.views = {ObjectKey(v.kind, v.namespace, v.name): v for v in views}
        self.plans = 0
        self.waves = ReloadWaves(
            names=NAMES,
            canary_size="1",
            workload=self.views.get,
            source=lambda *_: SOURCE,
            peers_of=lambda *_: list(self.views),
            plan=self._plan,
        )

    def _plan(self, key: ObjectKey, view: WorkloadView) -> ReloadPlan:
        self.plans += 1
        carries = NAMES.applied_hashes in view.annotations
        return ReloadPlan(patch=None, rolled=() if carries else (ROLLED,))

    def decide(self, name: str) -> Go:
        key = ObjectKey("Deployment", "ns", name)
        plan = ReloadPlan(patch={}, rolled=(ROLLED,))
        return self.waves.decide(key, self.views[key], plan).decision.go


def test_the_first_by_name_is_the_canary_and_jobs_are_not_targets() -> None:
    world = _World([_view("a"), _view("b"), _view("c"), _view("j", kind="Job")])
    assert [world.decide(n) for n in "abc"] == [Go.ROLL, Go.WAIT, Go.WAIT]


def test_a_preferred_canary_and_a_rolled_one() -> None:
    world = _World([_view("a"), _view("b", extra={NAMES.canary: "true"}), _view("c")])
    assert [world.decide(n) for n in "abc"] == [Go.WAIT, Go.ROLL, Go.WAIT]
    # b rolled (it carries the hash, no wave record: nothing to judge): the next wave, one more
    world = _World([_view("a"), _view("b", carries=True), _view("c")])
    assert [world.decide(n) for n in ("a", "c")] == [Go.ROLL, Go.WAIT]


def test_peers_plans_are_remembered_per_version() -> None:
    world = _World([_view(f"w{i}") for i in range(10)])
    for _ in range(3):
        for i in range(10):
            world.decide(f"w{i}")
    assert world.plans == 10, "each workload planned once as a peer, not once per look"
    before = world.plans
    world.views[ObjectKey("Deployment", "ns", "w5")] = _view("w5", carries=False)  # same version
    world.decide("w0")
    assert world.plans == before
    newer = WorkloadView("Deployment", "ns", "w5", resource_version="2")
    world.views[ObjectKey("Deployment", "ns", "w5")] = newer
    world.decide("w0")
    assert world.plans == before + 1, "a new version of a peer is planned again"
