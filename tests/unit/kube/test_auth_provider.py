"""auth-provider oidc through the optional extra (kubernetes_asyncio), and the default path that
never imports it."""

from __future__ import annotations

import base64
import contextlib
import json
import ssl
import subprocess
import sys
import textwrap
import time
from typing import TYPE_CHECKING, Any

import anyio
import pytest
from aiohttp import web

from reloader.errors import ConfigError, NotFound
from reloader.kube.client import KubeClient
from tests.unit.kube.fake_apiserver import FakeApiServer, write_kubeconfig
from tests.unit.kube.pki import Pki

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

DEADLINE = 10.0
PATH = "/api/v1/namespaces/ns/configmaps/a"
REPO = __import__("pathlib").Path(__file__).resolve().parents[3]


def jwt(**claims: Any) -> str:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none'})}.{part(claims)}.c2ln"


def oidc_user(issuer: str, id_token: str, **config: str) -> dict[str, Any]:
    settings = {"client-id": "reloader", "client-secret": "s3cret", "idp-issuer-url": issuer}
    return {
        "auth-provider": {
            "name": "oidc",
            "config": {**settings, "id-token": id_token, **config},
        }
    }


async def test_oidc_id_token_is_sent(server: FakeApiServer, tmp_path: Path) -> None:
    token = jwt(sub="jane", exp=int(time.time()) + 3600)
    path = write_kubeconfig(
        tmp_path / "config", server=server.url, user=oidc_user("https://idp.invalid", token)
    )
    with anyio.fail_after(DEADLINE):
        async with await KubeClient.connect(kubeconfig=path) as kube:
            with pytest.raises(NotFound):
                await kube.request("GET", PATH)
    assert server.requests[0].headers["Authorization"] == f"Bearer {token}"


@contextlib.asynccontextmanager
async def fake_idp(
    tls: ssl.SSLContext | None = None,
) -> AsyncIterator[tuple[str, list[dict[str, str]]]]:
    """A fake OpenID provider on loopback: discovery and a token endpoint that refreshes."""
    grants: list[dict[str, str]] = []
    app = web.Application()

    async def discovery(request: web.Request) -> web.Response:
        return web.json_response({"token_endpoint": f"{request.url.origin()}/token"})

    async def token(request: web.Request) -> web.Response:
        grants.append({k: str(v) for k, v in (await request.post()).items()})
        fresh = jwt(sub="jane", exp=int(time.time()) + 3600, n=len(grants))
        return web.json_response({"id_token": fresh, "refresh_token": f"r{len(grants)}"})

    app.router.add_get("/.well-known/openid-configuration", discovery)
    app.router.add_post("/token", token)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{port}", grants
    finally:
        await runner.cleanup()


@pytest.fixture
async def idp() -> AsyncIterator[tuple[str, list[dict[str, str]]]]:
    async with fake_idp() as running:
        yield running


async def test_an_expired_oidc_id_token_is_refreshed(
    server: FakeApiServer, tmp_path: Path, idp: tuple[str, list[dict[str, str]]]
) -> None:
    issuer, grants = idp
    expired = jwt(sub="jane", exp=int(time.time()) - 60)
    user = oidc_user(issuer, expired, **{"refresh-token": "r0"})
    path = write_kubeconfig(tmp_path / "config", server=server.url, user=user)
    with anyio.fail_after(DEADLINE):
        async with await KubeClient.connect(kubeconfig=path) as kube:
            with pytest.raises(NotFound):
                await kube.request("GET", PATH)
    assert [g["refresh_token"] for g in grants] == ["r0"]
    sent = server.requests[0].headers["Authorization"].removeprefix("Bearer ")
    assert sent != expired
    claims = json.loads(base64.urlsafe_b64decode(sent.split(".")[1] + "=="))
    assert claims["n"] == 1


async def test_the_issuer_certificate_is_verified(
    server: FakeApiServer, tmp_path: Path, pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As kubectl: the issuer's certificate is checked against idp-certificate-authority(-data)
    alone, else the system roots (which here do not know the issuer's CA)."""
    monkeypatch.setenv("SSL_CERT_FILE", str(pki.other_ca))
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(pki.server_cert, pki.server_key)
    expired = jwt(sub="jane", exp=int(time.time()) - 60)
    b64 = base64.b64encode(pki.ca.read_bytes()).decode()
    cases = {
        "ca-data": ({"idp-certificate-authority-data": b64}, True),
        "ca-file": ({"idp-certificate-authority": str(pki.ca)}, True),
        "system-roots": ({}, False),
        "other-ca": ({"idp-certificate-authority": str(pki.other_ca)}, False),
    }
    async with fake_idp(tls) as (issuer, grants):
        for name, (ca, trusted) in cases.items():
            user = oidc_user(issuer, expired, **{"refresh-token": "r0", **ca})
            path = write_kubeconfig(tmp_path / name, server=server.url, user=user)
            with anyio.fail_after(DEADLINE):
                if trusted:
                    async with await KubeClient.connect(kubeconfig=path):
                        pass
                else:
                    with pytest.raises(ConfigError, match="certificate verify failed"):
                        await KubeClient.connect(kubeconfig=path)
        assert len(grants) == 2  # the two trusted cases only


def test_the_default_path_never_imports_kubernetes_asyncio(tmp_path: Path) -> None:
    """Loading a token kubeconfig, connecting, and importing the app: no kubernetes_asyncio
    (its import costs tens of MB; a fresh interpreter, so other tests cannot hide it)."""
    path = write_kubeconfig(tmp_path / "config", server="https://127.0.0.1:9")
    code = textwrap.dedent(f"""
        import sys, anyio
        from reloader.kube import config
        from reloader.kube.client import KubeClient
        config.load({path!r})
        async def main():
            async with await KubeClient.connect(kubeconfig={path!r}):
                pass
        anyio.run(main)
        assert "kubernetes_asyncio" not in sys.modules, "after loading a kubeconfig"
        import reloader.app, reloader.cli, reloader.reboot.main
        assert "kubernetes_asyncio" not in sys.modules, "after importing the app"
        import importlib.util
        assert importlib.util.find_spec("kubernetes_asyncio") is not None, "the extra is there"
        print("ok")
    """)
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
