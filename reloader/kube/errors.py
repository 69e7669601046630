"""Translate what the HTTP layer and the API server report into ``reloader.errors`` classes.

This is the one place where transport failures become reloader's own errors,
so that nothing above ``reloader.kube`` ever sees a third-party exception.

Only ``kind: Status`` bodies are read (JSON, or protobuf when a LIST asked for it:
``reloader.kube.proto``), and only their ``reason``, ``message`` and
``details.retryAfterSeconds``, truncated: any other body (an HTML page from a proxy, or worse,
an object that may be a Secret) is never copied into an error, so errors are always safe to log.
Callers always chain: ``raise map_error(exc) from exc``.
"""

from __future__ import annotations

import http
from typing import TYPE_CHECKING, Any

import msgspec

from reloader.errors import (
    Conflict,
    Forbidden,
    Gone,
    Invalid,
    KubeClientError,
    KubeConnectionError,
    KubeError,
    KubeServerError,
    NotFound,
    TooManyRequests,
)
from reloader.kube import proto

if TYPE_CHECKING:
    from collections.abc import Mapping

MAX_TEXT = 256
"""Longest reason or message kept from a Status body (kopf's limit)."""

_BY_STATUS: dict[int, type[KubeClientError]] = {
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    410: Gone,
    422: Invalid,
}


def _truncate(text: object) -> str:
    value = text if isinstance(text, str) else ""
    return value if len(value) <= MAX_TEXT else value[: MAX_TEXT - 3] + "..."


def _status_body(body: bytes | str | None) -> Mapping[str, Any]:
    """The body as a Status dict, or an empty dict when it is anything else."""
    if not body:
        return {}
    if isinstance(body, bytes) and body.startswith(proto.MAGIC):  # the answer to a protobuf LIST
        return proto.decode_status(body)
    try:
        parsed = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return {}
    if isinstance(parsed, dict) and parsed.get("kind") == "Status":
        return parsed
    return {}


def _retry_after(headers: Mapping[str, str] | None, status: Mapping[str, Any]) -> float | None:
    """Seconds from the Retry-After header (delta-seconds form), else from the Status details."""
    raw = headers.get("Retry-After") if headers is not None else None
    if raw is not None:
        try:
            seconds = float(raw)
        except ValueError:
            seconds = -1.0  # an HTTP date: rare from the API server, ignored
        if seconds >= 0:
            return seconds
    details = status.get("details")
    if isinstance(details, dict):
        value = details.get("retryAfterSeconds")
        if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
            return float(value)
    return None


def from_response(
    status: int, body: bytes | str | None, headers: Mapping[str, str] | None = None
) -> KubeError:
    """The error for an HTTP answer that is not 2xx (or for a watch ERROR event's Status).

    :param status: the HTTP status code (or the Status ``code`` of a watch ERROR event).
    :param body: the raw response body; only a ``kind: Status`` body is read.
    :param headers: the response headers, for ``Retry-After`` on 429.
    :return: the ``reloader.errors`` instance to raise; never raised here.
    """
    status_obj = _status_body(body)
    reason = _truncate(status_obj.get("reason"))
    message = _truncate(status_obj.get("message"))
    if not message:
        try:
            phrase = http.HTTPStatus(status).phrase
        except ValueError:
            phrase = "unknown status"
        message = f"HTTP {status} {phrase}"
    if status == 429:
        return TooManyRequests(
            message, status=status, reason=reason, retry_after=_retry_after(headers, status_obj)
        )
    if status in _BY_STATUS:
        return _BY_STATUS[status](message, status=status, reason=reason)
    if 400 <= status < 500:
        return KubeClientError(message, status=status, reason=reason)
    if status >= 500:
        return KubeServerError(message, status=status, reason=reason)
    return KubeError(message, status=status, reason=reason)


def map_error(exc: BaseException) -> KubeError:
    """The ``reloader.errors`` instance for a failure of the HTTP layer.

    Connection failures, resets and timeouts (no answer) give ``KubeConnectionError`` with
    status 0; an error the API server answered is read by ``from_response``.
    """
    if isinstance(exc, KubeError):
        return exc
    if isinstance(exc, TimeoutError):
        return KubeConnectionError("timed out waiting for the API server", status=0)
    if isinstance(exc, OSError):
        return connection_error(exc)
    return KubeError(f"unexpected {type(exc).__name__} from the Kubernetes client", status=0)


def connection_error(exc: BaseException) -> KubeConnectionError:
    """No answer: the error's type and text (truncated), status 0."""
    detail = _truncate(str(exc))
    text = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
    return KubeConnectionError(_truncate(text), status=0)
