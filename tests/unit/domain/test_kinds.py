from __future__ import annotations

from typing import Any

import pytest

from reloader.core.annotations import AnnotationNames
from reloader.core.objects import CRONJOBS, DEPLOYMENTS, JOBS, ROLLOUTS
from reloader.workloads.domain.kinds import (
    IGNORABLE_WORKLOAD_TYPES,
    KINDS,
    KINDS_BY_ALIAS,
    PatchContentType,
    RestartMethod,
    RolloutStatus,
    WorkloadKind,
    enabled_kinds,
    pod_template,
    restart_method,
)
from tests.unit.domain.builders import workload_obj

STRATEGIC_MERGE, MERGE_PATCH = PatchContentType.STRATEGIC_MERGE, PatchContentType.MERGE_PATCH


def test_kinds_are_in_reloaders_processing_order() -> None:
    assert list(KINDS) == ["Deployment", "CronJob", "Job", "DaemonSet", "StatefulSet", "Rollout"]


TEMPLATE = ("spec", "template")
TP, JFC, RJ, RA = (
    RestartMethod.TEMPLATE_PATCH,
    RestartMethod.JOB_FROM_CRONJOB,
    RestartMethod.RECREATE_JOB,
    RestartMethod.RESTART_AT,
)

#: kind → (template path, reload verb, immediate restart verb, annotated verb, rollout status,
#: rolls out, scales, content type, pause, ignore name, crd, aliases)
TABLE: dict[str, tuple[Any, ...]] = {
    "Deployment": (TEMPLATE, TP, TP, None, RolloutStatus.DEPLOYMENT, True, True, STRATEGIC_MERGE,
                   True, None, False, ("deployment", "deployments", "deploy")),
    "DaemonSet": (TEMPLATE, TP, TP, None, RolloutStatus.DAEMONSET, True, False, STRATEGIC_MERGE,
                  False, None, False, ("daemonset", "daemonsets", "ds")),
    "StatefulSet": (TEMPLATE, TP, TP, None, RolloutStatus.STATEFULSET, True, True,
                    STRATEGIC_MERGE, False, None, False, ("statefulset", "statefulsets", "sts")),
    "CronJob": (("spec", "jobTemplate", "spec", "template"), JFC, JFC, None,
                RolloutStatus.JOB_STARTED, False, False, STRATEGIC_MERGE, False, "cronjobs", False,
                ("cronjob", "cronjobs", "cj")),
    "Job": (TEMPLATE, RJ, RJ, None, RolloutStatus.JOB_STARTED, False, False, STRATEGIC_MERGE,
            False, "jobs", False, ("job", "jobs")),
    "Rollout": (TEMPLATE, TP, RA, RA, RolloutStatus.ARGO_ROLLOUT, True, True, MERGE_PATCH, False,
                None, True, ("rollout", "rollouts", "ro")),
}  # fmt: skip


@pytest.mark.parametrize("name", list(TABLE))
def test_kind_table(name: str) -> None:
    kind = KINDS[name]
    assert kind.kind == name
    assert kind.resource.kind == name
    assert (
        kind.template_path,
        kind.restart,
        kind.immediate_restart,
        kind.annotated_restart,
        kind.rollout_status,
        kind.rolls_out,
        kind.scales,
        kind.patch_content_type,
        kind.supports_pause,
        kind.ignore_name,
        kind.crd,
        kind.aliases,
    ) == TABLE[name]


def test_every_kind_is_in_the_table() -> None:
    assert set(KINDS) == set(TABLE)


@pytest.mark.parametrize("kind", KINDS.values(), ids=list(KINDS))
def test_aliases_are_kubectls_singular_plural_and_short_names(kind: WorkloadKind) -> None:
    assert kind.aliases[:2] == (kind.kind.lower(), kind.resource.plural)
    assert all(KINDS_BY_ALIAS[alias] is kind for alias in kind.aliases)


def test_a_kind_that_rolls_out_has_a_rollout_status_of_its_own() -> None:
    for kind in KINDS.values():
        assert kind.rolls_out is (kind.rollout_status is not RolloutStatus.JOB_STARTED)


@pytest.mark.parametrize(
    ("ignored", "argo", "expected"),
    [
        pytest.param(frozenset(), False, ["Deployment", "CronJob", "Job", "DaemonSet",
                                          "StatefulSet"], id="default"),
        pytest.param(frozenset(), True, list(KINDS), id="argo-rollouts"),
        pytest.param(frozenset({"jobs", "cronjobs"}), True, ["Deployment", "DaemonSet",
                                                             "StatefulSet", "Rollout"],
                     id="jobs-ignored"),
    ],
)  # fmt: skip
def test_enabled_kinds(ignored: frozenset[str], argo: bool, expected: list[str]) -> None:
    kinds = enabled_kinds(ignored_workload_types=ignored, argo_rollouts=argo)
    assert [k.kind for k in kinds] == expected


def test_kinds_use_the_shared_resource_types() -> None:
    assert KINDS["Deployment"].resource is DEPLOYMENTS
    assert KINDS["CronJob"].resource is CRONJOBS
    assert KINDS["Job"].resource is JOBS
    assert KINDS["Rollout"].resource is ROLLOUTS


def test_ignorable_workload_types_are_jobs_and_cronjobs() -> None:
    assert frozenset({"jobs", "cronjobs"}) == IGNORABLE_WORKLOAD_TYPES


@pytest.mark.parametrize("name", list(KINDS))
def test_pod_template_follows_the_template_path(name: str) -> None:
    obj = workload_obj(name, template_annotations={"a": "b"})
    template = pod_template(KINDS[name], obj)
    assert template is not None
    assert template["metadata"]["annotations"] == {"a": "b"}


@pytest.mark.parametrize(
    "obj",
    [
        pytest.param({}, id="empty"),
        pytest.param({"spec": None}, id="spec-null"),
        pytest.param({"spec": []}, id="spec-list"),
        pytest.param({"spec": {"template": "x"}}, id="template-string"),
        pytest.param({"spec": {"jobTemplate": {"spec": None}}}, id="cronjob-shape"),
    ],
)
def test_pod_template_of_malformed_objects_is_none(obj: dict[str, Any]) -> None:
    assert pod_template(KINDS["Deployment"], obj) is None
    assert pod_template(KINDS["CronJob"], obj) is None


def test_cronjob_template_is_not_found_at_deployment_path() -> None:
    obj = workload_obj("CronJob")
    assert pod_template(KINDS["Deployment"], obj) is None


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        pytest.param("Rollout", "restart", RestartMethod.RESTART_AT, id="rollout-restart"),
        pytest.param("Rollout", "Restart", RestartMethod.TEMPLATE_PATCH, id="case-sensitive"),
        pytest.param("Rollout", None, RestartMethod.TEMPLATE_PATCH, id="rollout-default"),
        pytest.param("Deployment", "restart", RestartMethod.TEMPLATE_PATCH, id="not-a-rollout"),
        pytest.param("CronJob", None, RestartMethod.JOB_FROM_CRONJOB, id="cronjob"),
    ],
)
def test_restart_method_reads_rollout_strategy(
    name: str, value: str | None, expected: RestartMethod
) -> None:
    names = AnnotationNames()
    annotations = {} if value is None else {names.rollout_strategy: value}
    assert restart_method(KINDS[name], annotations=annotations, names=names) is expected
