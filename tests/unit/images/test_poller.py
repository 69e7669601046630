"""The poller against a registry served on loopback by aiohttp (real HTTP, the real client),
with a fake clock: one lookup per reference however many ask, due times, per-registry backoff,
Retry-After, and credentials read only when a lookup is due."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import anyio
import pytest
from aiohttp import web

from reloader.images.domain.credentials import Credential
from reloader.images.domain.references import ImageRef, parse_image
from reloader.images.poller import Poller
from reloader.images.registry import RegistryClient
from reloader.runtime.clock import FakeClock

D1, D2 = "sha256:" + "1" * 64, "sha256:" + "2" * 64
USER, PASSWORD = "robot", "s3cret"


@dataclass
class Script:
    """What the registry answers: a digest per repository, or a status to return instead."""

    digests: dict[str, str] = field(default_factory=dict)
    status: int = 200
    retry_after: str | None = None
    private: set[str] = field(default_factory=set)
    requests: list[str] = field(default_factory=list)
    #: block each answer until set (to hold a request in flight)
    gate: anyio.Event | None = None


@pytest.fixture
async def served() -> AsyncIterator[tuple[str, Script]]:
    script = Script()

    async def manifest(request: web.Request) -> web.Response:
        repo = request.match_info["repo"]
        script.requests.append(repo)
        if script.gate is not None:
            await script.gate.wait()
        if repo in script.private:
            expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
            if request.headers.get("Authorization") != expected:
                return web.Response(status=401, headers={"WWW-Authenticate": 'Basic realm="t"'})
        if script.status != 200:
            headers = {"Retry-After": script.retry_after} if script.retry_after else {}
            return web.Response(status=script.status, headers=headers)
        return web.Response(headers={"Docker-Content-Digest": script.digests[repo]})

    app = web.Application()
    app.router.add_route("HEAD", "/v2/{repo:.+}/manifests/{tag}", manifest)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield f"127.0.0.1:{port}", script
    await runner.cleanup()


@pytest.fixture
async def poller() -> AsyncIterator[tuple[Poller, FakeClock]]:
    clock = FakeClock(start=1000.0)
    client = RegistryClient()
    yield Poller(client=client, clock=clock), clock
    await client.aclose()


class Credentials:
    def __init__(self) -> None:
        self.reads = 0

    async def __call__(self) -> tuple[list[Credential], tuple[str, ...]]:
        self.reads += 1
        return [Credential(USER, PASSWORD, "Secret ns/pull")], ()


async def none() -> tuple[list[Credential], tuple[str, ...]]:
    return [], ()


def ref(host: str, repo: str) -> ImageRef:
    return parse_image(f"{host}/{repo}:latest")


async def test_many_askers_share_one_request_and_the_cached_digest(
    served: tuple[str, Script], poller: tuple[Poller, FakeClock]
) -> None:
    host, script = served
    p, clock = poller
    script.digests["app"] = D1
    script.gate = anyio.Event()
    image = ref(host, "app")
    results = []

    async def ask() -> None:
        results.append(await p.current(image, 60, none, source="ns/sa"))

    async with anyio.create_task_group() as tg:
        for _ in range(50):
            tg.start_soon(ask)
        await anyio.wait_all_tasks_blocked()
        script.gate.set()
    assert script.requests == ["app"]
    assert {r.digest for r in results} == {D1}

    script.digests["app"] = D2
    due = results[0].due(60)
    assert 1000 + 54 <= due < 1000 + 54 + 60  # the next point of its grid, 0.9 interval on
    clock.advance(due - 1000 - 1)
    assert (await p.current(image, 60, none, source="ns/sa")).digest == D1  # not due
    assert script.requests == ["app"]
    clock.advance(1)
    assert (await p.current(image, 60, none, source="ns/sa")).digest == D2
    assert script.requests == ["app", "app"]


async def test_a_failing_registry_is_backed_off_for_all_its_references(
    served: tuple[str, Script], poller: tuple[Poller, FakeClock]
) -> None:
    host, script = served
    p, clock = poller
    script.status = 503
    first = await p.current(ref(host, "a"), 60, none, source="ns/sa")
    assert "HTTP 503" in first.error
    assert first.due(60) == 1005.0  # five seconds
    other = await p.current(ref(host, "b"), 60, none, source="ns/sa")
    assert other.not_before == 1005.0
    assert script.requests == ["a"]  # b waits too, unasked
    clock.advance(5)
    await p.current(ref(host, "a"), 60, none, source="ns/sa")
    assert script.requests == ["a", "a"]
    assert p._registries[ref(host, "a").api_host].not_before == 1015.0  # then ten


async def test_a_429_waits_for_its_retry_after_and_a_404_backs_nothing_off(
    served: tuple[str, Script], poller: tuple[Poller, FakeClock]
) -> None:
    host, script = served
    p, clock = poller
    script.status, script.retry_after = 429, "42"
    limited = await p.current(ref(host, "a"), 60, none, source="ns/sa")
    assert limited.error_reason == "rate_limited"
    assert limited.not_before == 1042.0
    clock.advance(42)
    script.status, script.retry_after = 404, None
    missing = await p.current(ref(host, "gone"), 60, none, source="ns/sa")
    assert missing.error_reason == "not_found"
    script.status = 200
    script.digests["b"] = D1
    assert (await p.current(ref(host, "b"), 60, none, source="ns/sa")).digest == D1


async def test_credentials_are_read_only_when_a_lookup_is_due(
    served: tuple[str, Script], poller: tuple[Poller, FakeClock]
) -> None:
    host, script = served
    p, clock = poller
    script.private.add("private")
    script.digests["private"] = D1
    image = ref(host, "private")
    creds = Credentials()
    found = await p.current(image, 60, creds, source="ns/secrets:pull")
    assert found.digest == D1
    assert creds.reads == 1
    for _ in range(5):
        await p.current(image, 60, creds, source="ns/secrets:pull")
    assert creds.reads == 1
    # another namespace without credentials never gets the digest read with these
    other = await p.current(image, 60, none, source="other/serviceaccount:default")
    assert other.digest is None
    assert other.error_reason == "unauthorized"
    clock.advance(found.due(60) - clock.monotonic())
    await p.current(image, 60, creds, source="ns/secrets:pull")
    assert creds.reads == 2
