"""Pull credentials as the kubelet finds them: docker config Secrets and its host matching.

A ``kubernetes.io/dockerconfigjson`` Secret holds ``{"auths": {KEY: {...}}}`` under
``.dockerconfigjson``; a ``kubernetes.io/dockercfg`` Secret holds ``{KEY: {...}}`` under
``.dockercfg``. Each entry has ``username`` and ``password``, or ``auth`` (base64 of
``user:password``). A KEY is a registry host, optionally with a path and a scheme
(``https://index.docker.io/v1/``, ``quay.io/org``, ``*.example.com``); ``/v1/`` and ``/v2/`` mean
the host itself. A key matches an image name (``host/repository``) when the hosts have as many
dot-separated parts, each part matches as a glob, the ports are equal and the image's path
starts with the key's path. Keys are tried most specific first (reverse lexical order, as the
kubelet sorts them); with no match, a Docker Hub image takes the ``index.docker.io`` entry.
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

DOCKERCONFIGJSON = ".dockerconfigjson"
DOCKERCFG = ".dockercfg"
_DEFAULT_REGISTRY_KEY = "index.docker.io"


@dataclass(frozen=True, slots=True)
class Credential:
    """A username and password for a registry; its repr never shows the password."""

    username: str
    password: str = field(repr=False)
    #: where it came from (``Secret ns/name``), for messages
    origin: str = ""

    @property
    def fingerprint(self) -> str:
        """A stable, non-reversible identity (to share cached results between workloads)."""
        return hashlib.sha256(f"{self.username}\0{self.password}".encode()).hexdigest()[:16]


def parse_docker_config(
    data: Mapping[str, Any], *, origin: str
) -> tuple[list[tuple[str, Credential]], tuple[str, ...]]:
    """The entries (key, credential) of one pull Secret's (base64) data; and what was wrong."""
    entries: dict[str, Any] = {}
    problems: list[str] = []
    for field_name in (DOCKERCONFIGJSON, DOCKERCFG):
        raw = data.get(field_name)
        if not isinstance(raw, str):
            continue
        try:
            doc = json.loads(base64.b64decode(raw, validate=True))
        except (binascii.Error, ValueError):
            problems.append(f"{origin}: {field_name} is not base64-encoded JSON")
            continue
        if field_name == DOCKERCONFIGJSON:
            doc = doc.get("auths") if isinstance(doc, dict) else None
        if not isinstance(doc, dict):
            problems.append(f"{origin}: {field_name} holds no registry entries")
            continue
        entries.update(doc)
    if not entries and not problems:
        problems.append(f"{origin}: neither {DOCKERCONFIGJSON} nor {DOCKERCFG} is set")
    result: list[tuple[str, Credential]] = []
    for key, entry in entries.items():
        cred = _credential(entry, origin=origin)
        if cred is None:
            problems.append(f"{origin}: the entry for {key!r} has no usable username/password")
        else:
            result.append((str(key), cred))
    return result, tuple(problems)


def _credential(entry: Any, *, origin: str) -> Credential | None:
    if not isinstance(entry, dict):
        return None
    user, password = entry.get("username"), entry.get("password")
    if not user and isinstance(entry.get("auth"), str):
        try:
            user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
    if not isinstance(user, str) or not isinstance(password, str) or not user:
        return None
    return Credential(username=user, password=password, origin=origin)


def normalize_key(key: str) -> str:
    """A config key as the kubelet indexes it: no scheme, ``/v1/`` or ``/v2/`` dropped."""
    text = key.strip()
    for scheme in ("https://", "http://"):
        text = text.removeprefix(scheme)
    host, sep, path = text.partition("/")
    path = sep + path
    if path.startswith(("/v1/", "/v2/")):
        path = path[3:]
    return host + path if path and path != "/" else host


def key_matches(key: str, image_name: str) -> bool:
    """Whether a normalised key matches ``host/repository`` (the kubelet's URL glob match)."""
    key_host, _, key_path = key.partition("/")
    image_host, _, image_path = image_name.partition("/")
    key_host, key_port = _split_port(key_host)
    image_host, image_port = _split_port(image_host)
    if key_port != image_port:
        return False
    key_parts, image_parts = key_host.split("."), image_host.split(".")
    if len(key_parts) != len(image_parts):
        return False
    if not all(fnmatch.fnmatchcase(i, k) for k, i in zip(key_parts, image_parts, strict=True)):
        return False
    return ("/" + image_path).startswith("/" + key_path) if key_path else True


def _split_port(host: str) -> tuple[str, str]:
    if host.startswith("["):
        bare, _, rest = host.partition("]")
        return bare + "]", rest.removeprefix(":")
    name, sep, port = host.rpartition(":")
    return (name, port) if sep and port.isdigit() else (host, "")


def lookup(entries: Iterable[tuple[str, Credential]], image_name: str) -> list[Credential]:
    """The credentials for ``image_name``, most specific key first (empty: none match)."""
    index: dict[str, list[Credential]] = {}
    for key, cred in entries:
        index.setdefault(normalize_key(key), []).append(cred)
    found = [c for k in sorted(index, reverse=True) if key_matches(k, image_name) for c in index[k]]
    if found:
        return found
    first = image_name.split("/", 1)[0]
    if first in ("docker.io", "index.docker.io") or not any(ch in first for ch in ".:"):
        return list(index.get(_DEFAULT_REGISTRY_KEY, []))
    return []
