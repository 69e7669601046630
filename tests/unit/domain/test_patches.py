from __future__ import annotations

import json
from typing import Any

import pytest

from reloader.core.annotations import SourceKind
from reloader.workloads.domain.kinds import KINDS
from reloader.workloads.domain.patches import (
    convert_to_env_var_name,
    env_patch,
    env_var_name,
    go_json,
    last_reloaded_from_value,
    merge_patches,
    metadata_annotations_patch,
    parse_last_reloaded_from,
    template_annotations_patch,
)

CM = SourceKind.CONFIGMAP


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("www.stakater.com", "WWW_STAKATER_COM", id="spec-example"),
        pytest.param("my-cm", "MY_CM", id="dash"),
        pytest.param("my--cm-", "MY_CM_", id="run-collapses-trailing-kept"),
        pytest.param("--cm", "CM", id="leading-junk-dropped"),
        pytest.param("a.-_b", "A_B", id="mixed-run"),
        pytest.param("Cm9", "CM9", id="digits-and-case"),
        pytest.param("", "", id="empty"),
        pytest.param("ab-é-c", "AB_C", id="non-ascii-bytes-are-junk"),
    ],
)
def test_convert_to_env_var_name(text: str, expected: str) -> None:
    assert convert_to_env_var_name(text) == expected


@pytest.mark.parametrize(
    ("kind", "name", "expected"),
    [
        pytest.param(CM, "my-cm", "STAKATER_MY_CM_CONFIGMAP", id="configmap"),
        pytest.param(CM, "my--cm-", "STAKATER_MY_CM__CONFIGMAP", id="trailing-separator"),
        pytest.param(SourceKind.SECRET, "db.creds", "STAKATER_DB_CREDS_SECRET", id="secret"),
        pytest.param(
            SourceKind.SECRETPROVIDERCLASS, "vault", "STAKATER_VAULT_SECRETPROVIDERCLASS", id="spc"
        ),
    ],
)
def test_env_var_name(kind: SourceKind, name: str, expected: str) -> None:
    assert env_var_name(kind, name) == expected


def test_last_reloaded_from_is_compact_json_in_reloaders_field_order() -> None:
    value = last_reloaded_from_value(
        source_kind=CM,
        name="cm",
        namespace="ns",
        hash="abc",
        container="main",
        observed_at=1700000000,
    )
    assert value == (
        '{"type":"CONFIGMAP","name":"cm","namespace":"ns","hash":"abc",'
        '"containerRefs":["main"],"observedAt":1700000000}'
    )
    assert list(json.loads(value)) == [
        "type", "name", "namespace", "hash", "containerRefs", "observedAt",
    ]  # fmt: skip


def test_go_json_escapes_html_like_go() -> None:
    assert go_json({"a": "<&>"}) == '{"a":"\\u003c\\u0026\\u003e"}'
    assert go_json(["é"]) == '["é"]'


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param('{"type":"SECRET"}', {"type": "SECRET"}, id="object"),
        pytest.param(None, None, id="absent"),
        pytest.param("", None, id="empty"),
        pytest.param("{bad", None, id="invalid-json"),
        pytest.param("[1]", None, id="not-an-object"),
    ],
)
def test_parse_last_reloaded_from(value: str | None, expected: Any) -> None:
    assert parse_last_reloaded_from(value) == expected


def test_env_patch_shape_is_reloaders() -> None:
    patch = env_patch(KINDS["Deployment"], {"C": {"E": "H"}})
    assert patch == {
        "spec": {"template": {"spec": {"containers": [{"name": "C", "env": [
            {"name": "E", "value": "H"}]}]}}}
    }  # fmt: skip


def test_env_patch_nests_at_the_cronjob_template() -> None:
    patch = env_patch(KINDS["CronJob"], {"C": {"E": "H"}})
    template = patch["spec"]["jobTemplate"]["spec"]["template"]
    assert template == {
        "spec": {"containers": [{"name": "C", "env": [{"name": "E", "value": "H"}]}]}
    }


def test_env_patch_without_vars_is_empty() -> None:
    assert env_patch(KINDS["Deployment"], {"C": {}}) == {}


def test_template_and_metadata_annotation_patches() -> None:
    assert template_annotations_patch(KINDS["DaemonSet"], {"k": "v"}) == {
        "spec": {"template": {"metadata": {"annotations": {"k": "v"}}}}
    }
    assert metadata_annotations_patch({"k": None, "j": "x"}) == {
        "metadata": {"annotations": {"k": None, "j": "x"}}
    }


@pytest.mark.parametrize(
    ("patches", "expected"),
    [
        pytest.param(
            [{"a": {"b": 1}}, {"a": {"c": 2}}], {"a": {"b": 1, "c": 2}}, id="deep-dicts"
        ),
        pytest.param([{"a": 1}, {"a": 2}], {"a": 2}, id="later-scalar-wins"),
        pytest.param([{"a": {"b": 1}}, {"a": None}], {"a": None}, id="null-replaces"),
        pytest.param([{"a": [1, 2]}, {"a": [3]}], {"a": [3]}, id="unnamed-lists-replaced"),
        pytest.param(
            [
                {"containers": [{"name": "a", "env": [{"name": "X", "value": "1"}]}]},
                {"containers": [{"name": "b", "env": [{"name": "Y", "value": "2"}]}]},
                {"containers": [{"name": "a", "env": [{"name": "Z", "value": "3"},
                                                      {"name": "X", "value": "9"}]}]},
            ],
            {"containers": [
                {"name": "a", "env": [{"name": "X", "value": "9"}, {"name": "Z", "value": "3"}]},
                {"name": "b", "env": [{"name": "Y", "value": "2"}]},
            ]},
            id="containers-and-env-merged-by-name",
        ),
        pytest.param([], {}, id="nothing"),
    ],
)  # fmt: skip
def test_merge_patches(patches: list[dict[str, Any]], expected: dict[str, Any]) -> None:
    assert merge_patches(*patches) == expected


def test_merge_patches_does_not_mutate_inputs() -> None:
    first = {"a": {"b": 1}}
    merge_patches(first, {"a": {"c": 2}})
    assert first == {"a": {"b": 1}}
