"""TLS through kubeconfig and in-cluster settings: CA file or data, client certificates,
tls-server-name, and the service account. Certificates are made with the openssl CLI."""

from __future__ import annotations

import base64
import json
import shutil
import ssl
import sys
from typing import TYPE_CHECKING

import anyio
import pytest

from reloader.errors import ConfigError, KubeConnectionError, NotFound
from reloader.kube import config
from reloader.kube.client import KubeClient
from tests.unit.kube.fake_apiserver import TOKEN, FakeApiServer, write_kubeconfig
from tests.unit.kube.pki import Pki

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

DEADLINE = 5.0
PATH = "/api/v1/namespaces/ns/configmaps/a"

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl CLI")


async def _tls_server(pki: Pki, *, require_client_cert: bool) -> FakeApiServer:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pki.server_cert, pki.server_key)
    if require_client_cert:
        context.load_verify_locations(pki.ca)
        context.verify_mode = ssl.CERT_REQUIRED
    fake = FakeApiServer()
    await fake.start(ssl_context=context)
    return fake


@pytest.fixture
async def tls_server(pki: Pki) -> AsyncIterator[FakeApiServer]:
    fake = await _tls_server(pki, require_client_cert=False)
    yield fake
    await fake.stop()


@pytest.fixture
async def mtls_server(pki: Pki) -> AsyncIterator[FakeApiServer]:
    fake = await _tls_server(pki, require_client_cert=True)
    yield fake
    await fake.stop()


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


async def _get(kubeconfig: str) -> None:
    """One GET through a fresh client; the fake answers 404, which proves TLS worked."""
    with anyio.fail_after(DEADLINE):
        async with await KubeClient.connect(kubeconfig=kubeconfig) as kube:
            with pytest.raises(NotFound):
                await kube.request("GET", PATH)


async def _refused(kubeconfig: str) -> None:
    """A fresh client's GET fails before any answer (TLS refused)."""
    with anyio.fail_after(DEADLINE):
        async with await KubeClient.connect(kubeconfig=kubeconfig) as kube:
            with pytest.raises(KubeConnectionError):
                await kube.request("GET", PATH)


async def test_token_and_ca_file(tls_server: FakeApiServer, pki: Pki, tmp_path: Path) -> None:
    """The test cluster's setup: a bearer token and a certificate-authority file."""
    path = write_kubeconfig(
        tmp_path / "config", server=tls_server.url, cluster={"certificate-authority": str(pki.ca)}
    )
    await _get(path)
    assert tls_server.requests[0].headers["Authorization"] == f"Bearer {TOKEN}"


async def test_server_certificate_is_verified(tls_server: FakeApiServer, tmp_path: Path) -> None:
    """Without the CA the system trust store does not know the server: no request is made."""
    await _refused(write_kubeconfig(tmp_path / "config", server=tls_server.url))
    assert tls_server.requests == []


async def test_insecure_skip_tls_verify(tls_server: FakeApiServer, tmp_path: Path) -> None:
    path = write_kubeconfig(
        tmp_path / "config", server=tls_server.url, cluster={"insecure-skip-tls-verify": True}
    )
    await _get(path)


async def test_tls_server_name_is_checked_instead_of_the_host(
    tls_server: FakeApiServer, pki: Pki, tmp_path: Path
) -> None:
    """localhost is not in the certificate; apiserver.test, given as tls-server-name, is."""
    server = tls_server.url.replace("127.0.0.1", "localhost")
    plain = write_kubeconfig(
        tmp_path / "plain", server=server, cluster={"certificate-authority": str(pki.ca)}
    )
    await _refused(plain)
    named = write_kubeconfig(
        tmp_path / "named",
        server=server,
        cluster={"certificate-authority": str(pki.ca), "tls-server-name": "apiserver.test"},
    )
    await _get(named)


async def test_client_certificate_from_inline_data(
    mtls_server: FakeApiServer, pki: Pki, tmp_path: Path
) -> None:
    user = {
        "client-certificate-data": _b64(pki.client_cert),
        "client-key-data": _b64(pki.client_key),
    }
    path = write_kubeconfig(
        tmp_path / "config",
        server=mtls_server.url,
        user=user,
        cluster={"certificate-authority-data": _b64(pki.ca)},
    )
    await _get(path)
    assert "Authorization" not in mtls_server.requests[0].headers


async def test_client_certificate_is_required_by_the_server(
    mtls_server: FakeApiServer, pki: Pki, tmp_path: Path
) -> None:
    path = write_kubeconfig(
        tmp_path / "config", server=mtls_server.url, cluster={"certificate-authority": str(pki.ca)}
    )
    await _refused(path)


async def test_in_cluster_service_account(
    tls_server: FakeApiServer, pki: Pki, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No kubeconfig anywhere: the service account token and CA, and the service env vars."""
    (tmp_path / "token").write_text("sa-token\n")
    (tmp_path / "ca.crt").write_bytes(pki.ca.read_bytes())
    monkeypatch.setattr(config, "SERVICE_ACCOUNT_DIR", tmp_path)
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", str(tls_server.port))
    with anyio.fail_after(DEADLINE):
        async with await KubeClient.connect(kubeconfig=None) as kube:
            with pytest.raises(NotFound):
                await kube.request("GET", PATH)
    assert tls_server.requests[0].headers["Authorization"] == "Bearer sa-token"


async def test_with_a_ca_only_that_ca_is_trusted_not_the_system_roots(
    tls_server: FakeApiServer, pki: Pki, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """client-go's trust: a kubeconfig CA replaces the system roots, it is not added to them.

    The server's CA is made a system root (``SSL_CERT_FILE``, which OpenSSL and Go both read):
    without a CA in the kubeconfig the server is trusted; with another CA, as data, as a file,
    or as data next to a file of the right CA (data wins), it is not.
    """
    monkeypatch.setenv("SSL_CERT_FILE", str(pki.ca))
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    await _get(write_kubeconfig(tmp_path / "roots", server=tls_server.url))
    assert len(tls_server.requests) == 1
    other = {
        "data": {"certificate-authority-data": _b64(pki.other_ca)},
        "file": {"certificate-authority": str(pki.other_ca)},
        "data-over-file": {
            "certificate-authority-data": _b64(pki.other_ca),
            "certificate-authority": str(pki.ca),
        },
    }
    for name, cluster in other.items():
        await _refused(write_kubeconfig(tmp_path / name, server=tls_server.url, cluster=cluster))
    assert len(tls_server.requests) == 1


async def test_insecure_together_with_a_ca_is_refused(pki: Pki, tmp_path: Path) -> None:
    path = write_kubeconfig(
        tmp_path / "config",
        server="https://127.0.0.1:9",
        cluster={"certificate-authority": str(pki.ca), "insecure-skip-tls-verify": True},
    )
    with pytest.raises(ConfigError, match="with the insecure flag is not allowed"):
        await KubeClient.connect(kubeconfig=path)


async def test_rotated_client_certificate_files_are_presented_on_new_connections(
    mtls_server: FakeApiServer, pki: Pki, tmp_path: Path
) -> None:
    cert, key = tmp_path / "tls.crt", tmp_path / "tls.key"
    cert.write_bytes(pki.client_cert.read_bytes())
    key.write_bytes(pki.client_key.read_bytes())
    path = write_kubeconfig(
        tmp_path / "config",
        server=mtls_server.url,
        user={"client-certificate": str(cert), "client-key": str(key)},
        cluster={"certificate-authority": str(pki.ca)},
    )
    with anyio.fail_after(DEADLINE):
        async with await KubeClient.connect(kubeconfig=path) as kube:
            with pytest.raises(NotFound):
                await kube.request("GET", PATH)
            cert.write_bytes(pki.rotated_cert.read_bytes())
            key.write_bytes(pki.rotated_key.read_bytes())
            with pytest.raises(NotFound):
                await kube.request("GET", PATH)
    assert [r.client_cn for r in mtls_server.requests] == ["admin", "rotated"]


async def test_exec_plugin_client_certificate(
    mtls_server: FakeApiServer, pki: Pki, tmp_path: Path
) -> None:
    """A plugin that returns clientCertificateData/clientKeyData instead of a token."""
    status = {
        "clientCertificateData": pki.client_cert.read_text(),
        "clientKeyData": pki.client_key.read_text(),
    }
    answer = {
        "apiVersion": "client.authentication.k8s.io/v1beta1",
        "kind": "ExecCredential",
        "status": status,
    }
    (tmp_path / "answer.json").write_text(json.dumps(answer))
    user = {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1",
            "command": "cat",
            "args": [str(tmp_path / "answer.json")],
        }
    }
    path = write_kubeconfig(
        tmp_path / "config",
        server=mtls_server.url,
        user=user,
        cluster={"certificate-authority": str(pki.ca)},
    )
    await _get(path)
    assert mtls_server.requests[0].client_cn == "admin"
    assert "Authorization" not in mtls_server.requests[0].headers


async def test_an_exec_plugin_certificate_is_renewed_at_its_expiry(
    mtls_server: FakeApiServer, pki: Pki, tmp_path: Path
) -> None:
    """The plugin's certificate expires at once (within the early-refresh margin): each request
    runs it again, and its second certificate is the one the next new connection presents."""
    script = tmp_path / "plugin.py"
    script.write_text(
        "import json, pathlib, sys\n"
        "count = pathlib.Path(sys.argv[1], 'count')\n"
        "n = int(count.read_text()) + 1 if count.exists() else 1\n"
        "count.write_text(str(n))\n"
        "name = 'client' if n == 1 else 'rotated'\n"
        "read = lambda ext: pathlib.Path(sys.argv[2], f'{name}.{ext}').read_text()\n"
        "status = {'clientCertificateData': read('crt'), 'clientKeyData': read('key'),\n"
        "          'expirationTimestamp': '2000-01-01T00:00:00Z'}\n"
        "print(json.dumps({'apiVersion': 'client.authentication.k8s.io/v1',\n"
        "                  'kind': 'ExecCredential', 'status': status}))\n"
    )
    user = {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1",
            "command": sys.executable,
            "args": [str(script), str(tmp_path), str(pki.ca.parent)],
            "interactiveMode": "Never",
        }
    }
    path = write_kubeconfig(
        tmp_path / "config",
        server=mtls_server.url,
        user=user,
        cluster={"certificate-authority": str(pki.ca)},
    )
    await _get(path)  # runs the plugin at connect (admin), then again for the GET (rotated)
    assert [r.client_cn for r in mtls_server.requests] == ["rotated"]
    assert (tmp_path / "count").read_text() == "2"
