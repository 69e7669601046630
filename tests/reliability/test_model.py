"""Model-based test: random operations on a real cluster and on a pure model must agree.

Operations (random, from a seed): create, update (data, sometimes back to an earlier content) and
delete ConfigMaps and Secrets; create, rewire (change what the pod template references) and
delete Deployments; add and remove reloader annotations on workloads (auto, typed auto, explicit
lists with regexes and invalid ones, search, exclude) and on sources (match, ignore); restart the
controller, or stop it, run a few operations, and start it again.

The model is the pure specification: it keeps its own copy of every object and, whenever the
controller runs, reconciles each workload with the pure reload rules (``summarize_*``,
``plan_reload``, ``apply_patch``) until the plan writes nothing, exactly as the level-triggered
design says the controller must. After every operation the controller is allowed to settle
(its queue empty, no reload held, no reconcile finished for a quiet period, measured by polling
/metrics) and then every workload's recorded hashes (``applied-hashes``) and ``STAKATER_*`` env
vars must equal the model's.

``RELOADER_MODEL_SEEDS`` (default ``1,2,3``) and ``RELOADER_MODEL_STEPS`` (default 40) choose
the sequences; a failure names the seed and the operations so far, which replays it exactly.
"""

from __future__ import annotations

import base64
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import pytest

from reloader.core.annotations import AnnotationNames, SourceKind
from reloader.core.objects import CONFIGMAPS, DEPLOYMENTS, SECRETS, ResourceType
from reloader.errors import NotFound
from reloader.kube import resources
from reloader.kube.client import KubeClient
from reloader.reload.domain.decisions import DecisionOptions
from reloader.reload.domain.plans import plan_reload
from reloader.reload.domain.stamps import parse_record
from reloader.reload.domain.views import (
    SourceView,
    WorkloadView,
    summarize_source,
    summarize_workload,
)
from reloader.settings import Strategy
from reloader.workloads.domain.kinds import DEPLOYMENT
from reloader.workloads.domain.patches import apply_patch
from tests.integration.controller import ControllerProcess
from tests.integration.support import ClusterInfo, deployment, eventually
from tests.reliability.fleet import idle_probe, settle

N = AnnotationNames()
SEEDS = [int(s) for s in os.environ.get("RELOADER_MODEL_SEEDS", "1,2,3").split(",") if s]
STEPS = int(os.environ.get("RELOADER_MODEL_STEPS", "40"))
SOURCE_NAMES = ("a", "b", "c")
WORKLOAD_NAMES = ("w1", "w2", "w3", "w4")
VALUES = ("1", "2", "3", "4", "5", "6")  # an update sometimes restores an earlier content
KINDS_RT: dict[SourceKind, ResourceType] = {
    SourceKind.CONFIGMAP: CONFIGMAPS,
    SourceKind.SECRET: SECRETS,
}
WORKLOAD_ANNOTATIONS: dict[str, tuple[str, ...]] = {
    N.auto: ("true", "false", "True", "bogus"),
    N.configmap_auto: ("true", "false"),
    N.secret_auto: ("true",),
    N.configmap_reload: ("a", "a,b", "a|c", ".*", "(", "x"),
    N.secret_reload: ("b", "[ab]", "c,", "*"),
    N.search: ("true",),
    N.configmap_exclude: ("a", "b,c"),
    N.secret_exclude: ("c",),
}
SOURCE_ANNOTATIONS = {N.match: ("true", "false"), N.ignore: ("true", "yes")}

pytestmark = pytest.mark.timeout(1800)


# ---------------------------------------------------------------------- the model


@dataclass
class Model:
    namespace: str
    #: (kind, name) → {"data": {...}, "annotations": {...}}
    sources: dict[tuple[SourceKind, str], dict[str, dict[str, str]]] = field(default_factory=dict)
    #: workload name → the object as the model believes it is
    workloads: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: rollouts and distinct warnings the model predicted (for the report)
    rollouts: int = 0
    warnings: set[str] = field(default_factory=set)

    def source_view(self, kind: SourceKind, name: str) -> SourceView:
        src = self.sources[(kind, name)]
        data = src["data"]
        if kind is SourceKind.SECRET:
            data = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
        obj = {
            "metadata": {
                "name": name,
                "namespace": self.namespace,
                "annotations": src["annotations"],
            },
            "data": data,
        }
        return summarize_source(kind, obj)

    def candidates(self, view: WorkloadView) -> list[SourceView]:
        """As ``Sources.candidates``: referenced sources, plus every source of a kind whose
        explicit list is set on the workload."""
        wanted = {(r.source_kind, r.name) for r in view.references}
        for kind in KINDS_RT:
            key = kind.explicit_key(N)
            if key in view.annotations or key in view.template_annotations:
                wanted |= {k for k in self.sources if k[0] is kind}
        return [self.source_view(*k) for k in sorted(wanted) if k in self.sources]

    def missing(self, view: WorkloadView) -> frozenset[str]:
        record, _ = parse_record(view.annotations.get(N.applied_hashes), key="")
        gone = set()
        for key in record:
            prefix, _, name = key.partition("/")
            for kind in KINDS_RT:
                if kind.record_prefix == prefix and (kind, name) not in self.sources:
                    gone.add(key)
        return frozenset(gone)

    def reconcile(self) -> None:
        """What the controller must do once it has seen the current state: plan every
        workload until its plan writes nothing."""
        for name, obj in self.workloads.items():
            for _ in range(5):
                view = summarize_workload(DEPLOYMENT, obj)
                plan = plan_reload(
                    workload=view,
                    kind=DEPLOYMENT,
                    sources=self.candidates(view),
                    strategy=Strategy.ENV_VARS,
                    names=N,
                    options=DecisionOptions(),
                    now_unix=0,
                    missing_sources=self.missing(view),
                )
                self.warnings.update(plan.warnings)
                if plan.patch is None:
                    break
                self.rollouts += 1 if plan.rolled else 0
                obj = apply_patch(obj, plan.patch)
            else:
                raise AssertionError(f"the model does not converge for {name}")
            self.workloads[name] = obj


def observed(obj: dict[str, Any]) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """What is compared: the recorded hashes and the STAKATER_ env vars per container."""
    view = summarize_workload(DEPLOYMENT, obj)
    record, _ = parse_record(view.annotations.get(N.applied_hashes), key="")
    return record, {c: dict(env) for c, env in view.stakater_env.items()}


# ---------------------------------------------------------------------- operations


@dataclass
class Op:
    text: str
    #: what to wait for before settling: "source" (an event received), "workload" (a
    #: reconcile), or "" (nothing observable, e.g. a deletion)
    evidence: str
    apply: Callable[[KubeClient, Model], Any]


def _pod_spec(rng: random.Random) -> dict[str, Any]:
    containers: list[dict[str, Any]] = [{"name": "app", "image": "registry.local/app:1"}]
    if rng.random() < 0.3:
        containers.append({"name": "side", "image": "registry.local/app:1"})
    volumes = []
    for kind in KINDS_RT:
        for name in SOURCE_NAMES:
            roll = rng.random()
            target = rng.choice(containers)
            if roll < 0.35:
                ref = {
                    "configMapRef" if kind is SourceKind.CONFIGMAP else "secretRef": {"name": name}
                }
                target.setdefault("envFrom", []).append(ref)
            elif roll < 0.5:
                volume = f"v-{kind.record_prefix}-{name}"
                source = (
                    {"configMap": {"name": name}}
                    if kind is SourceKind.CONFIGMAP
                    else {"secret": {"secretName": name}}
                )
                volumes.append({"name": volume, **source})
                target.setdefault("volumeMounts", []).append(
                    {"name": volume, "mountPath": f"/mnt/{volume}"}
                )
    spec: dict[str, Any] = {"containers": containers}
    if volumes:
        spec["volumes"] = volumes
    return spec


def _random_annotations(rng: random.Random) -> dict[str, str]:
    """Half of the workloads auto-reload (most changes then concern them), plus up to two
    other annotations, valid or not."""
    keys = rng.sample(sorted(WORKLOAD_ANNOTATIONS), k=rng.randint(0, 2))
    annotations = {k: rng.choice(WORKLOAD_ANNOTATIONS[k]) for k in keys}
    if rng.random() < 0.5:
        annotations[N.auto] = "true"
    return annotations


def generate(rng: random.Random, model: Model, controller_up: bool) -> Op | str:
    """One random operation valid in the model's current state, or a controller action."""
    ns = model.namespace
    choices = ["source-create", "source-delete", "source-annotate"] + ["source-update"] * 8
    choices += ["workload-create"] * 2 + ["workload-delete", "workload-rewire"]
    choices += ["workload-annotate"] * 2
    choices += ["controller-restart"] if controller_up else []
    choices += ["controller-stop"] if controller_up else ["controller-start"] * 4
    what = rng.choice(choices)
    if what.startswith("controller-"):
        return what
    existing = sorted(k for k in model.sources if k[1] in SOURCE_NAMES)  # not kube-root-ca.crt
    if what == "source-update" and existing:
        kind, name = rng.choice(existing)
    else:
        kind = rng.choice(tuple(KINDS_RT))
        name = rng.choice(SOURCE_NAMES)
    rt = KINDS_RT[kind]
    exists = (kind, name) in model.sources
    if what == "source-create" or (what.startswith("source-") and not exists):
        if exists:
            return generate(rng, model, controller_up)
        data = {"k": rng.choice(VALUES)}

        async def create(kube: KubeClient, m: Model) -> None:
            body_data = data if kind is SourceKind.CONFIGMAP else _b64(data)
            await resources.create(
                kube, rt, namespace=ns, body={"metadata": {"name": name}, "data": body_data}
            )
            m.sources[(kind, name)] = {"data": dict(data), "annotations": {}}

        return Op(f"create {kind.value} {name} {data}", "source", create)
    if what == "source-update":
        data = {"k": rng.choice(VALUES)}

        async def update(kube: KubeClient, m: Model) -> None:
            body_data = data if kind is SourceKind.CONFIGMAP else _b64(data)
            await resources.patch(
                kube, rt, namespace=ns, name=name, patch_type="merge", body={"data": body_data}
            )
            m.sources[(kind, name)]["data"] = dict(data)

        same = model.sources[(kind, name)]["data"] == data
        return Op(f"update {kind.value} {name} {data}", "" if same else "source", update)
    if what == "source-delete":

        async def delete(kube: KubeClient, m: Model) -> None:
            await resources.delete(kube, rt, namespace=ns, name=name)
            del m.sources[(kind, name)]

        return Op(f"delete {kind.value} {name}", "source", delete)
    if what == "source-annotate":
        key = rng.choice(sorted(SOURCE_ANNOTATIONS))
        value: str | None = rng.choice((*SOURCE_ANNOTATIONS[key], None))

        async def annotate_source(kube: KubeClient, m: Model) -> None:
            await resources.patch(
                kube,
                rt,
                namespace=ns,
                name=name,
                patch_type="merge",
                body={"metadata": {"annotations": {key: value}}},
            )
            _set(m.sources[(kind, name)]["annotations"], key, value)

        current = model.sources[(kind, name)]["annotations"].get(key)
        evidence = "" if current == value else "source"
        return Op(f"annotate {kind.value} {name} {key}={value}", evidence, annotate_source)

    workload = rng.choice(WORKLOAD_NAMES)
    if workload not in model.workloads:
        manifest = deployment(
            workload,
            annotations=_random_annotations(rng),
            template_annotations=({N.auto: "true"} if rng.random() < 0.15 else {}),
        )
        manifest["spec"]["template"]["spec"] = _pod_spec(rng)
        manifest["metadata"]["namespace"] = ns

        async def create_workload(kube: KubeClient, m: Model) -> None:
            await resources.create(kube, DEPLOYMENTS, namespace=ns, body=manifest)
            m.workloads[workload] = manifest

        return Op(
            f"create Deployment {workload} {manifest['metadata']['annotations']} "
            f"{manifest['spec']['template']}",
            "workload",
            create_workload,
        )
    if what == "workload-delete":

        async def delete_workload(kube: KubeClient, m: Model) -> None:
            await resources.delete(kube, DEPLOYMENTS, namespace=ns, name=workload)
            await eventually(lambda: _gone(kube, ns, workload), timeout=60, what="deletion")
            del m.workloads[workload]

        return Op(f"delete Deployment {workload}", "", delete_workload)
    if what == "workload-rewire":
        env_from = _pod_spec(rng)["containers"][0].get("envFrom", [])
        patch = {
            "spec": {"template": {"spec": {"containers": [{"name": "app", "envFrom": env_from}]}}}
        }

        async def rewire(kube: KubeClient, m: Model) -> None:
            await resources.patch(
                kube, DEPLOYMENTS, namespace=ns, name=workload, patch_type="strategic", body=patch
            )
            m.workloads[workload] = apply_patch(m.workloads[workload], patch)

        containers = model.workloads[workload]["spec"]["template"]["spec"]["containers"]
        current_refs = next(c for c in containers if c["name"] == "app").get("envFrom", [])
        evidence = "" if current_refs == env_from else "workload"
        return Op(f"rewire Deployment {workload} envFrom={env_from}", evidence, rewire)
    key = rng.choice(sorted(WORKLOAD_ANNOTATIONS))
    value = rng.choice((*WORKLOAD_ANNOTATIONS[key], None))

    async def annotate_workload(kube: KubeClient, m: Model) -> None:
        await resources.patch(
            kube,
            DEPLOYMENTS,
            namespace=ns,
            name=workload,
            patch_type="merge",
            body={"metadata": {"annotations": {key: value}}},
        )
        annotations = m.workloads[workload]["metadata"].setdefault("annotations", {})
        _set(annotations, key, value)

    current = (model.workloads[workload]["metadata"].get("annotations") or {}).get(key)
    evidence = "" if current == value else "workload"
    return Op(f"annotate Deployment {workload} {key}={value}", evidence, annotate_workload)


def _set(mapping: dict[str, str], key: str, value: str | None) -> None:
    if value is None:
        mapping.pop(key, None)
    else:
        mapping[key] = value


def _b64(data: dict[str, str]) -> dict[str, str]:
    return {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}


async def _gone(kube: KubeClient, ns: str, name: str) -> bool:
    try:
        await resources.get(kube, DEPLOYMENTS, namespace=ns, name=name)
    except NotFound:
        return True
    return False


# ---------------------------------------------------------------------- the test


async def _adopt_existing_sources(kube: KubeClient, model: Model) -> None:
    """Every namespace gets ``kube-root-ca.crt`` from kube-controller-manager: the model
    knows it too (an explicit list such as ``.*`` selects it)."""

    async def root_ca() -> dict[str, Any] | None:
        try:
            return await resources.get(
                kube, CONFIGMAPS, namespace=model.namespace, name="kube-root-ca.crt"
            )
        except NotFound:
            return None

    obj = await eventually(root_ca, timeout=60, what="kube-root-ca.crt")
    assert obj is not None
    model.sources[(SourceKind.CONFIGMAP, "kube-root-ca.crt")] = {
        "data": dict(obj.get("data") or {}),
        "annotations": dict(obj["metadata"].get("annotations") or {}),
    }


def _counters(controller: ControllerProcess) -> tuple[float, float]:
    """(source events received, reconciles finished) so far."""
    received = controller.metric("reloader_events_received_total")
    probe = idle_probe(controller)
    return received, (probe[2] if probe else 0.0)


async def _wait_for(
    controller: ControllerProcess, evidence: str, before: tuple[float, float]
) -> None:
    if not evidence:
        return
    index = 0 if evidence == "source" else 1

    async def seen() -> bool:
        now = await anyio.to_thread.run_sync(_counters, controller)
        return now[index] > before[index]

    await eventually(seen, timeout=60, interval=0.1, what=f"the controller to see the {evidence}")


async def compare(kube: KubeClient, model: Model, context: str) -> None:
    page = await resources.list_page(kube, DEPLOYMENTS, namespace=model.namespace)
    actual = {obj["metadata"]["name"]: observed(obj) for obj in page["items"]}
    expected = {name: observed(obj) for name, obj in model.workloads.items()}
    assert set(actual) == set(expected), context
    for name in sorted(expected):
        assert actual[name] == expected[name], (
            f"{name}: cluster {actual[name]} != model {expected[name]}\n{context}"
        )


@pytest.mark.parametrize("seed", SEEDS)
async def test_random_operations_agree_with_the_model(
    seed: int,
    cluster: ClusterInfo,
    kube: KubeClient,
    namespace: str,
    tmp_path: Path,
    report: dict[str, Any],
) -> None:
    started = time.monotonic()
    rng = random.Random(seed)
    model = Model(namespace=namespace)
    await _adopt_existing_sources(kube, model)
    controller = ControllerProcess(
        kubeconfig=cluster.kubeconfig,
        log_path=tmp_path / "reloader.log",
        args=[f"--namespaces={namespace}"],
    )
    await anyio.to_thread.run_sync(controller.start)
    up = True
    done: list[str] = []
    settle_total = 0.0
    try:
        for _ in range(STEPS):
            op = generate(rng, model, up)
            if isinstance(op, str):
                done.append(op)
                if op in ("controller-restart", "controller-stop"):
                    assert await anyio.to_thread.run_sync(controller.stop) == 0
                    up = False
                if op in ("controller-restart", "controller-start"):
                    await anyio.to_thread.run_sync(controller.start)
                    up = True
            else:
                done.append(op.text)
                before = await anyio.to_thread.run_sync(_counters, controller) if up else (0, 0)
                await op.apply(kube, model)
                if up:
                    await _wait_for(controller, op.evidence, before)
            if up:
                settle_total += await settle(controller, quiet=1.5, timeout=120)
                model.reconcile()
                context = f"seed {seed}, after:\n  " + "\n  ".join(done)
                await compare(kube, model, context)
        if not up:
            await anyio.to_thread.run_sync(controller.start)
            done.append("controller-start")
            settle_total += await settle(controller, quiet=1.5, timeout=120)
            model.reconcile()
            await compare(kube, model, f"seed {seed}, after:\n  " + "\n  ".join(done))
    finally:
        if controller.proc is not None:
            await anyio.to_thread.run_sync(controller.stop)
    report.update(
        seed=seed,
        steps=STEPS,
        operations=len(done),
        controller_restarts=sum(1 for d in done if d in ("controller-restart", "controller-start")),
        settle_total_s=round(settle_total, 1),
        rollouts=model.rollouts,
        distinct_warnings=len(model.warnings),
        test_s=round(time.monotonic() - started, 1),
    )
