from __future__ import annotations

import dataclasses

import pytest

from reloader.core.annotations import (
    AnnotationNames,
    SourceKind,
    annotation_warning,
    parse_bool,
    quote,
    split_list,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        *(pytest.param(v, True, id=f"true-{v}") for v in ("1", "t", "T", "TRUE", "true", "True")),
        *(
            pytest.param(v, False, id=f"false-{v}")
            for v in ("0", "f", "F", "FALSE", "false", "False")
        ),
        pytest.param("yes", None, id="yes-is-not-go"),
        pytest.param("tRuE", None, id="mixed-case"),
        pytest.param(" true", None, id="no-trimming"),
        pytest.param("", None, id="empty"),
        pytest.param("2", None, id="other-digit"),
        pytest.param("on", None, id="on"),
    ],
)
def test_parse_bool_accepts_exactly_gos_spellings(value: str, expected: bool | None) -> None:
    assert parse_bool(value) is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("a,b", ("a", "b"), id="plain"),
        pytest.param(" a , b ,", ("a", "b"), id="trimmed-and-trailing-comma"),
        pytest.param("", (), id="empty"),
        pytest.param(",,", (), id="only-commas"),
        pytest.param("app-.*", ("app-.*",), id="single-regex"),
        pytest.param("a,\tb\n", ("a", "b"), id="whitespace-of-all-kinds"),
    ],
)
def test_split_list_trims_and_drops_empty_elements(value: str, expected: tuple[str, ...]) -> None:
    assert split_list(value) == expected


def test_default_names_are_reloaders_keys() -> None:
    names = AnnotationNames()
    assert names.auto == "reloader.stakater.com/auto"
    assert names.configmap_auto == "configmap.reloader.stakater.com/auto"
    assert names.secret_auto == "secret.reloader.stakater.com/auto"
    assert names.spc_auto == "secretproviderclass.reloader.stakater.com/auto"
    assert names.configmap_reload == "configmap.reloader.stakater.com/reload"
    assert names.secret_reload == "secret.reloader.stakater.com/reload"
    assert names.spc_reload == "secretproviderclass.reloader.stakater.com/reload"
    assert names.search == "reloader.stakater.com/search"
    assert names.match == "reloader.stakater.com/match"
    assert names.ignore == "reloader.stakater.com/ignore"
    assert names.configmap_exclude == "configmaps.exclude.reloader.stakater.com/reload"
    assert names.secret_exclude == "secrets.exclude.reloader.stakater.com/reload"
    assert names.spc_exclude == "secretproviderclasses.exclude.reloader.stakater.com/reload"
    assert names.rollout_strategy == "reloader.stakater.com/rollout-strategy"
    assert names.pause_period == "deployment.reloader.stakater.com/pause-period"
    assert names.paused_at == "deployment.reloader.stakater.com/paused-at"
    assert names.last_reloaded_from == "reloader.stakater.com/last-reloaded-from"
    assert names.applied_hashes == "reloader.stakater.com/applied-hashes"


def test_names_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        AnnotationNames().auto = "x"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kind", "suffix", "prefix", "explicit", "typed_auto", "exclude"),
    [
        pytest.param(
            SourceKind.CONFIGMAP,
            "CONFIGMAP",
            "configmap",
            "configmap.reloader.stakater.com/reload",
            "configmap.reloader.stakater.com/auto",
            "configmaps.exclude.reloader.stakater.com/reload",
            id="configmap",
        ),
        pytest.param(
            SourceKind.SECRET,
            "SECRET",
            "secret",
            "secret.reloader.stakater.com/reload",
            "secret.reloader.stakater.com/auto",
            "secrets.exclude.reloader.stakater.com/reload",
            id="secret",
        ),
        pytest.param(
            SourceKind.SECRETPROVIDERCLASS,
            "SECRETPROVIDERCLASS",
            "secretproviderclass",
            "secretproviderclass.reloader.stakater.com/reload",
            "secretproviderclass.reloader.stakater.com/auto",
            "secretproviderclasses.exclude.reloader.stakater.com/reload",
            id="spc",
        ),
    ],
)
def test_source_kind_knows_its_keys_and_names(
    kind: SourceKind, suffix: str, prefix: str, explicit: str, typed_auto: str, exclude: str
) -> None:
    names = AnnotationNames()
    assert kind.env_suffix == suffix
    assert kind.record_prefix == prefix
    assert kind.record_key("x") == f"{prefix}/x"
    assert kind.explicit_key(names) == explicit
    assert kind.typed_auto_key(names) == typed_auto
    assert kind.exclude_key(names) == exclude


def test_source_kind_follows_renamed_keys() -> None:
    names = AnnotationNames(configmap_reload="my/reload", secret_auto="my/secret-auto")
    assert SourceKind.CONFIGMAP.explicit_key(names) == "my/reload"
    assert SourceKind.SECRET.typed_auto_key(names) == "my/secret-auto"


def test_source_kind_values_are_reloaders_type_strings() -> None:
    assert [k.value for k in SourceKind] == ["CONFIGMAP", "SECRET", "SECRETPROVIDERCLASS"]


def test_warning_names_key_and_quoted_value() -> None:
    text = annotation_warning("k/x", f"invalid boolean {quote('yes')}")
    assert text == 'annotation k/x: invalid boolean "yes"'
    assert annotation_warning("k/x", "p", on_template=True) == "pod template annotation k/x: p"


def test_quote_shortens_long_values() -> None:
    quoted = quote("x" * 1000, limit=10)
    assert quoted == '"' + "x" * 10 + '…"'
