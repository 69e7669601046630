"""Which sources a decision sees, and which recorded ones are gone: the controller's rule and
``reloader explain``'s."""

from __future__ import annotations

import dataclasses
import json

import pytest

from reloader.core.annotations import AnnotationNames, SourceKind
from reloader.reload.domain.candidates import candidates, newest, wanted, watched_kinds
from reloader.reload.domain.views import SourceView
from reloader.settings import ReloadSettings
from tests.unit.domain.builders import (
    cm_from,
    container,
    csi_volume,
    pod_spec,
    secret_from,
    source,
    workload,
)

NAMES = AnnotationNames()
ALL = tuple(SourceKind)
CM, SECRET, SPC = SourceKind.CONFIGMAP, SourceKind.SECRET, SourceKind.SECRETPROVIDERCLASS
SPEC = pod_spec(
    container("app", env_from=[cm_from("used"), secret_from("creds")], mounts=("vault",)),
    volumes=(csi_volume("vault", "vault-spc"),),
)


def _version(src: SourceView, version: str) -> SourceView:
    return dataclasses.replace(src, resource_version=version)


def _names(sources: tuple[SourceView, ...]) -> list[tuple[str, str]]:
    return [(s.kind.value, s.name) for s in sources]


def test_referenced_sources_only_without_an_explicit_list() -> None:
    view = workload(annotations={NAMES.auto: "true"}, spec=SPEC)
    found = candidates(
        view,
        [source("used"), source("other"), source("creds", SECRET), source("vault-spc", SPC)],
        names=NAMES,
        kinds=ALL,
    )
    assert _names(found.sources) == [
        ("CONFIGMAP", "used"),
        ("SECRET", "creds"),
        ("SECRETPROVIDERCLASS", "vault-spc"),
    ]
    assert found.missing == frozenset()


@pytest.mark.parametrize("on_template", [False, True], ids=["metadata", "template"])
def test_an_explicit_list_adds_every_source_of_its_kind(on_template: bool) -> None:
    annotations = {NAMES.configmap_reload: "other"}
    view = workload(
        annotations=None if on_template else annotations,
        template_annotations=annotations if on_template else None,
        spec=SPEC,
    )
    found = candidates(
        view,
        [
            source("used"),
            source("other"),
            source("spare", SECRET),
            source("x", namespace="elsewhere"),
        ],
        names=NAMES,
        kinds=ALL,
    )
    assert _names(found.sources) == [("CONFIGMAP", "other"), ("CONFIGMAP", "used")]


def test_the_newest_pod_status_stands_for_its_class() -> None:
    view = workload(annotations={NAMES.auto: "true"}, spec=SPEC)
    statuses = [
        _version(source("vault-spc", SPC, hash="pod-a"), "9"),
        _version(source("vault-spc", SPC, hash="pod-b"), "10"),  # newer as a number, not as text
        _version(source("vault-spc", SPC, hash="pod-c"), "8"),
    ]
    found = candidates(view, statuses, names=NAMES, kinds=ALL)
    assert [s.hash for s in found.sources] == ["pod-b"]
    assert newest(statuses)[(SPC, "vault-spc")].hash == "pod-b"


def test_recorded_configmaps_and_secrets_that_no_longer_exist_are_missing() -> None:
    record = {
        "configmap/used": "h",  # exists
        "configmap/gone": "h",  # deleted
        "secret/creds": "h",  # deleted
        "secretproviderclass/vault-spc": "h",  # pod statuses come and go: never missing
        "configmap/unselected": "h",  # exists, no longer referenced: not missing
    }
    view = workload(annotations={NAMES.applied_hashes: json.dumps(record)}, spec=SPEC)
    found = candidates(view, [source("used"), source("unselected")], names=NAMES, kinds=ALL)
    assert found.missing == {"configmap/gone", "secret/creds"}


def test_kinds_that_are_not_watched_are_neither_candidates_nor_missing() -> None:
    record = {"secret/creds": "h", "configmap/gone": "h"}
    view = workload(annotations={NAMES.applied_hashes: json.dumps(record)}, spec=SPEC)
    kinds = watched_kinds(ReloadSettings(resources_to_ignore=frozenset({SECRET})))
    assert kinds == (CM,)
    found = candidates(
        view,
        [source("used"), source("creds", SECRET), source("vault-spc", SPC)],
        names=NAMES,
        kinds=kinds,
    )
    assert _names(found.sources) == [("CONFIGMAP", "used")]
    assert found.missing == {"configmap/gone"}


def test_watched_kinds_follow_the_flags() -> None:
    assert watched_kinds(ReloadSettings()) == (CM, SECRET)
    assert watched_kinds(ReloadSettings(csi=True)) == (CM, SECRET, SPC)
    ignore = ReloadSettings(csi=True, resources_to_ignore=frozenset({CM}))
    assert watched_kinds(ignore) == (SECRET, SPC)


def test_wanted_names_what_a_cache_must_look_up() -> None:
    record = {"configmap/old": "h", "secret/creds": "h"}
    view = workload(
        annotations={NAMES.applied_hashes: json.dumps(record), NAMES.secret_reload: "creds"},
        spec=SPEC,
    )
    want = wanted(view, names=NAMES, kinds=(CM, SECRET))
    assert want.kinds == {SECRET}
    assert want.names == {(CM, "used"), (CM, "old"), (SECRET, "creds")}
