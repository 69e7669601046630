"""A thin async HTTP client for the Kubernetes API: raw JSON dicts in and out.

Why not kubernetes_asyncio's generated API classes: they deserialize every object into model
instances, which costs CPU and several times the memory of the JSON, and the informers only need
a few fields of each object. So kubernetes_asyncio is used only for what it does well, reading a
kubeconfig (token, token file, exec plugins, client certificates, CA, in-cluster service account),
and the requests themselves go through one shared aiohttp session.

Every request reports ``on_request(verb, status, seconds)`` (status 0 when there was no answer),
so that the application can export client metrics without this package importing them.
"""

from __future__ import annotations

import os
import ssl
import time
from collections.abc import AsyncGenerator, Callable, Mapping
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

import aiohttp
import anyio
import orjson
import structlog
import yaml
from kubernetes_asyncio.client import Configuration
from kubernetes_asyncio.config import ConfigException, load_incluster_config
from kubernetes_asyncio.config.kube_config import KubeConfigLoader, load_kube_config

from reloader.errors import ConfigError, KubeError
from reloader.kube.errors import from_response, map_error

if TYPE_CHECKING:
    from types import TracebackType

log = structlog.get_logger(__name__)

OnRequest = Callable[[str, int, float], None]
"""``(verb, status_code, seconds)``; status 0 when there was no answer. Must not raise."""

QueryValue = str | int | bool


def _version() -> str:
    try:
        return metadata.version("reloader")
    except metadata.PackageNotFoundError:
        return "dev"


DEFAULT_USER_AGENT = f"reloader/{_version()}"
DEFAULT_TIMEOUT = 30.0
"""Seconds for a whole request (or, for a stream, until its response headers arrive)."""

_HTTP_ERRORS = (aiohttp.ClientError, OSError, TimeoutError)
_CHUNK = 1 << 16


def kubernetes_verb(method: str, path: str, query: Mapping[str, QueryValue] | None) -> str:
    """The Kubernetes verb of a request: LIST, GET, WATCH, CREATE, UPDATE, PATCH, DELETE...

    A path names an object when, after the group/version prefix (and ``namespaces/NAME`` when
    more follows), at least two segments remain: ``PLURAL/NAME[/SUBRESOURCE]``.
    """
    segments = [s for s in path.split("?", 1)[0].split("/") if s]
    if segments[:1] == ["api"]:
        rest = segments[2:]
    elif segments[:1] == ["apis"]:
        rest = segments[3:]
    else:
        rest = []
    if rest[:1] == ["namespaces"] and len(rest) > 2:
        rest = rest[2:]
    named = len(rest) >= 2
    method = method.upper()
    if method == "GET":
        if query is not None and str(query.get("watch", "")).lower() in ("true", "1"):
            return "WATCH"
        return "GET" if named or not rest else "LIST"
    if method == "DELETE":
        return "DELETE" if named else "DELETECOLLECTION"
    return {"POST": "CREATE", "PUT": "UPDATE", "PATCH": "PATCH"}.get(method, method)


def _encode_query(query: Mapping[str, QueryValue] | None) -> list[tuple[str, str]]:
    if not query:
        return []
    return [
        (key, ("true" if value else "false") if isinstance(value, bool) else str(value))
        for key, value in query.items()
    ]


def _kubeconfig_path(kubeconfig: str | None) -> str | None:
    """The kubeconfig to load: the given path, else $KUBECONFIG, else ~/.kube/config if any."""
    if kubeconfig:
        return kubeconfig
    env = os.environ.get("KUBECONFIG")
    if env:
        return env  # may be a list of files; kubernetes_asyncio merges them
    default = Path.home() / ".kube" / "config"
    return str(default) if default.is_file() else None


async def _load_configuration(kubeconfig: str | None, context: str | None) -> Configuration:
    """Fill a kubernetes_asyncio Configuration from a kubeconfig or the service account.

    :raises ConfigError: the kubeconfig is missing, unreadable or invalid.
    """
    configuration = Configuration()
    path = _kubeconfig_path(kubeconfig)
    try:
        if path is None:
            load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
            return configuration
        loader: KubeConfigLoader = await load_kube_config(
            config_file=path,
            context=context,
            client_configuration=configuration,
            persist_config=False,
        )
    except yaml.YAMLError as exc:
        # The YAML error would quote the offending line, which may hold a token.
        raise ConfigError(f"kubeconfig {path} is not valid YAML") from exc
    except (ConfigException, OSError, ValueError, KeyError, TypeError) as exc:
        where = f"kubeconfig {path}" if path else "in-cluster configuration"
        raise ConfigError(f"{where}: {exc}") from exc
    if getattr(loader, "exec_plugin_expiry", None) is not None:
        _refresh_exec_tokens(configuration, loader)
    return configuration


def _refresh_exec_tokens(configuration: Configuration, loader: KubeConfigLoader) -> None:
    """Re-run an exec credential plugin when its token expires (checked on each request)."""
    lock = anyio.Lock()

    async def refresh(config: Any) -> None:
        async with lock:
            await loader.load_from_exec_plugin()  # a no-op until the token expires
        config.api_key["BearerToken"] = loader.token

    configuration.refresh_api_key_hook = refresh


def _ssl_context(configuration: Configuration) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=configuration.ssl_ca_cert)
    if configuration.cert_file:
        context.load_cert_chain(configuration.cert_file, keyfile=configuration.key_file)
    if not configuration.verify_ssl:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


class KubeClient:
    """One connection pool to one API server; use ``async with await KubeClient.connect(...)``."""

    def __init__(
        self,
        *,
        session: aiohttp.ClientSession,
        configuration: Configuration,
        field_manager: str,
        on_request: OnRequest | None,
        timeout: float,
    ) -> None:
        self._session = session
        self._configuration = configuration
        self._base = str(configuration.host).rstrip("/")
        self._server_hostname: str | None = configuration.tls_server_name or None
        self._proxy: str | None = configuration.proxy or None
        self._on_request = on_request
        self._timeout = timeout
        self.field_manager = field_manager

    @classmethod
    async def connect(
        cls,
        *,
        kubeconfig: str | None,
        context: str | None = None,
        field_manager: str = "reloader",
        on_request: OnRequest | None = None,
        user_agent: str = DEFAULT_USER_AGENT,
        request_timeout: float = DEFAULT_TIMEOUT,
        max_connections: int = 100,
    ) -> KubeClient:
        """Load the configuration and open the connection pool (no request is made yet).

        :param kubeconfig: a kubeconfig path; None means $KUBECONFIG, else ~/.kube/config,
            else the in-cluster service account.
        :param context: the kubeconfig context; None means its current-context.
        :param field_manager: sent as ``fieldManager`` on every write.
        :param request_timeout: default seconds per request.
        :param max_connections: pool size; each watch holds one connection while it runs.
        :raises ConfigError: no usable configuration.
        """
        configuration = await _load_configuration(kubeconfig, context)
        try:
            ssl_context = _ssl_context(configuration)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"TLS settings of the kubeconfig: {exc}") from exc
        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=max_connections, ssl=ssl_context),
            # identity: on a cluster network gzip costs more CPU (both ends) than it saves
            headers={
                "User-Agent": user_agent,
                "Accept": "application/json",
                "Accept-Encoding": "identity",
            },
            timeout=aiohttp.ClientTimeout(total=None),  # timeouts are anyio cancel scopes
            trust_env=True,  # HTTPS_PROXY / NO_PROXY, as client-go does
            raise_for_status=False,
        )
        return cls(
            session=session,
            configuration=configuration,
            field_manager=field_manager,
            on_request=on_request,
            timeout=request_timeout,
        )

    @property
    def host(self) -> str:
        return self._base

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the pool; open streams are broken. Safe to call twice."""
        await self._session.close()

    async def _headers(self, content_type: str | None) -> dict[str, str]:
        headers: dict[str, str] = {}
        auth = await self._configuration.get_api_key_with_prefix("BearerToken")
        if auth:
            # kubernetes_asyncio keeps a token file's trailing newline; client-go trims it.
            headers["Authorization"] = str(auth).strip()
        if content_type is not None:
            headers["Content-Type"] = content_type
        return headers

    def _report(self, verb: str, status: int, started: float) -> None:
        if self._on_request is not None:
            self._on_request(verb, status, time.monotonic() - started)

    async def request(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, QueryValue] | None = None,
        body: Any = None,
        content_type: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - a per-request default, as in aiohttp
    ) -> dict[str, Any]:
        """Send one request and return the JSON answer as a dict ({} when the body is empty).

        :param path: the API path, e.g. ``/api/v1/namespaces/ns/configmaps``.
        :param body: JSON-serializable; sent as ``content_type`` (default application/json).
        :param timeout: seconds for the whole request; None means the client's default.
        :raises KubeError: a subclass for the HTTP status, or KubeConnectionError.
        """
        verb = kubernetes_verb(method, path, query)
        data: bytes | None = None
        if body is not None:
            data = orjson.dumps(body)
            content_type = content_type or "application/json"
        headers = await self._headers(content_type)
        started = time.monotonic()
        status = 0
        try:
            with anyio.fail_after(self._timeout if timeout is None else timeout):
                async with self._session.request(
                    method,
                    self._base + path,
                    params=_encode_query(query),
                    data=data,
                    headers=headers,
                    server_hostname=self._server_hostname,
                    proxy=self._proxy,
                ) as response:
                    status = response.status
                    payload = await response.read()
                    response_headers = response.headers
        except _HTTP_ERRORS as exc:
            self._report(verb, status, started)
            raise map_error(exc) from exc
        self._report(verb, status, started)
        if not 200 <= status < 300:
            raise from_response(status, payload, response_headers)
        if not payload:
            return {}
        try:
            parsed = orjson.loads(payload)
        except orjson.JSONDecodeError as exc:
            raise KubeError("the API server answered with invalid JSON", status=status) from exc
        if not isinstance(parsed, dict):
            raise KubeError(
                "the API server answered with JSON that is not an object", status=status
            )
        return parsed

    async def stream_lines(
        self,
        path: str,
        *,
        query: Mapping[str, QueryValue] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - only until the headers arrive
    ) -> AsyncGenerator[bytes, None]:
        """Yield the lines of a streaming GET (a watch), without their line endings.

        Close it with ``contextlib.aclosing``. Lines may be of any length (no buffer limit).

        :param timeout: seconds until the response headers arrive; None means the default.
            Reads after that have no timeout: the caller applies its own inactivity timeout.
        :raises KubeError: an error answer, or KubeConnectionError if the stream broke.
        """
        verb = kubernetes_verb("GET", path, query)
        headers = await self._headers(None)
        started = time.monotonic()
        try:
            with anyio.fail_after(self._timeout if timeout is None else timeout):
                response = await self._session.request(
                    "GET",
                    self._base + path,
                    params=_encode_query(query),
                    headers=headers,
                    server_hostname=self._server_hostname,
                    proxy=self._proxy,
                )
        except _HTTP_ERRORS as exc:
            self._report(verb, 0, started)
            raise map_error(exc) from exc
        self._report(verb, response.status, started)
        async with response:
            try:
                if not 200 <= response.status < 300:
                    payload = await response.read()
                    raise from_response(response.status, payload, response.headers)
                pending = bytearray()
                async for chunk in response.content.iter_chunked(_CHUNK):
                    pending += chunk
                    if b"\n" not in chunk:
                        continue
                    *lines, pending = pending.split(b"\n")
                    for line in lines:
                        yield bytes(line)
                if pending:
                    yield bytes(pending)
            except _HTTP_ERRORS as exc:
                raise map_error(exc) from exc
