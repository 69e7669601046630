from __future__ import annotations

from typing import Any

import pytest

from reloader.core.annotations import AnnotationNames
from reloader.core.objects import CRONJOBS, DEPLOYMENTS, JOBS, ROLLOUTS
from reloader.workloads.domain.kinds import (
    IGNORABLE_WORKLOAD_TYPES,
    KINDS,
    MERGE_PATCH,
    STRATEGIC_MERGE,
    RestartMethod,
    pod_template,
    restart_method,
)
from tests.unit.domain.builders import workload_obj


def test_kinds_are_in_reloaders_processing_order() -> None:
    assert list(KINDS) == ["Deployment", "CronJob", "Job", "DaemonSet", "StatefulSet", "Rollout"]


@pytest.mark.parametrize(
    ("name", "path", "restart", "content_type", "pause", "ignore"),
    [
        pytest.param(
            "Deployment", ("spec", "template"), RestartMethod.TEMPLATE_PATCH, STRATEGIC_MERGE,
            True, None, id="deployment",
        ),
        pytest.param(
            "DaemonSet", ("spec", "template"), RestartMethod.TEMPLATE_PATCH, STRATEGIC_MERGE,
            False, None, id="daemonset",
        ),
        pytest.param(
            "StatefulSet", ("spec", "template"), RestartMethod.TEMPLATE_PATCH, STRATEGIC_MERGE,
            False, None, id="statefulset",
        ),
        pytest.param(
            "CronJob", ("spec", "jobTemplate", "spec", "template"),
            RestartMethod.JOB_FROM_CRONJOB, STRATEGIC_MERGE, False, "cronjobs", id="cronjob",
        ),
        pytest.param(
            "Job", ("spec", "template"), RestartMethod.RECREATE_JOB, STRATEGIC_MERGE, False,
            "jobs", id="job",
        ),
        pytest.param(
            "Rollout", ("spec", "template"), RestartMethod.TEMPLATE_PATCH, MERGE_PATCH, False,
            None, id="rollout",
        ),
    ],
)  # fmt: skip
def test_kind_table(
    name: str,
    path: tuple[str, ...],
    restart: RestartMethod,
    content_type: str,
    pause: bool,
    ignore: str | None,
) -> None:
    kind = KINDS[name]
    assert kind.kind == name
    assert kind.resource.kind == name
    assert kind.template_path == path
    assert kind.restart is restart
    assert kind.patch_content_type == content_type
    assert kind.supports_pause is pause
    assert kind.ignore_name == ignore


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
