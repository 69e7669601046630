"""Read the API server's protobuf answers to a LIST of ConfigMaps or Secrets, and its Status.

The initial sync of many large ConfigMaps and Secrets is mostly the cost of their encoding: in
JSON every Secret value is base64 text that is decoded again before it is hashed, and every
value is a string the JSON decoder builds. In protobuf the values are length-prefixed bytes: a
Secret's are its raw bytes, and the API server encodes the page with less CPU too
(docs/benchmarks.md, "Sync CPU"). Only built-in types have protobuf encodings; a CRD (the CSI
pod statuses) or an aggregated API answers JSON, so the caller checks the ``Content-Type``.

This is a reader of the protobuf wire format for exactly the messages the source informers need,
not a general decoder: no generated classes, no dependency. An answer is the 4 bytes
``k8s\\x00`` then a ``runtime.Unknown`` (``typeMeta`` = 1, ``raw`` = 2) whose ``raw`` is the
``ConfigMapList`` or ``SecretList`` (``metadata`` = 1, ``items`` = 2; the field numbers of
k8s.io/api core/v1 and apimachinery's meta/v1 ``generated.proto``). The result has the shape of
the JSON answer, with what ``summarize_source`` reads: each item's ``metadata`` (name,
namespace, uid, resourceVersion, labels, annotations), a ConfigMap's ``data`` (text) and
``binaryData``, a Secret's ``data``; the two last as ``memoryview`` slices of the answer holding
the raw bytes (not base64 text: ``reload/domain/hashing.py`` reads both forms). Fields that are
not needed (managedFields, ownerReferences, a Secret's ``type``...) are skipped unread.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from reloader.errors import KubeError

if TYPE_CHECKING:
    from reloader.core.objects import ResourceType

CONTENT_TYPE = "application/vnd.kubernetes.protobuf"
#: protobuf when the server has it for the type, else JSON (what client-go sends)
ACCEPT = f"{CONTENT_TYPE}, application/json"
MAGIC = b"k8s\x00"

#: the kinds whose lists this module reads (core/v1)
LIST_KINDS = frozenset({"ConfigMap", "Secret"})

_VARINT, _FIXED64, _BYTES, _FIXED32 = 0, 1, 2, 5


class ProtobufError(KubeError):
    """An answer in protobuf that this reader cannot read (truncated, or not what was asked)."""


def lists(rt: ResourceType) -> bool:
    """Whether :func:`decode_list` reads the lists of ``rt``."""
    return rt.group == "" and rt.version == "v1" and rt.kind in LIST_KINDS


def is_protobuf(content_type: str) -> bool:
    return content_type.split(";", 1)[0].strip().lower() == CONTENT_TYPE


def _go_replace(exc: UnicodeError) -> tuple[str, int]:
    """U+FFFD per invalid byte, as Go's JSON encoder writes a string that is not UTF-8: the
    text the JSON answer would have had, so that its hash is the same."""
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    return "\ufffd" * (exc.end - exc.start), exc.end


codecs.register_error("reloader-go-replace", _go_replace)


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    """The varint at ``pos`` and the position after it."""
    byte = buf[pos]
    if byte < 0x80:
        return byte, pos + 1
    value, shift = byte & 0x7F, 7
    while True:
        pos += 1
        byte = buf[pos]
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos + 1
        shift += 7
        if shift > 63:
            raise ProtobufError("a varint longer than 10 bytes in a protobuf answer", status=200)


def _fields(buf: bytes, pos: int, end: int) -> Iterator[tuple[int, int, int]]:
    """``(number, start, stop)`` of each length-delimited field of the message in
    ``buf[pos:end]``; a varint field gives ``(number, value, -1)``; fixed-size ones are skipped.

    :raises IndexError: truncated (``_read`` turns it into a ProtobufError).
    """
    while pos < end:
        key, pos = _varint(buf, pos)
        wire = key & 7
        if wire == _BYTES:
            size, pos = _varint(buf, pos)
            stop = pos + size
            if stop > end:
                raise IndexError(stop)
            yield key >> 3, pos, stop
            pos = stop
        elif wire == _VARINT:
            value, pos = _varint(buf, pos)
            yield key >> 3, value, -1
        elif wire == _FIXED64:
            pos += 8
        elif wire == _FIXED32:
            pos += 4
        else:
            raise ProtobufError(f"protobuf wire type {wire} is not read", status=200)
    if pos != end:
        raise IndexError(pos)


def _text(buf: bytes, start: int, stop: int) -> str:
    return buf[start:stop].decode("utf-8", "reloader-go-replace")


def _entry(buf: bytes, start: int, stop: int) -> tuple[int, int, int, int]:
    """The key's and the value's (start, stop) of one map entry (key = 1, value = 2)."""
    key = value = (stop, stop)  # absent: empty
    for number, a, b in _fields(buf, start, stop):
        if number == 1:
            key = (a, b)
        elif number == 2:
            value = (a, b)
    return key[0], key[1], value[0], value[1]


def _put_text(out: dict[str, Any], buf: bytes, start: int, stop: int) -> None:
    k0, k1, v0, v1 = _entry(buf, start, stop)
    out[_text(buf, k0, k1)] = _text(buf, v0, v1)


def _put_bytes(out: dict[str, Any], buf: bytes, view: memoryview, start: int, stop: int) -> None:
    k0, k1, v0, v1 = _entry(buf, start, stop)
    out[_text(buf, k0, k1)] = view[v0:v1]


#: ObjectMeta fields kept, by number: name 1, namespace 3, uid 5, resourceVersion 6
_META_TEXT = {1: "name", 3: "namespace", 5: "uid", 6: "resourceVersion"}


def _metadata(buf: bytes, start: int, stop: int) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    for number, a, b in _fields(buf, start, stop):
        if b < 0:
            continue
        name = _META_TEXT.get(number)
        if name is not None:
            meta[name] = _text(buf, a, b)
        elif number == 11:  # labels
            _put_text(meta.setdefault("labels", {}), buf, a, b)
        elif number == 12:  # annotations
            _put_text(meta.setdefault("annotations", {}), buf, a, b)
    return meta


def _item(kind: str, buf: bytes, view: memoryview, start: int, stop: int) -> dict[str, Any]:
    """A ConfigMap (data 2 text, binaryData 3 bytes) or a Secret (data 2 bytes)."""
    obj: dict[str, Any] = {}
    for number, a, b in _fields(buf, start, stop):
        if b < 0:
            continue
        if number == 1:
            obj["metadata"] = _metadata(buf, a, b)
        elif number == 2 and kind == "ConfigMap":
            _put_text(obj.setdefault("data", {}), buf, a, b)
        elif number == 2 or (number == 3 and kind == "ConfigMap"):
            field = "data" if number == 2 else "binaryData"
            _put_bytes(obj.setdefault(field, {}), buf, view, a, b)
    return obj


def _unknown(payload: bytes) -> tuple[str, int, int]:
    """The kind of the ``runtime.Unknown`` after the magic, and where its ``raw`` lies."""
    if not payload.startswith(MAGIC):
        raise ProtobufError("a protobuf answer without the k8s magic prefix", status=200)
    kind, raw = "", (-1, -1)
    for number, a, b in _fields(payload, len(MAGIC), len(payload)):
        if number == 1 and b >= 0:  # typeMeta: apiVersion 1, kind 2
            for inner, c, d in _fields(payload, a, b):
                if inner == 2 and d >= 0:
                    kind = _text(payload, c, d)
        elif number == 2 and b >= 0:
            raw = (a, b)
    if raw[0] < 0:
        raise ProtobufError("a protobuf answer without its object", status=200)
    return kind, raw[0], raw[1]


def _list_meta(payload: bytes, start: int, stop: int) -> dict[str, Any]:
    """ListMeta: resourceVersion 2, continue 3."""
    meta: dict[str, Any] = {}
    for number, a, b in _fields(payload, start, stop):
        if number in (2, 3) and b >= 0:
            meta["resourceVersion" if number == 2 else "continue"] = _text(payload, a, b)
    return meta


def _list_fields(rt: ResourceType, payload: bytes) -> Iterator[tuple[int, int, int]]:
    kind, start, stop = _unknown(payload)
    if kind != rt.kind + "List" or rt.kind not in LIST_KINDS:
        raise ProtobufError(
            f"a protobuf answer of kind {kind!r} to a LIST of {rt.plural}", status=200
        )
    return _fields(payload, start, stop)


def decode_list(rt: ResourceType, payload: bytes) -> dict[str, Any]:
    """A ConfigMapList or SecretList answer as the JSON answer's dict (see the module's text).

    :raises ProtobufError: not a list of ``rt.kind``, or unreadable.
    """
    view = memoryview(payload)
    meta: dict[str, Any] = {}
    items: list[dict[str, Any]] = []
    try:
        for number, a, b in _list_fields(rt, payload):
            if number == 2 and b >= 0:
                items.append(_item(rt.kind, payload, view, a, b))
            elif number == 1 and b >= 0:
                meta = _list_meta(payload, a, b)
    except IndexError as exc:
        raise ProtobufError("a truncated protobuf answer", status=200) from exc
    kind = rt.kind + "List"
    return {"apiVersion": rt.api_version, "kind": kind, "metadata": meta, "items": items}


def list_metadata(rt: ResourceType, payload: bytes) -> dict[str, Any]:
    """Only the list's ``metadata`` (resourceVersion, continue): the items are skipped unread.

    :raises ProtobufError: as :func:`decode_list`.
    """
    try:
        for number, a, b in _list_fields(rt, payload):
            if number == 1 and b >= 0:
                return _list_meta(payload, a, b)
    except IndexError as exc:
        raise ProtobufError("a truncated protobuf answer", status=200) from exc
    return {}


def decode_status(payload: bytes) -> dict[str, Any]:
    """A ``Status`` in protobuf (an error answer) as its JSON dict: status, message, reason,
    code and ``details.retryAfterSeconds``; {} when it is not a readable Status."""
    out: dict[str, Any] = {}
    try:
        kind, start, stop = _unknown(payload)
        if kind != "Status":
            return {}
        out["kind"] = "Status"
        names = {2: "status", 3: "message", 4: "reason"}
        for number, a, b in _fields(payload, start, stop):
            if number in names and b >= 0:
                out[names[number]] = _text(payload, a, b)
            elif number == 6 and b < 0:
                out["code"] = a
            elif number == 5 and b >= 0:
                for inner, c, d in _fields(payload, a, b):
                    if inner == 5 and d < 0:
                        out["details"] = {"retryAfterSeconds": c}
    except (IndexError, ProtobufError):
        return {}
    return out
