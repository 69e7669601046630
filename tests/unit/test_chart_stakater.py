"""Values files written for stakater's chart, rendered with this chart.

The newest chart stakater ships (2.2.16, in Reloader v1.4.22's Go module) has keys that older
versions lack: the pod's runtimeClassName, schedulerName and hostUsers, and the leader election
timings under reloader.leaderElection. A values file with every key of that version must render,
each key either honoured (the pod spec field, the controller's flag) or refused with a message
that says why. The values file below is this test's own, with every key of that version.
"""

from __future__ import annotations

from typing import Any

import pytest

from reloader.cli.explain import build_parser as explain_parser
from reloader.cli.explain import explain_settings
from tests.unit import test_chart_template as charts
from tests.unit.chart_values import NEW_POD_FIELDS, stakater_values
from tests.unit.test_chart_template import FULLNAME, Helm, args_of, find, settings_for

# the chart tests' fixtures: helm (built once), its environment, the chart rendered with it
helm = charts.helm
helm_env = charts.helm_env
chart = charts.chart

Doc = dict[str, Any]


def pod_spec(docs: list[Doc]) -> Doc:
    return dict(find(docs, "Deployment", FULLNAME)["spec"]["template"]["spec"])


def test_every_key_of_stakaters_newest_chart_renders_with_its_defaults(chart: Helm) -> None:
    chart.lint(stakater_values())
    docs = chart.template(stakater_values())
    pod = pod_spec(docs)
    # empty strings and null leave the pod's defaults alone, as in stakater's chart
    assert [f for f in NEW_POD_FIELDS if f in pod] == []
    assert [a for a in args_of(docs) if a.startswith("--leader-election")] == []
    assert not settings_for(docs).leader.enabled


def test_pod_fields_of_stakaters_newest_chart_are_honoured(chart: Helm) -> None:
    values = stakater_values(
        deployment={"runtimeClassName": "gvisor", "schedulerName": "bin-packer", "hostUsers": False}
    )
    pod = pod_spec(chart.template(values))
    assert pod["runtimeClassName"] == "gvisor"
    assert pod["schedulerName"] == "bin-packer"
    assert pod["hostUsers"] is False

    pod = pod_spec(chart.template(stakater_values(deployment={"hostUsers": True})))
    assert pod["hostUsers"] is True


def test_leader_election_timings_become_the_controllers_flags_with_ha(chart: Helm) -> None:
    timings = {"leaseDuration": "30s", "renewDeadline": "20s", "retryPeriod": "4s"}
    values = stakater_values(enableHA=True, deployment={"replicas": 2}, leaderElection=timings)
    docs = chart.template(values)
    assert [a for a in args_of(docs) if a.startswith("--leader-election")] == [
        "--leader-election-lease-duration=30s",
        "--leader-election-renew-deadline=20s",
        "--leader-election-retry-period=4s",
    ]
    leader = settings_for(docs).leader
    assert leader.enabled
    assert (leader.lease_duration, leader.renew_deadline, leader.retry_period) == (30, 20, 4)

    # one of them: the others keep the controller's defaults
    values = stakater_values(enableHA=True, leaderElection={"leaseDuration": "1m"})
    leader = settings_for(chart.template(values)).leader
    assert (leader.lease_duration, leader.renew_deadline, leader.retry_period) == (60, 10, 2)

    # as in stakater's chart, the timings only apply with enableHA
    docs = chart.template(stakater_values(leaderElection=timings))
    assert [a for a in args_of(docs) if a.startswith("--leader-election")] == []


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            stakater_values(leaderElection={"retryPeriod": "3s"}, leaderElectionRetryPeriod="3s"),
            (
                "reloader.leaderElection.retryPeriod and reloader.leaderElectionRetryPeriod"
                " are both set: they are the same flag, --leader-election-retry-period."
            ),
        ),
        (
            # stakater's charts 1.0.x kept the image under reloader.deployment
            stakater_values(deployment={"image": {"name": "stakater/reloader", "tag": "v1.0.69"}}),
            "reloader.deployment.image is the image layout of stakater's charts 1.0.x.",
        ),
    ],
    ids=["leader-election-twice", "old-image-layout"],
)
def test_stakater_values_that_cannot_apply_are_refused_with_why(
    chart: Helm, values: Doc, message: str
) -> None:
    assert message in chart.fails(values)


@pytest.mark.parametrize(
    ("values", "path"),
    [
        (stakater_values(leaderElection={"leaseDuration": "15"}), "/reloader/leaderElection"),
        (stakater_values(leaderElection={"leaseTime": "15s"}), "/reloader/leaderElection"),
        (stakater_values(deployment={"hostUsers": "false"}), "/reloader/deployment/hostUsers"),
    ],
    ids=["duration-without-unit", "unknown-timing", "hostusers-string"],
)
def test_schema_refuses_malformed_new_values(chart: Helm, values: Doc, path: str) -> None:
    assert path in chart.fails(values)


def test_explain_takes_the_args_the_chart_renders(chart: Helm) -> None:
    """`reloader explain` with the controller's args as the chart renders them decides as the
    controller does (the args that change no decision, such as --enable-ha, are ignored)."""
    values = stakater_values(
        enableHA=True,
        deployment={"replicas": 2},
        leaderElection={"leaseDuration": "30s"},
        autoReloadAll=True,
        reloadOnCreate=True,
        reloadOnDelete=True,
        reloadStrategy="annotations",
        ignoreNamespaces="kube-system",
        ignoreCronJobs=True,
        logFormat="json",
        custom_annotations={"auto": "example.com/auto"},
    )
    docs = chart.template(values)
    args = args_of(docs)
    assert "--enable-ha=true" in args
    assert "--auto-reload-all=true" in args
    explained = explain_settings(explain_parser().parse_args(["deploy/web", *args]), {})
    controller = settings_for(docs)
    assert explained.reload == controller.reload
    assert explained.scope == controller.scope
    assert explained.names == controller.names
    assert explained.reload.auto_reload_all
