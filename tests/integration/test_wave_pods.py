"""A wave's verdict tells a Deployment's new pods by its newest ReplicaSet, against the real
cluster (the kube-controller-manager creates the ReplicaSets and stamps their hashes).

A crash-looping pod that the Deployment's selector picks but that is not of its newest revision
(here a pod of a made-up older hash, created *after* the rollout's recorded second, as a pod of
the previous rollout created in that same second would be) must not fail the rollout: by
creation time it would count as new, by revision it does not.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import structlog
from prometheus_client import CollectorRegistry

from reloader.core.annotations import AnnotationNames
from reloader.core.objects import DEPLOYMENTS, PODS
from reloader.kube import resources
from reloader.kube.client import KubeClient
from reloader.observability.events import EventRecorder
from reloader.observability.notify import Alerter
from reloader.reload.domain.views import summarize_workload
from reloader.runtime.clock import RealClock
from reloader.settings import AlertSettings
from reloader.workloads.domain.kinds import KINDS
from reloader.workloads.domain.wave_pods import new_pod_problem, pod_problem
from reloader.workloads.reporting import WorkloadReporter
from reloader.workloads.waves import WaveMetrics, Waves
from tests.integration.support import deployment, eventually

pytestmark = pytest.mark.timeout(120)

NAMES = AnnotationNames()
CRASH = "reloader-test/crash-when"


async def _complete(kube: KubeClient, ns: str, name: str) -> dict[str, Any]:
    async def done() -> dict[str, Any] | None:
        obj = await resources.get(kube, DEPLOYMENTS, namespace=ns, name=name)
        view = summarize_workload(KINDS["Deployment"], obj)
        return obj if view.rollout_complete and view.revision is not None else None

    found = await eventually(done, timeout=60, what=f"deployment {name} rolled out")
    assert found is not None
    return found


async def test_a_crash_looping_pod_of_an_older_revision_does_not_fail_the_rollout(
    kube: KubeClient, namespace: str
) -> None:
    container = {
        "name": "app",
        "image": "registry.local/app:1",
        "env": [{"name": "X", "value": "ok"}],
    }
    await resources.create(
        kube, DEPLOYMENTS, namespace=namespace, body=deployment("web", containers=[container])
    )
    await _complete(kube, namespace, "web")
    # the rollout under judgement, recorded as written a second ago
    at = int(time.time()) - 1
    record = {"changes": {"configmap/app": "h"}, "at": at, "state": "rolling"}
    patch = {"metadata": {"annotations": {NAMES.wave: json.dumps(record)}}}
    await resources.patch(
        kube, DEPLOYMENTS, namespace=namespace, name="web", body=patch, patch_type="merge"
    )
    # a crash-looping pod the selector picks, of an older revision, created after ``at``
    old = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "web-old",
            "labels": {"app": "web", "pod-template-hash": "0ld"},
            "annotations": {CRASH: "bad"},
        },
        "spec": {"containers": [{**container, "env": [{"name": "X", "value": "bad"}]}]},
    }
    await resources.create(kube, PODS, namespace=namespace, body=old)

    async def crashing() -> list[dict[str, Any]] | None:
        page = await resources.list_page(kube, PODS, namespace=namespace, label_selector="app=web")
        pods = page["items"]
        return pods if any(pod_problem(p) for p in pods) else None

    pods = await eventually(crashing, timeout=60, what="the old pod crash looping")
    assert pods is not None
    # by creation time alone, it would be the rollout's own, and fail it
    assert new_pod_problem(pods, None, at) is not None

    obj = await _complete(kube, namespace, "web")
    view = summarize_workload(KINDS["Deployment"], obj)
    registry = CollectorRegistry()
    metrics = WaveMetrics(registry)
    waves = Waves(
        client=kube,
        names=NAMES,
        health_timeout=60,
        reporter=WorkloadReporter(
            recorder=EventRecorder(post=_discard), logger=structlog.get_logger()
        ),
        metrics=metrics,
        alerter=Alerter(AlertSettings()),
        clock=RealClock(),
    )
    result = await waves.follow(view, KINDS["Deployment"])
    assert result.written is not None, result
    judged = json.loads(result.written["metadata"]["annotations"][NAMES.wave])
    assert judged["state"] == "healthy", judged
    # the pods, then (one of them in trouble) the Deployment's ReplicaSets
    assert registry.get_sample_value("reloader_wave_pod_lists_total") == 2


async def _discard(path: str, body: object) -> None:
    return None
