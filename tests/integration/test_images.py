"""Restarts when the image behind a tag moves, against the real cluster and a real registry.

One controller for the module with a short poll interval (2 s) so that "overnight" is several
polls. The registries run on loopback (Debian's docker-registry): one without auth, one with
htpasswd basic auth, and a Bearer-token front over the first. kwok pods pull nothing: the
controller only resolves tags.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from itertools import pairwise
from typing import Any

import pytest

from reloader.core.objects import DEPLOYMENTS, JOBS, SECRETS
from reloader.kube import resources
from reloader.kube.client import KubeClient
from tests.integration.controller import ControllerProcess
from tests.integration.image_support import (
    IMAGE_ARGS,
    INTERVAL,
    PIN,
    POLL,
    RECORD,
    SERVICEACCOUNTS,
    WINDOW,
    pull_secret,
    record_of,
    wait_recorded,
    watched,
)
from tests.integration.registry_support import Registry, TokenFront, free_port
from tests.integration.schedule_support import (
    RESTARTED_AT,
    annotations_of,
    create,
    events,
    get,
    manifest,
    run_cli,
    template_annotations,
    wait_event,
)
from tests.integration.support import ClusterInfo, deployment, eventually

CONTROLLER_ARGS = IMAGE_ARGS
HOOK_BEFORE = "reloader.stakater.com/hook-before"
HOOK_RECORD = "reloader.stakater.com/restart-hooks"


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    reg = Registry(tmp_path_factory.mktemp("registry"))
    reg.start()
    yield reg
    reg.stop()


@pytest.fixture(scope="module")
def private(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    reg = Registry(tmp_path_factory.mktemp("private"), user="puller", password="pa55-word")
    reg.start()
    yield reg
    reg.stop()


async def test_a_moved_tag_rolls_its_workload_once_and_nothing_else(
    kube: KubeClient, namespace: str, controller: ControllerProcess, registry: Registry
) -> None:
    repo = f"{namespace}/app"
    first = registry.push(repo, "latest", "v1")
    stable = registry.push(repo, "stable", "stable-1")
    latest = f"{registry.host}/{repo}:latest"
    created = {
        name: await create(kube, namespace, "Deployment", body)
        for name, body in {
            "moved": watched("moved", latest),
            "other-tag": watched("other-tag", f"{registry.host}/{repo}:stable"),
            "pinned": watched("pinned", f"{registry.host}/{repo}@{first}"),
            "unwatched": deployment("unwatched", containers=[{"name": "app", "image": latest}]),
        }.items()
    }

    # first sight: the digest is recorded, nothing rolls
    seen = await wait_recorded(kube, namespace, "moved", latest, first)
    assert RESTARTED_AT not in template_annotations(seen)
    event = await wait_event(kube, namespace, "moved", "ImageDigestRecorded")
    assert latest in event["message"]
    await wait_recorded(kube, namespace, "other-tag", f"{registry.host}/{repo}:stable", stable)

    # a new image under the same tag: rolled within one poll interval, once
    second = registry.push(repo, "latest", "v2")
    assert second != first
    rolled = await wait_recorded(kube, namespace, "moved", latest, second)
    assert RESTARTED_AT in template_annotations(rolled)
    updated = await wait_event(kube, namespace, "moved", "ImageUpdated")
    assert latest in updated["message"]
    assert first in updated["message"]
    assert second in updated["message"]

    # overnight: several polls later nothing more has rolled, and nothing else ever did
    before = controller.metric(
        "reloader_image_registry_requests_total", {"registry": registry.host}
    )

    async def polls_done() -> bool:
        now = controller.metric(
            "reloader_image_registry_requests_total", {"registry": registry.host}
        )
        return now >= before + 6

    await eventually(polls_done, timeout=30, what="several more polls")
    after = await get(kube, namespace, "Deployment", "moved")
    assert after["spec"]["template"] == rolled["spec"]["template"]
    assert len(await events(kube, namespace, "moved", "ImageUpdated")) == 1
    for name in ("other-tag", "pinned", "unwatched"):
        obj = await get(kube, namespace, "Deployment", name)
        assert obj["spec"]["template"] == created[name]["spec"]["template"], name
    assert record_of(await get(kube, namespace, "Deployment", "pinned")) == {}
    assert RECORD not in annotations_of(await get(kube, namespace, "Deployment", "unwatched"))


async def test_many_workloads_on_one_tag_cost_one_lookup_per_interval(
    kube: KubeClient, namespace: str, controller: ControllerProcess, registry: Registry
) -> None:
    repo = f"{namespace}/shared"
    digest = registry.push(repo, "1", "one")
    image = f"{registry.host}/{repo}:1"
    for i in range(10):
        await create(kube, namespace, "Deployment", watched(f"w{i}", image))
    for i in range(10):
        await wait_recorded(kube, namespace, f"w{i}", image, digest)

    def lookups() -> list[datetime]:
        return [
            datetime.fromisoformat(e["timestamp"])
            for e in controller.logs("image.lookup")
            if e.get("image") == image
        ]

    start = len(lookups())

    async def several() -> bool:
        return len(lookups()) >= start + 4

    await eventually(several, timeout=30, what="four more lookups of the shared tag")
    times = lookups()[start:]
    window = (times[-1] - times[0]).total_seconds()
    # ten workloads, each reconciled at least every interval: still one lookup per interval,
    # never two closer than 0.9 interval (the slack of the reference's grid)
    gaps = [(b - a).total_seconds() for a, b in pairwise(times)]
    assert min(gaps) >= 0.9 * POLL - 0.01, gaps
    assert len(times) - 1 <= window / POLL + 1, (len(times), window)


async def test_pull_credentials_as_the_kubelet_finds_them(
    kube: KubeClient, namespace: str, controller: ControllerProcess, private: Registry
) -> None:
    repo = f"{namespace}/private"
    digest = private.push(repo, "latest", "p1")
    image = f"{private.host}/{repo}:latest"
    secret = pull_secret("pull", private.host, private.user, private.password)
    await resources.create(kube, SECRETS, namespace=namespace, body=secret)
    legacy = pull_secret("legacy", private.host, private.user, private.password, legacy=True)
    await resources.create(kube, SECRETS, namespace=namespace, body=legacy)
    account = {"metadata": {"name": "builder"}, "imagePullSecrets": [{"name": "legacy"}]}
    await resources.create(kube, SERVICEACCOUNTS, namespace=namespace, body=account)

    await create(
        kube,
        namespace,
        "Deployment",
        watched("with-secret", image, imagePullSecrets=[{"name": "pull"}]),
    )
    await create(
        kube, namespace, "Deployment", watched("with-account", image, serviceAccountName="builder")
    )
    await create(kube, namespace, "Deployment", watched("without", image))

    await wait_recorded(kube, namespace, "with-secret", image, digest)
    await wait_recorded(kube, namespace, "with-account", image, digest)
    warning = await wait_event(kube, namespace, "without", "ImageCheckFailed")
    assert warning["type"] == "Warning"
    assert "credentials" in warning["message"]
    assert private.password not in warning["message"]
    assert RECORD not in annotations_of(await get(kube, namespace, "Deployment", "without"))
    assert not any(
        private.password in line for line in controller.log_path.read_text().splitlines()
    )


async def test_bearer_tokens_and_a_head_without_digest(
    kube: KubeClient,
    namespace: str,
    controller: ControllerProcess,
    registry: Registry,
) -> None:
    front = TokenFront(registry, user="robot", password="t0ken-pass", strip_digest=True)
    front.start()
    try:
        repo = f"{namespace}/tokened"
        first = registry.push(repo, "v1", "t1")
        image = f"{front.host}/{repo}:v1"
        secret = pull_secret("pull", front.host, front.user, front.password)
        await resources.create(kube, SECRETS, namespace=namespace, body=secret)
        body = watched("tokened", image, imagePullSecrets=[{"name": "pull"}])
        await create(kube, namespace, "Deployment", body)
        # the digest without Docker-Content-Digest: the manifest's own SHA-256, after a GET
        await wait_recorded(kube, namespace, "tokened", image, first)
        second = registry.push(repo, "v1", "t2")
        await wait_recorded(kube, namespace, "tokened", image, second)
        await wait_event(kube, namespace, "tokened", "ImageUpdated")
        # the token (valid 300 s) served every poll since the first
        assert front.token_requests == 2  # the anonymous attempt, then with the credential
    finally:
        front.stop()


async def test_a_registry_that_is_down_backs_off_and_warns(
    kube: KubeClient, namespace: str, controller: ControllerProcess
) -> None:
    host = f"127.0.0.1:{free_port()}"  # nothing listens there
    await create(kube, namespace, "Deployment", watched("down", f"{host}/app:1"))
    warning = await wait_event(kube, namespace, "down", "ImageCheckFailed")
    assert warning["type"] == "Warning"
    assert "unreachable" in warning["message"]

    def waits() -> list[float]:
        return [
            e["wait_s"] for e in controller.logs("image.registry_backoff") if e["registry"] == host
        ]

    async def backing_off() -> bool:
        return len(waits()) >= 2

    await eventually(backing_off, timeout=30, what="two backoffs of the registry")
    assert waits()[:2] == [5.0, 10.0]
    errors = controller.metric(
        "reloader_image_registry_errors_total", {"registry": host, "reason": "unreachable"}
    )
    assert errors >= 2
    assert controller.get("/live")[0] == 200
    # one Warning per distinct problem, not one per attempt
    assert len(await events(kube, namespace, "down", "ImageCheckFailed")) == 1


async def test_a_closed_window_holds_the_restart_until_it_opens(
    kube: KubeClient, namespace: str, controller: ControllerProcess, registry: Registry
) -> None:
    repo = f"{namespace}/app"
    first = registry.push(repo, "latest", "w1")
    image = f"{registry.host}/{repo}:latest"
    await create(kube, namespace, "Deployment", watched("web", image))
    await wait_recorded(kube, namespace, "web", image, first)
    hour = (datetime.now(UTC).hour + 12) % 24
    window = {WINDOW: f"{hour:02d}:00-{hour:02d}:30"}  # twelve hours from now
    await resources.patch(
        kube,
        DEPLOYMENTS,
        namespace=namespace,
        name="web",
        body={"metadata": {"annotations": window}},
        patch_type="merge",
    )
    second = registry.push(repo, "latest", "w2")
    held = await wait_event(kube, namespace, "web", "ImageUpdateHeld")
    assert "window" in held["message"]
    obj = await get(kube, namespace, "Deployment", "web")
    assert RESTARTED_AT not in template_annotations(obj)
    assert record_of(obj)[image] == first  # a held restart records nothing

    # the window removed: the restart happens, for the newest digest
    await resources.patch(
        kube,
        DEPLOYMENTS,
        namespace=namespace,
        name="web",
        body={"metadata": {"annotations": {WINDOW: None}}},
        patch_type="merge",
    )
    rolled = await wait_recorded(kube, namespace, "web", image, second)
    assert RESTARTED_AT in template_annotations(rolled)


async def test_an_interval_below_the_minimum_is_raised_with_a_warning(
    kube: KubeClient, namespace: str, controller: ControllerProcess, registry: Registry
) -> None:
    repo = f"{namespace}/app"
    digest = registry.push(repo, "1", "i1")
    image = f"{registry.host}/{repo}:1"
    body = watched("eager", image)
    body["metadata"]["annotations"][INTERVAL] = "100ms"
    await create(kube, namespace, "Deployment", body)
    warning = await wait_event(kube, namespace, "eager", "InvalidAnnotation")
    assert INTERVAL in warning["message"]
    assert "--image-poll-interval-min" in warning["message"]
    await wait_recorded(kube, namespace, "eager", image, digest)


async def test_a_429_waits_for_its_retry_after(
    kube: KubeClient, namespace: str, controller: ControllerProcess, registry: Registry
) -> None:
    front = TokenFront(registry, user="", password="")
    front.start()
    try:
        repo = f"{namespace}/app"
        first = registry.push(repo, "1", "r1")
        image = f"{front.host}/{repo}:1"
        await create(kube, namespace, "Deployment", watched("web", image))
        await wait_recorded(kube, namespace, "web", image, first)
        front.throttle(1, 7)
        second = registry.push(repo, "1", "r2")

        def waits() -> list[float]:
            return [
                e["wait_s"]
                for e in controller.logs("image.registry_backoff")
                if e["registry"] == front.host
            ]

        async def throttled() -> list[float]:
            return waits()

        assert (await eventually(throttled, timeout=30, what="a 429 backoff")) == [7.0]
        limited = controller.metric(
            "reloader_image_registry_errors_total",
            {"registry": front.host, "reason": "rate_limited"},
        )
        assert limited == 1
        await wait_recorded(kube, namespace, "web", image, second)
        logs = controller.logs()
        backoff_at = next(
            datetime.fromisoformat(e["timestamp"])
            for e in logs
            if e.get("event") == "image.registry_backoff" and e.get("registry") == front.host
        )
        looked_again = [
            datetime.fromisoformat(e["timestamp"])
            for e in logs
            if e.get("event") == "image.lookup" and e.get("image") == image
        ]
        after = [t for t in looked_again if t > backoff_at]
        assert after, "looked up again after the 429"
        assert (after[0] - backoff_at).total_seconds() >= 6.5
    finally:
        front.stop()


async def test_explain_shows_watched_images_and_their_digests(
    kube: KubeClient,
    namespace: str,
    cluster: ClusterInfo,
    controller: ControllerProcess,
    registry: Registry,
) -> None:
    repo = f"{namespace}/app"
    first = registry.push(repo, "latest", "e1")
    image = f"{registry.host}/{repo}:latest"
    pinned = f"{registry.host}/{repo}@{first}"
    body = watched("web", image)
    body["metadata"]["annotations"][INTERVAL] = "1h"  # the controller looks once, then waits
    body["spec"]["template"]["spec"]["containers"].append({"name": "db", "image": pinned})
    await create(kube, namespace, "Deployment", body)
    await wait_recorded(kube, namespace, "web", image, first)
    second = registry.push(repo, "latest", "e2")

    result = await run_cli(
        cluster.kubeconfig, "explain", "deployment/web", "-n", namespace, "-o", "json", *IMAGE_ARGS
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)["images"]
    assert report["verdict"] == "roll"
    assert report["interval_seconds"] == 3600
    app, db = report["images"]
    assert app["reference"] == image
    assert app["tag"] == "latest"
    assert app["recorded_digest"] == first
    assert app["current_digest"] == second
    assert app["status"] == "moved"
    assert db["status"] == "not-watchable"
    assert "pinned by digest" in db["detail"]

    text = await run_cli(cluster.kubeconfig, "explain", "deployment/web", "-n", namespace)
    assert "Images: watched, verdict roll" in text.stdout
    assert f"registry:  {second}" in text.stdout


async def test_pinning_writes_the_new_digest_into_the_pod_template(
    kube: KubeClient, namespace: str, controller: ControllerProcess, registry: Registry
) -> None:
    repo = f"{namespace}/app"
    first = registry.push(repo, "stable", "p1")
    image = f"{registry.host}/{repo}:stable"
    body = watched("pinned", image)
    body["metadata"]["annotations"][PIN] = "true"
    body["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] = "IfNotPresent"
    await create(kube, namespace, "Deployment", body)
    recorded = await wait_recorded(kube, namespace, "pinned", image, first)
    # first sight records and changes nothing in the template
    assert recorded["spec"]["template"]["spec"]["containers"][0]["image"] == image

    second = registry.push(repo, "stable", "p2")
    rolled = await wait_recorded(kube, namespace, "pinned", image, second)
    container = rolled["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == f"{image}@{second}"
    assert RESTARTED_AT not in template_annotations(rolled)  # the image change is the rollout
    event = await wait_event(kube, namespace, "pinned", "ImageUpdated")
    assert second in event["message"]

    # the pinned image is still watched (its tag), and nothing more happens while it stays
    third = registry.push(repo, "stable", "p3")
    again = await wait_recorded(kube, namespace, "pinned", image, third)
    assert again["spec"]["template"]["spec"]["containers"][0]["image"] == f"{image}@{third}"

    async def two_updates() -> bool:  # Events are posted after the write, from a queue
        return len(await events(kube, namespace, "pinned", "ImageUpdated")) == 2

    await eventually(two_updates, timeout=15, what="a second ImageUpdated Event")


async def test_a_workload_with_restart_hooks_rolls_through_them(
    kube: KubeClient, namespace: str, controller: ControllerProcess, registry: Registry
) -> None:
    warmup = manifest("CronJob", "warmup", {})
    warmup["spec"]["suspend"] = True
    await create(kube, namespace, "CronJob", warmup)
    repo = f"{namespace}/app"
    first = registry.push(repo, "latest", "h1")
    image = f"{registry.host}/{repo}:latest"
    body = watched("hooked", image)
    body["metadata"]["annotations"][HOOK_BEFORE] = "job cronjob/warmup"
    await create(kube, namespace, "Deployment", body)
    await wait_recorded(kube, namespace, "hooked", image, first)

    second = registry.push(repo, "latest", "h2")
    updated = await wait_event(kube, namespace, "hooked", "ImageUpdated")
    assert "hooks" in updated["message"]
    succeeded = await wait_event(kube, namespace, "hooked", "HookSucceeded")
    assert "job cronjob/warmup" in succeeded["message"]

    async def restarted() -> dict[str, Any] | None:
        obj = await get(kube, namespace, "Deployment", "hooked")
        done = RESTARTED_AT in template_annotations(obj)
        return obj if done and HOOK_RECORD not in annotations_of(obj) else None

    obj = await eventually(restarted, timeout=60, what="hooked restarted after its before-hook")
    assert obj is not None
    assert record_of(obj)[image] == second
    jobs = await resources.list_all(kube, JOBS, namespace=namespace)
    assert len(jobs) == 1  # the before-hook's Job, once


async def test_a_shared_image_rolls_a_canary_first_and_a_crashing_one_halts_the_rest(
    kube: KubeClient, namespace: str, controller: ControllerProcess, registry: Registry
) -> None:
    """Three Deployments pin the same tag; the bad digest makes the canary's pods crash loop
    (kwok stage ``reloader-test/crash-when``), so the two others keep the old digest."""
    repo = f"{namespace}/shared"
    bad = registry.push(repo, "probe", "crashes")  # the same content gives the same digest
    first = registry.push(repo, "1", "good")
    image = f"{registry.host}/{repo}:1"
    for name in ("a-canary", "b", "c"):
        body = watched(name, image)
        body["metadata"]["annotations"][PIN] = "true"
        if name == "a-canary":
            template = body["spec"]["template"]["metadata"].setdefault("annotations", {})
            template["reloader-test/crash-when"] = f"{image}@{bad}"
        await create(kube, namespace, "Deployment", body)
    for name in ("a-canary", "b", "c"):
        await wait_recorded(kube, namespace, name, image, first)

    assert registry.push(repo, "1", "crashes") == bad
    for name in ("a-canary", "b", "c"):
        event = await wait_event(kube, namespace, name, "ReloadHalted")
        assert event["type"] == "Warning"
        assert image in event["message"] or name == "a-canary", event["message"]
    canary = await get(kube, namespace, "Deployment", "a-canary")
    assert record_of(canary)[image] == bad
    assert json.loads(annotations_of(canary)["reloader.stakater.com/wave"])["state"] == "failed"
    for name in ("b", "c"):
        obj = await get(kube, namespace, "Deployment", name)
        assert record_of(obj)[image] == first, name
        assert obj["spec"]["template"]["spec"]["containers"][0]["image"] == image, name
    assert controller.metric("reloader_halted_changes") >= 1

    # the fix: a new digest rolls the canary first again, then the rest
    fixed = registry.push(repo, "1", "fixed")
    for name in ("a-canary", "b", "c"):
        await wait_recorded(kube, namespace, name, image, fixed)


async def test_a_rollout_past_its_deadline_does_not_hold_the_next_digest(
    kube: KubeClient, namespace: str, controller: ControllerProcess, registry: Registry
) -> None:
    """A rollout that will not finish (its pods never ready, past ``progressDeadlineSeconds``) is
    settled for the admission, as in the reload controller: the next digest, the fix, rolls at
    once and is not held for the rollout in progress (``--flapping-max-wait``)."""
    repo = f"{namespace}/stuck"
    first = registry.push(repo, "latest", "v1")
    image = f"{registry.host}/{repo}:latest"
    body = watched("stuck", image)
    body["spec"]["progressDeadlineSeconds"] = 2
    template = body["spec"]["template"]["metadata"].setdefault("annotations", {})
    template["reloader-test/never-ready-when"] = image  # kwok: its pods are never ready
    await create(kube, namespace, "Deployment", body)
    await wait_recorded(kube, namespace, "stuck", image, first)

    async def past_deadline() -> bool:
        obj = await get(kube, namespace, "Deployment", "stuck")
        conditions = obj.get("status", {}).get("conditions", [])
        return any(c.get("reason") == "ProgressDeadlineExceeded" for c in conditions)

    await eventually(past_deadline, timeout=60, what="the Deployment past its deadline")
    held = {"result": "held"}
    held_before = controller.metric("reloader_image_updates_total", held)
    second = registry.push(repo, "latest", "v2")
    rolled = await wait_recorded(kube, namespace, "stuck", image, second)
    assert RESTARTED_AT in template_annotations(rolled)
    await wait_event(kube, namespace, "stuck", "ImageUpdated")
    assert await events(kube, namespace, "stuck", "ImageUpdateHeld") == []
    assert controller.metric("reloader_image_updates_total", held) == held_before
