"""client-go exec credential plugins (``users[].user.exec``), as kubectl runs them.

- ``apiVersion`` ``client.authentication.k8s.io/v1`` or ``v1beta1``; ``interactiveMode``
  required for v1, ``IfAvailable`` by default for v1beta1; ``Never`` never hands the plugin a
  terminal, ``IfAvailable`` does when standard input is one, ``Always`` refuses to run without;
- ``KUBERNETES_EXEC_INFO``: the ExecCredential with ``spec.interactive`` and, with
  ``provideClusterInfo``, ``spec.cluster`` (server, tls-server-name, CA data, the cluster's
  ``client.authentication.k8s.io/exec`` extension as ``config``...);
- the answer's ``apiVersion`` must be the configured one and its ``kind`` ExecCredential; its
  ``status`` carries a token, or a client certificate and key (used for TLS);
- run again when ``expirationTimestamp`` is near (10 s before it) or after a 401; a failing
  plugin's error carries the tail of its standard error.
"""

from __future__ import annotations

import base64
import datetime as dt
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import msgspec

from reloader.errors import ConfigError, KubeConnectionError
from reloader.kube.tls import ClientIdentity

EXEC_TIMEOUT = 60.0
EXEC_EARLY_REFRESH = 10.0
"""Seconds before an exec credential's expiry at which it is fetched again."""
STDERR_TAIL = 1000
"""Characters of a failing plugin's standard error kept in the error."""
API_VERSIONS = ("client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1")
INTERACTIVE_MODES = ("Never", "IfAvailable", "Always")
EXEC_EXTENSION = "client.authentication.k8s.io/exec"
"""The cluster extension client-go hands to the plugin as ``spec.cluster.config``."""

_CLUSTER_INFO_FIELDS = {
    "tls-server-name": "tlsServerName",
    "insecure-skip-tls-verify": "insecureSkipTLSVerify",
    "proxy-url": "proxyURL",
    "disable-compression": "disableCompression",
}


@dataclass
class ExecPlugin:
    """A client-go exec credential plugin: runs a command that prints an ExecCredential."""

    command: str
    args: list[str]
    env: dict[str, str]
    api_version: str
    cluster_info: dict[str, Any] | None
    interactive_mode: str = "Never"
    install_hint: str = ""
    _token: str | None = None
    _identity: ClientIdentity | None = None
    _fresh: bool = False
    _expires_at: float | None = None  # monotonic; None: until a 401
    _lock: anyio.Lock = field(default_factory=anyio.Lock)

    async def authorization(self) -> str | None:
        async with self._lock:
            if not self._fresh or (
                self._expires_at is not None and time.monotonic() >= self._expires_at
            ):
                await self._run()
        return f"Bearer {self._token}" if self._token else None

    def certificate(self) -> ClientIdentity | None:
        return self._identity

    def invalidate(self) -> None:
        self._fresh = False

    async def _run(self) -> None:
        terminal = sys.stdin is not None and sys.stdin.isatty()
        interactive = self.interactive_mode != "Never" and terminal
        if self.interactive_mode == "Always" and not interactive:
            raise self._error("cannot support interactive mode: standard input is not a terminal")
        spec: dict[str, Any] = {"interactive": interactive}
        if self.cluster_info is not None:
            spec["cluster"] = self.cluster_info
        info = {"apiVersion": self.api_version, "kind": "ExecCredential", "spec": spec}
        env = {**os.environ, **self.env, "KUBERNETES_EXEC_INFO": msgspec.json.encode(info).decode()}
        try:
            with anyio.fail_after(EXEC_TIMEOUT):
                done = await anyio.run_process(
                    [self.command, *self.args],
                    env=env,
                    check=False,
                    # a terminal is the plugin's to prompt on; otherwise its stderr is kept
                    stdin=None if interactive else subprocess.DEVNULL,
                    stderr=None if interactive else subprocess.PIPE,
                )
        except FileNotFoundError as exc:
            hint = f" ({self.install_hint.strip()})" if self.install_hint.strip() else ""
            raise self._error(f"executable not found{hint}") from exc
        except (OSError, TimeoutError) as exc:
            raise self._error(str(exc) or type(exc).__name__) from exc
        if done.returncode != 0:
            raise self._error(f"failed with exit code {done.returncode}", done.stderr)
        self._accept(done.stdout, done.stderr)

    def _accept(self, stdout: bytes, stderr: bytes | None) -> None:
        try:
            answer = msgspec.json.decode(stdout)
        except msgspec.DecodeError as exc:
            raise self._error("printed no ExecCredential JSON", stderr) from exc
        if not isinstance(answer, dict):
            raise self._error("printed no ExecCredential JSON", stderr)
        if answer.get("apiVersion") != self.api_version:
            raise self._error(f"is configured to use API version {self.api_version}, "
                              f"plugin returned version {answer.get('apiVersion')}")  # fmt: skip
        if answer.get("kind") != "ExecCredential":
            raise self._error(f"returned kind {answer.get('kind')!r}, not ExecCredential")
        status = answer.get("status")
        status = status if isinstance(status, dict) else {}
        token = status.get("token") or None
        cert, key = status.get("clientCertificateData"), status.get("clientKeyData")
        if bool(cert) != bool(key):
            raise self._error("returned only certificate or key, not both")
        if not token and not cert:
            raise self._error("didn't return a token or cert/key pair")
        self._token = str(token) if token else None
        self._identity = (str(cert).encode(), str(key).encode()) if cert else None
        self._expires_at = _expiry(status.get("expirationTimestamp"))
        self._fresh = True

    def _error(self, what: str, stderr: bytes | None = None) -> KubeConnectionError:
        message = f"exec credential plugin {self.command}: {what}"
        tail = (stderr or b"").decode(errors="replace").strip()[-STDERR_TAIL:]
        if tail:
            message += f"; its stderr ends with: {tail}"
        return KubeConnectionError(message, status=0)


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


def exec_plugin(
    spec: object,
    *,
    base: Path,
    where: str,
    user: str,
    cluster: dict[str, Any],
    server: str,
    ca: bytes | None,
) -> ExecPlugin:
    """The plugin of a kubeconfig user's ``exec`` section, checked as client-go checks it.

    :param where: the field, for errors (``kubeconfig F: users[u].user.exec``).
    :param cluster: the cluster section, for ``provideClusterInfo``; ``ca`` its CA bytes.
    :raises ConfigError: a missing or invalid field.
    """
    if not isinstance(spec, dict) or not isinstance(spec.get("command"), str):
        raise ConfigError(f"{where}.command is missing")
    command: str = spec["command"]
    if os.sep in command and not os.path.isabs(command):
        command = str(base / command)
    api_version = spec.get("apiVersion")
    if not api_version:
        raise ConfigError(f"{where}.apiVersion must be specified for {user} to use exec "
                          "authentication plugin")  # fmt: skip
    if api_version not in API_VERSIONS:
        raise ConfigError(f"{where}.apiVersion: invalid apiVersion {api_version!r} "
                          f"(supported: {', '.join(API_VERSIONS)})")  # fmt: skip
    mode = spec.get("interactiveMode") or (None if api_version.endswith("/v1") else "IfAvailable")
    if mode is None:
        raise ConfigError(f"{where}.interactiveMode must be specified for {user} to use exec "
                          "authentication plugin")  # fmt: skip
    if mode not in INTERACTIVE_MODES:
        raise ConfigError(f"{where}.interactiveMode: invalid {mode!r} "
                          f"(one of {', '.join(INTERACTIVE_MODES)})")  # fmt: skip
    env: dict[str, str] = {}
    for i, item in enumerate(spec.get("env") or []):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise ConfigError(f"{where}.env[{i}].name is missing")
        env[item["name"]] = str(item.get("value", ""))
    info = _cluster_info(cluster, server, ca) if spec.get("provideClusterInfo") else None
    return ExecPlugin(
        command=command,
        args=[str(a) for a in spec.get("args") or []],
        env=env,
        api_version=api_version,
        cluster_info=info,
        interactive_mode=mode,
        install_hint=str(spec.get("installHint") or ""),
    )


def _cluster_info(cluster: dict[str, Any], server: str, ca: bytes | None) -> dict[str, Any]:
    """The Cluster of client.authentication.k8s.io, camelCase, as client-go builds it."""
    info: dict[str, Any] = {"server": server}
    for key, name in _CLUSTER_INFO_FIELDS.items():
        if cluster.get(key) not in (None, ""):
            info[name] = cluster[key]
    if ca:
        info["certificateAuthorityData"] = base64.b64encode(ca).decode()
    for item in cluster.get("extensions") or []:
        if isinstance(item, dict) and item.get("name") == EXEC_EXTENSION:
            info["config"] = item.get("extension")
    return info
