"""Capture the fixtures of ``tests/unit/kube/test_proto.py`` from a real API server.

    PYTHONPATH=$PWD .venv/bin/python -m tests.unit.kube.lists.capture --kubeconfig KUBECONFIG

Creates the namespace ``proto-fixture`` with a few ConfigMaps and Secrets (every shape the
reader handles: text, non-ASCII text, empty values, binaryData, raw Secret bytes that are not
UTF-8, labels, annotations with kubectl's last-applied copy, no data at all), then writes the
answers to the same LISTs in protobuf (``*.pb``) and JSON (``*.json``) into this directory,
two pages of each kind (``limit=2`` then its ``continue``), and the protobuf Status of a bad
continue token (``status-400.pb``). A fresh cluster from ``tools/cluster/cluster.py up``
serves; the namespace is deleted at the end.
"""

from __future__ import annotations

import argparse
import base64
import json
import ssl
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import anyio

from reloader.core.objects import CONFIGMAPS, NAMESPACES, SECRETS, ResourceType
from reloader.kube import proto, resources
from reloader.kube.client import KubeClient
from reloader.kube.wire import decode_object

HERE = Path(__file__).resolve().parent
NAMESPACE = "proto-fixture"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


CONFIGMAPS_BODIES: list[dict[str, Any]] = [
    {
        "metadata": {"name": "text", "labels": {"app": "web", "tier": "front"}},
        "data": {"a": "x", "a.b": "dotted", "a-b": "dashed", "b": "naïve ☃\nline two", "e": ""},
    },
    {
        "metadata": {
            "name": "binary",
            "annotations": {"note": "kept", LAST_APPLIED: '{"data":{"t":"t"}}'},
        },
        "data": {"t": "t"},
        "binaryData": {"bin": _b64(bytes(range(256))), "empty": ""},
    },
    {"metadata": {"name": "nothing"}},
]
SECRETS_BODIES: list[dict[str, Any]] = [
    {
        "metadata": {"name": "opaque", "labels": {"app": "web"}, "annotations": {"a": "b"}},
        "type": "Opaque",
        "data": {"k": _b64(b"secret"), "raw": _b64(b"\xff\x00\xfe not utf-8"), "empty": ""},
    },
    {"metadata": {"name": "from-string-data"}, "stringData": {"user": "ädmin", "pw": "p=w;"}},
    {"metadata": {"name": "nothing"}},
]


async def _pages(kube: KubeClient, rt: ResourceType) -> None:
    path = rt.path(namespace=NAMESPACE)
    for name, accept, suffix in (
        ("protobuf", proto.ACCEPT, "pb"),
        ("json", "application/json", "json"),
    ):
        token: str | None = None
        for page in (1, 2):
            query: dict[str, str | int | bool] = {"limit": 2}
            if token:
                query["continue"] = token
            payload, content_type = await kube.request_raw(path, accept=accept, query=query)
            assert (name == "protobuf") == proto.is_protobuf(content_type), content_type
            (HERE / f"{rt.plural}-{page}.{suffix}").write_bytes(payload)
            meta = (
                proto.list_metadata(rt, payload)
                if name == "protobuf"
                else decode_object(payload)["metadata"]
            )
            token = meta.get("continue") or None
        assert token is None, "more than two pages"


async def capture(kubeconfig: str) -> None:
    async with await KubeClient.connect(kubeconfig=kubeconfig, field_manager="fixture") as kube:
        namespace = {"metadata": {"name": NAMESPACE}}
        await resources.create(kube, NAMESPACES, namespace=None, body=namespace)
        try:
            for rt, bodies in ((CONFIGMAPS, CONFIGMAPS_BODIES), (SECRETS, SECRETS_BODIES)):
                for body in bodies:
                    await resources.create(kube, rt, namespace=NAMESPACE, body=body)
            # kube-root-ca.crt is created by the controller manager: wait for it (4 ConfigMaps)
            with anyio.fail_after(60):
                while len(await resources.list_all(kube, CONFIGMAPS, namespace=NAMESPACE)) < 4:  # noqa: ASYNC110 - polls the API server
                    await anyio.sleep(0.2)
            await _pages(kube, CONFIGMAPS)
            await _pages(kube, SECRETS)
            (HERE / "status-400.pb").write_bytes(_bad_continue(kubeconfig))
        finally:
            await resources.delete(kube, NAMESPACES, namespace=None, name=NAMESPACE)
    written = sorted(p.name for p in HERE.iterdir() if p.suffix in (".pb", ".json"))
    sys.stdout.write(json.dumps(written) + "\n")


def _bad_continue(kubeconfig: str) -> bytes:
    """The body of the 400 answer to a bad continue token, as it came (``request_raw`` turns
    it into an exception); the kubeconfig of ``tools/cluster`` (JSON: a token and a CA file)."""
    config = json.loads(Path(kubeconfig).read_text())
    cluster, user = config["clusters"][0]["cluster"], config["users"][0]["user"]
    request = urllib.request.Request(  # noqa: S310 - the cluster's https URL
        cluster["server"] + CONFIGMAPS.path() + "?limit=1&continue=bad",
        headers={"Accept": proto.ACCEPT, "Authorization": f"Bearer {user['token']}"},
    )
    context = ssl.create_default_context(cafile=cluster["certificate-authority"])
    try:
        urllib.request.urlopen(request, context=context, timeout=10)  # noqa: S310
    except urllib.error.HTTPError as exc:
        if exc.code != 400 or not proto.is_protobuf(exc.headers.get("Content-Type", "")):
            raise RuntimeError(f"expected a 400 in protobuf: {exc.code} {exc.headers}") from exc
        return exc.read()
    raise AssertionError("a bad continue token was accepted")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kubeconfig", required=True)
    anyio.run(capture, parser.parse_args().kubeconfig)


if __name__ == "__main__":
    main()
