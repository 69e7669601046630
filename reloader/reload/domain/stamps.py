"""What a workload already carries, as the plan reads it: the ``applied-hashes`` record of the
hashes it was last rolled (or adopted) for, and Reloader's stamp on its pod template (the
``STAKATER_*`` env var, or ``last-reloaded-from``).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from reloader.core.annotations import annotation_warning, quote
from reloader.settings import Strategy
from reloader.workloads.domain.patches import env_var_name, parse_last_reloaded_from

if TYPE_CHECKING:
    from collections.abc import Mapping

    from reloader.core.annotations import AnnotationNames
    from reloader.reload.domain.views import SourceView, WorkloadView


def parse_record(value: str | None, *, key: str) -> tuple[dict[str, str], tuple[str, ...]]:
    """The stored record and warnings; an unusable record counts as empty (everything adopts)."""
    if value is None:
        return {}, ()
    try:
        decoded: Any = json.loads(value)
    except (ValueError, RecursionError) as exc:  # deeply nested JSON recurses
        return {}, (annotation_warning(key, f"invalid JSON {quote(value)}: {exc} (ignored)"),)
    if not isinstance(decoded, dict):
        return {}, (annotation_warning(key, f"not a JSON object: {quote(value)} (ignored)"),)
    record = {k: v for k, v in decoded.items() if isinstance(v, str)}
    if len(record) != len(decoded):
        return record, (annotation_warning(key, f"non-string hashes ignored in {quote(value)}"),)
    return record, ()


def serialize_record(record: Mapping[str, str]) -> str:
    return json.dumps(dict(record), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def stamped_hash(
    *,
    workload: WorkloadView,
    source: SourceView,
    container: str,
    strategy: Strategy,
    names: AnnotationNames,
) -> str | None:
    """The hash the pod template already carries for ``source``: Reloader's marker.

    env-vars: the ``STAKATER_*`` var (the target container first, then any regular container);
    annotations: the hash in ``last-reloaded-from`` when its type and name are the source's.
    """
    if strategy == Strategy.ENV_VARS:
        env_name = env_var_name(source.kind, source.name)
        for name in (container, *workload.containers):
            value = workload.stakater_env.get(name, {}).get(env_name)
            if value is not None:
                return value
        return None
    last = parse_last_reloaded_from(workload.template_annotations.get(names.last_reloaded_from))
    if last is None or last.get("type") != source.kind.value or last.get("name") != source.name:
        return None
    recorded = last.get("hash")
    return recorded if isinstance(recorded, str) else None
