"""What the API client says on the wire, without I/O: a request's Kubernetes verb, its query
string, and JSON answers decoded to plain dicts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import msgspec

from reloader.errors import KubeError

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

QueryValue = str | int | bool

decode_json: Callable[[bytes], Any] = msgspec.json.Decoder().decode
"""JSON → plain dicts, lists, str...; raises ``msgspec.DecodeError``. msgspec rather than orjson:
it decodes a LIST page of 40 KiB ConfigMaps or Secrets about twice as fast (long strings), and
the pages of the initial sync are most of the controller's CPU at start (docs/benchmarks.md)."""


def decode_object(payload: bytes) -> dict[str, Any]:
    """A 2xx JSON answer as a dict ({} when empty). :raises KubeError: not a JSON object."""
    if not payload:
        return {}
    try:
        parsed = decode_json(payload)
    except msgspec.DecodeError as exc:
        raise KubeError("the API server answered with invalid JSON", status=200) from exc
    if not isinstance(parsed, dict):
        raise KubeError("the API server answered with JSON that is not an object", status=200)
    return parsed


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


def request_target(base_path: str, path: str, query: Mapping[str, QueryValue] | None) -> str:
    """The request line's target: the server URL's path, the API path and the query string
    (booleans as ``true``/``false``, as the API server reads them)."""
    target = base_path + path
    if query:
        pairs = [
            (key, ("true" if value else "false") if isinstance(value, bool) else str(value))
            for key, value in query.items()
        ]
        target += ("&" if "?" in path else "?") + urlencode(pairs)
    return target
