"""The registry client: a tag's current digest through the OCI distribution API.

``HEAD /v2/<repository>/manifests/<tag>`` with the Accept types of an OCI index, an OCI manifest,
a Docker manifest list and a Docker v2 manifest; the digest is the ``Docker-Content-Digest``
header (a ``GET`` is made only when a registry answers ``HEAD`` without it: then the header of
the ``GET``, or the SHA-256 of the manifest's bytes).

Authentication follows the registry's ``WWW-Authenticate`` challenge: anonymous first; a
``Bearer`` challenge is answered by a token from its realm (with the pull credential as basic
auth, if there is one), cached until it expires; a ``Basic`` challenge by the credential itself.
Credentials and tokens are never logged. Registries on a loopback address, and the hosts named by
``--image-plain-http-registries``, are spoken to over plain HTTP; every other one over HTTPS.

This module and ``kube/`` are the only ones that import aiohttp (the import-linter contract); it
is imported on the first registry request (``kube/lazy_aiohttp.py``), so that a controller
without image updates never loads it.
"""

from __future__ import annotations

import base64
import hashlib
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from reloader.images.domain.polling import parse_challenge, pull_scope, retry_after
from reloader.images.domain.references import is_loopback
from reloader.kube import lazy_aiohttp

if TYPE_CHECKING:
    import aiohttp

    from reloader.images.domain.credentials import Credential
    from reloader.images.domain.polling import Challenge
    from reloader.images.domain.references import ImageRef

#: OCI index, OCI manifest, Docker manifest list, Docker v2 manifest
ACCEPT = (
    "application/vnd.oci.image.index.v1+json, "
    "application/vnd.oci.image.manifest.v1+json, "
    "application/vnd.docker.distribution.manifest.list.v2+json, "
    "application/vnd.docker.distribution.manifest.v2+json"
)
DIGEST_HEADER = "Docker-Content-Digest"
#: a token without ``expires_in`` is valid this long (the token specification's default)
DEFAULT_TOKEN_LIFETIME = 60.0
#: a token is not used in the last seconds of its life
TOKEN_MARGIN = 5.0


class RegistryError(Exception):
    """A tag could not be resolved; ``reason`` is a metric label, the message names the image."""

    reason = "error"

    def __init__(self, message: str, *, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


class Unauthorized(RegistryError):
    reason = "unauthorized"


class TagNotFound(RegistryError):
    reason = "not_found"


class RateLimited(RegistryError):
    reason = "rate_limited"

    def __init__(self, message: str, *, retry_after: float | None) -> None:
        super().__init__(message, status=429)
        self.retry_after = retry_after


class Unreachable(RegistryError):
    reason = "unreachable"


#: (registry host, HTTP status or 0 for no answer, seconds)
RequestHook = Callable[[str, int, float], None]


@dataclass(slots=True)
class _Token:
    value: str
    expires: float


class RegistryClient:
    """Resolves tags to digests; holds the session and the tokens still valid."""

    def __init__(
        self,
        *,
        timeout: float = 10.0,
        plain_http: frozenset[str] = frozenset(),
        on_request: RequestHook | None = None,
    ) -> None:
        self._timeout = timeout
        self._plain_http = plain_http
        self._on_request = on_request
        self._session: aiohttp.ClientSession | None = None
        self._tokens: dict[tuple[str, str, str], _Token] = {}
        #: hosts that asked for basic credentials: sent with the first request next time
        self._basic_hosts: set[str] = set()

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def base_url(self, ref: ImageRef) -> str:
        host = ref.api_host
        scheme = "http" if is_loopback(host) or host in self._plain_http else "https"
        return f"{scheme}://{host}"

    async def resolve(self, ref: ImageRef, credential: Credential | None) -> str:
        """The digest ``ref``'s tag points to now."""
        url = f"{self.base_url(ref)}/v2/{ref.repository}/manifests/{ref.tag}"
        auth = self._known_auth(ref, credential)
        status, headers, _ = await self._call("HEAD", ref, url, auth)
        if status == 401:
            challenge = parse_challenge(headers.get("WWW-Authenticate"))
            auth = await self._authorize(ref, credential, challenge)
            status, headers, _ = await self._call("HEAD", ref, url, auth)
        self._check(ref, status, headers, credential)
        digest = headers.get(DIGEST_HEADER)
        if isinstance(digest, str) and digest:
            return digest
        status, headers, body = await self._call("GET", ref, url, auth, read=True)
        self._check(ref, status, headers, credential)
        digest = headers.get(DIGEST_HEADER)
        if isinstance(digest, str) and digest:
            return digest
        return "sha256:" + hashlib.sha256(body).hexdigest()

    # ------------------------------------------------------------------ authentication
    def _known_auth(self, ref: ImageRef, credential: Credential | None) -> str | None:
        key = (ref.api_host, pull_scope(ref.repository), _who(credential))
        token = self._tokens.get(key)
        if token is not None:
            if token.expires > time.monotonic():
                return f"Bearer {token.value}"
            del self._tokens[key]
        if credential is not None and ref.api_host in self._basic_hosts:
            return _basic(credential)
        return None

    async def _authorize(
        self, ref: ImageRef, credential: Credential | None, challenge: Challenge | None
    ) -> str:
        if challenge is not None and challenge.scheme == "basic":
            if credential is None:
                raise Unauthorized(f"{ref}: the registry asks for credentials and none match it")
            self._basic_hosts.add(ref.api_host)
            return _basic(credential)
        if challenge is None or challenge.scheme != "bearer" or "realm" not in challenge.params:
            raise Unauthorized(f"{ref}: the registry refused access without a usable challenge")
        scope = challenge.params.get("scope") or pull_scope(ref.repository)
        params = {"scope": scope}
        if "service" in challenge.params:
            params["service"] = challenge.params["service"]
        headers = {"Authorization": _basic(credential)} if credential is not None else {}
        started = time.monotonic()
        aio = lazy_aiohttp.load()
        try:
            async with self._http().get(
                challenge.params["realm"], params=params, headers=headers
            ) as resp:
                status = resp.status
                doc = await resp.json(content_type=None) if status == 200 else None
        except (aio.ClientError, TimeoutError, ValueError) as exc:
            self._observe(ref, 0, started)
            raise Unreachable(f"{ref}: token service failed: {type(exc).__name__}") from None
        self._observe(ref, status, started)
        if status in (401, 403):
            what = "refused the credentials" if credential else "needs credentials; none match"
            raise Unauthorized(f"{ref}: the token service {what} (HTTP {status})", status=status)
        value = _token_of(doc)
        if status != 200 or value is None:
            raise RegistryError(f"{ref}: the token service answered HTTP {status}", status=status)
        lifetime = doc.get("expires_in") if isinstance(doc, dict) else None
        seconds = float(lifetime) if isinstance(lifetime, int | float) else DEFAULT_TOKEN_LIFETIME
        key = (ref.api_host, pull_scope(ref.repository), _who(credential))
        self._tokens[key] = _Token(value, time.monotonic() + max(seconds - TOKEN_MARGIN, 1.0))
        return f"Bearer {value}"

    # ------------------------------------------------------------------ HTTP
    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            # the system's CA store, loaded on the first registry request: aiohttp's default
            # context is built at import without it (kube/lazy_aiohttp.py)
            aio = lazy_aiohttp.load()
            connector = aio.TCPConnector(ssl=ssl.create_default_context())
            timeout = aio.ClientTimeout(total=self._timeout)
            self._session = aio.ClientSession(timeout=timeout, connector=connector)
        return self._session

    async def _call(
        self, method: str, ref: ImageRef, url: str, auth: str | None, *, read: bool = False
    ) -> tuple[int, Any, bytes]:
        headers = {"Accept": ACCEPT}
        if auth is not None:
            headers["Authorization"] = auth
        started = time.monotonic()
        aio = lazy_aiohttp.load()
        try:
            async with self._http().request(method, url, headers=headers) as resp:
                body = await resp.read() if read else b""
                result = (resp.status, resp.headers, body)
        except (aio.ClientError, TimeoutError) as exc:
            self._observe(ref, 0, started)
            raise Unreachable(f"{ref}: {ref.api_host} unreachable: {type(exc).__name__}") from None
        self._observe(ref, result[0], started)
        return result

    def _observe(self, ref: ImageRef, status: int, started: float) -> None:
        if self._on_request is not None:
            self._on_request(ref.api_host, status, time.monotonic() - started)

    def _check(
        self, ref: ImageRef, status: int, headers: Any, credential: Credential | None
    ) -> None:
        if 200 <= status < 300:
            return
        if status in (401, 403):
            what = "refused the credentials" if credential else "needs credentials; none match"
            raise Unauthorized(f"{ref}: the registry {what} (HTTP {status})", status=status)
        if status == 404:
            raise TagNotFound(f"{ref}: no such tag or repository (HTTP 404)", status=404)
        if status == 429:
            wait = retry_after(headers.get("Retry-After"), datetime.now(UTC))
            raise RateLimited(f"{ref}: rate limited by the registry (HTTP 429)", retry_after=wait)
        raise RegistryError(f"{ref}: the registry answered HTTP {status}", status=status)


def _basic(credential: Credential) -> str:
    raw = f"{credential.username}:{credential.password}".encode()
    return "Basic " + base64.b64encode(raw).decode()


def _who(credential: Credential | None) -> str:
    return credential.fingerprint if credential is not None else ""


def _token_of(doc: Any) -> str | None:
    if not isinstance(doc, dict):
        return None
    value = doc.get("token") or doc.get("access_token")
    return value if isinstance(value, str) and value else None
