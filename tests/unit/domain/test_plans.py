from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from reloader.core.annotations import AnnotationNames, SourceKind
from reloader.reload.domain.decisions import DecisionOptions, DecisionReason
from reloader.reload.domain.filters import filtered_hash
from reloader.reload.domain.hashing import DELETE_MARKER_HASH
from reloader.reload.domain.plans import PlanReason, ReloadPlan, RolledSource, plan_reload
from reloader.reload.domain.stamps import parse_record, serialize_record
from reloader.reload.domain.views import SourceView, WorkloadView
from reloader.settings import Strategy
from reloader.workloads.domain.kinds import KINDS
from tests.unit.domain.builders import (
    cm_from,
    container,
    pod_spec,
    secret_from,
    source,
    workload,
)

CM = SourceKind.CONFIGMAP
SECRET = SourceKind.SECRET
N = AnnotationNames()
NOW = 1_700_000_000
AUTO = {N.auto: "true"}
RECORD = N.applied_hashes
LAST = N.last_reloaded_from


def plan(
    view: WorkloadView,
    *sources: SourceView,
    strategy: Strategy = Strategy.ENV_VARS,
    options: DecisionOptions | None = None,
    new_sources: frozenset[str] = frozenset(),
    missing_sources: frozenset[str] = frozenset(),
    delete_strategy: bool = False,
) -> ReloadPlan:
    return plan_reload(
        workload=view,
        kind=KINDS[view.kind],
        sources=sources,
        strategy=strategy,
        names=N,
        options=options or DecisionOptions(),
        now_unix=NOW,
        new_sources=new_sources,
        missing_sources=missing_sources,
        delete_strategy=delete_strategy,
    )


def record(**entries: str) -> str:
    return serialize_record({k.replace("__", "/"): v for k, v in entries.items()})


def uses_cm(
    annotations: dict[str, str] | None = None,
    *,
    env: list[dict[str, Any]] | None = None,
    template_annotations: dict[str, str] | None = None,
    kind: str = "Deployment",
) -> WorkloadView:
    spec = pod_spec(
        container("side"),
        container("main", env=env, env_from=[cm_from("cm"), secret_from("s")]),
    )
    return workload(
        kind,
        annotations={**AUTO, **(annotations or {})},
        template_annotations=template_annotations,
        spec=spec,
    )


def metadata_only(value: str | None) -> dict[str, Any]:
    return {"metadata": {"annotations": {RECORD: value}}}


def env_in(container_name: str, env: dict[str, str]) -> dict[str, Any]:
    return {
        "spec": {"template": {"spec": {"containers": [{
            "name": container_name,
            "env": [{"name": k, "value": v} for k, v in env.items()],
        }]}}}
    }  # fmt: skip


# ------------------------------------------------------------------ adopt / in sync / roll


def test_first_sight_adopts_without_rollout() -> None:
    result = plan(uses_cm(), source("cm", hash="h1"))
    assert result.adopted == ("configmap/cm",)
    assert result.rolled == ()
    assert result.patch == metadata_only('{"configmap/cm":"h1"}')
    assert result.record == {"configmap/cm": "h1"}


def test_recorded_hash_equal_to_current_is_in_sync() -> None:
    view = uses_cm({RECORD: record(configmap__cm="h1")})
    result = plan(view, source("cm", hash="h1"))
    assert result.patch is None
    assert (result.rolled, result.adopted) == ((), ())
    assert result.record == {"configmap/cm": "h1"}


def test_changed_hash_rolls_with_env_var_in_target_container() -> None:
    view = uses_cm({RECORD: record(configmap__cm="h0")})
    result = plan(view, source("cm", hash="h1"))
    assert result.rolled == (RolledSource(CM, "cm", "h1", "main", DecisionReason.AUTO),)
    assert result.patch == {
        **env_in("main", {"STAKATER_CM_CONFIGMAP": "h1"}),
        **metadata_only('{"configmap/cm":"h1"}'),
    }


def test_changed_hash_rolls_with_annotation_strategy() -> None:
    view = uses_cm({RECORD: record(configmap__cm="h0")})
    result = plan(view, source("cm", hash="h1"), strategy=Strategy.ANNOTATIONS)
    expected_value = (
        '{"type":"CONFIGMAP","name":"cm","namespace":"ns","hash":"h1",'
        f'"containerRefs":["main"],"observedAt":{NOW}}}'
    )
    assert result.patch == {
        "spec": {"template": {"metadata": {"annotations": {LAST: expected_value}}}},
        **metadata_only('{"configmap/cm":"h1"}'),
    }


def test_patch_is_nested_at_the_cronjob_template() -> None:
    view = uses_cm({RECORD: record(configmap__cm="h0")}, kind="CronJob")
    result = plan(view, source("cm", hash="h1"))
    assert result.patch is not None
    containers = result.patch["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    assert containers == [
        {"name": "main", "env": [{"name": "STAKATER_CM_CONFIGMAP", "value": "h1"}]}
    ]
    assert "template" not in result.patch["spec"]


# ------------------------------------------------------------------ migration from Reloader


@pytest.mark.parametrize(
    ("env_value", "rolled"),
    [
        pytest.param("h0", True, id="reloader-stamped-an-older-hash"),
        pytest.param("h1", False, id="reloader-stamped-the-current-hash"),
    ],
)
def test_env_var_written_by_reloader_is_the_baseline(env_value: str, rolled: bool) -> None:
    view = uses_cm(env=[{"name": "STAKATER_CM_CONFIGMAP", "value": env_value}])
    result = plan(view, source("cm", hash="h1"))
    assert bool(result.rolled) is rolled
    assert result.adopted == ()
    assert result.record == {"configmap/cm": "h1"}
    assert result.patch is not None
    assert result.patch["metadata"] == {"annotations": {RECORD: '{"configmap/cm":"h1"}'}}


def test_env_var_in_another_container_is_a_baseline_too() -> None:
    spec = pod_spec(
        container("side", env=[{"name": "STAKATER_CM_CONFIGMAP", "value": "h0"}]),
        container("main", env_from=[cm_from("cm")]),
    )
    result = plan(workload(annotations=AUTO, spec=spec), source("cm", hash="h1"))
    assert [r.container for r in result.rolled] == ["main"]


def _last_reloaded_from(kind: str, name: str, hash: str) -> str:
    return json.dumps({"type": kind, "name": name, "namespace": "ns", "hash": hash})


@pytest.mark.parametrize(
    ("annotation", "rolled", "adopted"),
    [
        pytest.param(_last_reloaded_from("CONFIGMAP", "cm", "h0"), True, False, id="older-hash"),
        pytest.param(_last_reloaded_from("CONFIGMAP", "cm", "h1"), False, False, id="same-hash"),
        pytest.param(_last_reloaded_from("SECRET", "cm", "h0"), False, True, id="other-type"),
        pytest.param(_last_reloaded_from("CONFIGMAP", "x", "h0"), False, True, id="other-name"),
        pytest.param("{not json", False, True, id="unreadable"),
    ],
)
def test_last_reloaded_from_written_by_reloader_is_the_baseline(
    annotation: str, rolled: bool, adopted: bool
) -> None:
    view = uses_cm(template_annotations={LAST: annotation})
    result = plan(view, source("cm", hash="h1"), strategy=Strategy.ANNOTATIONS)
    assert bool(result.rolled) is rolled
    assert bool(result.adopted) is adopted


def test_migration_reads_only_the_current_strategys_marker() -> None:
    view = uses_cm(template_annotations={LAST: _last_reloaded_from("CONFIGMAP", "cm", "h0")})
    result = plan(view, source("cm", hash="h1"), strategy=Strategy.ENV_VARS)
    assert result.rolled == ()
    assert result.adopted == ("configmap/cm",)


def test_a_recorded_current_hash_is_in_sync_whatever_the_marker_says() -> None:
    view = uses_cm(
        {RECORD: record(configmap__cm="h1")},
        env=[{"name": "STAKATER_CM_CONFIGMAP", "value": "h0"}],
    )
    assert plan(view, source("cm", hash="h1")).patch is None


@pytest.mark.parametrize(
    ("strategy", "env", "template_annotations"),
    [
        pytest.param(
            Strategy.ENV_VARS, [{"name": "STAKATER_CM_CONFIGMAP", "value": "h1"}], None,
            id="env-var",
        ),
        pytest.param(
            Strategy.ANNOTATIONS, None, {LAST: _last_reloaded_from("CONFIGMAP", "cm", "h1")},
            id="last-reloaded-from",
        ),
    ],
)  # fmt: skip
def test_a_template_already_stamped_with_the_current_hash_does_not_roll(
    strategy: Strategy, env: list[dict[str, Any]] | None, template_annotations: dict[str, str]
) -> None:
    view = uses_cm(
        {RECORD: record(configmap__cm="h0")}, env=env, template_annotations=template_annotations
    )
    result = plan(view, source("cm", hash="h1"), strategy=strategy)
    assert result.rolled == ()
    assert result.patch == metadata_only('{"configmap/cm":"h1"}')


# ------------------------------------------------------------------ coalescing


def test_two_changed_sources_give_one_patch() -> None:
    spec = pod_spec(
        container("a", env_from=[cm_from("cm")]), container("b", env_from=[secret_from("s")])
    )
    view = workload(
        annotations={**AUTO, RECORD: record(configmap__cm="c0", secret__s="s0")}, spec=spec
    )
    result = plan(view, source("s", SECRET, hash="s1"), source("cm", hash="c1"))
    assert [(r.source_kind, r.name, r.container) for r in result.rolled] == [
        (CM, "cm", "a"),
        (SECRET, "s", "b"),
    ]
    assert result.patch == {
        "spec": {"template": {"spec": {"containers": [
            {"name": "a", "env": [{"name": "STAKATER_CM_CONFIGMAP", "value": "c1"}]},
            {"name": "b", "env": [{"name": "STAKATER_S_SECRET", "value": "s1"}]},
        ]}}},
        **metadata_only('{"configmap/cm":"c1","secret/s":"s1"}'),
    }  # fmt: skip


def test_two_sources_in_one_container_share_its_env_list() -> None:
    view = uses_cm({RECORD: record(configmap__cm="c0", secret__s="s0")})
    result = plan(view, source("cm", hash="c1"), source("s", SECRET, hash="s1"))
    assert result.patch is not None
    assert (
        result.patch["spec"]
        == env_in("main", {"STAKATER_CM_CONFIGMAP": "c1", "STAKATER_S_SECRET": "s1"})["spec"]
    )


def test_annotation_strategy_records_the_last_source_in_kind_name_order() -> None:
    view = uses_cm({RECORD: record(configmap__cm="c0", secret__s="s0")})
    result = plan(
        view, source("s", SECRET, hash="s1"), source("cm", hash="c1"), strategy=Strategy.ANNOTATIONS
    )
    assert len(result.rolled) == 2
    assert result.patch is not None
    value = json.loads(result.patch["spec"]["template"]["metadata"]["annotations"][LAST])
    assert (value["type"], value["name"], value["hash"]) == ("SECRET", "s", "s1")


def test_changed_and_new_sources_together_roll_once_and_adopt_the_new() -> None:
    view = uses_cm({RECORD: record(configmap__cm="c0")})
    result = plan(view, source("cm", hash="c1"), source("s", SECRET, hash="s1"))
    assert [r.name for r in result.rolled] == ["cm"]
    assert result.adopted == ("secret/s",)
    assert result.record == {"configmap/cm": "c1", "secret/s": "s1"}


# ------------------------------------------------------------------ the record


def test_entries_of_sources_no_longer_selected_are_dropped() -> None:
    view = uses_cm({RECORD: record(configmap__cm="h1", configmap__gone="x")})
    result = plan(view, source("cm", hash="h1"))
    assert result.rolled == ()
    assert result.patch == metadata_only('{"configmap/cm":"h1"}')


def test_an_empty_record_is_removed() -> None:
    view = uses_cm({N.auto: "false", RECORD: record(configmap__cm="h1")})
    result = plan(view, source("cm", hash="h1"))
    assert result.record == {}
    assert result.patch == metadata_only(None)


def test_no_record_and_nothing_selected_writes_nothing() -> None:
    result = plan(workload(), source("cm"))
    assert result.patch is None
    assert result.skipped == ((source("cm"), "not-selected"),)


@pytest.mark.parametrize(
    ("stored", "problem"),
    [
        pytest.param("{oops", "invalid JSON", id="invalid-json"),
        pytest.param('["configmap/cm"]', "not a JSON object", id="not-an-object"),
    ],
)
def test_an_unreadable_record_counts_as_empty_with_a_warning(stored: str, problem: str) -> None:
    result = plan(uses_cm({RECORD: stored}), source("cm", hash="h1"))
    assert result.adopted == ("configmap/cm",)
    assert result.rolled == ()
    assert result.patch == metadata_only('{"configmap/cm":"h1"}')
    assert len(result.warnings) == 1
    assert result.warnings[0].startswith(f"annotation {RECORD}: {problem}")


def test_non_string_record_entries_are_ignored_with_a_warning() -> None:
    stored = '{"configmap/cm":"h1","secret/s":5}'
    result = plan(uses_cm({RECORD: stored}), source("cm", hash="h1"))
    assert result.rolled == ()
    assert result.patch == metadata_only('{"configmap/cm":"h1"}')
    assert RECORD in result.warnings[0]


def test_record_round_trips_compact_and_sorted() -> None:
    text = serialize_record({"secret/b": "2", "configmap/a": "1"})
    assert text == '{"configmap/a":"1","secret/b":"2"}'
    assert parse_record(text, key=RECORD) == ({"configmap/a": "1", "secret/b": "2"}, ())
    assert parse_record(None, key=RECORD) == ({}, ())


# ------------------------------------------------------------------ containers and skips


def test_auto_without_reference_is_skipped_as_no_container() -> None:
    result = plan(workload(annotations=AUTO), source("unused", hash="h1"))
    assert result.skipped == ((source("unused", hash="h1"), PlanReason.NO_CONTAINER),)
    assert result.record == {}
    assert result.patch is None


def test_explicit_without_reference_uses_the_first_container() -> None:
    spec = pod_spec(container("first"), container("second"))
    view = workload(
        annotations={N.configmap_reload: "cm", RECORD: record(configmap__cm="h0")}, spec=spec
    )
    result = plan(view, source("cm", hash="h1"))
    assert result.rolled == (RolledSource(CM, "cm", "h1", "first", DecisionReason.EXPLICIT),)
    assert result.patch is not None
    assert result.patch["spec"] == env_in("first", {"STAKATER_CM_CONFIGMAP": "h1"})["spec"]


def test_explicit_on_a_workload_without_containers_is_skipped() -> None:
    view = workload(annotations={N.configmap_reload: "cm"}, spec={"containers": None})
    result = plan(view, source("cm"))
    assert result.skipped == ((source("cm"), PlanReason.NO_CONTAINER),)


def test_unselected_sources_are_skipped_with_the_decision_reason() -> None:
    view = uses_cm({N.configmap_exclude: "cm"})
    result = plan(view, source("cm"), source("s", SECRET, annotations={N.ignore: "true"}))
    assert [(s.name, reason) for s, reason in result.skipped] == [
        ("cm", "excluded"),
        ("s", "ignored"),
    ]
    assert result.patch is None


def test_sources_of_another_namespace_are_skipped() -> None:
    result = plan(uses_cm(), source("cm", namespace="elsewhere"))
    assert result.skipped == ((source("cm", namespace="elsewhere"), PlanReason.OTHER_NAMESPACE),)
    assert result.patch is None


def test_auto_reload_all_adopts_referenced_sources() -> None:
    spec = pod_spec(container("main", env_from=[cm_from("cm")]))
    result = plan(workload(spec=spec), source("cm"), options=DecisionOptions(auto_reload_all=True))
    assert result.adopted == ("configmap/cm",)


# ------------------------------------------------------------------ warnings and determinism


def test_warnings_are_deduplicated_across_sources() -> None:
    view = uses_cm({N.auto: "yes", N.configmap_auto: "true", N.secret_auto: "true"})
    result = plan(view, source("cm"), source("s", SECRET))
    assert result.warnings == (f'annotation {N.auto}: invalid boolean "yes" (treated as false)',)


def test_the_plan_does_not_depend_on_source_order() -> None:
    view = uses_cm({RECORD: record(configmap__cm="c0", secret__s="s0", configmap__x="1")})
    sources = [source("s", SECRET, hash="s1"), source("cm", hash="c1"), source("zz")]
    forward = plan(view, *sources, strategy=Strategy.ANNOTATIONS)
    backward = plan(view, *reversed(sources), strategy=Strategy.ANNOTATIONS)
    assert forward == backward
    assert forward.patch is not None


def test_a_duplicate_source_is_ignored() -> None:
    view = uses_cm({RECORD: record(configmap__cm="h1")})
    result = plan(view, source("cm", hash="h1"), source("cm", hash="other"))
    assert result.patch is None
    assert result.record == {"configmap/cm": "h1"}


# ------------------------------------------------------------------ created / missing sources


def test_a_source_created_while_watching_rolls_instead_of_adopting() -> None:
    result = plan_reload(
        workload=uses_cm(),
        kind=KINDS["Deployment"],
        sources=[source("cm", hash="h1")],
        strategy=Strategy.ENV_VARS,
        names=N,
        options=DecisionOptions(),
        now_unix=NOW,
        new_sources=frozenset({"configmap/cm"}),
    )
    assert result.adopted == ()
    assert result.rolled == (RolledSource(CM, "cm", "h1", "main", DecisionReason.AUTO),)


def test_a_missing_source_keeps_its_record_entry_so_a_recreate_with_new_data_rolls() -> None:
    view = uses_cm({RECORD: record(configmap__cm="h0")})
    gone = plan_reload(
        workload=view,
        kind=KINDS["Deployment"],
        sources=[],
        strategy=Strategy.ENV_VARS,
        names=N,
        options=DecisionOptions(),
        now_unix=NOW,
        missing_sources=frozenset({"configmap/cm"}),
    )
    assert gone.patch is None  # nothing to write: the entry stays
    assert gone.record == {"configmap/cm": "h0"}
    back = plan(view, source("cm", hash="h2"))
    assert back.rolled == (RolledSource(CM, "cm", "h2", "main", DecisionReason.AUTO),)


def test_delete_strategy_removes_the_stamped_env_var() -> None:
    view = uses_cm(
        {RECORD: record(configmap__cm="h0")},
        env=[{"name": "STAKATER_CM_CONFIGMAP", "value": "h0"}],
    )
    result = plan_reload(
        workload=view,
        kind=KINDS["Deployment"],
        sources=[],
        strategy=Strategy.ENV_VARS,
        names=N,
        options=DecisionOptions(),
        now_unix=NOW,
        missing_sources=frozenset({"configmap/cm"}),
        delete_strategy=True,
    )
    assert [r.reason for r in result.rolled] == ["deleted"]
    containers = result.patch["spec"]["template"]["spec"]["containers"]  # type: ignore[index]
    assert containers == [
        {"name": "main", "env": [{"name": "STAKATER_CM_CONFIGMAP", "$patch": "delete"}]}
    ]
    assert result.record == {}


def test_delete_strategy_with_annotations_writes_the_delete_hash_to_last_reloaded_from() -> None:
    view = uses_cm({RECORD: record(configmap__cm="h0")})
    gone = frozenset({"configmap/cm"})
    result = plan(view, strategy=Strategy.ANNOTATIONS, missing_sources=gone, delete_strategy=True)
    assert result.rolled == (
        RolledSource(CM, "cm", DELETE_MARKER_HASH, "main", PlanReason.DELETED),
    )
    expected_value = (
        f'{{"type":"CONFIGMAP","name":"cm","namespace":"ns","hash":"{DELETE_MARKER_HASH}",'
        f'"containerRefs":["main"],"observedAt":{NOW}}}'
    )
    assert result.patch == {
        "spec": {"template": {"metadata": {"annotations": {LAST: expected_value}}}},
        **metadata_only(None),
    }
    assert result.record == {}


# ------------------------------------------------------------------ key filters (reload-keys)

LEVEL = frozenset({"level"})
FILTER = {N.reload_keys: "configmap/cm=level"}
STAMPED = [{"name": "STAKATER_CM_CONFIGMAP", "value": "h0"}]


def keyed(hash: str, **key_hashes: str) -> SourceView:
    return replace(source("cm", hash=hash), key_hashes=key_hashes)


def test_a_key_filter_records_the_digest_of_its_keys_and_ignores_the_stamped_env_var() -> None:
    view = uses_cm(FILTER, env=STAMPED)  # the env var holds a full hash, not the keys' digest
    result = plan(view, keyed("h1", level="a", banner="1"))
    assert result.rolled == ()
    assert result.adopted == ("configmap/cm",)
    assert result.record == {"configmap/cm": filtered_hash({"level": "a"}, LEVEL)}


def test_with_a_key_filter_only_a_change_of_its_keys_rolls_and_stamps_the_full_hash() -> None:
    view = uses_cm({**FILTER, RECORD: record(configmap__cm=filtered_hash({"level": "a"}, LEVEL))})
    assert plan(view, keyed("h2", level="a", banner="2")).patch is None
    result = plan(view, keyed("h3", level="b", banner="1"))
    assert result.rolled == (RolledSource(CM, "cm", "h3", "main", DecisionReason.AUTO),)
    assert result.record == {"configmap/cm": filtered_hash({"level": "b"}, LEVEL)}
    assert result.patch is not None
    assert result.patch["spec"] == env_in("main", {"STAKATER_CM_CONFIGMAP": "h3"})["spec"]


def test_a_key_filtered_source_created_while_watching_is_adopted() -> None:
    result = plan(uses_cm(FILTER), keyed("h1", level="a"), new_sources=frozenset({"configmap/cm"}))
    assert result.rolled == ()
    assert result.adopted == ("configmap/cm",)


def test_adding_a_key_filter_takes_a_new_baseline_without_a_rollout() -> None:
    view = uses_cm({**FILTER, RECORD: record(configmap__cm="h0")}, env=STAMPED)
    result = plan(view, keyed("h1", level="a"))
    assert result.rolled == ()
    assert result.adopted == ("configmap/cm",)
    assert result.record == {"configmap/cm": filtered_hash({"level": "a"}, LEVEL)}


def test_removing_a_key_filter_takes_a_new_baseline_whatever_the_stamped_env_var() -> None:
    digest = filtered_hash({"level": "a"}, LEVEL)
    view = uses_cm({RECORD: record(configmap__cm=digest)}, env=STAMPED)
    result = plan(view, keyed("h1", level="a"))
    assert result.rolled == ()
    assert result.adopted == ("configmap/cm",)
    assert result.record == {"configmap/cm": "h1"}


def test_an_invalid_key_filter_is_ignored_with_a_warning_after_the_record_warning() -> None:
    view = uses_cm(
        {N.reload_keys: "app=level", RECORD: "{oops", N.configmap_auto: "yes"}, env=STAMPED
    )
    result = plan(view, keyed("h1", level="a"))
    assert [w.split(":")[0] for w in result.warnings] == [
        f"annotation {RECORD}",
        f"annotation {N.reload_keys}",
        f"annotation {N.configmap_auto}",
    ]
    assert result.warnings[1] == (
        f"annotation {N.reload_keys}: invalid entry 'app=level' "
        "(use configmap/NAME=key1,key2): ignored"
    )
    assert result.rolled == (RolledSource(CM, "cm", "h1", "main", DecisionReason.AUTO),)
