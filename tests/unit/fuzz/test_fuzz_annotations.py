"""Fuzzing the parsers of annotation values: lists, regexes, booleans, durations, records,
key filters and reload windows.

The contract (docs/reliability.md, G5): an annotation value is user data, so no
value makes a parser raise; a value that cannot be used becomes a warning string that names the
annotation and quotes the value (the controller turns each into a Warning Event
``InvalidAnnotation`` and a log line).
"""

from __future__ import annotations

import ast
import json
import math
import re
import warnings

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from reloader.core.annotations import AnnotationNames, SourceKind, parse_bool, quote, split_list
from reloader.core.durations import parse_duration
from reloader.reload.domain.decisions import DecisionOptions, decide, explicit_match
from reloader.reload.domain.filters import parse_key_filter
from reloader.reload.domain.pauses import pause_state
from reloader.reload.domain.stamps import parse_record
from reloader.reload.domain.views import SourceView, WorkloadView
from reloader.workloads.admission import window_for
from reloader.workloads.domain.kinds import KINDS
from reloader.workloads.domain.patches import parse_last_reloaded_from
from reloader.workloads.domain.windows import Window, parse_window
from tests.unit.fuzz.strategies import (
    ANNOTATION_VALUES,
    BOOL_SPELLINGS,
    DURATION_TEXT,
    FAST,
    GO_DURATIONS,
    IGNORE_GC_CALLBACK,
    SOURCE_NAMES,
    STR_ANNOTATIONS,
    WORKLOAD_KIND_NAMES,
    huge_text,
)

N = AnnotationNames()
KINDS_OF_SOURCE = st.sampled_from(tuple(SourceKind))
_UNIT_SECONDS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}

pytestmark = IGNORE_GC_CALLBACK


def names_the_annotation_and_value(warnings: tuple[str, ...], key: str, value: str) -> bool:
    return any(key in w and quote(value) in w for w in warnings)


# ---------------------------------------------------------------------- booleans and lists


@FAST
@given(st.one_of(ANNOTATION_VALUES, st.sampled_from(BOOL_SPELLINGS)))
def test_parse_bool_accepts_exactly_go_spellings(value: str) -> None:
    parsed = parse_bool(value)
    if value in BOOL_SPELLINGS:
        assert parsed is (value in ("1", "t", "T", "TRUE", "true", "True"))
    else:
        assert parsed is None


@FAST
@given(ANNOTATION_VALUES)
def test_split_list_gives_trimmed_non_empty_elements_and_is_idempotent(value: str) -> None:
    parts = split_list(value)
    assert all(p and p == p.strip() and "," not in p for p in parts)
    assert split_list(",".join(parts)) == parts


@FAST
@given(st.one_of(ANNOTATION_VALUES, huge_text()))
def test_quote_is_short_and_valid_json(value: str) -> None:
    quoted = quote(value)
    decoded = json.loads(quoted)
    assert value.startswith(decoded.removesuffix("…"))
    assert len(decoded) <= 201


# ---------------------------------------------------------------------- decisions


def _view(annotations: dict[str, str], template: dict[str, str], kind: str) -> WorkloadView:
    return WorkloadView(
        kind=kind,
        namespace="ns",
        name="web",
        annotations=annotations,
        template_annotations=template,
        containers=("main",),
    )


@FAST
@given(
    annotations=STR_ANNOTATIONS,
    template=STR_ANNOTATIONS,
    source_annotations=STR_ANNOTATIONS,
    source_kind=KINDS_OF_SOURCE,
    source_name=SOURCE_NAMES,
    kind=WORKLOAD_KIND_NAMES,
    auto_reload_all=st.booleans(),
    ignored=st.frozensets(st.sampled_from(("jobs", "cronjobs", "deployments", ""))),
)
@example(  # "[[" makes re warn (FutureWarning: possible nested set): a warning, not a failure
    annotations={},
    template={N.configmap_reload: "[["},
    source_annotations={},
    source_kind=SourceKind.CONFIGMAP,
    source_name="a",
    kind="Deployment",
    auto_reload_all=False,
    ignored=frozenset(),
)
@example(
    annotations={N.configmap_reload: "a,(,b"},
    template={},
    source_annotations={},
    source_kind=SourceKind.CONFIGMAP,
    source_name="b",
    kind="Deployment",
    auto_reload_all=False,
    ignored=frozenset(),
)
def test_decide_never_raises_and_warns_about_every_bad_value(
    annotations: dict[str, str],
    template: dict[str, str],
    source_annotations: dict[str, str],
    source_kind: SourceKind,
    source_name: str,
    kind: str,
    auto_reload_all: bool,
    ignored: frozenset[str],
) -> None:
    source = SourceView(
        kind=source_kind,
        namespace="ns",
        name=source_name,
        annotations=source_annotations,
        labels={},
        hash="h",
    )
    decision = decide(
        source=source,
        workload=_view(annotations, template, kind),
        kind=KINDS[kind],
        names=N,
        options=DecisionOptions(auto_reload_all=auto_reload_all, ignored_workload_types=ignored),
    )
    assert isinstance(decision.reload, bool)
    for warning in decision.warnings:
        assert warning.startswith(("annotation ", "pod template annotation "))
    if decision.reason in ("workload-type-ignored", "ignored"):
        return  # decided before any workload annotation is read
    keys = (
        source_kind.explicit_key(N),
        N.auto,
        source_kind.typed_auto_key(N),
        N.search,
    )
    selection = annotations if any(k in annotations for k in keys) else template
    explicit_key = source_kind.explicit_key(N)
    for element in split_list(selection.get(explicit_key, "")):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)  # "[[": possible nested set
                re.compile(element)
        except re.error:
            assert names_the_annotation_and_value(decision.warnings, explicit_key, element)
    for key in (N.auto, source_kind.typed_auto_key(N)):
        value = selection.get(key, "")
        if value and parse_bool(value) is None:
            assert names_the_annotation_and_value(decision.warnings, key, value)


@pytest.mark.parametrize(
    "element", ["a{4294967296}", "x{99999999999999999999}", "(" * 5000 + ")" * 5000]
)
def test_explicit_list_with_an_uncompilable_regex_is_a_warning(element: str) -> None:
    key = N.configmap_reload
    matched, warnings = explicit_match(f"web,{element}", "web", key=key)
    assert matched
    assert names_the_annotation_and_value(warnings, key, element)


@pytest.mark.parametrize("value", ["True", "yes", "1"])
def test_search_with_a_non_boolean_value_is_a_warning(value: str) -> None:
    source = SourceView(
        kind=SourceKind.CONFIGMAP,
        namespace="ns",
        name="cm",
        annotations={N.match: "true"},
        labels={},
        hash="h",
    )
    decision = decide(
        source=source,
        workload=_view({N.search: value}, {}, "Deployment"),
        kind=KINDS["Deployment"],
        names=N,
        options=DecisionOptions(),
    )
    assert decision.reload or names_the_annotation_and_value(decision.warnings, N.search, value)


# ---------------------------------------------------------------------- durations and pauses


@FAST
@given(DURATION_TEXT)
def test_parse_duration_returns_seconds_or_raises_value_error_quoting_the_text(text: str) -> None:
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        message = str(exc)
    else:
        assert isinstance(seconds, float)
        assert not math.isnan(seconds)
        return
    assert repr(text) in message


@FAST
@given(GO_DURATIONS)
def test_parse_duration_reads_every_go_duration(text: str) -> None:
    body = text.lstrip("+-")
    expected = sum(
        float(number) * _UNIT_SECONDS[unit]
        for number, unit in re.findall(r"([\d.]+)(ns|us|µs|μs|ms|s|m|h)", body)
    )
    sign = -1.0 if text.startswith("-") else 1.0
    assert parse_duration(text) == pytest.approx(sign * expected)


@FAST
@given(
    annotations=STR_ANNOTATIONS,
    period=st.one_of(st.none(), DURATION_TEXT),
    paused_at=st.one_of(
        st.none(), st.sampled_from(("2024-01-01T00:00:00Z", "2024-01-01", "x", "")), st.text()
    ),
    paused=st.booleans(),
    kind=WORKLOAD_KIND_NAMES,
    now=st.floats(min_value=0, max_value=4e9),
)
def test_pause_state_never_raises_and_names_a_bad_period(
    annotations: dict[str, str],
    period: str | None,
    paused_at: str | None,
    paused: bool,
    kind: str,
    now: float,
) -> None:
    annotations = dict(annotations)
    for key, value in ((N.pause_period, period), (N.paused_at, paused_at)):
        if value is not None:
            annotations[key] = value
        else:
            annotations.pop(key, None)
    view = WorkloadView(
        kind=kind, namespace="ns", name="web", annotations=annotations, paused=paused
    )
    state = pause_state(view=view, kind=KINDS[kind], names=N, now=now)
    assert state.period is None or state.period >= 0
    assert state.wait is None or state.wait > 0
    raw = annotations.get(N.pause_period)
    if raw is None:
        return
    if not KINDS[kind].supports_pause:
        assert any(N.pause_period in w for w in state.warnings)
        return
    try:
        parse_duration(raw)
    except ValueError:
        assert names_the_annotation_and_value(state.warnings, N.pause_period, raw)


# ---------------------------------------------------------------------- records, key filters


@example("[" * 1992)  # deeper than the oracle's json module can decode
@FAST
@given(
    st.one_of(
        st.none(),
        ANNOTATION_VALUES,
        st.dictionaries(st.text(max_size=10), st.one_of(st.text(max_size=5), st.integers())).map(
            json.dumps
        ),
    )
)
def test_parse_record_keeps_string_hashes_and_warns_otherwise(value: str | None) -> None:
    record, warnings = parse_record(value, key=N.applied_hashes)
    entries: list[tuple[object, object]] = list(record.items())
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in entries)
    if value is None:
        assert (record, warnings) == ({}, ())
        return
    try:
        decoded = json.loads(value)
    except (ValueError, RecursionError):  # deep nesting: the oracle's own parser gives up
        assert names_the_annotation_and_value(warnings, N.applied_hashes, value)
        return
    if not isinstance(decoded, dict) or len(record) != len(decoded):
        assert names_the_annotation_and_value(warnings, N.applied_hashes, value)
    else:
        assert warnings == ()


KEY_FILTER_TEXT = st.one_of(
    ANNOTATION_VALUES,
    st.lists(
        st.builds(
            lambda kind, name, keys: f"{kind}/{name}={keys}",
            st.sampled_from(("configmap", "secret", "Secret", "pod", "")),
            st.text(alphabet="ab- ", max_size=4),
            st.text(alphabet="k1,2 ", max_size=6),
        ),
        max_size=3,
    ).map(";".join),
)


@FAST
@given(KEY_FILTER_TEXT)
def test_parse_key_filter_returns_a_filter_or_a_value_error_naming_the_entry(text: str) -> None:
    try:
        parsed = parse_key_filter(text)
    except ValueError as exc:
        message = str(exc)
    else:
        for key, keys in parsed.items():
            assert key.split("/", 1)[0] in ("configmap", "secret")
            assert keys
            assert all(k == k.strip() and k for k in keys)
        return
    assert "invalid" in message


# ---------------------------------------------------------------------- reload windows

ZONES = st.one_of(
    st.sampled_from(("UTC", "Europe/Paris", "America/New_York", "", "utc", "Mars/Base", "../x")),
    st.text(max_size=20),
)
WINDOW_TEXT = st.one_of(
    ANNOTATION_VALUES,
    st.builds(
        lambda days, a, b: f"{days} {a}-{b}".strip(),
        st.sampled_from(("", "Mon-Fri", "Sat,Sun", "mon", "Funday", "Mon-", "-")),
        st.sampled_from(("09:00", "24:00", "25:00", "9:60", "00:00", "1:5")),
        st.sampled_from(("17:00", "09:00", "00:00", "24:01", "3:00")),
    ),
)


@FAST
@given(WINDOW_TEXT, ZONES)
def test_parse_window_returns_a_window_or_a_value_error(text: str, zone: str) -> None:
    try:
        window = parse_window(text, zone)
    except ValueError:
        return
    assert isinstance(window, Window)
    assert window.days
    assert 0 <= window.start <= 1440
    assert 0 <= window.end <= 1440
    assert window.wait(1_700_000_000.0) >= 0


@FAST
@given(WINDOW_TEXT, ZONES)
def test_reload_window_annotation_warns_naming_the_annotation_and_value(
    text: str, zone: str
) -> None:
    annotations = {N.reload_window: text, N.reload_window_timezone: zone}
    window, warnings = window_for(annotations, names=N, default="", default_timezone="UTC")
    if window is None and text:
        # the warning names the annotation and quotes the value, or the bad part of it
        assert any(
            N.reload_window in w
            and any(part and (part in text or part in zone) for part in _quoted_parts(w))
            for w in warnings
        ), warnings


def _quoted_parts(warning: str) -> list[str]:
    """The Python-repr quoted strings in a warning (``invalid time '25:00'``)."""
    parts = []
    for match in re.finditer(r"'((?:[^'\\]|\\.)*)'|\"((?:[^\"\\]|\\.)*)\"", warning):
        quoted = match.group(0)
        try:
            parts.append(str(ast.literal_eval(quoted)))
        except (ValueError, SyntaxError):
            continue
    return parts


@pytest.mark.parametrize("zone", ["America", "Etc", "x" * 300])
def test_reload_window_timezone_that_names_a_directory_is_a_warning(zone: str) -> None:
    annotations = {N.reload_window: "Mon-Fri 09:00-17:00", N.reload_window_timezone: zone}
    window, warnings = window_for(annotations, names=N, default="", default_timezone="UTC")
    assert window is None
    assert any(N.reload_window_timezone in w for w in warnings)


def test_unknown_reload_window_timezone_warning_names_the_timezone_annotation() -> None:
    annotations = {N.reload_window: "09:00-17:00", N.reload_window_timezone: "Mars/Base"}
    window, warnings = window_for(annotations, names=N, default="", default_timezone="UTC")
    assert window is None
    assert any(
        w.startswith(f"annotation {N.reload_window_timezone}:") and "Mars/Base" in w
        for w in warnings
    )


@pytest.mark.parametrize("value", ["[" * 100_000, '{"a":' * 100_000], ids=["lists", "objects"])
def test_deeply_nested_json_in_our_annotations_is_a_warning(value: str) -> None:
    record, warnings = parse_record(value, key=N.applied_hashes)
    assert record == {}
    assert names_the_annotation_and_value(warnings, N.applied_hashes, value)
    assert parse_last_reloaded_from(value) is None
