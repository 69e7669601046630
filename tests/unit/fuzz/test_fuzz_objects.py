"""Fuzzing object shapes: missing fields, wrong types and huge values, through the whole pure path
an object takes in the controller (summarize → plan_reload → pause_state → patches).

The API server validates what it stores, but the informers also see objects of other API
versions, custom resources (Argo Rollouts) that nobody validated, and whatever a future field
brings; none of it may make the controller raise.
"""

from __future__ import annotations

import re
from typing import Any

from hypothesis import assume, given
from hypothesis import strategies as st

from reloader.core.annotations import LAST_APPLIED, AnnotationNames, SourceKind
from reloader.reload.domain.decisions import DecisionOptions
from reloader.reload.domain.hashing import key_digests, source_hash
from reloader.reload.domain.pauses import pause_state
from reloader.reload.domain.plans import plan_reload
from reloader.reload.domain.stamps import parse_record
from reloader.reload.domain.views import (
    SourceView,
    WorkloadView,
    summarize_source,
    summarize_workload,
)
from reloader.settings import Strategy
from reloader.workloads.domain.kinds import KINDS, restart_method
from reloader.workloads.domain.patches import apply_patch
from tests.unit.fuzz.strategies import (
    FAST,
    IGNORE_GC_CALLBACK,
    SOURCE_OBJECTS,
    WORKLOAD_KIND_NAMES,
    workload_objects,
)

N = AnnotationNames()
SHA1 = re.compile(r"[0-9a-f]{40}")

pytestmark = IGNORE_GC_CALLBACK


def _text(value: object) -> bool:
    """A non-empty string (checked at run time: the types promise it, the fuzzer tests it)."""
    return isinstance(value, str) and bool(value)


def _check_str_map(values: Any) -> None:
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in values.items())


def _check_view(view: WorkloadView, kind: str) -> None:
    assert view.kind == kind
    for text in (view.namespace, view.name, view.uid, view.resource_version):
        assert isinstance(text, str)
    _check_str_map(view.annotations)
    _check_str_map(view.template_annotations)
    assert LAST_APPLIED not in view.annotations
    assert all(map(_text, view.containers))
    for container, env in view.stakater_env.items():
        assert container in view.containers
        _check_str_map(env)
        assert all(name.startswith("STAKATER_") for name in env)
    for (source_kind, name), container in view.targets.items():
        assert isinstance(source_kind, SourceKind)
        assert isinstance(name, str)
        assert name
        assert container in view.containers
    for ref in view.references:
        assert isinstance(ref.name, str)
        assert ref.name
        assert isinstance(ref.container, str)
    assert isinstance(view.paused, bool)
    assert isinstance(view.rollout_complete, bool)


@FAST
@given(st.data())
def test_summarize_workload_never_raises_on_any_shape(data: st.DataObject) -> None:
    kind = data.draw(WORKLOAD_KIND_NAMES)
    obj = data.draw(workload_objects(kind))
    _check_view(summarize_workload(KINDS[kind], obj), kind)


@FAST
@given(st.sampled_from(tuple(SourceKind)), SOURCE_OBJECTS)
def test_summarize_source_never_raises_and_keeps_no_data(kind: SourceKind, obj: Any) -> None:
    view = summarize_source(kind, obj)
    assert SHA1.fullmatch(view.hash)
    assert view.hash == source_hash(kind, obj if isinstance(obj, dict) else {})
    assert isinstance(view.name, str)
    assert isinstance(view.namespace, str)
    _check_str_map(view.annotations)
    _check_str_map(view.labels)
    assert LAST_APPLIED not in view.annotations
    assert all(len(v) == 12 for v in view.key_hashes.values())
    assert view.key_hashes == key_digests(kind, obj if isinstance(obj, dict) else {})
    # data values never survive into the view (only digests): look for any long value
    data = obj.get("data") if isinstance(obj, dict) else None
    if isinstance(data, dict):
        rendered, metadata = repr(view), repr(obj.get("metadata"))
        for value in data.values():
            if isinstance(value, str) and len(value) >= 16 and value not in metadata:
                assert value not in rendered


@FAST
@given(
    data=st.data(),
    strategy=st.sampled_from(Strategy),
    auto_reload_all=st.booleans(),
    delete_strategy=st.booleans(),
    now=st.integers(min_value=0, max_value=2**33),
)
def test_plan_reload_and_pause_state_never_raise_on_summarized_objects(
    data: st.DataObject, strategy: Any, auto_reload_all: bool, delete_strategy: bool, now: int
) -> None:
    kind_name = data.draw(WORKLOAD_KIND_NAMES)
    kind = KINDS[kind_name]
    obj = data.draw(workload_objects(kind_name))
    view = summarize_workload(kind, obj)
    raw_sources = data.draw(
        st.lists(st.tuples(st.sampled_from(tuple(SourceKind)), SOURCE_OBJECTS), max_size=4)
    )
    sources: list[SourceView] = [summarize_source(k, o) for k, o in raw_sources]
    record, _ = parse_record(view.annotations.get(N.applied_hashes), key=N.applied_hashes)
    known = set(record)
    plan = plan_reload(
        workload=view,
        kind=kind,
        sources=sources,
        strategy=strategy,
        names=N,
        options=DecisionOptions(auto_reload_all=auto_reload_all),
        now_unix=now,
        new_sources=frozenset(data.draw(st.sets(st.sampled_from(sorted(known) or ["x"])))),
        missing_sources=frozenset(data.draw(st.sets(st.sampled_from(sorted(known) or ["x"])))),
        delete_strategy=delete_strategy,
    )
    assert all(map(_text, plan.warnings))
    _check_str_map(plan.record)
    if plan.rolled:
        assert plan.patch is not None
    if plan.patch is not None:
        # the patch applies to the object it was planned for, and the result summarizes again
        patched = apply_patch(obj if isinstance(obj, dict) else {}, plan.patch)
        _check_view(summarize_workload(kind, patched), kind_name)
    state = pause_state(view=view, kind=kind, names=N, now=float(now))
    assert state.period is None or state.period >= 0
    restart_method(kind, annotations=view.annotations, names=N)


@FAST
@given(st.data())
def test_a_plan_is_stable_once_applied(data: st.DataObject) -> None:
    """Applying a plan's patch and planning again writes nothing more: no flapping on any shape
    that still has a pod template with containers."""
    kind_name = data.draw(WORKLOAD_KIND_NAMES)
    kind = KINDS[kind_name]
    obj = data.draw(workload_objects(kind_name))
    assume(isinstance(obj, dict))
    view = summarize_workload(kind, obj)
    raw_sources = data.draw(
        st.lists(st.tuples(st.sampled_from(tuple(SourceKind)), SOURCE_OBJECTS), max_size=3)
    )
    sources = [summarize_source(k, o) for k, o in raw_sources]

    def plan(v: WorkloadView) -> Any:
        return plan_reload(
            workload=v,
            kind=kind,
            sources=sources,
            strategy=Strategy.ENV_VARS,
            names=N,
            options=DecisionOptions(),
            now_unix=1_700_000_000,
        )

    first = plan(view)
    if first.patch is None:
        return
    patched = apply_patch(obj, first.patch)
    second = plan(summarize_workload(kind, patched))
    assert second.patch is None, (first.patch, second.patch)
