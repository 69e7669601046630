"""reloader.kube.config: kubeconfig files and the in-cluster account, read as kubectl reads them."""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import io
import re
import sys
from typing import TYPE_CHECKING, Any

import anyio
import orjson
import pytest

from reloader.errors import ConfigError, KubeClientError, KubeConnectionError, NotFound
from reloader.kube import auth_provider, config
from reloader.kube.client import KubeClient
from tests.unit.kube.fake_apiserver import Answer, FakeApiServer

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator
    from pathlib import Path

DEADLINE = 5.0
PATH = "/api/v1/namespaces/ns/configmaps/a"


def write(
    path: Path,
    *,
    clusters: dict[str, dict[str, Any]] | None = None,
    users: dict[str, dict[str, Any]] | None = None,
    contexts: dict[str, dict[str, Any]] | None = None,
    current: str | None = None,
) -> Path:
    doc: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": k, "cluster": v} for k, v in (clusters or {}).items()],
        "users": [{"name": k, "user": v} for k, v in (users or {}).items()],
        "contexts": [{"name": k, "context": v} for k, v in (contexts or {}).items()],
    }
    if current:
        doc["current-context"] = current
    path.write_bytes(orjson.dumps(doc))
    return path


def simple(path: Path, user: dict[str, Any], **cluster: Any) -> Path:
    return write(
        path,
        clusters={"c": {"server": "https://10.0.0.1:6443/", **cluster}},
        users={"u": user},
        contexts={"x": {"cluster": "c", "user": "u"}},
        current="x",
    )


async def auth(connection: config.Connection) -> str | None:
    return await connection.credentials.authorization()


async def test_a_static_token_and_the_cluster_fields(tmp_path: Path) -> None:
    ca = base64.b64encode(b"not really a CA").decode()
    path = simple(
        tmp_path / "config",
        {"token": " abc\n"},
        **{
            "certificate-authority-data": ca,
            "insecure-skip-tls-verify": False,
            "tls-server-name": "api.test",
            "proxy-url": "http://proxy:3128",
        },
    )
    connection = config.load(str(path))
    assert connection.server == "https://10.0.0.1:6443"
    assert await auth(connection) == "Bearer abc"
    assert connection.tls.ca_data == b"not really a CA"
    assert (connection.tls.insecure, connection.tls.server_name, connection.proxy_url) == (
        False,
        "api.test",
        "http://proxy:3128",
    )


async def test_basic_auth(tmp_path: Path) -> None:
    connection = config.load(str(simple(tmp_path / "c", {"username": "ann", "password": "pw"})))
    assert await auth(connection) == "Basic " + base64.b64encode(b"ann:pw").decode()


async def test_no_user_sends_no_authorization(tmp_path: Path) -> None:
    connection = config.load(str(simple(tmp_path / "c", {})))
    assert await auth(connection) is None


def test_relative_paths_are_relative_to_the_file_that_names_them(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    path = simple(
        tmp_path / "sub" / "config",
        {"client-certificate": "certs/me.crt", "client-key": "/abs/me.key"},
        **{"certificate-authority": "ca.crt"},
    )
    connection = config.load(str(path))
    assert connection.tls.ca_file == str(tmp_path / "sub" / "ca.crt")
    assert connection.tls.cert_file == str(tmp_path / "sub" / "certs" / "me.crt")
    assert connection.tls.key_file == "/abs/me.key"


async def test_kubeconfig_list_first_definition_and_first_current_context_win(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = write(
        tmp_path / "a",
        clusters={"c": {"server": "https://first"}},
        users={"u": {"token": "first"}},
        current="x",
    )
    second = write(
        tmp_path / "b",
        clusters={"c": {"server": "https://second"}, "d": {"server": "https://d"}},
        users={"u": {"token": "second"}},
        contexts={"x": {"cluster": "c", "user": "u"}, "y": {"cluster": "d", "user": "u"}},
        current="y",
    )
    missing = tmp_path / "missing"
    monkeypatch.setenv("KUBECONFIG", f"{first}:{missing}:{second}")
    connection = config.load(None)
    assert connection.server == "https://first"
    assert await auth(connection) == "Bearer first"
    assert config.load(None, context="y").server == "https://d"


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        pytest.param(lambda d: d.pop("current-context"), "no current-context", id="no-context"),
        pytest.param(
            lambda d: d.update({"current-context": "nope"}), "context 'nope'", id="unknown-context"
        ),
        pytest.param(
            lambda d: d["contexts"][0]["context"].update(cluster="gone"),
            "cluster 'gone'",
            id="unknown-cluster",
        ),
        pytest.param(
            lambda d: d["clusters"][0]["cluster"].pop("server"),
            "clusters[c].cluster.server",
            id="no-server",
        ),
        pytest.param(
            lambda d: d["users"][0]["user"].update({"client-key-data": "%%%"}),
            "users[u].user.client-key-data is not valid base64",
            id="bad-base64",
        ),
        pytest.param(
            lambda d: d["clusters"][0]["cluster"].update({"certificate-authority-data": "%"}),
            "clusters[c].cluster.certificate-authority-data is not valid base64",
            id="bad-ca-base64",
        ),
        pytest.param(
            lambda d: d["users"][0].update(user={"auth-provider": {"name": "gcp"}}),
            "users[u].user.auth-provider: the gcp auth-provider was removed from kubectl in 1.26; "
            'use the "gke-gcloud-auth-plugin"',
            id="auth-provider-gcp",
        ),
        pytest.param(
            lambda d: d["users"][0].update(user={"auth-provider": {"name": "azure"}}),
            "the azure auth-provider was removed from kubectl in 1.26; use the kubelogin",
            id="auth-provider-azure",
        ),
        pytest.param(
            lambda d: d["users"][0].update(user={"auth-provider": {"name": "foo"}}),
            'users[u].user.auth-provider: no Auth Provider found for name "foo"',
            id="auth-provider-unknown",
        ),
        pytest.param(
            lambda d: d["users"][0].update(user={"exec": {"args": []}}),
            "users[u].user.exec.command",
            id="exec-without-command",
        ),
        pytest.param(
            lambda d: d["users"][0].update(
                user={"exec": {"command": "x", "apiVersion": "client.authentication.k8s.io/v1"}}
            ),
            "users[u].user.exec.interactiveMode must be specified for u",
            id="exec-v1-without-interactive-mode",
        ),
        pytest.param(
            lambda d: d["users"][0].update(
                user={"exec": {"command": "x", "apiVersion": "client.authentication.k8s.io/v2"}}
            ),
            "users[u].user.exec.apiVersion: invalid apiVersion",
            id="exec-unknown-api-version",
        ),
        pytest.param(
            lambda d: d["users"][0]["user"].update({"as-groups": ["g"]}),
            "users[u].user: requesting uid, groups or user-extra for u without impersonating",
            id="groups-without-as",
        ),
        pytest.param(
            lambda d: d["clusters"][0]["cluster"].update(
                {"insecure-skip-tls-verify": True, "certificate-authority": "/ca.crt"}
            ),
            "clusters[c].cluster: specifying a root certificates file with the insecure flag "
            "is not allowed",
            id="insecure-with-ca",
        ),
        pytest.param(
            lambda d: d["users"][0]["user"].update({"client-certificate": "/me.crt"}),
            "users[u].user: client-key-data or client-key must be specified to use the "
            "clientCert authentication method",
            id="certificate-without-key",
        ),
        pytest.param(lambda d: d["clusters"].append({}), "clusters[1].name", id="nameless"),
    ],
)
def test_bad_kubeconfigs_name_the_field(tmp_path: Path, mutate: Any, message: str) -> None:
    path = simple(tmp_path / "config", {"token": "t"})
    doc = orjson.loads(path.read_bytes())
    mutate(doc)
    path.write_bytes(orjson.dumps(doc))
    with pytest.raises(ConfigError, match=re.escape(message)):
        config.load(str(path))


def test_oidc_without_the_extra_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(auth_provider, "EXTRA_PACKAGE", "kubernetes_asyncio_not_installed")
    path = simple(tmp_path / "config", {"auth-provider": {"name": "oidc", "config": {}}})
    with pytest.raises(ConfigError) as caught:
        config.load(str(path))
    assert str(caught.value) == (
        f"kubeconfig {path}: users[u].user.auth-provider (name: oidc) is loaded through "
        "kubernetes_asyncio, which is not installed: pip install 'reloader[kubernetes-asyncio]'"
    )


def test_a_missing_or_invalid_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        config.load(str(tmp_path / "nope"))
    (tmp_path / "bad").write_text("token: abc\n  : [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML") as caught:
        config.load(str(tmp_path / "bad"))
    assert "abc" not in str(caught.value)  # the YAML error would quote the line


def test_nothing_configured_and_not_in_a_cluster(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(ConfigError, match="KUBERNETES_SERVICE_HOST"):
        config.load(None)
    # in a pod whose service account token is not mounted: that is what the error says
    monkeypatch.setattr(config, "SERVICE_ACCOUNT_DIR", tmp_path)
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    with pytest.raises(ConfigError, match=r"the service account token .* is missing"):
        config.load(None)


async def test_in_cluster_ipv6_and_token_rotation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "token").write_text("one\n")
    monkeypatch.setattr(config, "SERVICE_ACCOUNT_DIR", tmp_path)
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "fd00::1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    connection = config.in_cluster()
    assert connection.server == "https://[fd00::1]:443"
    assert connection.tls.ca_file == str(tmp_path / "ca.crt")
    assert await auth(connection) == "Bearer one"
    (tmp_path / "token").write_text("two\n")
    assert await auth(connection) == "Bearer one"  # read at most once a minute
    connection.credentials.invalidate()  # as after a 401
    assert await auth(connection) == "Bearer two"
    (tmp_path / "token").unlink()  # mid-rotation: the last token is kept
    connection.credentials.invalidate()
    assert await auth(connection) == "Bearer two"


@pytest.fixture
def service_account(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Not in a cluster until a test writes the token: no env, an empty service account dir."""
    directory = tmp_path / "serviceaccount"
    directory.mkdir()
    monkeypatch.setattr(config, "SERVICE_ACCOUNT_DIR", directory)
    for name in ("KUBECONFIG", "POD_NAMESPACE", "KUBERNETES_SERVICE_HOST"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    monkeypatch.setenv("HOME", str(tmp_path))
    return directory


def in_a_cluster(directory: Path, monkeypatch: pytest.MonkeyPatch, namespace: str) -> None:
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
    (directory / "token").write_text("t")
    (directory / "namespace").write_text(f"{namespace}\n")


def namespace_of(kubeconfig: str | None = None, context: str | None = None) -> str:
    return config.load(kubeconfig, context).namespace


CLUSTER = {"c": {"server": "https://10.0.0.1"}}


def test_default_namespace_is_the_current_contexts_across_the_kubeconfig_list(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, service_account: Path
) -> None:
    first = write(tmp_path / "a", current="b")
    second = write(
        tmp_path / "b",
        clusters=CLUSTER,
        contexts={
            "a": {"cluster": "c", "namespace": "ns-a"},
            "b": {"cluster": "c", "namespace": "ns-b"},
        },
        current="a",
    )
    monkeypatch.setenv("KUBECONFIG", f"{first}:{tmp_path / 'missing'}:{second}")
    assert namespace_of() == "ns-b"  # the first current-context, merged contexts
    assert namespace_of(context="a") == "ns-a"
    assert namespace_of(str(second)) == "ns-a"  # --kubeconfig: that file only
    in_a_cluster(service_account, monkeypatch, "sa-ns")
    assert namespace_of() == "ns-b"  # $KUBECONFIG comes before in-cluster; its namespace wins


def test_default_namespace_without_one_in_the_context(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, service_account: Path
) -> None:
    path = str(
        write(
            tmp_path / "kubeconfig", clusters=CLUSTER, contexts={"x": {"cluster": "c"}}, current="x"
        )
    )
    assert namespace_of(path) == "default"  # not in a cluster
    in_a_cluster(service_account, monkeypatch, "sa-ns")
    assert namespace_of(path) == "sa-ns"  # client-go: the in-cluster namespace
    monkeypatch.setenv("POD_NAMESPACE", "pod-ns")  # client-go reads it first
    assert namespace_of(path) == "pod-ns"


def test_default_namespace_in_a_cluster_without_a_kubeconfig(
    monkeypatch: pytest.MonkeyPatch, service_account: Path
) -> None:
    in_a_cluster(service_account, monkeypatch, "sa-ns")
    assert namespace_of() == "sa-ns"
    (service_account / "namespace").write_text(" \n")
    assert namespace_of() == "default"
    (service_account / "namespace").unlink()
    assert namespace_of() == "default"


def test_loading_order_kubeconfig_flag_env_in_cluster_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, service_account: Path
) -> None:
    """controller-runtime's order: --kubeconfig, $KUBECONFIG, in-cluster, ~/.kube/config."""

    def server(name: str) -> Path:
        return write(
            tmp_path / name,
            clusters={"c": {"server": f"https://{name}"}},
            contexts={"x": {"cluster": "c"}},
            current="x",
        )

    (tmp_path / ".kube").mkdir()
    home, env, flag = server(".kube/config"), server("env"), server("flag")
    assert config.load().server == "https://.kube/config"  # only the home file
    in_a_cluster(service_account, monkeypatch, "sa-ns")
    assert config.load().server == "https://10.0.0.1:443"  # in-cluster before the home file
    monkeypatch.setenv("KUBECONFIG", str(env))
    assert config.load().server == "https://env"
    assert config.load(str(flag)).server == "https://flag"
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    assert config.load().server == "https://10.0.0.1:443"  # an empty merge: in-cluster
    assert home.is_file()


def test_an_unusable_kubeconfig_is_an_error_for_the_namespace_too(
    tmp_path: Path, service_account: Path
) -> None:
    """The namespace comes from the same load as the connection: no silent second parse."""
    (tmp_path / "bad").write_text("clusters: [1]")
    with pytest.raises(ConfigError, match=re.escape("clusters[0].name is missing")):
        namespace_of(str(tmp_path / "bad"))


def exec_plugin(tmp_path: Path, *, expires_in: float | None, fail: bool = False) -> Path:
    """A credential plugin that counts its runs and echoes what it was told in its token."""
    script = tmp_path / "plugin.py"
    stamp = (
        "None"
        if expires_in is None
        else repr((dt.datetime.now(dt.UTC) + dt.timedelta(seconds=expires_in)).isoformat())
    )
    script.write_text(
        "import json, os, pathlib, sys\n"
        f"if {fail!r}:\n"
        "    print('first line\\nlogin failed: no network', file=sys.stderr)\n"
        "    sys.exit(3)\n"
        "count = pathlib.Path(sys.argv[1])\n"
        "n = int(count.read_text()) + 1 if count.exists() else 1\n"
        "count.write_text(str(n))\n"
        "info = json.loads(os.environ['KUBERNETES_EXEC_INFO'])\n"
        "token = f\"{os.environ['GREETING']}-{n}-{info['spec']['cluster']['server']}\"\n"
        f"status = {{'token': token, 'expirationTimestamp': {stamp}}}\n"
        "print(json.dumps({'apiVersion': info['apiVersion'], 'kind': 'ExecCredential',\n"
        "                  'status': status}))\n"
    )
    return script


def exec_kubeconfig(tmp_path: Path, server: str, script: Path) -> str:
    user = {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1",
            "command": sys.executable,
            "args": [str(script), str(tmp_path / "count")],
            "env": [{"name": "GREETING", "value": "hi"}],
            "provideClusterInfo": True,
            "interactiveMode": "Never",
        }
    }
    path = write(
        tmp_path / "config",
        clusters={"c": {"server": server}},
        users={"u": user},
        contexts={"x": {"cluster": "c", "user": "u"}},
        current="x",
    )
    return str(path)


async def test_exec_plugin_runs_once_and_again_after_a_401(
    server: FakeApiServer, tmp_path: Path
) -> None:
    path = exec_kubeconfig(tmp_path, server.url, exec_plugin(tmp_path, expires_in=None))
    with anyio.fail_after(DEADLINE):
        async with await KubeClient.connect(kubeconfig=path) as kube:
            for _ in range(2):
                with pytest.raises(NotFound):
                    await kube.request("GET", PATH)
            server.answers[("GET", PATH)] = Answer(401, {"kind": "Status", "code": 401})
            with pytest.raises(KubeClientError, match="401"):
                await kube.request("GET", PATH)
            del server.answers[("GET", PATH)]
            with pytest.raises(NotFound):
                await kube.request("GET", PATH)
    tokens = [r.headers["Authorization"] for r in server.requests]
    first = f"Bearer hi-1-{server.url}"
    assert tokens == [first, first, first, f"Bearer hi-2-{server.url}"]


async def test_exec_plugin_runs_again_when_its_token_expires(
    server: FakeApiServer, tmp_path: Path
) -> None:
    # expires within the early-refresh margin: every request runs the plugin again
    path = exec_kubeconfig(tmp_path, server.url, exec_plugin(tmp_path, expires_in=1))
    with anyio.fail_after(DEADLINE):
        async with await KubeClient.connect(kubeconfig=path) as kube:
            with pytest.raises(NotFound):
                await kube.request("GET", PATH)
    assert (tmp_path / "count").read_text() == "2"  # once at connect, once for the request


async def test_a_failing_exec_plugin_fails_at_connect(tmp_path: Path) -> None:
    path = exec_kubeconfig(
        tmp_path, "https://127.0.0.1:9", exec_plugin(tmp_path, expires_in=None, fail=True)
    )
    with pytest.raises(ConfigError) as caught:
        await KubeClient.connect(kubeconfig=path)
    assert str(caught.value).endswith(
        "failed with exit code 3; its stderr ends with: first line\nlogin failed: no network"
    )


async def _drain(stream: AsyncGenerator[bytes, None]) -> None:
    async with contextlib.aclosing(stream):
        async for _ in stream:
            pass


async def test_impersonation_headers_on_every_request_and_watch(
    server: FakeApiServer, tmp_path: Path
) -> None:
    user = {
        "token": "t",
        "as": "jane",
        "as-uid": "uid-1",
        "as-groups": ["dev", "ops"],
        "as-user-extra": {"acme.com/project": ["a", "b"], "50% off": ["c"]},
    }
    path = write(
        tmp_path / "config",
        clusters={"c": {"server": server.url}},
        users={"u": user},
        contexts={"x": {"cluster": "c", "user": "u"}},
        current="x",
    )
    with anyio.fail_after(DEADLINE):
        async with await KubeClient.connect(kubeconfig=str(path)) as kube:
            with pytest.raises(NotFound):
                await kube.request("GET", PATH)
            with pytest.raises(NotFound):
                await _drain(kube.stream_lines(PATH, query={"watch": True}))
    expected = [
        ("Impersonate-User", "jane"),
        ("Impersonate-Uid", "uid-1"),
        ("Impersonate-Group", "dev"),
        ("Impersonate-Group", "ops"),
        ("Impersonate-Extra-acme.com%2Fproject", "a"),
        ("Impersonate-Extra-acme.com%2Fproject", "b"),
        ("Impersonate-Extra-50%25%20off", "c"),
    ]
    for request in server.requests:
        sent = [(k, v) for k, v in request.header_items if k.startswith("Impersonate-")]
        assert sent == expected
        assert request.headers["Authorization"] == "Bearer t"
    assert [r.is_watch for r in server.requests] == [False, True]


def answering_plugin(tmp_path: Path, answer: object, *, api_version: str, **spec: Any) -> str:
    """A kubeconfig whose exec plugin saves KUBERNETES_EXEC_INFO and prints ``answer``."""
    (tmp_path / "answer.json").write_bytes(orjson.dumps(answer))
    script = tmp_path / "plugin.py"
    script.write_text(
        "import os, pathlib, sys\n"
        "pathlib.Path(sys.argv[1], 'info.json').write_text(os.environ['KUBERNETES_EXEC_INFO'])\n"
        "sys.stdout.write(pathlib.Path(sys.argv[1], 'answer.json').read_text())\n"
    )
    exec_spec = {"apiVersion": api_version, "command": sys.executable,
                 "args": [str(script), str(tmp_path)], **spec}  # fmt: skip
    ca = base64.b64encode(b"CA PEM").decode()
    cluster = {
        "server": "https://10.0.0.1",
        "certificate-authority-data": ca,
        "tls-server-name": "api.test",
        "extensions": [{"name": "client.authentication.k8s.io/exec", "extension": {"a": 1}}],
    }
    path = write(
        tmp_path / "config",
        clusters={"c": cluster},
        users={"u": {"exec": exec_spec}},
        contexts={"x": {"cluster": "c", "user": "u"}},
        current="x",
    )
    return str(path)


V1 = "client.authentication.k8s.io/v1"
V1BETA1 = "client.authentication.k8s.io/v1beta1"


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        pytest.param(
            {"apiVersion": V1BETA1, "kind": "ExecCredential", "status": {"token": "t"}},
            f"is configured to use API version {V1}, plugin returned version {V1BETA1}",
            id="api-version",
        ),
        pytest.param(
            {"apiVersion": V1, "kind": "Secret", "status": {"token": "t"}},
            "returned kind 'Secret', not ExecCredential",
            id="kind",
        ),
        pytest.param(
            {"apiVersion": V1, "kind": "ExecCredential", "status": {"clientKeyData": "k"}},
            "returned only certificate or key, not both",
            id="key-without-certificate",
        ),
        pytest.param(
            {"apiVersion": V1, "kind": "ExecCredential", "status": {}},
            "didn't return a token or cert/key pair",
            id="nothing",
        ),
        pytest.param(["not", "an", "object"], "printed no ExecCredential JSON", id="not-json"),
    ],
)
async def test_exec_plugin_answers_are_checked(
    tmp_path: Path, answer: object, message: str
) -> None:
    path = answering_plugin(tmp_path, answer, api_version=V1, interactiveMode="Never")
    connection = config.load(path)
    with pytest.raises(KubeConnectionError, match=re.escape(message)):
        await auth(connection)


async def test_exec_info_as_client_go_builds_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """v1beta1 defaults to IfAvailable; without a terminal the plugin is told it is not
    interactive; provideClusterInfo hands it the cluster, CA data and the exec extension."""
    monkeypatch.setattr(sys, "stdin", io.StringIO())  # not a terminal, even under pytest -s
    answer = {"apiVersion": V1BETA1, "kind": "ExecCredential", "status": {"token": "t"}}
    path = answering_plugin(tmp_path, answer, api_version=V1BETA1, provideClusterInfo=True)
    assert await auth(config.load(path)) == "Bearer t"
    info = orjson.loads((tmp_path / "info.json").read_bytes())
    assert info == {
        "apiVersion": V1BETA1,
        "kind": "ExecCredential",
        "spec": {
            "interactive": False,
            "cluster": {
                "server": "https://10.0.0.1",
                "tlsServerName": "api.test",
                "certificateAuthorityData": base64.b64encode(b"CA PEM").decode(),
                "config": {"a": 1},
            },
        },
    }


async def test_exec_plugin_that_must_be_interactive_without_a_terminal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO())
    answer = {"apiVersion": V1, "kind": "ExecCredential", "status": {"token": "t"}}
    path = answering_plugin(tmp_path, answer, api_version=V1, interactiveMode="Always")
    with pytest.raises(KubeConnectionError, match="standard input is not a terminal"):
        await auth(config.load(path))
