"""Secret values never leave the cluster through the controller: they are hashed and dropped as
they arrive and never reach a log (docs/reliability.md, G6).

The controller runs with ``--log-level=debug`` over Secrets that hold known marker values in
``data``, in ``stringData`` and in kubectl's ``last-applied-configuration`` annotation; the
Secrets change several times, are deleted and created again, and the workloads that use them
reload every time. Afterwards no marker, plain or encoded (standard and URL-safe base64, hex),
may appear in any log line, any Kubernetes Event, any metric label or anywhere in /metrics.

The controller's own credentials are secrets too: the bearer token it authenticates with must
not reach its log either, even when a write fails and a traceback is logged.

Also here: a bad annotation value becomes a Warning Event ``InvalidAnnotation`` on the workload
that names the object, the annotation and the value.
"""

from __future__ import annotations

import base64
import json
import secrets
from pathlib import Path
from typing import Any

import anyio
import pytest

from reloader.core.objects import EVENTS, SECRETS
from reloader.errors import NotFound
from reloader.kube import resources
from reloader.kube.client import KubeClient
from tests.integration.controller import ControllerProcess
from tests.integration.reload_support import (
    APPLIED,
    container,
    get_workload,
    make_workload,
    secret_env_from,
    secret_hash,
    secret_volume,
    stamped_with,
    wait_recorded,
    workload_events,
)
from tests.integration.support import ClusterInfo, eventually
from tests.reliability.fleet import proxied_kubeconfig
from tests.reliability.proxy import TcpProxy

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


class Markers:
    """Unique marker values, and every form in which one could leak."""

    def __init__(self) -> None:
        self.values: list[str] = []

    def new(self, label: str) -> str:
        value = f"MARKER-{label}-{secrets.token_hex(12)}"
        self.values.append(value)
        return value

    def forms(self) -> dict[str, str]:
        out = {}
        for value in self.values:
            raw = value.encode()
            out[value] = value
            out[f"b64({value})"] = base64.b64encode(raw).decode()
            out[f"b64url({value})"] = base64.urlsafe_b64encode(raw).decode()
            out[f"hex({value})"] = raw.hex()
            # the middle of a base64 text is stable whatever precedes it by a multiple of 3
            out[f"b64-core({value})"] = base64.b64encode(raw[3:-3]).decode()[4:-4]
        return out

    def found_in(self, text: str) -> list[str]:
        return [name for name, form in self.forms().items() if form in text]


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


async def _write_secret(
    kube: KubeClient, ns: str, name: str, data: dict[str, str], string_data: dict[str, str]
) -> str:
    """Create or replace the Secret as ``kubectl apply`` would (last-applied annotation with
    the values); return the hash of its resulting data."""
    manifest = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name},
        "data": {k: _b64(v) for k, v in data.items()},
        "stringData": string_data,
    }
    body: dict[str, Any] = {
        **manifest,
        "metadata": {"name": name, "annotations": {LAST_APPLIED: json.dumps(manifest)}},
    }
    try:
        current = await resources.get(kube, SECRETS, namespace=ns, name=name)
    except NotFound:
        await resources.create(kube, SECRETS, namespace=ns, body=body)
    else:
        body["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
        await resources.replace(kube, SECRETS, namespace=ns, name=name, body=body)
    return secret_hash({**data, **string_data})


async def _wait_all_stamped(
    kube: KubeClient, ns: str, workloads: list[str], source: str, digest: str
) -> None:
    async def stamped() -> bool:
        for name in workloads:
            obj = await get_workload(kube, ns, "Deployment", name)
            if not stamped_with(obj, "SECRET", source, digest):
                return False
        return True

    await eventually(stamped, timeout=60, what=f"every workload to reload from {source}")


@pytest.fixture
def start(cluster: ClusterInfo, tmp_path: Path, namespace: str):  # type: ignore[no-untyped-def]
    started: list[ControllerProcess] = []

    def run(*args: str) -> ControllerProcess:
        proc = ControllerProcess(
            kubeconfig=cluster.kubeconfig,
            log_path=tmp_path / "reloader.log",
            args=[f"--namespaces={namespace}", "--log-level=debug", *args],
        )
        proc.start()
        started.append(proc)
        return proc

    yield run
    for proc in started:
        assert proc.stop() == 0


@pytest.mark.timeout(240)
@pytest.mark.parametrize("strategy", ["env-vars", "annotations"])
async def test_secret_values_never_reach_logs_events_or_metrics(
    kube: KubeClient, namespace: str, start: Any, strategy: str
) -> None:
    controller = start(
        f"--reload-strategy={strategy}", "--reload-on-create=true", "--reload-on-delete=true"
    )
    markers = Markers()
    ns = namespace

    async def change(round_: int) -> str:
        return await _write_secret(
            kube,
            ns,
            "db",
            {"password": markers.new(f"data{round_}")},
            {"token": markers.new(f"stringdata{round_}")},
        )

    await change(0)
    await make_workload(
        kube,
        ns,
        "Deployment",
        "by-auto",
        annotations={"reloader.stakater.com/auto": "true"},
        containers=[container(env_from=[secret_env_from("db")])],
    )
    await make_workload(
        kube,
        ns,
        "Deployment",
        "by-name",
        annotations={"secret.reloader.stakater.com/reload": "db,(bad"},
        containers=[container(mounts=["db"])],
        volumes=[secret_volume("db", "db")],
    )
    workloads = ["by-auto", "by-name"]
    for name in workloads:
        await wait_recorded(kube, ns, "Deployment", name, "secret/db")

    for round_ in range(1, 4):
        digest = await change(round_)
        await _wait_all_stamped(kube, ns, workloads, "db", digest)

    # deleted (reload-on-delete) and created again (reload-on-create) with new values
    await resources.delete(kube, SECRETS, namespace=ns, name="db")

    async def deleted_applied() -> bool:
        executed = controller.metric("reloader_reload_executed_total", {"success": "true"})
        return bool(executed >= 8)

    await eventually(deleted_applied, timeout=60, what="the delete strategy to run")
    digest = await change(4)
    await _wait_all_stamped(kube, ns, workloads, "db", digest)

    assert len(markers.values) == 10
    # the detector finds what it looks for: the Secret itself holds the last values in base64
    stored = json.dumps(await resources.get(kube, SECRETS, namespace=ns, name="db"))
    assert {f"b64({v})" for v in markers.values[-2:]} <= set(markers.found_in(stored))
    leaks: dict[str, list[str]] = {}
    log_text = controller.log_path.read_text()
    assert "workload.reloaded" in log_text
    assert '"level": "debug"' in log_text
    if found := markers.found_in(log_text):
        leaks["log"] = found
    events = (await resources.list_page(kube, EVENTS, namespace=ns))["items"]
    assert any(e.get("reason") == "Reloaded" for e in events)
    if found := markers.found_in(json.dumps(events)):
        leaks["events"] = found
    status, metrics = controller.get("/metrics")
    assert status == 200
    assert "reloader_reload_executed_total" in metrics
    if found := markers.found_in(metrics):
        leaks["metrics"] = found
    for name in workloads:
        obj = await get_workload(kube, ns, "Deployment", name)
        if found := markers.found_in(json.dumps(obj)):
            leaks[f"workload {name}"] = found
    assert not leaks, f"secret values leaked: {leaks}"


@pytest.mark.timeout(120)
async def test_bad_annotation_value_is_a_warning_event_naming_object_annotation_and_value(
    kube: KubeClient, namespace: str, start: Any
) -> None:
    start()
    await resources.create(
        kube, SECRETS, namespace=namespace, body={"metadata": {"name": "db"}, "data": {}}
    )
    bad = {
        "reloader.stakater.com/auto": "maybe",
        "secret.reloader.stakater.com/reload": "db,[unclosed",
    }
    await make_workload(
        kube,
        namespace,
        "Deployment",
        "web",
        annotations=bad,
        containers=[container(env_from=[secret_env_from("db")])],
    )

    async def warned() -> list[dict[str, Any]] | None:
        events = [
            e
            for e in await workload_events(kube, namespace, "web")
            if e.get("reason") == "InvalidAnnotation"
        ]
        return events if len(events) >= 2 else None

    events = await eventually(warned, timeout=30, what="InvalidAnnotation events on web")
    assert events is not None
    for event in events:
        assert event["type"] == "Warning"
        involved = event["involvedObject"]
        assert (involved["kind"], involved["name"], involved["namespace"]) == (
            "Deployment",
            "web",
            namespace,
        )
    messages = [e["message"] for e in events]
    assert any("reloader.stakater.com/auto" in m and '"maybe"' in m for m in messages), messages
    assert any(
        "secret.reloader.stakater.com/reload" in m and '"[unclosed"' in m for m in messages
    ), messages


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    ("annotations", "named"),
    [
        pytest.param(
            {"secret.reloader.stakater.com/reload": "db,a{4294967296}"},
            "secret.reloader.stakater.com/reload",
            id="regex-repeat-overflow",
        ),
        pytest.param(
            {
                "reloader.stakater.com/auto": "true",
                "reloader.stakater.com/reload-window": "00:00-23:59",
                "reloader.stakater.com/reload-window-timezone": "America",
            },
            "reloader.stakater.com/reload-window-timezone",
            id="timezone-directory",
        ),
        pytest.param(
            {
                "reloader.stakater.com/auto": "true",
                "reloader.stakater.com/applied-hashes": "[" * 100_000,
            },
            "reloader.stakater.com/applied-hashes",
            id="record-nested-too-deep",
        ),
    ],
)
async def test_annotation_that_crashes_a_parser_is_still_a_warning_and_reloads(
    kube: KubeClient, namespace: str, start: Any, annotations: dict[str, str], named: str
) -> None:
    start()
    await _write_secret(kube, namespace, "db", {"k": "v1"}, {})
    await make_workload(
        kube,
        namespace,
        "Deployment",
        "web",
        annotations=annotations,
        containers=[container(env_from=[secret_env_from("db")])],
    )

    async def recorded() -> bool:
        obj = await get_workload(kube, namespace, "Deployment", "web")
        return "secret/db" in (obj["metadata"].get("annotations") or {}).get(APPLIED, "")

    await eventually(recorded, timeout=20, what="the workload to record secret/db")
    digest = await _write_secret(kube, namespace, "db", {"k": "v2"}, {})

    async def reloaded_and_warned() -> bool:
        obj = await get_workload(kube, namespace, "Deployment", "web")
        events = await workload_events(kube, namespace, "web")
        warned = any(
            e.get("reason") == "InvalidAnnotation" and named in e.get("message", "") for e in events
        )
        return warned and stamped_with(obj, "SECRET", "db", digest)

    await eventually(reloaded_and_warned, timeout=20, what="a warning and a reload")


@pytest.mark.timeout(180)
async def test_api_credentials_never_reach_the_log(
    cluster: ClusterInfo, kube: KubeClient, namespace: str, tmp_path: Path
) -> None:
    """A write fails while the API server is unreachable; the traceback logged for it must
    not carry the bearer token the controller authenticates with."""
    if cluster.bin_dir is None:
        pytest.skip("needs the local cluster (its state file names the API server's port)")
    config = json.loads(cluster.kubeconfig.read_text())
    token = config["users"][0]["user"]["token"]
    state = json.loads((cluster.kubeconfig.parent / "state.json").read_text())
    proxy = TcpProxy(upstream_port=int(state["api_port"]))
    async with anyio.create_task_group() as tg:
        await tg.start(proxy.serve)
        controller = ControllerProcess(
            kubeconfig=proxied_kubeconfig(cluster.kubeconfig, proxy.port, tmp_path / "kc"),
            log_path=tmp_path / "reloader.log",
            args=[f"--namespaces={namespace}", "--log-level=info"],
        )
        await anyio.to_thread.run_sync(controller.start)
        try:
            await _write_secret(kube, namespace, "db", {"k": "v1"}, {})
            # a pause period makes the controller come back by itself to resume the Deployment
            await make_workload(
                kube,
                namespace,
                "Deployment",
                "web",
                annotations={
                    "reloader.stakater.com/auto": "true",
                    "deployment.reloader.stakater.com/pause-period": "3s",
                },
                containers=[container(env_from=[secret_env_from("db")])],
            )

            async def recorded() -> bool:
                obj = await get_workload(kube, namespace, "Deployment", "web")
                return "secret/db" in (obj["metadata"].get("annotations") or {}).get(APPLIED, "")

            await eventually(recorded, timeout=30, what="web to record secret/db")
            await _write_secret(kube, namespace, "db", {"k": "v2"}, {})

            async def paused() -> bool:
                obj = await get_workload(kube, namespace, "Deployment", "web")
                return bool(obj["spec"].get("paused"))

            await eventually(paused, timeout=30, what="web to be reloaded and paused")
            proxy.refuse()
            proxy.cut()  # the resume, 3 s after the pause, cannot reach the API server

            async def failed() -> bool:
                return bool(controller.logs("reconcile.failed"))

            await eventually(failed, timeout=60, what="a reconcile to fail")
            proxy.accept()
            await eventually(
                lambda: _not(paused), timeout=60, what="web to be resumed once reachable"
            )
        finally:
            assert await anyio.to_thread.run_sync(controller.stop) == 0
            tg.cancel_scope.cancel()
    log_text = controller.log_path.read_text()
    assert "reconcile.failed" in log_text
    assert token not in log_text, (
        f"the bearer token appears {log_text.count(token)} times in the log"
    )


async def _not(probe: Any) -> bool:
    return not await probe()
