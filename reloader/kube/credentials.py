"""How each request authenticates: the Authorization header, and fresh credentials after a 401.

- :class:`StaticCredentials`: a fixed header (a kubeconfig ``token``, ``username``/``password``);
- :class:`TokenFile`: a bearer token read from a file, re-read every minute (bound tokens
  rotate) and after a 401;
- :class:`ExecPlugin`: a client-go exec credential plugin (``client.authentication.k8s.io`` v1
  and v1beta1, token credentials), run again when its token expires or after a 401.

``reloader.kube.config`` chooses one from a kubeconfig user or the in-cluster service account.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import anyio
import orjson

from reloader.errors import KubeConnectionError

TOKEN_FILE_MAX_AGE = 60.0
"""Seconds a token read from a file is used before the file is read again (client-go: 1 min)."""
EXEC_TIMEOUT = 60.0
EXEC_EARLY_REFRESH = 10.0
"""Seconds before an exec token's expiry at which it is fetched again."""


class Credentials(Protocol):
    async def authorization(self) -> str | None:
        """The Authorization header value, or None to send none."""

    def invalidate(self) -> None:
        """The server answered 401: fetch fresh credentials before the next request."""


@dataclass
class StaticCredentials:
    header: str | None

    async def authorization(self) -> str | None:
        return self.header

    def invalidate(self) -> None:
        pass


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


@dataclass
class ExecPlugin:
    """A client-go exec credential plugin: runs a command that prints an ExecCredential."""

    command: str
    args: list[str]
    env: dict[str, str]
    api_version: str
    cluster_info: dict[str, Any] | None
    _token: str | None = None
    _expires_at: float | None = None  # monotonic; None: until a 401
    _lock: anyio.Lock = field(default_factory=anyio.Lock)

    async def authorization(self) -> str | None:
        async with self._lock:
            if self._token is None or (
                self._expires_at is not None and time.monotonic() >= self._expires_at
            ):
                await self._run()
        return f"Bearer {self._token}"

    def invalidate(self) -> None:
        self._token = None

    async def _run(self) -> None:
        spec: dict[str, Any] = {"interactive": False}
        if self.cluster_info is not None:
            spec["cluster"] = self.cluster_info
        info = {"apiVersion": self.api_version, "kind": "ExecCredential", "spec": spec}
        env = {**os.environ, **self.env, "KUBERNETES_EXEC_INFO": orjson.dumps(info).decode()}
        try:
            with anyio.fail_after(EXEC_TIMEOUT):
                done = await anyio.run_process([self.command, *self.args], env=env, check=False)
        except (OSError, TimeoutError) as exc:
            raise KubeConnectionError(
                f"exec credential plugin {self.command}: {exc}", status=0
            ) from exc
        if done.returncode != 0:
            raise KubeConnectionError(
                f"exec credential plugin {self.command} exited {done.returncode}", status=0
            )
        try:
            status = orjson.loads(done.stdout).get("status") or {}
        except (orjson.JSONDecodeError, AttributeError) as exc:
            raise KubeConnectionError(
                f"exec credential plugin {self.command} printed no ExecCredential JSON", status=0
            ) from exc
        token = status.get("token")
        if not isinstance(token, str) or not token:
            raise KubeConnectionError(
                f"exec credential plugin {self.command}: status.token is missing "
                "(client certificates from exec plugins are not supported)",
                status=0,
            )
        self._token = token
        self._expires_at = _expiry(status.get("expirationTimestamp"))


def _expiry(stamp: object) -> float | None:
    if not isinstance(stamp, str) or not stamp:
        return None
    try:
        at = dt.datetime.fromisoformat(stamp)
    except ValueError:
        return None
    if at.tzinfo is None:
        at = at.replace(tzinfo=dt.UTC)
    left = (at - dt.datetime.now(dt.UTC)).total_seconds() - EXEC_EARLY_REFRESH
    return time.monotonic() + max(0.0, left)
