"""Pause-period state from annotations, and the Job bodies for CronJob/Job reloads."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from reloader.core.annotations import AnnotationNames
from reloader.reload.domain.pauses import PauseState, pause_state, rfc3339
from reloader.reload.domain.views import WorkloadView
from reloader.workloads.domain.jobs import (
    GENERATED_JOB_LABELS,
    PENDING_JOB_LABEL,
    cronjob_job_name,
    job_from_cronjob,
    journal_name,
    journal_secret,
    parse_journal,
    parse_legacy_journal,
    recreated_job,
)
from reloader.workloads.domain.kinds import KINDS
from reloader.workloads.domain.patches import apply_patch

NAMES = AnnotationNames()
NOW = 1_800_000_000.0


def _view(annotations: dict[str, str] | None = None, *, paused: bool = False) -> WorkloadView:
    return WorkloadView(
        kind="Deployment", namespace="ns", name="web", paused=paused, annotations=annotations or {}
    )


@pytest.mark.parametrize(
    ("view", "expected"),
    [
        pytest.param(_view(), PauseState(), id="no-annotation"),
        pytest.param(
            _view({NAMES.pause_period: "5m"}), PauseState(period=300.0), id="period-not-paused"
        ),
        pytest.param(
            _view({NAMES.pause_period: "10s", NAMES.paused_at: rfc3339(NOW - 4)}, paused=True),
            PauseState(period=10.0, wait=6.0),
            id="paused-by-us-waiting",
        ),
        pytest.param(
            _view({NAMES.pause_period: "10s", NAMES.paused_at: rfc3339(NOW - 11)}, paused=True),
            PauseState(period=10.0, resume=True),
            id="deadline-passed",
        ),
        pytest.param(
            _view({NAMES.paused_at: rfc3339(NOW - 1)}, paused=True),
            PauseState(resume=True),
            id="period-removed-resumes",
        ),
        pytest.param(
            _view({NAMES.pause_period: "10s", NAMES.paused_at: "yesterday"}, paused=True),
            PauseState(period=10.0, resume=True),
            id="bad-paused-at-resumes",
        ),
        pytest.param(
            _view({NAMES.pause_period: "10s"}, paused=True),
            PauseState(period=10.0),
            id="paused-by-user-left-alone",
        ),
    ],
)
def test_pause_state(view: WorkloadView, expected: PauseState) -> None:
    assert pause_state(view=view, kind=KINDS["Deployment"], names=NAMES, now=NOW) == expected


def test_invalid_period_is_a_warning_naming_the_annotation_and_value() -> None:
    state = pause_state(
        view=_view({NAMES.pause_period: "soon"}), kind=KINDS["Deployment"], names=NAMES, now=NOW
    )
    assert state.period is None
    assert state.warnings
    assert NAMES.pause_period in state.warnings[0]
    assert '"soon"' in state.warnings[0]


def test_pause_applies_to_deployments_only_and_says_so() -> None:
    view = WorkloadView(
        kind="StatefulSet", namespace="ns", name="db", annotations={NAMES.pause_period: "5m"}
    )
    state = pause_state(view=view, kind=KINDS["StatefulSet"], names=NAMES, now=NOW)
    assert state.period is None
    assert not state.resume
    assert len(state.warnings) == 1
    assert "Deployments only" in state.warnings[0]
    plain = WorkloadView(kind="StatefulSet", namespace="ns", name="db")
    assert pause_state(view=plain, kind=KINDS["StatefulSet"], names=NAMES, now=NOW) == PauseState()


CRONJOB: dict[str, Any] = {
    "metadata": {"name": "nightly", "namespace": "ns", "uid": "u1", "generation": 7},
    "spec": {
        "jobTemplate": {
            "metadata": {"labels": {"app": "n"}, "annotations": {"a": "b"}},
            "spec": {"template": {"spec": {"containers": [{"name": "c"}]}}},
        }
    },
}


def test_job_from_cronjob_is_owned_and_marked_manual() -> None:
    job = job_from_cronjob(CRONJOB, name="nightly-1")
    assert job["metadata"]["annotations"] == {
        "cronjob.kubernetes.io/instantiate": "manual",
        "a": "b",
    }
    assert job["metadata"]["labels"] == {"app": "n"}
    assert job["metadata"]["ownerReferences"][0] | {} == {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "name": "nightly",
        "uid": "u1",
        "controller": True,
        "blockOwnerDeletion": True,
    }
    assert job["spec"] == CRONJOB["spec"]["jobTemplate"]["spec"]


def test_cronjob_job_name_is_stable_for_a_retry_and_new_for_the_next_write() -> None:
    first = cronjob_job_name(CRONJOB, ["h1"])
    assert first == cronjob_job_name(CRONJOB, ["h1"])
    assert first.startswith("nightly-")
    assert len(first) <= 63
    status_update = {**CRONJOB, "metadata": {**CRONJOB["metadata"], "resourceVersion": "9"}}
    assert cronjob_job_name(status_update, ["h1"]) == first
    later = {**CRONJOB, "metadata": {**CRONJOB["metadata"], "generation": 8}}
    assert cronjob_job_name(later, ["h1"]) != first
    long_name = {**CRONJOB, "metadata": {**CRONJOB["metadata"], "name": "x" * 70}}
    assert len(cronjob_job_name(long_name, ["h1"])) == 61


def test_recreated_job_drops_server_fields_and_generated_labels() -> None:
    generated = dict.fromkeys(GENERATED_JOB_LABELS, "old")
    job = {
        "metadata": {
            "name": "j",
            "namespace": "ns",
            "uid": "u",
            "resourceVersion": "3",
            "creationTimestamp": "t",
            "labels": {**generated, "team": "a"},
        },
        "spec": {
            "selector": {"matchLabels": generated},
            "template": {
                "metadata": {"labels": {**generated, "app": "j"}},
                "spec": {"containers": [{"name": "c"}]},
            },
        },
        "status": {"succeeded": 1},
    }
    body = recreated_job(job)
    assert body["metadata"] == {"name": "j", "namespace": "ns", "labels": {"team": "a"}}
    assert "selector" not in body["spec"]
    assert "status" not in body
    assert body["spec"]["template"]["metadata"]["labels"] == {"app": "j"}


def test_apply_patch_merges_named_lists_and_deletes_none() -> None:
    obj = {
        "metadata": {"annotations": {"keep": "1", "drop": "2"}},
        "spec": {
            "containers": [{"name": "a", "env": [{"name": "X", "value": "1"}]}, {"name": "b"}]
        },
    }
    patch = {
        "metadata": {"annotations": {"drop": None, "new": "3"}},
        "spec": {"containers": [{"name": "a", "env": [{"name": "Y", "value": "2"}]}]},
    }
    assert apply_patch(obj, patch) == {
        "metadata": {"annotations": {"keep": "1", "new": "3"}},
        "spec": {
            "containers": [
                {"name": "a", "env": [{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}]},
                {"name": "b"},
            ]
        },
    }


def test_journal_entry_round_trips_the_body_and_the_old_uid() -> None:
    env = [{"name": "PASSWORD", "value": "literal"}]
    pod = {"containers": [{"name": "c", "env": env}]}
    body = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "m", "namespace": "n"},
        "spec": {"template": {"spec": pod}},
    }
    entry = journal_secret("uid-1", body)
    assert (entry["kind"], entry["type"]) == ("Secret", "Opaque")
    assert entry["metadata"]["name"] == journal_name("n", "m")
    assert entry["metadata"]["labels"][PENDING_JOB_LABEL] == "true"
    assert "literal" not in json.dumps(entry), "the data is encoded as a Secret's is"
    assert parse_journal(entry) == ("uid-1", body)


def test_an_entry_of_an_earlier_version_is_read_from_its_configmap() -> None:
    body = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "m", "namespace": "n"}}
    data = {"namespace": "n", "name": "m", "uid": "uid-1", "job.json": json.dumps(body)}
    assert parse_legacy_journal({"metadata": {"name": "x"}, "data": data}) == ("uid-1", body)
    assert parse_legacy_journal({"metadata": {"name": "x"}}) is None  # an emptied entry


def test_journal_names_are_valid_fixed_length_and_distinct() -> None:
    long = journal_name("ns", "j" * 63)
    assert long == journal_name("ns", "j" * 63)
    assert len(long) == len(journal_name("a", "b")) <= 63
    assert journal_name("a", "b-c") != journal_name("a-b", "c")


@pytest.mark.parametrize(
    "data",
    [
        None,  # an emptied entry
        {"job.json": "not json"},
        {"job.json": "[1]"},
        {"job.json": '{"kind": "Pod", "metadata": {"name": "m", "namespace": "n"}}'},
        {"job.json": '{"kind": "Job", "metadata": {"name": "m"}}'},
    ],
)
def test_journal_entries_that_are_not_a_pending_job_are_skipped(
    data: dict[str, str] | None,
) -> None:
    plain = {"data": data} if data is not None else {}
    assert parse_legacy_journal(plain) is None
    encoded = {k: base64.b64encode(str(v).encode()).decode() for k, v in (data or {}).items()}
    assert parse_journal({"data": encoded}) is None
    assert parse_journal({"data": {"job.json": "not base64!"}}) is None
