"""``reloader explain`` says what the controller then does, for every reload case of the suite.

Each case: the real controller (a subprocess, with the case's flags) sees the workload, records
its baseline, and is stopped; the case's change is made (a source updated, created or deleted);
``reloader explain -o json`` with the same flags gives its verdict; the controller starts again
and its level-triggered reconcile does what explain said: the workload rolls (stamped with the
hashes explain showed), or it does not (the controller reconciled it and left its template
alone), or the reload is held (for the reason explain gave).
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from reloader.core.objects import CONFIGMAPS, CRONJOBS, DEPLOYMENTS, ROLLOUTS, SECRETS
from reloader.kube import resources
from reloader.kube.client import KubeClient
from reloader.reload.domain.views import rollout_complete
from reloader.workloads.domain.kinds import KINDS
from tests.integration.controller import ControllerProcess
from tests.integration.receiver import receiver
from tests.integration.reload_support import (
    applied_record,
    cm_env_from,
    container,
    extra_namespace,
    make_configmap,
    make_secret,
    secret_volume,
    stamped_with,
    template_of,
    update_source,
    wait_recorded,
    workload_key,
)
from tests.integration.schedule_support import run_cli
from tests.integration.support import ClusterInfo, deployment, eventually, install_crds
from tests.integration.test_reload_csi import csi_volume, put_pod_status, spc_hash

MANIFESTS = Path(__file__).parent / "manifests"
AUTO = "reloader.stakater.com/auto"
DELETE_MARKER = "aae45badef99284e4dae01d6046154ea9d99532f"  # docs/compatibility.md#hashes
TYPES = {"Deployment": DEPLOYMENTS, "CronJob": CRONJOBS, "Rollout": ROLLOUTS}
SOURCE_TYPES = {"CONFIGMAP": CONFIGMAPS, "SECRET": SECRETS}


@dataclass(frozen=True)
class Source:
    type: str  # CONFIGMAP, SECRET, SPC (a pod status: name is the pod, spc the class)
    name: str
    data: dict[str, str] = field(default_factory=lambda: {"k": "v1"})
    annotations: dict[str, str] = field(default_factory=dict)
    spc: str = ""


@dataclass(frozen=True)
class Change:
    op: str  # update, create, delete
    source: Source


@dataclass(frozen=True)
class Case:
    sources: tuple[Source, ...]
    change: tuple[Change, ...]
    #: what explain must say: verdict, verdict_reason, and (source name, its reason) pairs
    verdict: str
    reason: str
    because: tuple[tuple[str, str], ...] = ()
    annotations: dict[str, str] = field(default_factory=dict)
    containers: tuple[dict[str, Any], ...] = (container(env_from=[cm_env_from("app-cm")]),)
    volumes: tuple[dict[str, Any], ...] = ()
    flags: tuple[str, ...] = ()
    kind: str = "Deployment"
    #: the controller watches another namespace than the workload's
    elsewhere: bool = False
    webhook: bool = False
    #: a note explain must make (what it cannot know)
    note: str = ""


APP_CM = Source("CONFIGMAP", "app-cm")
APP_CM_V2 = Change("update", Source("CONFIGMAP", "app-cm", {"k": "v2"}))


def _closed_window() -> str:
    now = datetime.now(UTC)
    return f"{(now + timedelta(hours=2)):%H:%M}-{(now + timedelta(hours=3)):%H:%M}"


CASES = {
    "auto-env-vars": Case(
        sources=(APP_CM,),
        change=(APP_CM_V2,),
        annotations={AUTO: "true"},
        verdict="reload",
        reason="changed",
        because=(("app-cm", "auto"),),
    ),
    "auto-annotations-strategy-secret-volume": Case(
        sources=(Source("SECRET", "creds"),),
        change=(Change("update", Source("SECRET", "creds", {"k": "v2"})),),
        annotations={AUTO: "true"},
        containers=(container(mounts=["creds"]),),
        volumes=(secret_volume("creds", "creds"),),
        flags=("--reload-strategy=annotations",),
        verdict="reload",
        reason="changed",
        because=(("creds", "auto"),),
    ),
    "typed-auto-covers-only-its-kind": Case(
        sources=(APP_CM, Source("SECRET", "creds")),
        change=(APP_CM_V2,),
        annotations={"secret.reloader.stakater.com/auto": "true"},
        containers=(container(env_from=[cm_env_from("app-cm"), {"secretRef": {"name": "creds"}}]),),
        verdict="no-reload",
        reason="in-sync",
        because=(("app-cm", "not-selected"), ("creds", "auto")),
    ),
    "explicit-list": Case(
        sources=(APP_CM,),
        change=(APP_CM_V2,),
        annotations={"configmap.reloader.stakater.com/reload": "app-cm"},
        verdict="reload",
        reason="changed",
        because=(("app-cm", "explicit"),),
    ),
    "explicit-regex-names-an-unreferenced-source": Case(
        sources=(APP_CM, Source("CONFIGMAP", "feature-flags")),
        change=(Change("update", Source("CONFIGMAP", "feature-flags", {"k": "v2"})),),
        annotations={"configmap.reloader.stakater.com/reload": "feature-.*"},
        flags=("--reload-strategy=annotations",),
        verdict="reload",
        reason="changed",
        because=(("feature-flags", "explicit"), ("app-cm", "not-selected")),
    ),
    "search-and-match": Case(
        sources=(
            Source("CONFIGMAP", "app-cm", annotations={"reloader.stakater.com/match": "true"}),
        ),
        change=(APP_CM_V2,),
        annotations={"reloader.stakater.com/search": "true"},
        verdict="reload",
        reason="changed",
        because=(("app-cm", "search"),),
    ),
    "search-without-match": Case(
        sources=(APP_CM,),
        change=(APP_CM_V2,),
        annotations={"reloader.stakater.com/search": "true"},
        verdict="no-reload",
        reason="not-selected",
        because=(("app-cm", "not-selected"),),
    ),
    "source-ignored": Case(
        sources=(
            Source("CONFIGMAP", "app-cm", annotations={"reloader.stakater.com/ignore": "true"}),
        ),
        change=(APP_CM_V2,),
        annotations={AUTO: "true"},
        verdict="no-reload",
        reason="not-selected",
        because=(("app-cm", "ignored"),),
    ),
    "source-excluded": Case(
        sources=(APP_CM,),
        change=(APP_CM_V2,),
        annotations={AUTO: "true", "configmaps.exclude.reloader.stakater.com/reload": "app-cm"},
        verdict="no-reload",
        reason="not-selected",
        because=(("app-cm", "excluded"),),
    ),
    "not-annotated": Case(
        sources=(APP_CM,),
        change=(APP_CM_V2,),
        verdict="no-reload",
        reason="not-selected",
        because=(("app-cm", "not-selected"),),
    ),
    "auto-reload-all-flag": Case(
        sources=(APP_CM,),
        change=(APP_CM_V2,),
        flags=("--auto-reload-all=true",),
        verdict="reload",
        reason="changed",
        because=(("app-cm", "auto-all"),),
    ),
    "resources-to-ignore": Case(
        sources=(APP_CM,),
        change=(APP_CM_V2,),
        annotations={AUTO: "true"},
        flags=("--resources-to-ignore=configmaps",),
        verdict="no-reload",
        reason="not-selected",
        because=(("app-cm", "not-watched"),),
    ),
    "deleted-with-reload-on-delete": Case(
        sources=(APP_CM,),
        change=(Change("delete", APP_CM),),
        annotations={AUTO: "true"},
        flags=("--reload-on-delete=true", "--reload-strategy=annotations"),
        verdict="reload",
        reason="deleted",
        because=(("app-cm", "deleted"),),
    ),
    "deleted-without-reload-on-delete": Case(
        sources=(APP_CM,),
        change=(Change("delete", APP_CM),),
        annotations={AUTO: "true"},
        flags=("--reload-strategy=annotations",),
        verdict="no-reload",
        reason="in-sync",
        because=(("app-cm", "deleted"),),
    ),
    "created-while-the-controller-was-down-with-reload-on-create": Case(
        sources=(),
        change=(Change("create", Source("CONFIGMAP", "later")),),
        annotations={"configmap.reloader.stakater.com/reload": "later"},
        flags=("--reload-on-create=true",),
        verdict="no-reload",
        reason="record-only",
        because=(("later", "explicit"),),
        note="ConfigMap later (not recorded yet)",
    ),
    "csi-newest-pod-status": Case(
        sources=(
            Source("SPC", "pod-a", {"v": "1"}, spc="vault-spc"),
            Source("SPC", "pod-b", {"v": "1"}, spc="vault-spc"),
        ),
        change=(Change("update", Source("SPC", "pod-b", {"v": "2"}, spc="vault-spc")),),
        annotations={AUTO: "true"},
        containers=(container(mounts=["secrets"]),),
        volumes=(csi_volume("vault-spc"),),
        flags=("--enable-csi-integration=true",),
        verdict="reload",
        reason="changed",
        because=(("vault-spc", "auto"),),
    ),
    "held-by-a-closed-window": Case(
        sources=(APP_CM,),
        change=(APP_CM_V2,),
        annotations={AUTO: "true", "reloader.stakater.com/reload-window": _closed_window()},
        verdict="held",
        reason="window",
        because=(("app-cm", "auto"),),
    ),
    "webhook-mode": Case(
        sources=(APP_CM,),
        change=(APP_CM_V2,),
        annotations={AUTO: "true"},
        webhook=True,
        verdict="notify",
        reason="webhook",
        because=(("app-cm", "auto"),),
    ),
    "argo-rollout": Case(
        sources=(APP_CM,),
        change=(APP_CM_V2,),
        annotations={AUTO: "true"},
        kind="Rollout",
        flags=("--is-Argo-Rollouts=true",),
        verdict="reload",
        reason="changed",
        because=(("app-cm", "auto"),),
    ),
    "ignored-workload-type": Case(
        sources=(APP_CM,),
        change=(APP_CM_V2,),
        annotations={AUTO: "true"},
        kind="CronJob",
        flags=("--ignored-workload-types=cronjobs",),
        verdict="no-reload",
        reason="kind-not-watched",
    ),
    "namespace-not-watched": Case(
        sources=(APP_CM,),
        change=(APP_CM_V2,),
        annotations={AUTO: "true"},
        elsewhere=True,
        verdict="no-reload",
        reason="namespace-not-watched",
    ),
}


@pytest.fixture(scope="module", autouse=True)
def _crds(cluster: ClusterInfo) -> None:
    """The CSI and Argo Rollouts APIs (the controller turns those features off without them)."""
    install_crds(
        cluster.kubeconfig,
        MANIFESTS / "secretproviderclasses-crd.json",
        MANIFESTS / "secretproviderclasspodstatuses-crd.json",
        MANIFESTS / "argo-rollouts-crd.json",
    )


def _workload(case: Case, name: str = "web") -> dict[str, Any]:
    template = deployment(
        name,
        annotations=dict(case.annotations),
        containers=list(case.containers),
        volumes=list(case.volumes),
    )
    if case.kind == "Deployment":
        return template
    if case.kind == "Rollout":
        template["apiVersion"] = "argoproj.io/v1alpha1"
        template["kind"] = "Rollout"
        return template
    pod = template["spec"]["template"]
    pod["spec"]["restartPolicy"] = "Never"
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": template["metadata"],
        "spec": {"schedule": "0 0 1 1 *", "jobTemplate": {"spec": {"template": pod}}},
    }


async def _apply(kube: KubeClient, ns: str, op: str, src: Source) -> str | None:
    """Create, update or delete a source; the new hash of a ConfigMap or Secret."""
    if src.type == "SPC":
        await put_pod_status(kube, ns, pod=src.name, spc=src.spc, version=src.data["v"])
        return spc_hash(src.spc, src.data["v"])
    if op == "delete":
        await resources.delete(kube, SOURCE_TYPES[src.type], namespace=ns, name=src.name)
        return None
    if op == "create":
        make = make_configmap if src.type == "CONFIGMAP" else make_secret
        metadata = {"annotations": src.annotations} if src.annotations else {}
        await make(kube, ns, src.name, src.data, **metadata)
        return None
    return await update_source(kube, ns, src.type, src.name, src.data)


def _start(cluster: ClusterInfo, log: Path, flags: tuple[str, ...]) -> ControllerProcess:
    proc = ControllerProcess(kubeconfig=cluster.kubeconfig, log_path=log, args=list(flags))
    proc.start()
    return proc


async def _reconciled(proc: ControllerProcess, key: str) -> bool:
    """The reload controller finished a reconcile of ``key`` (a rollout, a record, or none)."""
    return any(
        e.get("controller") == "reload" and e.get("key") == key for e in proc.logs("reconcile.done")
    )


async def _rolled_out(kube: KubeClient, ns: str, kind: str) -> dict[str, Any]:
    """The workload, once its own controller reports it rolled out (a workload still rolling
    is held by the controller, and explain says so: the cases start from a settled one)."""

    async def settled() -> dict[str, Any] | None:
        obj = await resources.get(kube, TYPES[kind], namespace=ns, name="web")
        return obj if rollout_complete(KINDS[kind], obj) else None

    obj = await eventually(settled, timeout=30, what=f"{kind} web rolled out")
    assert obj is not None
    return obj


def _template(obj: dict[str, Any]) -> dict[str, Any]:
    if obj["kind"] == "CronJob":
        return dict(obj["spec"]["jobTemplate"]["spec"]["template"])
    return template_of(obj)


async def _explain(
    cluster: ClusterInfo, ns: str, kind: str, flags: tuple[str, ...]
) -> dict[str, Any]:
    result = await run_cli(
        cluster.kubeconfig, "explain", f"{kind.lower()}/web", "-n", ns, "-o", "json", *flags
    )
    assert result.returncode == 0, result.stderr
    out: dict[str, Any] = json.loads(result.stdout)
    return out


def _check_explanation(case: Case, out: dict[str, Any]) -> None:
    why = (out["verdict"], out["verdict_reason"], out["verdict_detail"])
    assert (out["verdict"], out["verdict_reason"]) == (case.verdict, case.reason), why
    reasons = {s["name"]: s["reason"] for s in out["sources"]}
    for name, reason in case.because:
        assert reasons.get(name) == reason, (name, out["sources"])
    if case.note:
        assert any(case.note in note for note in out["notes"]), out["notes"]


async def _check_rolled(
    kube: KubeClient,
    ns: str,
    kind: str,
    before: dict[str, Any],
    out: dict[str, Any],
    new_hashes: dict[str, str | None],
) -> None:
    """The workload rolls, stamped with the hash explain showed for each pending source."""
    expected = []
    for src in out["sources"]:
        if f"{src['kind'].lower()}/{src['name']}" not in out["pending_sources"]:
            continue
        deleted = src["reason"] == "deleted"
        value = DELETE_MARKER if deleted else src["current_hash"]
        if not deleted and new_hashes.get(src["name"]) is not None:
            assert value == new_hashes[src["name"]], "explain shows the new content's hash"
        expected.append((src["kind"].upper(), src["name"], value))
    assert expected, out

    async def stamped() -> dict[str, Any] | None:
        obj = await resources.get(kube, TYPES[kind], namespace=ns, name="web")
        if all(stamped_with(obj, *e) for e in expected):
            return obj
        return None

    obj = await eventually(stamped, timeout=30, what=f"{kind} web stamped with {expected}")
    assert obj is not None
    assert _template(obj) != _template(before)


async def _check_held(
    kube: KubeClient, proc: ControllerProcess, ns: str, kind: str, before: dict[str, Any]
) -> None:
    async def held() -> bool:
        return proc.metric("reloader_held_reloads", {"reason": "window"}) == 1

    await eventually(held, timeout=30, what="the reload held by the window")
    obj = await resources.get(kube, TYPES[kind], namespace=ns, name="web")
    assert _template(obj) == _template(before), "a held reload does not roll"


async def _check_notified(
    kube: KubeClient,
    hook: Any,
    ns: str,
    before: dict[str, Any],
    out: dict[str, Any],
) -> None:
    """Webhook mode: a POST instead of a rollout, then the new hash recorded."""
    (pending,) = out["pending_sources"]
    current = next(s["current_hash"] for s in out["sources"] if s["status"] == "reload-pending")

    async def recorded() -> dict[str, Any] | None:
        obj = await resources.get(kube, DEPLOYMENTS, namespace=ns, name="web")
        return obj if applied_record(obj).get(pending) == current else None

    obj = await eventually(recorded, timeout=30, what="the change posted and recorded")
    assert obj is not None
    assert hook.requests, "the controller posted the change"
    assert _template(obj) == _template(before), "webhook mode does not roll"


async def _check_untouched(
    kube: KubeClient,
    proc: ControllerProcess,
    case: Case,
    ns: str,
    before: dict[str, Any],
    out: dict[str, Any],
    new_hashes: dict[str, str | None],
) -> None:
    """The controller reconciled the workload (or, for one it does not watch, processed the
    change elsewhere) and left its pod template alone; its record now holds what explain
    showed as not recorded yet (when it reconciles the workload at all: explain's per-source
    statuses say what it would do if it watched it)."""
    kind = case.kind
    if case.reason == "kind-not-watched":

        async def canary_rolled() -> bool:
            obj = await resources.get(kube, DEPLOYMENTS, namespace=ns, name="canary")
            return stamped_with(obj, "CONFIGMAP", "app-cm", str(new_hashes["app-cm"]))

        await eventually(canary_rolled, timeout=30, what="the canary reloaded")
    elif case.reason != "namespace-not-watched":  # else: the controller has no watch there
        key = workload_key(kind, ns, "web")
        await eventually(lambda: _reconciled(proc, key), timeout=30, what=f"a reconcile of {key}")
    obj = await resources.get(kube, TYPES[kind], namespace=ns, name="web")
    assert _template(obj) == _template(before), f"{kind} web rolled, explain said no reload"
    unrecorded = {
        f"{s['kind'].lower()}/{s['name']}": s["current_hash"]
        for s in out["sources"]
        if s["status"] == "not-recorded"
    }
    record = applied_record(obj)
    if case.reason in ("kind-not-watched", "namespace-not-watched"):
        assert record == applied_record(before), "nothing reconciles it: nothing is recorded"
    else:
        assert {k: record.get(k) for k in unrecorded} == unrecorded


@pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))
async def test_explain_says_what_the_controller_does(
    case: Case,
    kube: KubeClient,
    namespace: str,
    cluster: ClusterInfo,
    tmp_path: Path,
    controllers: list[ControllerProcess],
) -> None:
    ns, kind = namespace, case.kind
    for src in case.sources:
        await _apply(kube, ns, "create", src)
    await resources.create(kube, TYPES[kind], namespace=ns, body=_workload(case))
    if case.reason == "kind-not-watched":  # the canary shows the change was processed
        canary = deployment(
            "canary",
            annotations={AUTO: "true"},
            containers=[container(env_from=[cm_env_from("app-cm")])],
        )
        await resources.create(kube, DEPLOYMENTS, namespace=ns, body=canary)

    async with contextlib.AsyncExitStack() as stack:
        hook = stack.enter_context(receiver())
        scope = ns
        if case.elsewhere:
            scope = await stack.enter_async_context(extra_namespace(kube, f"{ns[:50]}-away"))
        flags = (f"--namespaces={scope}", *case.flags)
        if case.webhook:
            flags += (f"--webhook-url={hook.url}",)

        # the controller sees the workload once and records its baseline
        first = _start(cluster, tmp_path / "first.log", flags)
        controllers.append(first)
        if case.reason == "kind-not-watched":
            await wait_recorded(kube, ns, "Deployment", "canary", "configmap/app-cm")
        elif not case.elsewhere:
            key = workload_key(kind, ns, "web")
            await eventually(lambda: _reconciled(first, key), timeout=30, what="a reconcile")
        assert first.stop() == 0
        before = await _rolled_out(kube, ns, kind)

        # while it is stopped: the change, and what explain says of it
        new_hashes = {
            c.source.spc or c.source.name: await _apply(kube, ns, c.op, c.source)
            for c in case.change
        }
        out = await _explain(cluster, ns, kind, flags)
        _check_explanation(case, out)

        # what the controller does when it starts again
        second = _start(cluster, tmp_path / "second.log", flags)
        controllers.append(second)
        if case.verdict == "reload":
            await _check_rolled(kube, ns, kind, before, out, new_hashes)
        elif case.verdict == "held":
            await _check_held(kube, second, ns, kind, before)
        elif case.verdict == "notify":
            await _check_notified(kube, hook, ns, before, out)
        else:
            await _check_untouched(kube, second, case, ns, before, out, new_hashes)
        assert second.stop() == 0
