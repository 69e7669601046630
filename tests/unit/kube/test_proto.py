"""The protobuf reader of ConfigMap and Secret lists against answers of a real API server.

``lists/`` holds the same LISTs answered in protobuf and in JSON by kube-apiserver (captured by
``tests/unit/kube/lists/capture.py``): every view summarized from the protobuf answer must be
the JSON answer's, field for field, hashes included.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from reloader.core.annotations import SourceKind
from reloader.core.objects import CONFIGMAPS, DEPLOYMENTS, SECRETS, SPC_POD_STATUSES, ResourceType
from reloader.errors import KubeClientError
from reloader.kube import proto
from reloader.kube.errors import from_response
from reloader.kube.wire import decode_object
from reloader.reload.domain.hashing import configmap_hash
from reloader.reload.domain.views import SourceView, summarize_source

LISTS = Path(__file__).parent / "lists"
KINDS = {"ConfigMap": SourceKind.CONFIGMAP, "Secret": SourceKind.SECRET}
PAGES = [(CONFIGMAPS, 1), (CONFIGMAPS, 2), (SECRETS, 1), (SECRETS, 2)]


def answers(rt: ResourceType, page: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """The protobuf and the JSON answer of one page, decoded."""
    pb = proto.decode_list(rt, (LISTS / f"{rt.plural}-{page}.pb").read_bytes())
    js = decode_object((LISTS / f"{rt.plural}-{page}.json").read_bytes())
    return pb, js


def fields(view: SourceView) -> dict[str, Any]:
    out = {f.name: getattr(view, f.name) for f in dataclasses.fields(view)}
    out.update(annotations=dict(view.annotations), labels=dict(view.labels))
    out["key_hashes"] = dict(view.key_hashes)
    return out


@pytest.mark.parametrize(("rt", "page"), PAGES, ids=[f"{r.plural}-{p}" for r, p in PAGES])
def test_every_view_is_the_json_answers(rt: ResourceType, page: int) -> None:
    pb, js = answers(rt, page)
    assert [i["metadata"]["name"] for i in pb["items"]] == [
        i["metadata"]["name"] for i in js["items"]
    ]
    assert pb["items"], "an empty page proves nothing"
    for pb_item, js_item in zip(pb["items"], js["items"], strict=True):
        pb_view = summarize_source(KINDS[rt.kind], pb_item)
        js_view = summarize_source(KINDS[rt.kind], js_item)
        assert fields(pb_view) == fields(js_view), pb_item["metadata"]["name"]
        assert pb_view == js_view


@pytest.mark.parametrize(("rt", "page"), PAGES, ids=[f"{r.plural}-{p}" for r, p in PAGES])
def test_metadata_is_the_json_answers(rt: ResourceType, page: int) -> None:
    pb, js = answers(rt, page)
    assert (pb["metadata"].get("continue") or None) == js["metadata"].get("continue")
    assert pb["metadata"]["resourceVersion"] == js["metadata"]["resourceVersion"]
    assert pb["kind"] == js["kind"] == f"{rt.kind}List"
    for pb_item, js_item in zip(pb["items"], js["items"], strict=True):
        expected = {
            k: v
            for k, v in js_item["metadata"].items()
            if k in ("name", "namespace", "uid", "resourceVersion", "labels", "annotations")
        }
        assert pb_item["metadata"] == expected


def test_the_first_pages_continue_where_the_second_starts() -> None:
    for rt in (CONFIGMAPS, SECRETS):
        meta = proto.list_metadata(rt, (LISTS / f"{rt.plural}-1.pb").read_bytes())
        assert meta["continue"], rt.plural
        assert meta == answers(rt, 1)[0]["metadata"]
        assert not proto.list_metadata(rt, (LISTS / f"{rt.plural}-2.pb").read_bytes()).get(
            "continue"
        )


def by_name(rt: ResourceType) -> dict[str, dict[str, Any]]:
    return {
        item["metadata"]["name"]: item for page in (1, 2) for item in answers(rt, page)[0]["items"]
    }


def test_secret_values_are_the_raw_bytes_not_base64() -> None:
    data = by_name(SECRETS)["opaque"]["data"]
    assert all(isinstance(v, memoryview) for v in data.values())
    assert {k: bytes(v) for k, v in data.items()} == {
        "k": b"secret",
        "raw": b"\xff\x00\xfe not utf-8",
        "empty": b"",
    }
    assert bytes(by_name(SECRETS)["from-string-data"]["data"]["user"]) == "ädmin".encode()


def test_configmap_text_and_binary_data() -> None:
    items = by_name(CONFIGMAPS)
    assert items["text"]["data"]["b"] == "naïve ☃\nline two"
    assert items["text"]["data"]["e"] == ""
    binary = items["binary"]["binaryData"]
    assert (bytes(binary["bin"]), bytes(binary["empty"])) == (bytes(range(256)), b"")
    assert "data" not in items["nothing"]


def test_a_status_in_protobuf_is_read_for_the_error() -> None:
    error = from_response(400, (LISTS / "status-400.pb").read_bytes(), {})
    assert isinstance(error, KubeClientError)
    assert error.reason == "BadRequest"
    assert "continue" in error.message


def test_a_truncated_answer_is_an_error_never_a_shorter_page() -> None:
    payload = (LISTS / "configmaps-1.pb").read_bytes()
    end = len(payload) - 4  # the Unknown's empty contentEncoding and contentType follow raw
    for size in range(len(proto.MAGIC), end):
        with pytest.raises(proto.ProtobufError):
            proto.decode_list(CONFIGMAPS, payload[:size])


def test_an_answer_of_another_kind_is_an_error() -> None:
    payload = (LISTS / "configmaps-1.pb").read_bytes()
    with pytest.raises(proto.ProtobufError, match="ConfigMapList"):
        proto.decode_list(SECRETS, payload)
    with pytest.raises(proto.ProtobufError, match="magic"):
        proto.decode_list(CONFIGMAPS, b'{"kind": "ConfigMapList"}')
    assert proto.decode_status(payload) == {}
    assert proto.decode_status(b"k8s\x00\x0a") == {}


def test_which_lists_are_read_in_protobuf() -> None:
    assert proto.lists(CONFIGMAPS)
    assert proto.lists(SECRETS)
    assert not proto.lists(DEPLOYMENTS)
    assert not proto.lists(SPC_POD_STATUSES), "a CRD: the API server has no protobuf for it"
    assert proto.is_protobuf("application/vnd.kubernetes.protobuf")
    assert proto.is_protobuf("application/vnd.kubernetes.protobuf; charset=binary")
    assert not proto.is_protobuf("application/json")


# A hand-made answer for what the API server's own validation keeps out of the fixtures.


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field(number: int, value: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(value)) + value


def _configmap_list(data: dict[bytes, bytes]) -> bytes:
    meta = _field(1, b"cm") + _field(3, b"ns") + _field(6, b"7")
    entries = b"".join(_field(2, _field(1, k) + _field(2, v)) for k, v in data.items())
    items = _field(2, _field(1, meta) + entries)
    type_meta = _field(1, b"v1") + _field(2, b"ConfigMapList")
    return proto.MAGIC + _field(1, type_meta) + _field(2, _field(1, _field(2, b"8")) + items)


def test_text_that_is_not_utf8_reads_as_go_writes_it_in_json() -> None:
    # Go's JSON encoder writes U+FFFD for each byte that is not part of valid UTF-8: the
    # truncated sequence e2 82 is two of them, a UTF-8-encoded surrogate (ed a0 80) three.
    page = proto.decode_list(CONFIGMAPS, _configmap_list({b"k": b"a\xffb\xe2\x82A\xed\xa0\x80"}))
    value = page["items"][0]["data"]["k"]
    assert value == "a\ufffdb\ufffd\ufffdA\ufffd\ufffd\ufffd"
    assert configmap_hash(page["items"][0]) == configmap_hash({"data": {"k": value}})


def test_a_large_value_is_a_multi_byte_length() -> None:
    blob = bytes(range(97, 123)) * 5000  # 130,000 bytes: a 3-byte varint length
    page = proto.decode_list(CONFIGMAPS, _configmap_list({b"big": blob, b"small": b"x"}))
    assert page["items"][0]["data"] == {"big": blob.decode(), "small": "x"}
    assert page["metadata"] == {"resourceVersion": "8"}
