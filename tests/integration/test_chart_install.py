"""The Helm chart installed on the real cluster, and the controller run with what it grants.

kwok runs the chart's pods as fakes, so the controller itself runs out of cluster: with a token of
the chart's ServiceAccount (TokenRequest API) and the args and environment of the installed
Deployment. A ConfigMap/Secret change then has to roll a Deployment, spawn a Job from a CronJob,
recreate a Job and post Events, all without one 403: the RBAC the chart renders is enough for
what the controller does with those values, and (checked with the same token) no more.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import anyio
import pytest
import yaml

from reloader.cli import build_parser
from reloader.core.objects import (
    CONFIGMAPS,
    CRONJOBS,
    DEPLOYMENTS,
    EVENTS,
    JOBS,
    LEASES,
    NAMESPACES,
    SECRETS,
)
from reloader.errors import Forbidden, NotFound
from reloader.kube import resources
from reloader.kube.client import KubeClient
from reloader.kube.exec import exec_in_pod
from reloader.workloads.domain.jobs import PENDING_JOB_LABEL
from tests.integration.controller import ControllerProcess
from tests.integration.reload_support import (
    cm_env_from,
    configmap_hash,
    container,
    get_workload,
    make_configmap,
    make_secret,
    make_workload,
    secret_env_from,
    stakater_env,
    update_configmap,
    update_secret,
    wait_recorded,
)
from tests.integration.schedule_support import (
    METHOD,
    create,
    events,
    hook_template,
    manifest,
    past_slot,
    pods,
    wait_event,
)
from tests.integration.support import ClusterInfo, eventually

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "chart"
AUTO = {"reloader.stakater.com/auto": "true"}
#: environment variables the chart may set that the controller reads
CONTROLLER_ENV = (
    "KUBERNETES_NAMESPACE",
    "POD_NAME",
    "POD_NAMESPACE",
    "METRICS_COUNT_BY_NAMESPACE",
    "RELOADER_NAMESPACE",
)

HA_ACCEPTED = "--enable-ha" in build_parser()._option_string_actions


@dataclass(frozen=True)
class Install:
    release: str
    namespace: str
    kubeconfig: Path  # the ServiceAccount's
    deployment: dict[str, Any]
    notes: str  # what `helm install` printed

    @property
    def container(self) -> dict[str, Any]:
        containers = self.deployment["spec"]["template"]["spec"]["containers"]
        assert len(containers) == 1
        return dict(containers[0])


def _values(mode: str, workload_ns: str) -> dict[str, Any]:
    if mode == "global":
        return {}
    if mode == "namespaced":
        return {"reloader": {"watchGlobally": False, "namespaces": [workload_ns]}}
    assert mode == "ha"
    return {"reloader": {"enableHA": True, "deployment": {"replicas": 2}}}


@pytest.fixture
def helm(cluster: ClusterInfo) -> list[str]:
    return helm_command(cluster)


def helm_command(cluster: ClusterInfo) -> list[str]:
    """The helm command line (cached binary, the test cluster)."""
    if cluster.bin_dir is not None:
        binary = cluster.bin_dir / "helm"
    else:  # a cluster given by RELOADER_TEST_KUBECONFIG: build (or reuse) the tools
        out = subprocess.run(
            ["bash", str(REPO / "tools" / "cluster" / "build.sh")],
            check=True,
            capture_output=True,
            text=True,
        )
        binary = Path(out.stdout.strip().splitlines()[-1]) / "helm"
    return [str(binary), f"--kubeconfig={cluster.kubeconfig}"]


def _run(cmd: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    home = tmp_path / "helm-home"
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_DATA_HOME": str(home / "data"),
    }
    return subprocess.run(cmd, check=False, capture_output=True, text=True, env=env, timeout=60)


@pytest.fixture
async def release_namespace(kube: KubeClient, namespace: str) -> AsyncIterator[str]:
    """The chart's namespace, enforcing Pod Security "restricted" (as a hardened cluster would)."""
    name = f"rel-{hashlib.sha1(namespace.encode()).hexdigest()[:10]}"
    labels = {
        "pod-security.kubernetes.io/enforce": "restricted",
        "pod-security.kubernetes.io/enforce-version": "latest",
    }
    await resources.create(
        kube, NAMESPACES, namespace=None, body={"metadata": {"name": name, "labels": labels}}
    )
    yield name
    with contextlib.suppress(NotFound):
        await resources.delete(kube, NAMESPACES, namespace=None, name=name)


@contextlib.asynccontextmanager
async def _install(
    kube: KubeClient,
    cluster: ClusterInfo,
    helm: list[str],
    tmp_path: Path,
    *,
    release_ns: str,
    values: dict[str, Any],
) -> AsyncIterator[Install]:
    release = f"r{release_ns[4:]}"  # unique: the ClusterRole's name is cluster-wide
    values_file = tmp_path / "values.json"
    values_file.write_text(json.dumps(values))
    cmd = [*helm, "install", release, str(CHART), "-n", release_ns, "-f", str(values_file)]
    out = await anyio.to_thread.run_sync(_run, cmd, tmp_path)
    assert out.returncode == 0, out.stderr
    try:
        name = f"{release}-reloader"
        assert f"reloader 0.1.0 is installed as {name} in namespace {release_ns}." in out.stdout

        # the pods were admitted under Pod Security "restricted" and (kwok) became ready
        async def available() -> dict[str, Any] | None:
            dep = await resources.get(kube, DEPLOYMENTS, namespace=release_ns, name=name)
            ready = (dep.get("status") or {}).get("availableReplicas", 0)
            return dep if ready == dep["spec"]["replicas"] else None

        deployment = await eventually(available, timeout=30, what=f"Deployment {name} available")
        assert deployment is not None
        sa = deployment["spec"]["template"]["spec"]["serviceAccountName"]
        kubeconfig = await service_account_kubeconfig(
            kube, cluster, release_ns, sa, tmp_path / "sa-kubeconfig"
        )
        yield Install(release, release_ns, kubeconfig, deployment, out.stdout)
    finally:
        out = await anyio.to_thread.run_sync(
            _run, [*helm, "uninstall", release, "-n", release_ns, "--wait"], tmp_path
        )
        assert out.returncode == 0, out.stderr


async def service_account_kubeconfig(
    kube: KubeClient, cluster: ClusterInfo, namespace: str, account: str, path: Path
) -> Path:
    """A kubeconfig at ``path`` that acts as ServiceAccount ``namespace/account`` (a token from
    the TokenRequest API): what the chart grants it, and nothing more."""
    answer = await kube.request(
        "POST",
        f"/api/v1/namespaces/{namespace}/serviceaccounts/{account}/token",
        body={
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {"expirationSeconds": 3600},
        },
    )
    config = _with_token(cluster.kubeconfig, answer["status"]["token"])
    await anyio.Path(path).write_text(json.dumps(config))
    return path


def _with_token(kubeconfig: Path, token: str) -> dict[str, Any]:
    """The cluster's kubeconfig with its user replaced by a bearer token."""
    cfg = yaml.safe_load(kubeconfig.read_text())
    context = next(c for c in cfg["contexts"] if c["name"] == cfg["current-context"])
    context["context"]["user"] = "chart-service-account"
    cfg["contexts"] = [context]
    cfg["users"] = [{"name": "chart-service-account", "user": {"token": token}}]
    return dict(cfg)


def _controller_env(spec: dict[str, Any], *, pod: str, namespace: str) -> dict[str, str]:
    """The container's environment as the kubelet would resolve it for pod ``pod``."""
    out = {}
    for var in spec.get("env") or []:
        if "value" in var:
            out[var["name"]] = var["value"]
            continue
        field = (var.get("valueFrom") or {}).get("fieldRef", {}).get("fieldPath")
        values = {"metadata.name": pod, "metadata.namespace": namespace}
        assert field in values, f"the test cannot resolve {var}"
        out[var["name"]] = values[field]
    return out


def _start(
    install: Install, tmp_path: Path, pod: str, monkeypatch: pytest.MonkeyPatch
) -> ControllerProcess:
    spec = install.container
    assert "command" not in spec, "the image's entrypoint (reloader) is the command"
    env = _controller_env(spec, pod=pod, namespace=install.namespace)
    proc = ControllerProcess(
        kubeconfig=install.kubeconfig, log_path=tmp_path / f"{pod}.log", args=spec["args"]
    )
    with monkeypatch.context() as m:
        for name in CONTROLLER_ENV:
            m.delenv(name, raising=False)
        for name, value in env.items():
            m.setenv(name, value)
        proc.start()
    return proc


def _forbidden(proc: ControllerProcess) -> list[str]:
    """Log lines that mention a 403 (a message with "forbidden", or a 403 status field)."""
    lines = proc.log_path.read_text().splitlines()
    hits = [line for line in lines if "forbidden" in line.lower()]
    hits.extend(
        json.dumps(entry) for entry in proc.logs() if any(v in (403, "403") for v in entry.values())
    )
    return hits


async def _job_uid(kube: KubeClient, ns: str, name: str) -> str | None:
    with contextlib.suppress(NotFound):
        return str((await resources.get(kube, JOBS, namespace=ns, name=name))["metadata"]["uid"])
    return None


async def _jobs_of(kube: KubeClient, ns: str, cronjob: str) -> list[str]:
    page = await resources.list_page(kube, JOBS, namespace=ns)
    return [
        j["metadata"]["name"]
        for j in page["items"]
        if any(o.get("name") == cronjob for o in j["metadata"].get("ownerReferences") or [])
    ]


async def _reload_everything(kube: KubeClient, ns: str) -> None:
    """Sources and workloads of every kind the chart grants; change both sources; wait for a
    Deployment roll, a Job from the CronJob, a recreated Job and a Reloaded Event."""
    await make_configmap(kube, ns, "app-config", {"k": "v1"})
    await make_secret(kube, ns, "app-secret", {"password": "one"})
    await make_workload(
        kube,
        ns,
        "Deployment",
        "web",
        annotations=AUTO,
        containers=[container("app", env_from=[cm_env_from("app-config")])],
    )
    pod_spec = {
        "restartPolicy": "Never",
        "containers": [container("task", env_from=[secret_env_from("app-secret")])],
    }
    await resources.create(
        kube,
        CRONJOBS,
        namespace=ns,
        body={
            "metadata": {"name": "nightly", "annotations": AUTO},
            "spec": {
                "schedule": "0 0 1 1 *",
                "jobTemplate": {"spec": {"template": {"spec": pod_spec}}},
            },
        },
    )
    job_pod = {**pod_spec, "containers": [container("task", env_from=[cm_env_from("app-config")])]}
    await resources.create(
        kube,
        JOBS,
        namespace=ns,
        body={
            "metadata": {"name": "batch", "annotations": AUTO},
            "spec": {"suspend": True, "template": {"spec": job_pod}},
        },
    )
    await wait_recorded(kube, ns, "Deployment", "web", "configmap/app-config")
    job_uid = await _job_uid(kube, ns, "batch")
    assert job_uid is not None
    assert await _jobs_of(kube, ns, "nightly") == []

    await update_configmap(kube, ns, "app-config", {"k": "v2"})
    await update_secret(kube, ns, "app-secret", {"password": "two"})

    async def rolled() -> dict[str, str]:
        return stakater_env(await get_workload(kube, ns, "Deployment", "web"))

    env = await eventually(rolled, timeout=20, what="the Deployment to roll")
    assert env == {"STAKATER_APP_CONFIG_CONFIGMAP": configmap_hash({"k": "v2"})}
    await eventually(
        lambda: _jobs_of(kube, ns, "nightly"), timeout=20, what="a Job from the CronJob"
    )

    async def recreated() -> bool:
        uid = await _job_uid(kube, ns, "batch")
        return uid is not None and uid != job_uid

    await eventually(recreated, timeout=20, what="the Job to be recreated")

    async def reloaded_event() -> bool:
        page = await resources.list_page(kube, EVENTS, namespace=ns)
        return any(
            e["reason"] == "Reloaded" and e["involvedObject"]["name"] == "web"
            for e in page["items"]
        )

    await eventually(reloaded_event, timeout=20, what="a Reloaded Event on the Deployment")


async def _assert_no_more_than_needed(install: Install, mode: str, workload_ns: str) -> None:
    """The token is the ServiceAccount's, not an admin's: what the chart does not grant is 403;
    API discovery of the optional APIs is allowed to every authenticated user."""
    async with await KubeClient.connect(kubeconfig=str(install.kubeconfig)) as sa:
        await sa.request("GET", f"/api/v1/namespaces/{workload_ns}/pods")  # stop-start restarts
        with pytest.raises(Forbidden):  # listed, never read one by one
            await sa.request("GET", f"/api/v1/namespaces/{workload_ns}/pods/any")
        with pytest.raises(Forbidden):
            await sa.request("GET", f"/api/v1/namespaces/{workload_ns}/secrets/app-secret")
        if mode == "namespaced":
            with pytest.raises(Forbidden):
                await resources.list_page(sa, CONFIGMAPS, namespace="default")
        else:
            await resources.list_page(sa, CONFIGMAPS, namespace=None)
        body = {"metadata": {"name": "not-ours"}}
        with pytest.raises(Forbidden):  # the journal's Role is in the release namespace only
            await resources.create(sa, SECRETS, namespace=workload_ns, body=body)
        for ns in (workload_ns, install.namespace):  # the journal is in Secrets: no ConfigMap
            with pytest.raises(Forbidden):
                await resources.create(sa, CONFIGMAPS, namespace=ns, body=body)
        with pytest.raises(Forbidden):  # exec hooks need reloader.enableHooks (RBAC comes first)
            await exec_in_pod(
                sa, namespace=workload_ns, pod="any", container="app", command=["true"]
            )
        for path in ("/apis/argoproj.io/v1alpha1", "/apis/secrets-store.csi.x-k8s.io/v1"):
            with contextlib.suppress(NotFound):  # 404 when the CRD is absent; never 403
                await sa.request("GET", path)


@pytest.mark.timeout(150)  # helm, a Deployment, up to two controller processes, four reloads
@pytest.mark.parametrize(
    "mode",
    [
        pytest.param("global", id="global"),
        pytest.param("namespaced", id="namespaced"),
        pytest.param(
            "ha",
            id="ha",
            marks=pytest.mark.xfail(
                not HA_ACCEPTED, reason="reloader does not accept --enable-ha yet", strict=False
            ),
        ),
    ],
)
async def test_installed_chart_grants_what_the_controller_uses(
    kube: KubeClient,
    cluster: ClusterInfo,
    helm: list[str],
    namespace: str,
    release_namespace: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    mode: str,
) -> None:
    values = _values(mode, namespace)
    async with _install(
        kube, cluster, helm, tmp_path, release_ns=release_namespace, values=values
    ) as install:
        await _check_install(kube, install, tmp_path, monkeypatch, mode=mode, workload_ns=namespace)


async def _check_install(
    kube: KubeClient,
    install: Install,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    *,
    mode: str,
    workload_ns: str,
) -> None:
    namespace, release_namespace = workload_ns, install.namespace
    procs: list[ControllerProcess] = []
    try:
        replicas = install.deployment["spec"]["replicas"]
        assert replicas == (2 if mode == "ha" else 1)
        args = install.container["args"]
        assert ("--enable-ha=true" in args) == (mode == "ha")
        if mode == "namespaced":
            assert f"--namespaces={namespace},{release_namespace}" in args
            assert f"Watching: {namespace}, {release_namespace} (a Role in each)" in install.notes
        else:
            assert "Watching: every namespace" in install.notes
        pods = [f"{install.release}-pod-{i}" for i in range(replicas)]
        procs = [_start(install, tmp_path, pod, monkeypatch) for pod in pods]
        if mode == "ha":

            async def holder() -> str | None:
                with contextlib.suppress(NotFound):
                    lease = await resources.get(
                        kube, LEASES, namespace=release_namespace, name="stakater-reloader-lock"
                    )
                    return str(lease["spec"].get("holderIdentity") or "") or None
                return None

            leader = await eventually(holder, timeout=20, what="a leader")
            assert leader in pods
            by_pod = dict(zip(pods, procs, strict=True))

            async def leading() -> bool:  # set just after the Lease is written
                return by_pod[leader].metric("reloader_is_leader") == 1

            await eventually(leading, timeout=10, what=f"{leader} to report reloader_is_leader 1")
            standby = next(p for p in pods if p != leader)
            assert by_pod[standby].metric("reloader_is_leader") == 0

        await _reload_everything(kube, namespace)

        # the recreate went through the journal (with the SA's token), and left nothing behind
        assert sum(len(p.logs("job.journaled")) for p in procs) == 1

        async def removed() -> bool:
            page = await resources.list_page(
                kube, SECRETS, namespace=release_namespace, label_selector=PENDING_JOB_LABEL
            )
            return not page["items"]

        await eventually(removed, timeout=10, what="the recreated Job's journal entry, deleted")
        await _assert_no_more_than_needed(install, mode, namespace)

        for proc in procs:
            assert _forbidden(proc) == [], proc.log_path
            assert proc.metric("rest_client_requests_total", {"code": "403"}) == 0
            assert proc.metric("rest_client_requests_total", {"code": "200"}) > 0
        writes = sum(p.metric("rest_client_requests_total", {"code": "201"}) for p in procs)
        assert writes >= 3, "Events and Jobs were created with the ServiceAccount's token"
    finally:
        for proc in procs:
            code = proc.stop()
            assert code == 0, f"exit {code} on SIGTERM:\n{proc.log_path.read_text()[-3000:]}"


@pytest.mark.timeout(150)
async def test_installed_chart_with_enable_hooks_runs_both_kinds_of_hook(
    kube: KubeClient,
    cluster: ClusterInfo,
    helm: list[str],
    namespace: str,
    release_namespace: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With ``reloader.enableHooks`` the ServiceAccount's token is enough for a Job hook and an
    exec hook on a stop-start scheduled restart, without one 403."""
    values = {"reloader": {"enableHooks": True}}
    async with _install(
        kube, cluster, helm, tmp_path, release_ns=release_namespace, values=values
    ) as install:
        ns = namespace
        await hook_template(kube, ns)
        cache = manifest("Deployment", "cache", {})
        cache["spec"]["template"]["spec"]["containers"] = [{"name": "redis", "image": "redis:7"}]
        await create(kube, ns, "Deployment", cache)
        _, annotations = past_slot(timedelta(minutes=3))
        annotations[METHOD] = "stop-start"
        annotations["reloader.stakater.com/hook-before"] = "job cronjob/warmup"
        annotations["reloader.stakater.com/hook-stopped"] = "exec app=cache -c redis -- true"
        await create(kube, ns, "Deployment", manifest("Deployment", "web", annotations))

        async def cache_running() -> bool:
            return any(
                p.get("status", {}).get("phase") == "Running" for p in await pods(kube, ns, "cache")
            )

        await eventually(cache_running, timeout=30, what="the cache pod running")
        proc = _start(install, tmp_path, "hooks-pod", monkeypatch)
        try:
            await wait_event(kube, ns, "web", "StopStartScaledUp")
            succeeded = await events(kube, ns, "web", "HookSucceeded")
            assert sorted(e["message"].split("-hook")[0] for e in succeeded) == [
                "before",
                "stopped",
            ]
            assert not await events(kube, ns, "web", "HookFailed")
            assert _forbidden(proc) == []
            assert proc.metric("rest_client_requests_total", {"code": "403"}) == 0
        finally:
            assert proc.stop() == 0
