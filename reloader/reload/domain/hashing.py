"""Content hashes of configuration sources, bit-for-bit compatible with Reloader.

The hash is the only thing reloader keeps of a ConfigMap or Secret, and it is also what Reloader
wrote into ``STAKATER_*`` env vars and ``last-reloaded-from`` annotations. Producing the same
SHA-1 strings as Reloader lets a workload that Reloader managed be adopted without a rollout.

Every function builds ``key=value`` entries, sorts them as Go sorts strings (by bytes), joins them
with ``;`` and returns the lowercase hex SHA-1. Malformed parts of an object (wrong types) are
treated as absent: a hash is always produced.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

import pybase64

from reloader.core.annotations import SourceKind

DELETE_MARKER = "__RELOADER_EMPTY_DELETE_MARKER__"


def sha1_hex(data: bytes) -> str:
    return hashlib.sha1(data, usedforsecurity=False).hexdigest()


#: what Reloader writes as the hash when a source is deleted (annotations delete strategy)
DELETE_MARKER_HASH = sha1_hex(DELETE_MARKER.encode())


def _join_sorted(entries: Iterable[bytes]) -> str:
    return sha1_hex(b";".join(sorted(entries)))


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


#: the raw bytes of a Secret's or a binaryData value, as a protobuf LIST answer holds them
#: (``reloader.kube.proto``); the JSON answer has their base64 text instead (a ``str``)
RAW = (bytes, memoryview)


def _b64decode(text: str) -> bytes | None:
    """The bytes of standard base64 ``text``, or None when it is not valid base64.

    pybase64 (SIMD) decodes a 40 KiB value about 100 times faster than the standard library,
    which dominated the CPU of an initial sync of many Secrets. Whatever it refuses is asked of
    the standard library's strict decoder, so the answer is the standard library's for every
    input (tests/unit/domain/test_hashing.py compares both on arbitrary text).
    """
    try:
        return pybase64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        pass
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


def configmap_hash(obj: Mapping[str, Any]) -> str:
    """``key=value`` per ``data`` entry and ``key=<standard base64>`` per ``binaryData`` entry.

    ``binaryData`` values arrive base64-encoded in JSON; they are decoded and re-encoded so that a
    non-canonical encoding still gives Reloader's hash of the bytes. In protobuf they arrive as
    the bytes, which are encoded.
    """
    entries: list[bytes] = []
    for key, value in _mapping(obj.get("data")).items():
        if isinstance(value, str):
            entries.append(f"{key}={value}".encode())
    for key, value in _mapping(obj.get("binaryData")).items():
        if isinstance(value, RAW):
            entries.append(key.encode() + b"=" + pybase64.b64encode(value))
        elif isinstance(value, str):
            raw = _b64decode(value)
            encoded = pybase64.b64encode_as_string(raw) if raw is not None else value
            entries.append(f"{key}={encoded}".encode())
    return _join_sorted(entries)


def secret_hash(obj: Mapping[str, Any]) -> str:
    """``key=<raw bytes>`` per ``data`` entry; ``stringData`` and ``type`` are not read.

    ``data`` values arrive base64-encoded in JSON; the hash covers the decoded bytes, which need
    not be UTF-8. A value that is not valid base64 (never sent by an API server) is hashed as is.
    In protobuf they arrive as the bytes themselves.
    """
    entries: list[bytes] = []
    for key, value in _mapping(obj.get("data")).items():
        if isinstance(value, RAW):
            entries.append(key.encode() + b"=" + value)
        elif isinstance(value, str):
            raw = _b64decode(value)
            entries.append(key.encode() + b"=" + (raw if raw is not None else value.encode()))
    return _join_sorted(entries)


def spcps_hash(obj: Mapping[str, Any]) -> str:
    """``id=version`` per ``status.objects`` entry plus ``SecretProviderClassName=<name>``."""
    status = _mapping(obj.get("status"))
    entries: list[bytes] = []
    objects = status.get("objects")
    for item in objects if isinstance(objects, list) else ():
        if isinstance(item, Mapping):
            ident, version = item.get("id"), item.get("version")
            ident = ident if isinstance(ident, str) else ""
            version = version if isinstance(version, str) else ""
            entries.append(f"{ident}={version}".encode())
    spc = status.get("secretProviderClassName")
    entries.append(f"SecretProviderClassName={spc if isinstance(spc, str) else ''}".encode())
    return _join_sorted(entries)


def source_hash(source_kind: SourceKind, obj: Mapping[str, Any]) -> str:
    """The hash of a ConfigMap, a Secret, or a SecretProviderClassPodStatus (for SPC sources)."""
    if source_kind is SourceKind.CONFIGMAP:
        return configmap_hash(obj)
    if source_kind is SourceKind.SECRET:
        return secret_hash(obj)
    return spcps_hash(obj)


def key_digests(source_kind: SourceKind, obj: Mapping[str, Any]) -> dict[str, str]:
    """A short digest per key of a ConfigMap or Secret, for key-level reload filters.

    12 hex characters of the SHA-1 of each value: enough to see that a value changed, small
    enough to keep for every key of every source. Empty for other kinds. The value is the text
    of the JSON answer, base64 for a Secret's and a binaryData value: raw bytes (a protobuf
    answer) are encoded first, so the digests do not depend on how the source was read.
    """
    if source_kind is SourceKind.SECRETPROVIDERCLASS:
        return {}
    out: dict[str, str] = {}
    fields = ("data", "binaryData") if source_kind is SourceKind.CONFIGMAP else ("data",)
    for field_name in fields:
        for key, value in _mapping(obj.get(field_name)).items():
            if isinstance(value, RAW):
                out[str(key)] = sha1_hex(pybase64.b64encode(value))[:12]
            elif isinstance(value, str):
                out[str(key)] = sha1_hex(value.encode())[:12]
    return out
