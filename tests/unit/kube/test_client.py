"""KubeClient: kubeconfig loading, auth headers, verbs reported, errors mapped, streamed lines."""

from __future__ import annotations

import socket
from contextlib import aclosing
from typing import TYPE_CHECKING, Any

import anyio
import orjson
import pytest

from reloader.errors import (
    ConfigError,
    KubeConnectionError,
    KubeError,
    KubeServerError,
    NotFound,
)
from reloader.kube.client import KubeClient
from reloader.kube.wire import kubernetes_verb
from tests.unit.kube.fake_apiserver import (
    HANG,
    TOKEN,
    Answer,
    FakeApiServer,
    Send,
    status,
    write_kubeconfig,
)

if TYPE_CHECKING:
    from pathlib import Path

DEADLINE = 5.0
SECRET = "c3VwZXItc2VjcmV0"


async def test_requests_carry_token_user_agent_and_accept(
    server: FakeApiServer, kubeconfig: str
) -> None:
    server.answers[("GET", "/api/v1/namespaces/ns/configmaps/a")] = Answer(200, {"kind": "X"})
    with anyio.fail_after(DEADLINE):
        async with await KubeClient.connect(kubeconfig=kubeconfig, user_agent="ua/1") as kube:
            assert await kube.request("GET", "/api/v1/namespaces/ns/configmaps/a") == {"kind": "X"}
    headers = server.requests[0].headers
    assert headers["Authorization"] == f"Bearer {TOKEN}"
    assert headers["User-Agent"] == "ua/1"
    assert headers["Accept"] == "application/json"


async def test_token_file_is_read(server: FakeApiServer, tmp_path: Path) -> None:
    (tmp_path / "token").write_text("from-file\n")
    path = write_kubeconfig(
        tmp_path / "config", server=server.url, user={"tokenFile": str(tmp_path / "token")}
    )
    with anyio.fail_after(DEADLINE):
        async with await KubeClient.connect(kubeconfig=path) as kube:
            with pytest.raises(NotFound):
                await kube.request("GET", "/api/v1/namespaces/ns/configmaps/a")
    assert server.requests[0].headers["Authorization"].strip() == "Bearer from-file"


async def test_context_chooses_cluster_and_user(server: FakeApiServer, tmp_path: Path) -> None:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "nowhere", "cluster": {"server": "http://127.0.0.1:9"}},
            {"name": "fake", "cluster": {"server": server.url}},
        ],
        "users": [
            {"name": "u1", "user": {"token": "one"}},
            {"name": "u2", "user": {"token": "two"}},
        ],
        "contexts": [
            {"name": "first", "context": {"cluster": "nowhere", "user": "u1"}},
            {"name": "second", "context": {"cluster": "fake", "user": "u2"}},
        ],
        "current-context": "first",
    }
    (tmp_path / "config").write_bytes(orjson.dumps(config))
    with anyio.fail_after(DEADLINE):
        async with await KubeClient.connect(
            kubeconfig=str(tmp_path / "config"), context="second"
        ) as kube:
            assert kube.host == server.url
            with pytest.raises(NotFound):
                await kube.request("GET", "/api/v1/namespaces")
    assert server.requests[0].headers["Authorization"] == "Bearer two"


async def test_kubeconfig_env_is_used_when_no_path_is_given(
    server: FakeApiServer, kubeconfig: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", kubeconfig)
    async with await KubeClient.connect(kubeconfig=None) as kube:
        assert kube.host == server.url


async def test_without_any_configuration_connect_is_a_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(ConfigError):
        await KubeClient.connect(kubeconfig=None)


async def test_missing_kubeconfig_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        await KubeClient.connect(kubeconfig=str(tmp_path / "absent"))


async def test_unknown_context_is_a_config_error(kubeconfig: str) -> None:
    with pytest.raises(ConfigError):
        await KubeClient.connect(kubeconfig=kubeconfig, context="nope")


async def test_invalid_kubeconfig_error_does_not_quote_it(tmp_path: Path) -> None:
    path = tmp_path / "config"
    path.write_text(f"users:\n- user:\n    token: {SECRET}\n  bad: [\n")
    with pytest.raises(ConfigError) as caught:
        await KubeClient.connect(kubeconfig=str(path))
    assert SECRET not in str(caught.value)


@pytest.mark.parametrize(
    ("method", "path", "query", "verb"),
    [
        ("GET", "/api/v1/namespaces/ns/configmaps", None, "LIST"),
        ("GET", "/api/v1/configmaps", None, "LIST"),
        ("GET", "/api/v1/namespaces", None, "LIST"),
        ("GET", "/api/v1/namespaces/ns", None, "GET"),
        ("GET", "/api/v1/namespaces/ns/configmaps/a", None, "GET"),
        ("GET", "/apis/apps/v1/namespaces/ns/deployments/d", None, "GET"),
        ("GET", "/apis/apps/v1/deployments", {"watch": True}, "WATCH"),
        ("GET", "/api/v1/namespaces/ns/secrets", {"watch": "true"}, "WATCH"),
        ("GET", "/apis/apps/v1", None, "GET"),
        ("GET", "/api", None, "GET"),
        ("POST", "/api/v1/namespaces/ns/events", None, "CREATE"),
        ("POST", "/api/v1/namespaces", None, "CREATE"),
        ("POST", "/api/v1/namespaces/ns/pods/p/eviction", None, "CREATE"),
        ("PUT", "/apis/coordination.k8s.io/v1/namespaces/ns/leases/l", None, "UPDATE"),
        ("PATCH", "/apis/apps/v1/namespaces/ns/deployments/d", None, "PATCH"),
        ("PATCH", "/api/v1/nodes/n", None, "PATCH"),
        ("DELETE", "/apis/batch/v1/namespaces/ns/jobs/j", None, "DELETE"),
        ("DELETE", "/api/v1/namespaces/ns", None, "DELETE"),
        ("DELETE", "/apis/batch/v1/namespaces/ns/jobs", None, "DELETECOLLECTION"),
    ],
)
def test_kubernetes_verb(method: str, path: str, query: dict[str, Any] | None, verb: str) -> None:
    assert kubernetes_verb(method, path, query) == verb


async def test_every_request_is_reported_with_verb_status_and_duration(
    server: FakeApiServer, kubeconfig: str
) -> None:
    calls: list[tuple[str, int, float]] = []
    server.answers[("POST", "/api/v1/namespaces/ns/configmaps")] = Answer(201, {"kind": "X"})
    server.answers[("PATCH", "/api/v1/namespaces/ns/configmaps/a")] = Answer(200, {"kind": "X"})
    server.answers[("DELETE", "/api/v1/namespaces/ns/configmaps/a")] = Answer(200, {})
    server.watches.append([Send("ADDED", {"metadata": {"name": "a"}})])
    with anyio.fail_after(DEADLINE):
        async with await KubeClient.connect(
            kubeconfig=kubeconfig, on_request=lambda *call: calls.append(call)
        ) as kube:
            await kube.request("GET", "/api/v1/namespaces/ns/configmaps")
            with pytest.raises(NotFound):
                await kube.request("GET", "/api/v1/namespaces/ns/configmaps/b")
            await kube.request("POST", "/api/v1/namespaces/ns/configmaps", body={})
            await kube.request("PATCH", "/api/v1/namespaces/ns/configmaps/a", body={})
            await kube.request("DELETE", "/api/v1/namespaces/ns/configmaps/a")
            stream = kube.stream_lines("/api/v1/namespaces/ns/configmaps", query={"watch": True})
            async with aclosing(stream) as lines:
                assert [line async for line in lines]
    assert [(verb, code) for verb, code, _ in calls] == [
        ("LIST", 200),
        ("GET", 404),
        ("CREATE", 201),
        ("PATCH", 200),
        ("DELETE", 200),
        ("WATCH", 200),
    ]
    assert all(0 <= seconds < DEADLINE for _, _, seconds in calls)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_no_answer_is_a_connection_error_reported_as_status_0(tmp_path: Path) -> None:
    calls: list[tuple[str, int, float]] = []
    path = write_kubeconfig(tmp_path / "config", server=f"http://127.0.0.1:{closed_port()}")
    with anyio.fail_after(DEADLINE):
        async with await KubeClient.connect(
            kubeconfig=path, on_request=lambda *call: calls.append(call)
        ) as kube:
            with pytest.raises(KubeConnectionError) as caught:
                await kube.request("GET", "/api/v1/namespaces")
            with pytest.raises(KubeConnectionError):
                async with aclosing(kube.stream_lines("/api/v1/namespaces")) as lines:
                    await anext(lines)
    assert caught.value.status == 0
    assert isinstance(caught.value.__cause__, OSError)
    assert [(verb, code) for verb, code, _ in calls] == [("LIST", 0), ("LIST", 0)]


async def test_a_request_without_answer_in_time_is_a_connection_error(
    server: FakeApiServer, client: KubeClient
) -> None:
    with anyio.fail_after(DEADLINE):
        server.watches.append([HANG])
        with pytest.raises(KubeConnectionError):
            await client.request(
                "GET", "/api/v1/namespaces/ns/configmaps", query={"watch": True}, timeout=0.2
            )


async def test_error_answers_are_mapped_without_their_body(
    server: FakeApiServer, client: KubeClient
) -> None:
    with anyio.fail_after(DEADLINE):
        path = "/api/v1/namespaces/ns/secrets/s"
        server.answers[("GET", path)] = Answer(500, f"<html>{SECRET}</html>".encode())
        with pytest.raises(KubeServerError) as caught:
            await client.request("GET", path)
        assert SECRET not in str(caught.value)
        server.answers[("GET", path)] = Answer(
            404, status(404, "NotFound", 'secrets "s" not found')
        )
        with pytest.raises(NotFound) as not_found:
            await client.request("GET", path)
        assert (not_found.value.reason, not_found.value.message) == (
            "NotFound",
            'secrets "s" not found',
        )


async def test_a_success_that_is_not_json_is_a_kube_error(
    server: FakeApiServer, client: KubeClient
) -> None:
    with anyio.fail_after(DEADLINE):
        server.answers[("GET", "/api/v1/namespaces/ns")] = Answer(200, b"<html>")
        with pytest.raises(KubeError):
            await client.request("GET", "/api/v1/namespaces/ns")


async def test_stream_lines_keeps_long_lines_whole(
    server: FakeApiServer, client: KubeClient
) -> None:
    with anyio.fail_after(DEADLINE):
        big = "x" * 300_000  # several read chunks
        server.watches.append(
            [Send("ADDED", {"data": {"k": big}}), Send("MODIFIED", {"data": {"k": "small"}})]
        )
        async with aclosing(
            client.stream_lines("/api/v1/namespaces/ns/configmaps", query={"watch": True})
        ) as lines:
            received = [orjson.loads(line) async for line in lines]
        assert [(e["type"], e["object"]["data"]["k"]) for e in received] == [
            ("ADDED", big),
            ("MODIFIED", "small"),
        ]


async def test_stream_lines_raises_the_mapped_error_of_the_answer(
    server: FakeApiServer, client: KubeClient
) -> None:
    with anyio.fail_after(DEADLINE):
        server.watches.append(Answer(403, status(403, "Forbidden", "no watch for you")))
        with pytest.raises(KubeError) as caught:
            async with aclosing(
                client.stream_lines("/api/v1/namespaces/ns/configmaps", query={"watch": True})
            ) as lines:
                await anext(lines)
        assert (caught.value.status, caught.value.reason) == (403, "Forbidden")


async def test_close_twice_is_harmless(server: FakeApiServer, client: KubeClient) -> None:
    with anyio.fail_after(DEADLINE):
        server.answers[("GET", "/api/v1/namespaces/ns")] = Answer(200, {"kind": "Namespace"})
        # a request first, so the pool holds an open keep-alive connection to close
        assert await client.request("GET", "/api/v1/namespaces/ns") == {"kind": "Namespace"}
        await client.close()
        await client.close()  # raises nothing (and the fixture's `async with` closes it again)
        # still closed: nothing more reaches the server
        with pytest.raises(KubeConnectionError, match="closed"):
            await client.request("GET", "/api/v1/namespaces/ns")
    assert [(r.method, r.path) for r in server.requests] == [("GET", "/api/v1/namespaces/ns")]
