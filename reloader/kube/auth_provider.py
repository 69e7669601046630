"""``users[].user.auth-provider``: what kubectl still supports, through kubernetes_asyncio.

kubectl removed the ``gcp`` and ``azure`` providers in 1.26 (they became exec plugins); ``oidc``
still works there. reloader does not implement OIDC itself: with the optional extra installed
(``pip install 'reloader[kubernetes-asyncio]'``) the credentials of such a user are loaded by
kubernetes_asyncio's kubeconfig loader, which uses the ``id-token`` and refreshes it with the
``refresh-token`` at the issuer when it has expired. kubernetes_asyncio is imported only then, at
the first request: its import costs tens of MB of RSS (see docs/design/client.md), so the default
path never imports it. Refreshed tokens are kept in memory, not written back to the kubeconfig.

The refresh verifies the issuer's certificate as kubectl does: against
``idp-certificate-authority-data`` (or the ``idp-certificate-authority`` file) alone when given,
else the system's roots. kubernetes_asyncio's own OpenID client would skip verification without a
CA, so its HTTP session is replaced here.
"""

from __future__ import annotations

import base64
import functools
import importlib.util
import ssl
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio

from reloader.errors import ConfigError, KubeConnectionError
from reloader.kube import lazy_aiohttp
from reloader.kube.credentials import Credentials
from reloader.kube.tls import ClientIdentity

EXTRA_PACKAGE = "kubernetes_asyncio"
INSTALL = "pip install 'reloader[kubernetes-asyncio]'"
RECHECK = 10.0
"""Seconds a token from the provider is used before kubernetes_asyncio checks its expiry again."""
REMOVED = {
    "gcp": 'use the "gke-gcloud-auth-plugin" exec credential plugin instead',
    "azure": "use the kubelogin exec credential plugin instead",
}
THROUGH_EXTRA = ("oidc",)


def auth_provider(spec: object, *, where: str, base: Path) -> Credentials:
    """The credentials of an ``auth-provider`` section (``where`` names it in errors).

    :raises ConfigError: a provider kubectl no longer has or never had, or ``oidc`` without the
        optional extra (the message says how to install it).
    """
    if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
        raise ConfigError(f"{where}.name is missing")
    name: str = spec["name"]
    if name in REMOVED:
        raise ConfigError(f"{where}: the {name} auth-provider was removed from kubectl in 1.26; "
                          f"{REMOVED[name]}")  # fmt: skip
    if name not in THROUGH_EXTRA:
        raise ConfigError(f'{where}: no Auth Provider found for name "{name}" (kubectl has '
                          f"{', '.join(THROUGH_EXTRA)})")  # fmt: skip
    if importlib.util.find_spec(EXTRA_PACKAGE) is None:
        raise ConfigError(f"{where} (name: {name}) is loaded through kubernetes_asyncio, which "
                          f"is not installed: {INSTALL}")  # fmt: skip
    return ProviderCredentials(provider=spec, base=base, where=where)


@dataclass
class ProviderCredentials:
    """A bearer token from kubernetes_asyncio's loader for one ``auth-provider``."""

    provider: dict[str, Any]  # refreshed in place by the loader
    base: Path
    where: str
    _loader: Any = None
    _header: str | None = None
    _checked_at: float = -float("inf")
    _lock: anyio.Lock = field(default_factory=anyio.Lock)

    async def authorization(self) -> str | None:
        async with self._lock:
            if time.monotonic() - self._checked_at >= RECHECK:
                self._header = await self._load()
                self._checked_at = time.monotonic()
        return self._header

    def invalidate(self) -> None:
        self._checked_at = -float("inf")

    def certificate(self) -> ClientIdentity | None:
        return None

    async def _load(self) -> str | None:
        # imported here only: the default path never pays for kubernetes_asyncio's models
        from kubernetes_asyncio.client import Configuration

        if self._loader is None:
            doc = {
                "current-context": "reloader",
                "contexts": [{"name": "reloader", "context": {"cluster": "c", "user": "u"}}],
                # the cluster is ours to connect to; the loader only needs a server
                "clusters": [{"name": "c", "cluster": {"server": "http://unused"}}],
                "users": [{"name": "u", "user": {"auth-provider": self.provider}}],
            }
            self._loader = _loader_type()(doc, config_base_path=str(self.base))
        configuration = Configuration()
        try:
            await self._loader.load_and_set(configuration)
        except Exception as exc:
            raise KubeConnectionError(
                f"{self.where} ({self.provider.get('name')}, through kubernetes_asyncio): "
                f"{type(exc).__name__}: {exc}",
                status=0,
            ) from exc
        header = configuration.api_key.get("BearerToken")
        return str(header) if header else None


def _idp_context(config: Any, base: Path) -> ssl.SSLContext:
    """TLS to the issuer, as kubectl's oidc provider: its CA alone when given, else the roots."""
    data = config.safe_get("idp-certificate-authority-data")
    if data:
        ca = base64.b64decode(str(data)).decode("ascii", errors="replace")
    elif path := config.safe_get("idp-certificate-authority"):
        ca = (base / Path(str(path)).expanduser()).read_text()
    else:
        return ssl.create_default_context()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(cadata=ca)
    return context


@functools.cache
def _loader_type() -> type[Any]:
    """kubernetes_asyncio's kubeconfig loader with an OpenID refresh that verifies the issuer."""
    from kubernetes_asyncio.config.config_exception import ConfigException
    from kubernetes_asyncio.config.kube_config import KubeConfigLoader
    from kubernetes_asyncio.config.openid import OpenIDRequestor

    class VerifyingRequestor(OpenIDRequestor):
        def __init__(self, client_id: str, secret: str, issuer: str, tls: ssl.SSLContext) -> None:
            super().__init__(client_id, secret, issuer)
            self._tls = tls
            self._basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()

        def _client_session(self) -> Any:  # an aiohttp.ClientSession
            aio = lazy_aiohttp.load()
            return aio.ClientSession(
                headers={**self._default_headers, "Authorization": f"Basic {self._basic}"},
                connector=aio.TCPConnector(ssl=self._tls),
                raise_for_status=True,
                trust_env=True,
            )

    class Loader(KubeConfigLoader):
        async def _refresh_oidc(self, provider: Any) -> None:
            config = provider["config"]
            if "refresh-token" not in config:
                raise ConfigException("oidc: no valid id-token, and no refresh-token to get one")
            requestor = VerifyingRequestor(
                config["client-id"],
                config.safe_get("client-secret") or "",
                config["idp-issuer-url"],
                _idp_context(config, Path(self._config_base_path or ".")),
            )
            answer = await requestor.refresh_token(config["refresh-token"])
            config.value["id-token"] = answer["id_token"]
            # an issuer may keep the refresh token: then the old one stays valid
            config.value["refresh-token"] = answer.get("refresh_token") or config["refresh-token"]

    return Loader
