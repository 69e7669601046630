"""Key filters: only a change to the listed keys of a source rolls the workload.

Syntax (annotation ``reloader.stakater.com/reload-keys``)::

    configmap/app-config=log-level,feature-flags;secret/db=password

Other sources of the workload are unaffected.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping


def parse_key_filter(text: str) -> dict[str, frozenset[str]]:
    """``configmap/a=k1,k2;secret/b=k3`` → {record key: keys}.

    :raises ValueError: naming the bad entry.
    """
    out: dict[str, frozenset[str]] = {}
    for entry in (e.strip() for e in text.split(";")):
        if not entry:
            continue
        source, sep, keys = entry.partition("=")
        kind, slash, name = source.strip().partition("/")
        key_set = frozenset(k.strip() for k in keys.split(",") if k.strip())
        if not sep or not slash or not name or not key_set:
            raise ValueError(f"invalid entry {entry!r} (use configmap/NAME=key1,key2)")
        if kind.lower() not in ("configmap", "secret"):
            raise ValueError(f"invalid source kind {kind!r} in {entry!r} (configmap or secret)")
        out[f"{kind.lower()}/{name.strip()}"] = key_set
    return out


def filtered_hash(key_hashes: Mapping[str, str], keys: frozenset[str]) -> str:
    """A digest of only ``keys`` of a source (absent keys count as absent), prefixed ``keys:``."""
    material = ";".join(f"{k}={key_hashes.get(k, '-')}" for k in sorted(keys))
    return "keys:" + hashlib.sha1(material.encode()).hexdigest()  # noqa: S324 - not security
