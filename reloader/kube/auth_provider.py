"""``users[].user.auth-provider``: what kubectl still supports, through kubernetes_asyncio.

kubectl removed the ``gcp`` and ``azure`` providers in 1.26 (they became exec plugins); ``oidc``
still works there. reloader does not implement OIDC itself: with the optional extra installed
(``pip install 'reloader[kubernetes-asyncio]'``) the credentials of such a user are loaded by
kubernetes_asyncio's kubeconfig loader, which uses the ``id-token`` and refreshes it with the
``refresh-token`` at the issuer when it has expired. kubernetes_asyncio is imported only then, at
the first request: its import costs tens of MB of RSS (see docs/design/client.md), so the default
path never imports it. Refreshed tokens are kept in memory, not written back to the kubeconfig.
"""

from __future__ import annotations

import importlib.util
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio

from reloader.errors import ConfigError, KubeConnectionError
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
        from kubernetes_asyncio.config.kube_config import KubeConfigLoader

        if self._loader is None:
            doc = {
                "current-context": "reloader",
                "contexts": [{"name": "reloader", "context": {"cluster": "c", "user": "u"}}],
                # the cluster is ours to connect to; the loader only needs a server
                "clusters": [{"name": "c", "cluster": {"server": "http://unused"}}],
                "users": [{"name": "u", "user": {"auth-provider": self.provider}}],
            }
            self._loader = KubeConfigLoader(doc, config_base_path=str(self.base))
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
