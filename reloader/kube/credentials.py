"""How each request authenticates: the Authorization header, and fresh credentials after a 401.

- :class:`StaticCredentials`: a fixed header (a kubeconfig ``token``, ``username``/``password``);
- :class:`TokenFile`: a bearer token read from a file, re-read every minute (bound tokens
  rotate) and after a 401;
- an exec credential plugin (``reloader.kube.exec_plugin``) and an ``auth-provider`` loaded
  through kubernetes_asyncio (``reloader.kube.auth_provider``) implement the same protocol.

``reloader.kube.config`` chooses one from a kubeconfig user or the in-cluster service account.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import anyio

from reloader.errors import KubeConnectionError
from reloader.kube.tls import ClientIdentity

TOKEN_FILE_MAX_AGE = 60.0
"""Seconds a token read from a file is used before the file is read again (client-go: 1 min)."""


class Credentials(Protocol):
    async def authorization(self) -> str | None:
        """The Authorization header value, or None to send none."""

    def invalidate(self) -> None:
        """The server answered 401: fetch fresh credentials before the next request."""

    def certificate(self) -> ClientIdentity | None:
        """A client certificate and key these credentials provide (an exec plugin's), if any."""


@dataclass
class StaticCredentials:
    header: str | None

    async def authorization(self) -> str | None:
        return self.header

    def invalidate(self) -> None:
        pass

    def certificate(self) -> ClientIdentity | None:
        return None


@dataclass
class TokenFile:
    """A bearer token read from a file, re-read when older than ``max_age`` or after a 401."""

    path: Path
    max_age: float = TOKEN_FILE_MAX_AGE
    _token: str = ""
    _read_at: float = field(default=-float("inf"))

    async def authorization(self) -> str | None:
        if time.monotonic() - self._read_at >= self.max_age:
            try:
                self._token = (await anyio.Path(self.path).read_text()).strip()
            except OSError as exc:
                if not self._token:
                    raise KubeConnectionError(
                        f"cannot read the token file {self.path}: {exc.strerror}", status=0
                    ) from exc
                # keep the last token; the file may be in the middle of its rotation
            self._read_at = time.monotonic()
        return f"Bearer {self._token}" if self._token else None

    def invalidate(self) -> None:
        self._read_at = -float("inf")

    def certificate(self) -> ClientIdentity | None:
        return None


@dataclass(frozen=True)
class Impersonation:
    """A kubeconfig user's ``as``, ``as-uid``, ``as-groups`` and ``as-user-extra``."""

    user: str | None = None
    uid: str | None = None
    groups: tuple[str, ...] = ()
    extra: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def headers(self) -> list[tuple[str, str]]:
        """The ``Impersonate-*`` headers kubectl sends: one per group and per extra value."""
        if not self.user:
            return []
        headers = [("Impersonate-User", self.user)]
        if self.uid:
            headers.append(("Impersonate-Uid", self.uid))
        headers += [("Impersonate-Group", group) for group in self.groups]
        for key, values in self.extra:
            name = "Impersonate-Extra-" + extra_key_escape(key)
            headers += [(name, value) for value in values]
        return headers


_HEADER_TOKEN = frozenset(
    "!#$&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
)


def extra_key_escape(key: str) -> str:
    """client-go's ``headerKeyEscape``: every byte that is not an HTTP token character, and
    ``%`` itself, percent-encoded (upper-case hex), so that the server can unescape the key."""
    return "".join(chr(b) if chr(b) in _HEADER_TOKEN else f"%{b:02X}" for b in key.encode())
