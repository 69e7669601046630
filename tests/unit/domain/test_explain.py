"""``reloader explain`` assembled from views: references, decisions, hashes, pending, schedule."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from reloader.commands.domain.explain import (
    GONE,
    IN_SYNC,
    MISSING,
    NOT_RECORDED,
    NOT_RELOADED,
    PENDING,
    Explanation,
    SourceExplanation,
    Use,
    explain,
)
from reloader.core.annotations import AnnotationNames, SourceKind
from reloader.reload.domain.decisions import DecisionOptions
from reloader.reload.domain.views import SourceView
from reloader.schedule.domain.schedules import ScheduleNames
from reloader.settings import Strategy
from reloader.workloads.domain.kinds import KINDS
from tests.unit.domain.builders import (
    cm_from,
    cm_key_ref,
    cm_volume,
    container,
    pod_spec,
    secret_from,
    source,
    workload,
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
        strategy=Strategy.ANNOTATIONS,
        names=NAMES,
        options=DecisionOptions(auto_reload_all=auto_reload_all),
        now=NOW,
        schedule_names=SCHEDULE,
        deadline=3600.0,
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
