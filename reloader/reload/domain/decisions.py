"""Whether a change of one source should reload one workload: Reloader's ``ShouldReload``.

This is the compatibility core: the same annotations must select the same workloads as under
stakater/Reloader, including its less obvious rules (docs/annotations.md#decision-order):

1. ``--ignored-workload-types`` skips Jobs/CronJobs (only when every entry is valid);
2. ``ignore: "true"`` on the *source* wins over everything;
3./4. the four selection keys (explicit list, ``search``, ``auto``, typed auto) are read from the
   workload metadata, or, when *none* of them is present there, from the pod template; the
   presence test uses the type-specific keys, so the fallback is decided per source kind;
5. the exclude list, read from metadata only, compares exact names and beats every selection;
6. the explicit list is a comma list of anchored regexes (first match, ``auto=False``);
7. ``search: "true"`` + ``match: "true"`` on the source;
8. ``auto``/typed auto parsed like Go's ``strconv.ParseBool``;
9. ``--auto-reload-all`` when both auto values are empty or absent;
10. otherwise no reload.

Differences, on purpose: Reloader compiles ``^elem$`` with Go's RE2; we use Python's ``re`` with
``fullmatch`` (the whole element is anchored, so ``a|b`` means exactly ``a`` or ``b``, where RE2's
``^a|b$`` would also match ``ax``). RE2-only syntax and Python-only syntax (backreferences,
lookaround) are the rare cases where the two accept different patterns; unlike RE2, ``re`` can
backtrack exponentially on a hostile pattern such as ``(a+)+b`` (names are at most 253 characters,
which bounds but does not remove that risk). Empty list elements are dropped. Bad values are
never silent: an invalid regex or an unparsable boolean becomes a warning in the decision
(Reloader only logs the former and ignores the latter).
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache
from typing import TYPE_CHECKING

from reloader.core.annotations import (
    AnnotationNames,
    annotation_warning,
    parse_bool,
    quote,
    split_list,
)
from reloader.workloads.domain.kinds import IGNORABLE_WORKLOAD_TYPES

if TYPE_CHECKING:
    from collections.abc import Mapping

    from reloader.reload.domain.views import SourceView, WorkloadView
    from reloader.settings import ReloadSettings
    from reloader.workloads.domain.kinds import WorkloadKind


class DecisionReason(StrEnum):
    """Why a source does or does not reload a workload: the step of the decision order that
    decided (docs/annotations.md#decision-order)."""

    WORKLOAD_TYPE_IGNORED = "workload-type-ignored"
    IGNORED = "ignored"
    EXCLUDED = "excluded"
    EXPLICIT = "explicit"
    SEARCH = "search"
    AUTO = "auto"
    AUTO_ALL = "auto-all"
    NOT_SELECTED = "not-selected"


@dataclass(frozen=True, slots=True)
class DecisionOptions:
    """The global flags a decision depends on."""

    auto_reload_all: bool = False
    #: ``--ignored-workload-types`` values; honoured only if every one is jobs or cronjobs
    ignored_workload_types: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def of(cls, settings: ReloadSettings) -> DecisionOptions:
        return cls(
            auto_reload_all=settings.auto_reload_all,
            ignored_workload_types=settings.ignored_workload_types,
        )


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome for one (source, workload) pair.

    ``auto`` is True for search/auto/auto-all selections: those act only when the workload
    references the source; an explicit selection acts even without a reference.
    """

    reload: bool
    auto: bool = False
    reason: DecisionReason = DecisionReason.NOT_SELECTED
    warnings: tuple[str, ...] = ()


@lru_cache(maxsize=2048)
def compile_element(element: str) -> re.Pattern[str] | str:
    """A compiled explicit-list element, or the compiler's message when it is not a regex."""
    try:
        with warnings.catch_warnings():
            # "possible nested set" for "[[": a warning about future Pythons, not about the
            # annotation; it would go to stderr (or fail under -W error), never to the user
            warnings.simplefilter("ignore", FutureWarning)
            return re.compile(element)
    except (re.error, OverflowError, RecursionError, ValueError) as exc:
        # a{4294967296} overflows, deep nesting recurses: bad input, not a crash
        return str(exc) or type(exc).__name__


def explicit_match(
    value: str, name: str, *, key: str, on_template: bool = False
) -> tuple[bool, tuple[str, ...]]:
    """Whether ``name`` matches an element of an explicit list, and warnings for bad elements.

    Every element is checked so that every invalid one is reported, not only those before the
    first match.
    """
    matched = False
    warnings: list[str] = []
    for element in split_list(value):
        pattern = compile_element(element)
        if isinstance(pattern, str):
            problem = f"invalid regex {quote(element)}: {pattern}"
            warnings.append(annotation_warning(key, problem, on_template=on_template))
        elif not matched and pattern.fullmatch(name) is not None:
            matched = True
    return matched, tuple(warnings)


def _auto_value(
    annotations: Mapping[str, str], key: str, warnings: list[str], *, on_template: bool
) -> tuple[str, bool]:
    """The raw value (``""`` when absent) and whether it parses as true; warns when unparsable."""
    value = annotations.get(key, "")
    parsed = parse_bool(value)
    if parsed is None and value != "":
        problem = f"invalid boolean {quote(value)} (treated as false)"
        warnings.append(annotation_warning(key, problem, on_template=on_template))
    return value, parsed is True


def workload_type_ignored(kind: WorkloadKind, options: DecisionOptions) -> bool:
    """Step 1: Reloader skips the whole check if any entry of the flag is not jobs/cronjobs."""
    types = options.ignored_workload_types
    if not types or not types <= IGNORABLE_WORKLOAD_TYPES:
        return False
    return kind.ignore_name is not None and kind.ignore_name in types


def selection_source(
    workload: WorkloadView, keys: tuple[str, ...]
) -> tuple[Mapping[str, str], bool]:
    """Step 4: metadata if any selection key is present there, else the pod template."""
    if any(key in workload.annotations for key in keys):
        return workload.annotations, False
    return workload.template_annotations, True


def decide(
    *,
    source: SourceView,
    workload: WorkloadView,
    kind: WorkloadKind,
    names: AnnotationNames,
    options: DecisionOptions,
) -> Decision:
    """Reloader's decision for a change of ``source`` and ``workload`` (steps 1-10 above)."""
    if workload_type_ignored(kind, options):
        return Decision(reload=False, reason=DecisionReason.WORKLOAD_TYPE_IGNORED)
    if source.annotations.get(names.ignore) == "true":
        return Decision(reload=False, reason=DecisionReason.IGNORED)

    explicit_key = source.kind.explicit_key(names)
    typed_auto_key = source.kind.typed_auto_key(names)
    selection, on_template = selection_source(
        workload, (explicit_key, names.auto, typed_auto_key, names.search)
    )
    warnings: list[str] = []
    matched, regex_warnings = explicit_match(
        selection.get(explicit_key, ""), source.name, key=explicit_key, on_template=on_template
    )
    warnings.extend(regex_warnings)
    auto_value, auto_on = _auto_value(selection, names.auto, warnings, on_template=on_template)
    typed_value, typed_on = _auto_value(
        selection, typed_auto_key, warnings, on_template=on_template
    )
    search_value = selection.get(names.search)
    if search_value is not None and search_value not in ("true", "false"):
        warnings.append(
            annotation_warning(
                names.search,
                f'{quote(search_value)} is not "true": search is off (it must be exactly true)',
                on_template=on_template,
            )
        )
    found = tuple(warnings)

    excluded = split_list(workload.annotations.get(source.kind.exclude_key(names), ""))
    if source.name in excluded:
        return Decision(reload=False, reason=DecisionReason.EXCLUDED, warnings=found)
    if matched:
        return Decision(reload=True, auto=False, reason=DecisionReason.EXPLICIT, warnings=found)
    if selection.get(names.search) == "true" and source.annotations.get(names.match) == "true":
        return Decision(reload=True, auto=True, reason=DecisionReason.SEARCH, warnings=found)
    if auto_on or typed_on:
        return Decision(reload=True, auto=True, reason=DecisionReason.AUTO, warnings=found)
    if options.auto_reload_all and auto_value == "" and typed_value == "":
        return Decision(reload=True, auto=True, reason=DecisionReason.AUTO_ALL, warnings=found)
    return Decision(reload=False, reason=DecisionReason.NOT_SELECTED, warnings=found)
