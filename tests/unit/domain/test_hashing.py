from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from reloader.core.annotations import SourceKind
from reloader.reload.domain.hashing import (
    DELETE_MARKER_HASH,
    configmap_hash,
    key_digests,
    secret_hash,
    source_hash,
    spcps_hash,
)
from tests.unit.domain.builders import b64

EMPTY = "da39a3ee5e6b4b0d3255bfef95601890afd80709"


def sha1(text: bytes) -> str:
    return hashlib.sha1(text).hexdigest()


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        pytest.param(
            {"data": {"key": "value"}}, "dc30e0faa89a70dec1033016a2309bbeb9efcbd0", id="spec"
        ),
        pytest.param({}, EMPTY, id="no-data"),
        pytest.param({"data": {}}, EMPTY, id="empty-data"),
        pytest.param(
            {"data": {"b": "2", "a": "1"}}, sha1(b"a=1;b=2"), id="entries-sorted-and-joined"
        ),
        pytest.param(
            {"data": {"a.b": "x", "a": "y"}},
            sha1(b"a.b=x;a=y"),
            id="sorted-as-whole-entries-not-keys",
        ),
        pytest.param(
            {"binaryData": {"bin": b64(b"\x00\xff")}},
            sha1(b"bin=" + b64(b"\x00\xff").encode()),
            id="binary-data-as-standard-base64",
        ),
        pytest.param(
            {"data": {"k": "v"}, "binaryData": {"b": b64("z")}},
            sha1(b"b=" + b64("z").encode() + b";k=v"),
            id="data-and-binary-data-sorted-together",
        ),
        pytest.param(
            {"data": {"k": "v"}, "metadata": {"labels": {"a": "b"}, "annotations": {"x": "y"}}},
            sha1(b"k=v"),
            id="metadata-not-hashed",
        ),
        pytest.param({"data": {"k": "ünï"}}, sha1("k=ünï".encode()), id="utf8-value"),
        pytest.param({"data": None}, EMPTY, id="data-null"),
        pytest.param({"data": ["k=v"]}, EMPTY, id="data-list"),
        pytest.param({"data": {"k": 3, "j": "v"}}, sha1(b"j=v"), id="non-string-value-skipped"),
    ],
)
def test_configmap_hash(obj: dict[str, Any], expected: str) -> None:
    assert configmap_hash(obj) == expected


def test_configmap_binary_data_is_hashed_canonically() -> None:
    # unpadded base64 decodes to the same bytes; Reloader hashes the canonical encoding
    assert configmap_hash({"binaryData": {"b": "eg=="}}) == sha1(b"b=eg==")


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        pytest.param({"data": {"key": b64("value")}}, sha1(b"key=value"), id="decoded-bytes"),
        pytest.param({}, EMPTY, id="no-data"),
        pytest.param(
            {"data": {"b": b64("2"), "a": b64("1")}}, sha1(b"a=1;b=2"), id="sorted-and-joined"
        ),
        pytest.param({"data": {"k": b64(b"\xff\xfe")}}, sha1(b"k=\xff\xfe"), id="non-utf8-bytes"),
        pytest.param(
            {"data": {"a": b64(b"\xff"), "b": b64("x")}},
            sha1(b"a=\xff;b=x"),
            id="sorted-by-bytes",
        ),
        pytest.param(
            {"data": {"k": b64("v")}, "stringData": {"z": "q"}, "type": "Opaque"},
            sha1(b"k=v"),
            id="string-data-and-type-ignored",
        ),
        pytest.param({"data": {"k": "not base64!"}}, sha1(b"k=not base64!"), id="invalid-b64"),
        pytest.param({"data": None}, EMPTY, id="data-null"),
    ],
)
def test_secret_hash(obj: dict[str, Any], expected: str) -> None:
    assert secret_hash(obj) == expected


def test_secret_and_configmap_with_same_content_hash_alike() -> None:
    assert secret_hash({"data": {"key": b64("value")}}) == configmap_hash(
        {"data": {"key": "value"}}
    )


def test_secret_byte_order_sorts_high_bytes_last() -> None:
    # b"\xc3" (from "é") sorts after b"z": Go compares bytes, not code points of a decoding
    obj = {"data": {"k": b64("é"), "j": b64("z")}}
    assert secret_hash(obj) == sha1(b"j=z;k=" + "é".encode())


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        pytest.param(
            {
                "status": {
                    "secretProviderClassName": "spc",
                    "objects": [{"id": "b", "version": "2"}, {"id": "a", "version": "1"}],
                }
            },
            sha1(b"SecretProviderClassName=spc;a=1;b=2"),
            id="objects-and-class-name-sorted",
        ),
        pytest.param(
            {"status": {"secretProviderClassName": "spc"}},
            sha1(b"SecretProviderClassName=spc"),
            id="no-objects",
        ),
        pytest.param({}, sha1(b"SecretProviderClassName="), id="no-status"),
        pytest.param(
            {"status": {"objects": "x", "secretProviderClassName": 3}},
            sha1(b"SecretProviderClassName="),
            id="malformed",
        ),
    ],
)
def test_spcps_hash(obj: dict[str, Any], expected: str) -> None:
    assert spcps_hash(obj) == expected


def test_delete_marker_hash_is_reloaders() -> None:
    assert DELETE_MARKER_HASH == "aae45badef99284e4dae01d6046154ea9d99532f"


@pytest.mark.parametrize(
    ("kind", "obj", "expected"),
    [
        pytest.param(SourceKind.CONFIGMAP, {"data": {"k": "dg=="}}, sha1(b"k=dg=="), id="cm"),
        pytest.param(SourceKind.SECRET, {"data": {"k": "dg=="}}, sha1(b"k=v"), id="secret"),
        pytest.param(
            SourceKind.SECRETPROVIDERCLASS, {}, sha1(b"SecretProviderClassName="), id="spc"
        ),
    ],
)
def test_source_hash_dispatches_on_kind(
    kind: SourceKind, obj: dict[str, Any], expected: str
) -> None:
    assert source_hash(kind, obj) == expected


def test_hashes_are_lowercase_hex_of_40_chars() -> None:
    digest = configmap_hash({"data": {"a": "b"}})
    assert len(digest) == 40
    assert digest == digest.lower()
    int(digest, 16)


def _stdlib_secret_hash(value: str) -> str:
    """A one-key Secret's hash with the standard library's strict base64 decoder."""
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raw = value.encode()
    return sha1(b"k=" + raw)


def _stdlib_binary_data_hash(value: str) -> str:
    try:
        encoded = base64.b64encode(base64.b64decode(value, validate=True)).decode()
    except (binascii.Error, ValueError):
        encoded = value
    return sha1(b"b=" + encoded.encode())


_BASE64ISH = st.text(
    alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_ \né"
)


@given(st.one_of(st.binary().map(b64), _BASE64ISH))
@example("eh==")  # non-zero trailing bits: valid, not canonical
@example("eg=")  # short padding
@example("eg==eg==")  # data after padding
@example("=eg=")
@example("YQ==\n")
def test_secret_and_binary_data_decode_as_the_standard_library(value: str) -> None:
    # the fast decoder (pybase64) must give the standard library's answer for any text, valid
    # base64 or not: the hashes are Reloader's only if the decoded bytes are
    assert secret_hash({"data": {"k": value}}) == _stdlib_secret_hash(value)
    assert configmap_hash({"binaryData": {"b": value}}) == _stdlib_binary_data_hash(value)


def test_large_secret_value_hashes_its_decoded_bytes() -> None:
    raw = bytes(range(256)) * 160  # 40 KiB, every byte value
    assert secret_hash({"data": {"blob": b64(raw)}}) == sha1(b"blob=" + raw)


@given(
    st.dictionaries(
        st.text("abcAB.-_19", min_size=1, max_size=6), st.binary(max_size=300), max_size=5
    ),
    st.dictionaries(st.text("abc.-_", min_size=1, max_size=4), st.text(max_size=50), max_size=3),
)
def test_raw_bytes_hash_as_their_base64_text(raw: dict[str, bytes], text: dict[str, str]) -> None:
    # a protobuf LIST gives a Secret's and a binaryData value as bytes (memoryview slices of
    # the answer), JSON as base64 text: both forms of the same source hash alike, per key too
    as_text = {k: b64(v) for k, v in raw.items()}
    as_raw = {k: memoryview(b"..." + v)[3:] for k, v in raw.items()}
    assert secret_hash({"data": as_raw}) == secret_hash({"data": as_text})
    json_cm = {"data": text, "binaryData": as_text}
    proto_cm = {"data": text, "binaryData": as_raw}
    assert configmap_hash(proto_cm) == configmap_hash(json_cm)
    for kind, json_obj, proto_obj in (
        (SourceKind.SECRET, {"data": as_text}, {"data": as_raw}),
        (SourceKind.CONFIGMAP, json_cm, proto_cm),
    ):
        assert key_digests(kind, proto_obj) == key_digests(kind, json_obj)
