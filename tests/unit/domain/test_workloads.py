from __future__ import annotations

from typing import Any

import pytest

from reloader.core.annotations import LAST_APPLIED, SourceKind
from reloader.reload.domain.hashing import configmap_hash, secret_hash, spcps_hash
from reloader.reload.domain.views import (
    WorkloadView,
    rollout_complete,
    summarize_source,
    summarize_workload,
)
from reloader.workloads.domain.kinds import KINDS
from reloader.workloads.domain.references import Reference
from tests.unit.domain.builders import (
    b64,
    cm_from,
    cm_volume,
    container,
    csi_volume,
    pod_spec,
    secret_key_ref,
    workload_obj,
)

CM = SourceKind.CONFIGMAP
SECRET = SourceKind.SECRET
SPC = SourceKind.SECRETPROVIDERCLASS


def test_configmap_summary_keeps_identity_and_hash_but_not_data() -> None:
    obj = {
        "metadata": {
            "name": "cm",
            "namespace": "ns",
            "resourceVersion": "42",
            "annotations": {"reloader.stakater.com/match": "true"},
            "labels": {"app": "x"},
        },
        "data": {"password-like": "very-private-value"},
    }
    view = summarize_source(CM, obj)
    assert (view.kind, view.namespace, view.name, view.resource_version) == (CM, "ns", "cm", "42")
    assert view.annotations == {"reloader.stakater.com/match": "true"}
    assert view.labels == {"app": "x"}
    assert view.hash == configmap_hash(obj)
    assert "very-private-value" not in repr(view)


def test_secret_summary_drops_last_applied_which_carries_the_data() -> None:
    applied = '{"data":{"k":"' + b64("s3cr3t") + '"}}'
    obj = {
        "metadata": {
            "name": "s",
            "namespace": "ns",
            "annotations": {LAST_APPLIED: applied, "keep": "me"},
        },
        "data": {"k": b64("s3cr3t")},
    }
    view = summarize_source(SECRET, obj)
    assert view.annotations == {"keep": "me"}
    assert view.hash == secret_hash(obj)
    assert b64("s3cr3t") not in repr(view)
    assert "s3cr3t" not in repr(view)


def test_spc_summary_is_named_after_the_secret_provider_class() -> None:
    obj = {
        "metadata": {"name": "pod-abc-ns-my-spc", "namespace": "ns"},
        "status": {
            "secretProviderClassName": "my-spc",
            "objects": [{"id": "secret/a", "version": "3"}],
        },
    }
    view = summarize_source(SPC, obj)
    assert view.name == "my-spc"
    assert view.hash == spcps_hash(obj)


@pytest.mark.parametrize(
    "obj",
    [
        pytest.param({}, id="empty"),
        pytest.param({"metadata": None, "data": None}, id="nulls"),
        pytest.param({"metadata": [], "data": "x"}, id="wrong-types"),
        pytest.param({"metadata": {"name": 3, "annotations": ["a"], "labels": "x"}}, id="junk"),
    ],
)
def test_malformed_source_summaries_do_not_raise(obj: dict[str, Any]) -> None:
    view = summarize_source(CM, obj)
    assert (view.name, view.namespace, view.annotations, view.labels) == ("", "", {}, {})
    assert view.hash == "da39a3ee5e6b4b0d3255bfef95601890afd80709"


def test_workload_summary_keeps_what_decisions_need() -> None:
    spec = pod_spec(
        container(
            "main",
            env=[
                {"name": "STAKATER_CM_CONFIGMAP", "value": "abc"},
                {"name": "OTHER", "value": "x"},
                secret_key_ref("s", "STAKATER_FROM_SECRET"),
            ],
            env_from=[cm_from("cm")],
        ),
        container("side", mounts=("v",)),
        init=(container("init", env=[{"name": "STAKATER_INIT_CONFIGMAP", "value": "i"}]),),
        volumes=(cm_volume("v", "other"),),
    )
    obj = workload_obj(
        annotations={"reloader.stakater.com/auto": "true", LAST_APPLIED: "{...}"},
        template_annotations={"t": "1"},
        spec=spec,
    )
    obj["spec"]["paused"] = True
    view = summarize_workload(KINDS["Deployment"], obj)
    assert view == WorkloadView(
        kind="Deployment",
        namespace="ns",
        name="app",
        uid="uid-app",
        resource_version="7",
        annotations={"reloader.stakater.com/auto": "true"},
        template_annotations={"t": "1"},
        references=(
            Reference(SECRET, "s", "main", "env"),
            Reference(CM, "cm", "main", "envFrom"),
            Reference(CM, "other", "side", "volume", volume="v"),
        ),
        containers=("main", "side"),
        stakater_env={"main": {"STAKATER_CM_CONFIGMAP": "abc"}},
        paused=True,
        targets={(SECRET, "s"): "main", (CM, "cm"): "main", (CM, "other"): "side"},
        rollout_complete=True,  # paused: nothing rolls out until it is resumed
    )


def test_cronjob_summary_reads_the_job_template() -> None:
    obj = workload_obj(
        "CronJob",
        template_annotations={"t": "1"},
        spec=pod_spec(container("job", mounts=("c",)), volumes=(csi_volume("c", "spc"),)),
    )
    view = summarize_workload(KINDS["CronJob"], obj)
    assert view.kind == "CronJob"
    assert view.template_annotations == {"t": "1"}
    assert view.containers == ("job",)
    assert {(ref.source_kind, ref.name) for ref in view.references} == {(SPC, "spc")}


def test_init_only_reference_targets_the_first_regular_container() -> None:
    spec = pod_spec(
        container("main"), container("side"), init=(container("i", env_from=[cm_from("cm")]),)
    )
    view = summarize_workload(KINDS["Deployment"], workload_obj(spec=spec))
    assert view.references == (Reference(CM, "cm", "i", "envFrom", init=True),)
    assert view.targets == {(CM, "cm"): "main"}


@pytest.mark.parametrize(
    ("paused", "expected"),
    [
        pytest.param(True, True, id="true"),
        pytest.param(False, False, id="false"),
        pytest.param("true", False, id="string-is-not-a-bool"),
        pytest.param(None, False, id="null"),
    ],
)
def test_paused_is_the_spec_boolean(paused: Any, expected: bool) -> None:
    obj = workload_obj()
    obj["spec"]["paused"] = paused
    assert summarize_workload(KINDS["Deployment"], obj).paused is expected


@pytest.mark.parametrize(
    "obj",
    [
        pytest.param({}, id="empty"),
        pytest.param({"metadata": None, "spec": None}, id="nulls"),
        pytest.param({"metadata": "x", "spec": []}, id="wrong-types"),
        pytest.param({"spec": {"template": None}}, id="template-null"),
        pytest.param({"spec": {"template": {"metadata": None, "spec": None}}}, id="inner-nulls"),
        pytest.param({"spec": {"template": {"spec": {"containers": None}}}}, id="containers-null"),
        pytest.param(
            {"spec": {"template": {"spec": {"containers": [{"name": "a", "env": "x"}]}}}},
            id="env-string",
        ),
        pytest.param(
            {"spec": {"template": {"spec": {"containers": [{"name": "a", "env": [None, 1]}]}}}},
            id="env-junk-items",
        ),
        pytest.param(
            {
                "metadata": {"annotations": {"a": 1, "b": "2"}},
                "spec": {"template": {"metadata": {"annotations": []}}},
            },
            id="junk-annotations",
        ),
    ],
)
def test_malformed_workloads_do_not_raise(obj: dict[str, Any]) -> None:
    view = summarize_workload(KINDS["Deployment"], obj)
    assert view.kind == "Deployment"
    assert view.references == ()
    assert view.stakater_env == {}
    assert view.paused is False
    assert set(view.annotations) <= {"b"}
    assert view.template_annotations == {}
    assert view.containers in ((), ("a",))


def test_stakater_env_ignores_vars_without_literal_value() -> None:
    spec = pod_spec(
        container(
            "a",
            env=[
                {"name": "STAKATER_X_CONFIGMAP"},
                {"name": "STAKATER_Y_CONFIGMAP", "value": 5},
                {"name": "STAKATER_Z_CONFIGMAP", "value": "z"},
            ],
        )
    )
    view = summarize_workload(KINDS["Deployment"], workload_obj(spec=spec))
    assert view.stakater_env == {"a": {"STAKATER_Z_CONFIGMAP": "z"}}


@pytest.mark.parametrize(
    ("kind", "obj", "complete"),
    [
        pytest.param(
            "Deployment",
            {
                "metadata": {"generation": 2},
                "spec": {"replicas": 3},
                "status": {
                    "observedGeneration": 2,
                    "replicas": 3,
                    "updatedReplicas": 3,
                    "availableReplicas": 3,
                },
            },
            True,
            id="deployment-done",
        ),
        pytest.param(
            "Deployment",
            {
                "metadata": {"generation": 3},
                "spec": {"replicas": 3},
                "status": {
                    "observedGeneration": 2,
                    "replicas": 3,
                    "updatedReplicas": 3,
                    "availableReplicas": 3,
                },
            },
            False,
            id="deployment-generation-not-observed",
        ),
        pytest.param(
            "Deployment",
            {
                "metadata": {"generation": 2},
                "spec": {"replicas": 3},
                "status": {
                    "observedGeneration": 2,
                    "replicas": 4,
                    "updatedReplicas": 3,
                    "availableReplicas": 3,
                },
            },
            False,
            id="deployment-old-pod-left",
        ),
        pytest.param(
            "StatefulSet",
            {
                "metadata": {"generation": 1},
                "spec": {"replicas": 2},
                "status": {
                    "observedGeneration": 1,
                    "readyReplicas": 2,
                    "currentRevision": "a",
                    "updateRevision": "b",
                },
            },
            False,
            id="statefulset-revision-pending",
        ),
        pytest.param(
            "DaemonSet",
            {
                "metadata": {"generation": 1},
                "status": {
                    "observedGeneration": 1,
                    "desiredNumberScheduled": 3,
                    "updatedNumberScheduled": 3,
                    "numberAvailable": 3,
                },
            },
            True,
            id="daemonset-done",
        ),
        pytest.param("Job", {}, True, id="job-always"),
    ],
)
def test_rollout_complete_per_kind(kind: str, obj: dict[str, Any], complete: bool) -> None:
    assert summarize_workload(KINDS[kind], obj).rollout_complete is complete


def _deployment(status: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"namespace": "ns", "name": "d", "generation": 2},
        "spec": {"replicas": 2, **spec},
        "status": {"observedGeneration": 2, **status},
    }


@pytest.mark.parametrize(
    ("kind", "obj", "complete"),
    [
        pytest.param("Deployment", {"metadata": {"generation": 1}, "spec": {}}, False,
                     id="deployment-no-status-yet"),
        pytest.param("Deployment", _deployment({"replicas": 3, "updatedReplicas": 2,
                     "availableReplicas": 2}), False, id="deployment-old-replica-left"),
        pytest.param("Deployment", _deployment({"replicas": 2, "updatedReplicas": 2,
                     "availableReplicas": 2}), True, id="deployment-done"),
        pytest.param("Deployment", _deployment({"replicas": 2, "updatedReplicas": 1,
                     "conditions": [{"type": "Progressing", "status": "False",
                                     "reason": "ProgressDeadlineExceeded"}]}), True,
                     id="deployment-past-its-deadline-holds-nothing"),
        pytest.param("StatefulSet", {"metadata": {"generation": 1}, "spec": {"replicas": 2,
                     "updateStrategy": {"type": "OnDelete"}}, "status": {"observedGeneration": 1,
                     "readyReplicas": 2, "currentRevision": "a", "updateRevision": "b"}}, True,
                     id="statefulset-ondelete"),
        pytest.param("StatefulSet", {"metadata": {"generation": 1}, "spec": {"replicas": 2},
                     "status": {"observedGeneration": 1, "readyReplicas": 2,
                     "currentRevision": "a", "updateRevision": "b", "updatedReplicas": 1}},
                     False, id="statefulset-rolling"),
        pytest.param("DaemonSet", {"metadata": {"generation": 1}, "spec": {
                     "updateStrategy": {"type": "OnDelete"}}, "status": {"observedGeneration": 1,
                     "desiredNumberScheduled": 3, "updatedNumberScheduled": 0}}, True,
                     id="daemonset-ondelete"),
        pytest.param("CronJob", {"metadata": {}, "spec": {}}, True, id="cronjob"),
    ],
)  # fmt: skip
def test_rollout_complete_follows_rollout_status(
    kind: str, obj: dict[str, Any], complete: bool
) -> None:
    assert rollout_complete(KINDS[kind], obj) is complete
