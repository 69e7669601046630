"""``reloader explain`` assembled from views: references, decisions, hashes, pending, schedule."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from reloader.commands.domain.explain import explain
from reloader.commands.domain.report import (
    GONE,
    IN_SYNC,
    MISSING,
    NOT_RECORDED,
    NOT_RELOADED,
    PENDING,
    Explanation,
    SourceExplanation,
    Use,
)
from reloader.core.annotations import AnnotationNames, SourceKind
from reloader.reload.domain.stamps import serialize_record
from reloader.reload.domain.views import SourceView, summarize_workload
from reloader.schedule.domain.schedules import ScheduleNames
from reloader.settings import ReloadSettings, Settings, Strategy
from reloader.workloads.domain.kinds import KINDS
from reloader.workloads.domain.windows import parse_window
from tests.unit.domain.builders import (
    cm_from,
    cm_key_ref,
    cm_volume,
    container,
    pod_spec,
    secret_from,
    source,
    workload,
    workload_obj,
)

NAMES = AnnotationNames()
SCHEDULE = ScheduleNames()
NOW = datetime(2025, 1, 2, 12, 0, tzinfo=UTC)
SPEC = pod_spec(
    container("app", env=[cm_key_ref("env-cm")], env_from=[secret_from("sec")], mounts=("vol",)),
    init=(container("migrate", env_from=[cm_from("init-cm")]),),
    volumes=(cm_volume("vol", "vol-cm"),),
)


def _explain(
    annotations: dict[str, str], sources: list[SourceView], *, auto_reload_all: bool = False
) -> Explanation:
    return explain(
        workload=workload(annotations=annotations, spec=SPEC),
        kind=KINDS["Deployment"],
        sources=sources,
        settings=Settings(
            reload=ReloadSettings(strategy=Strategy.ANNOTATIONS, auto_reload_all=auto_reload_all)
        ),
        now=NOW,
        schedule_names=SCHEDULE,
    )


def _by_name(result: Explanation) -> dict[str, SourceExplanation]:
    return {s.name: s for s in result.sources}


def test_every_reference_kind_is_listed_with_its_container() -> None:
    sources = [
        source("env-cm", hash="e1"),
        source("sec", SourceKind.SECRET, hash="s1"),
        source("vol-cm", hash="v1"),
        source("init-cm", hash="i1"),
    ]
    result = _explain({NAMES.auto: "true"}, sources)
    uses = {s.name: s.uses for s in result.sources}
    assert uses == {
        "env-cm": (Use("app", "env"),),
        "sec": (Use("app", "envFrom"),),
        "vol-cm": (Use("app", "volume", volume="vol"),),
        "init-cm": (Use("migrate", "envFrom", init=True),),
    }
    kinds = {s.name: s.kind for s in result.sources}
    assert kinds["sec"] == "Secret"
    assert kinds["env-cm"] == "ConfigMap"


def test_auto_names_the_annotation_and_unrecorded_sources_are_not_pending() -> None:
    result = _explain({NAMES.auto: "true"}, [source("env-cm", hash="e1")])
    env = _by_name(result)["env-cm"]
    assert env.reload is True
    assert env.reason == "auto"
    assert env.annotation == 'reloader.stakater.com/auto: "true"'
    assert env.status == NOT_RECORDED
    assert env.recorded_hash is None
    assert env.current_hash == "e1"
    assert result.pending is False


def test_recorded_vs_current_hash_gives_pending_or_in_sync() -> None:
    record = json.dumps({"configmap/env-cm": "old", "configmap/vol-cm": "v1"})
    result = _explain(
        {NAMES.auto: "true", NAMES.applied_hashes: record},
        [source("env-cm", hash="new"), source("vol-cm", hash="v1")],
    )
    by_name = _by_name(result)
    assert by_name["env-cm"].status == PENDING
    assert by_name["env-cm"].recorded_hash == "old"
    assert by_name["env-cm"].current_hash == "new"
    assert by_name["vol-cm"].status == IN_SYNC
    assert result.pending is True
    assert result.pending_sources == ("configmap/env-cm",)


def test_without_annotation_the_reason_says_why_not() -> None:
    result = _explain({}, [source("env-cm")])
    env = _by_name(result)["env-cm"]
    assert env.reload is False
    assert env.reason == "not-selected"
    assert env.status == NOT_RELOADED
    assert "no reload annotation" in env.detail


def test_auto_reload_all_flag_is_named() -> None:
    result = _explain({}, [source("env-cm")], auto_reload_all=True)
    env = _by_name(result)["env-cm"]
    assert (env.reason, env.annotation) == ("auto-all", "--auto-reload-all")


def test_explicit_list_names_the_annotation_and_includes_unreferenced_sources() -> None:
    annotations = {NAMES.configmap_reload: "env-cm,other-.*"}
    result = _explain(annotations, [source("env-cm"), source("other-x"), source("unrelated")])
    by_name = _by_name(result)
    assert set(by_name) == {"env-cm", "other-x", "sec", "vol-cm", "init-cm"}
    other = by_name["other-x"]
    assert other.uses == ()
    assert other.reason == "explicit"
    assert other.annotation == f'{NAMES.configmap_reload}: "env-cm,other-.*"'


def test_ignored_and_excluded_sources() -> None:
    result = _explain(
        {NAMES.auto: "true", NAMES.configmap_exclude: "vol-cm"},
        [source("env-cm", annotations={NAMES.ignore: "true"}), source("vol-cm")],
    )
    by_name = _by_name(result)
    assert by_name["env-cm"].reason == "ignored"
    assert by_name["env-cm"].annotation == 'reloader.stakater.com/ignore: "true"'
    assert by_name["vol-cm"].reason == "excluded"


def test_missing_and_deleted_sources() -> None:
    record = json.dumps({"configmap/gone": "h0"})
    result = _explain({NAMES.auto: "true", NAMES.applied_hashes: record}, [])
    by_name = _by_name(result)
    assert by_name["env-cm"].status == MISSING
    assert by_name["env-cm"].exists is False
    assert by_name["gone"].status == GONE
    assert by_name["gone"].recorded_hash == "h0"


def test_a_selected_source_no_container_references_is_not_reloaded() -> None:
    annotations = {NAMES.configmap_reload: "env-cm", NAMES.search: "true"}
    matched = source("other", annotations={NAMES.match: "true"})
    other = _by_name(_explain(annotations, [source("env-cm"), matched]))["other"]
    assert (other.reload, other.reason, other.status) == (False, "no-container", NOT_RELOADED)
    assert other.detail == "selected, but no container references it: nothing to stamp"
    assert other.annotation == f'{NAMES.search}: "true" + {NAMES.match}: "true"'


def test_recorded_sources_no_longer_selected_are_dropped() -> None:
    record = json.dumps({"configmap/env-cm": "h0", "configmap/elsewhere": "h0"})
    result = _explain({NAMES.applied_hashes: record}, [source("env-cm"), source("elsewhere")])
    env, elsewhere = _by_name(result)["env-cm"], _by_name(result)["elsewhere"]
    assert (env.status, env.reason, env.exists, env.recorded_hash) == (
        "dropped",
        "not-selected",
        True,
        "h0",
    )
    assert (elsewhere.status, elsewhere.exists, elsewhere.uses) == ("dropped", False, ())
    assert elsewhere.detail == "recorded, no longer selected: dropped from the record"


def test_bad_annotations_are_warnings() -> None:
    result = _explain({NAMES.configmap_reload: "(unclosed"}, [source("env-cm")])
    assert any("invalid regex" in w for w in result.warnings)


def test_schedule_next_fire_in_its_time_zone() -> None:
    annotations = {
        SCHEDULE.schedule: "0 3 * * *",
        SCHEDULE.timezone: "Europe/Berlin",
        SCHEDULE.last_restart: "2025-01-02T02:00:00Z",
    }
    result = _explain(annotations, [])
    schedule = result.schedule
    assert schedule is not None
    assert schedule.next_restart == "2025-01-03T02:00:00Z"
    assert schedule.next_restart_local == "2025-01-03T03:00:00+01:00"
    assert (schedule.action, schedule.method, schedule.last_restart) == (
        "wait",
        "rolling",
        "2025-01-02T02:00:00Z",
    )


def test_schedule_due_and_unseen_and_invalid() -> None:
    due = _explain(
        {SCHEDULE.schedule: "0 11 * * *", SCHEDULE.last_restart: "2025-01-01T11:00:00Z"}, []
    )
    assert due.schedule is not None
    assert due.schedule.action == "restart"
    assert "2025-01-02T11:00:00Z" in due.schedule.note
    unseen = _explain({SCHEDULE.schedule: "@daily"}, [])
    assert unseen.schedule is not None
    assert unseen.schedule.action == "adopt"
    invalid = _explain({SCHEDULE.schedule: "every day"}, [])
    assert invalid.schedule is None
    assert any(SCHEDULE.schedule in w for w in invalid.schedule_warnings)
    none = _explain({}, [])
    assert (none.schedule, none.schedule_warnings) == (None, ())


# ---------------------------------------------------------------------- the verdict


def _verdict(
    annotations: dict[str, str],
    sources: list[SourceView],
    *,
    kind: str = "Deployment",
    window: str | None = None,
    watched: bool = True,
    **reload: Any,
) -> Explanation:
    view = summarize_workload(
        KINDS[kind], _rolled_out(workload_obj(kind, annotations=annotations, spec=SPEC))
    )
    return explain(
        workload=view,
        kind=KINDS[kind],
        sources=sources,
        settings=Settings(reload=ReloadSettings(**reload)),
        now=NOW,
        namespace_watched=watched,
        window=parse_window(window) if window else None,
    )


def _rolled_out(obj: dict[str, Any]) -> dict[str, Any]:
    """The workload's controller reports its last rollout complete."""
    obj["metadata"]["generation"] = 1
    obj["spec"]["replicas"] = 1
    obj["status"] = {
        "observedGeneration": 1,
        "replicas": 1,
        "updatedReplicas": 1,
        "availableReplicas": 1,
    }
    return obj


def _record(key: str, value: str) -> str:
    """An applied-hashes record of one source, as the controller writes it."""
    return serialize_record({key: value})


CHANGED = {NAMES.auto: "true", NAMES.applied_hashes: _record("configmap/env-cm", "old")}


def test_a_changed_source_is_a_reload() -> None:
    result = _verdict(CHANGED, [source("env-cm", hash="new")])
    assert (result.verdict, result.verdict_reason) == ("reload", "changed")
    assert "configmap/env-cm" in result.verdict_detail
    assert any("--max-rollouts-in-progress" in n for n in result.notes)


def test_a_closed_window_holds_it_until_it_opens() -> None:
    result = _verdict(CHANGED, [source("env-cm", hash="new")], window="14:00-15:00")
    assert (result.verdict, result.verdict_reason) == ("held", "window")
    assert result.held_until == "2025-01-02T14:00:00Z"
    assert _verdict(CHANGED, [source("env-cm", hash="new")], window="11:00-13:00").verdict == (
        "reload"
    )


def test_a_rollout_in_progress_holds_it() -> None:
    obj = workload_obj(annotations=CHANGED, spec=SPEC)
    obj["metadata"]["generation"] = 2
    obj["spec"]["replicas"] = 1
    obj["status"] = {"observedGeneration": 1}
    view = summarize_workload(KINDS["Deployment"], obj)
    assert not view.rollout_complete
    result = explain(
        workload=view,
        kind=KINDS["Deployment"],
        sources=[source("env-cm", hash="new")],
        settings=Settings(),
        now=NOW,
    )
    assert (result.verdict, result.verdict_reason) == ("held", "rollout-in-progress")


def test_webhook_mode_notifies_instead() -> None:
    result = _verdict(CHANGED, [source("env-cm", hash="new")], webhook_url="http://hook")
    assert (result.verdict, result.verdict_reason) == ("notify", "webhook")


@pytest.mark.parametrize(
    ("kind", "reload", "reason"),
    [
        pytest.param("Job", {"ignored_workload_types": frozenset({"jobs"})}, "jobs", id="job"),
        pytest.param("Rollout", {}, "--is-Argo-Rollouts", id="rollout"),
    ],
)
def test_a_kind_the_controller_does_not_watch(
    kind: str, reload: dict[str, Any], reason: str
) -> None:
    result = _verdict(CHANGED, [source("env-cm", hash="new")], kind=kind, **reload)
    assert (result.verdict, result.verdict_reason) == ("no-reload", "kind-not-watched")
    assert reason in result.verdict_detail


def test_a_namespace_out_of_scope() -> None:
    result = _verdict(CHANGED, [source("env-cm", hash="new")], watched=False)
    assert (result.verdict, result.verdict_reason) == ("no-reload", "namespace-not-watched")


@pytest.mark.parametrize(
    ("annotations", "sources", "reason"),
    [
        pytest.param({}, [source("env-cm")], "not-selected", id="not-annotated"),
        pytest.param({NAMES.auto: "true"}, [source("env-cm")], "record-only", id="first-sight"),
        pytest.param(
            {NAMES.auto: "true", NAMES.applied_hashes: _record("configmap/env-cm", "h1")},
            [source("env-cm", hash="h1")],
            "in-sync",
            id="in-sync",
        ),
    ],
)
def test_no_reload_says_why(
    annotations: dict[str, str], sources: list[SourceView], reason: str
) -> None:
    result = _verdict(annotations, sources)
    assert (result.verdict, result.verdict_reason) == ("no-reload", reason)
    assert not result.notes


def test_a_deleted_source_rolls_only_with_reload_on_delete() -> None:
    record = {NAMES.auto: "true", NAMES.applied_hashes: _record("configmap/env-cm", "h1")}
    kept = _verdict(record, [])
    assert (kept.verdict, kept.verdict_reason) == ("no-reload", "in-sync")
    assert _by_name(kept)["env-cm"].status == GONE
    rolled = _verdict(record, [], reload_on_delete=True, strategy="annotations")
    assert (rolled.verdict, rolled.verdict_reason) == ("reload", "deleted")
    env = _by_name(rolled)["env-cm"]
    assert (env.status, env.reason, env.exists) == (PENDING, "deleted", False)


def test_kinds_that_are_not_watched_are_not_read() -> None:
    result = _verdict(
        {NAMES.auto: "true"}, [source("env-cm")], resources_to_ignore=frozenset({SourceKind.SECRET})
    )
    sec = _by_name(result)["sec"]
    assert (sec.status, sec.exists) == ("not-watched", None)
    assert "--resources-to-ignore=secrets" in sec.detail


def test_reload_on_create_says_what_explain_cannot_know() -> None:
    result = _verdict({NAMES.auto: "true"}, [source("env-cm")], reload_on_create=True)
    (note,) = result.notes
    assert "ConfigMap env-cm (not recorded yet)" in note
    assert "; creating ConfigMap init-cm, ConfigMap vol-cm, Secret sec while" in note  # missing
    assert "explicit reload list" not in note
    assert result.verdict_reason == "record-only"
