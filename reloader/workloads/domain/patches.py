"""What reloader writes into workloads: env-var names, annotation values and patch bodies.

The bytes written must be the ones Reloader writes: the same ``STAKATER_*`` names and
the same ``last-reloaded-from`` JSON, so that a cluster can move from Reloader to reloader (or
back) without a rollout of every workload. Patches are plain dicts built as *strategic merge
patches* nested at the kind's template path: containers and env vars are merged by ``name`` on the
server, so a patch names only what it changes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from reloader.core.annotations import SourceKind
    from reloader.workloads.domain.kinds import WorkloadKind

Patch = dict[str, Any]


def convert_to_env_var_name(text: str) -> str:
    """Reloader's ``ConvertToEnvVarName``: upper-case; keep A-Z and 0-9; every run of other bytes
    becomes one ``_``, but only after a kept character (leading junk vanishes, a trailing run
    leaves a trailing ``_``).

    Works on UTF-8 bytes like the Go code; only ASCII letters are upper-cased (Kubernetes names
    are ASCII, and Python's Unicode upper-casing differs from Go's in corner cases).
    """
    out: list[str] = []
    last_valid = False
    for byte in text.encode():
        ch = chr(byte)
        if "a" <= ch <= "z":
            ch = ch.upper()
        if "A" <= ch <= "Z" or "0" <= ch <= "9":
            out.append(ch)
            last_valid = True
        else:
            if last_valid:
                out.append("_")
            last_valid = False
    return "".join(out)


def env_var_name(source_kind: SourceKind, name: str) -> str:
    """``STAKATER_<NAME>_<TYPE>``, e.g. ``my-cm`` → ``STAKATER_MY_CM_CONFIGMAP``."""
    return f"STAKATER_{convert_to_env_var_name(name)}_{source_kind.env_suffix}"


def go_json(value: Any) -> str:
    """Compact JSON as Go's ``json.Marshal`` writes it (HTML characters escaped, UTF-8 kept)."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    for char, escaped in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(char, escaped)
    return text


def last_reloaded_from_value(
    *,
    source_kind: SourceKind,
    name: str,
    namespace: str,
    hash: str,
    container: str,
    observed_at: int,
) -> str:
    """The ``last-reloaded-from`` JSON, fields in Reloader's order."""
    return go_json(
        {
            "type": source_kind.value,
            "name": name,
            "namespace": namespace,
            "hash": hash,
            "containerRefs": [container],
            "observedAt": observed_at,
        }
    )


def parse_last_reloaded_from(value: str | None) -> Mapping[str, Any] | None:
    """The decoded ``last-reloaded-from`` object, or None when absent or not a JSON object."""
    if not value:
        return None
    try:
        decoded = json.loads(value)
    except (ValueError, RecursionError):  # deeply nested JSON recurses
        return None
    return decoded if isinstance(decoded, Mapping) else None


def nest(path: tuple[str, ...], leaf: Mapping[str, Any]) -> Patch:
    """``leaf`` wrapped in one dict per path step."""
    node: Patch = dict(leaf)
    for step in reversed(path):
        node = {step: node}
    return node


def env_patch(kind: WorkloadKind, env: Mapping[str, Mapping[str, str | None]]) -> Patch:
    """Set env vars in named containers: ``{container: {env name: value}}``; None removes one.

    Removal is the strategic-merge ``$patch: delete`` directive on the env list (merge key
    ``name``), which :func:`apply_patch` honours too.
    """
    containers = [
        {
            "name": container,
            "env": [
                {"name": k, "$patch": "delete"} if v is None else {"name": k, "value": v}
                for k, v in values.items()
            ],
        }
        for container, values in env.items()
        if values
    ]
    return nest((*kind.template_path, "spec"), {"containers": containers}) if containers else {}


def template_annotations_patch(kind: WorkloadKind, annotations: Mapping[str, str | None]) -> Patch:
    """Set (or, with None, delete) pod-template annotations; this rolls the pods."""
    return nest((*kind.template_path, "metadata"), {"annotations": dict(annotations)})


def metadata_annotations_patch(annotations: Mapping[str, str | None]) -> Patch:
    """Set (or, with None, delete) workload metadata annotations; this does not roll pods."""
    return {"metadata": {"annotations": dict(annotations)}}


def _merge_lists(left: list[Any], right: list[Any]) -> list[Any]:
    named = all(isinstance(item, Mapping) and "name" in item for item in (*left, *right))
    if not named:
        return list(right)
    merged: dict[Any, Any] = {item["name"]: item for item in left}
    for item in right:
        if item.get("$patch") == "delete":
            merged.pop(item["name"], None)
            continue
        previous = merged.get(item["name"])
        merged[item["name"]] = _merge_two(previous, item) if isinstance(previous, Mapping) else item
    return list(merged.values())


def _merge_two(left: Mapping[str, Any], right: Mapping[str, Any]) -> Patch:
    out: Patch = dict(left)
    for key, value in right.items():
        current = out.get(key)
        if isinstance(current, Mapping) and isinstance(value, Mapping):
            out[key] = _merge_two(current, value)
        elif isinstance(current, list) and isinstance(value, list):
            out[key] = _merge_lists(current, value)
        else:
            out[key] = value
    return out


def merge_patches(*patches: Mapping[str, Any]) -> Patch:
    """Deep-merge patches, later ones winning; lists of named items merge by ``name``."""
    out: Patch = {}
    for patch in patches:
        out = _merge_two(out, patch)
    return out


def _drop_nones(node: Any) -> Any:
    if isinstance(node, Mapping):
        return {k: _drop_nones(v) for k, v in node.items() if v is not None}
    if isinstance(node, list):
        return [_drop_nones(v) for v in node]
    return node


def apply_patch(obj: Mapping[str, Any], patch: Mapping[str, Any]) -> Patch:
    """``obj`` with one of our strategic-merge patches applied in memory.

    Used where the API server cannot apply a strategic merge patch for us (a custom resource, a
    Job built from a CronJob's template, a Job recreated): maps merge, lists of named items
    (containers, env) merge by ``name``, and a None value deletes the key, as the server would.
    """
    return dict(_drop_nones(merge_patches(obj, patch)))
