from __future__ import annotations

from typing import Any

import pytest

from reloader.core.annotations import SourceKind
from reloader.workloads.domain.references import Reference, find_references, target_container
from tests.unit.domain.builders import (
    cm_from,
    cm_key_ref,
    cm_volume,
    container,
    csi_volume,
    pod_spec,
    projected_volume,
    secret_from,
    secret_key_ref,
    secret_volume,
)

CM = SourceKind.CONFIGMAP
SECRET = SourceKind.SECRET
SPC = SourceKind.SECRETPROVIDERCLASS


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        pytest.param(
            pod_spec(container("a", env=[cm_key_ref("cm")])),
            [Reference(CM, "cm", "a", "env")],
            id="env-configmap-key-ref",
        ),
        pytest.param(
            pod_spec(container("a", env=[secret_key_ref("s")])),
            [Reference(SECRET, "s", "a", "env")],
            id="env-secret-key-ref",
        ),
        pytest.param(
            pod_spec(container("a", env_from=[cm_from("cm")])),
            [Reference(CM, "cm", "a", "envFrom")],
            id="env-from-configmap",
        ),
        pytest.param(
            pod_spec(container("a", env_from=[secret_from("s")])),
            [Reference(SECRET, "s", "a", "envFrom")],
            id="env-from-secret",
        ),
        pytest.param(
            pod_spec(container("a", mounts=("v",)), volumes=(cm_volume("v", "cm"),)),
            [Reference(CM, "cm", "a", "volume", volume="v")],
            id="configmap-volume",
        ),
        pytest.param(
            pod_spec(container("a", mounts=("v",)), volumes=(secret_volume("v", "s"),)),
            [Reference(SECRET, "s", "a", "volume", volume="v")],
            id="secret-volume",
        ),
        pytest.param(
            pod_spec(
                container("a", mounts=("p",)),
                volumes=(projected_volume("p", cms=("cm",), secrets=("s",)),),
            ),
            [
                Reference(CM, "cm", "a", "projected", volume="p"),
                Reference(SECRET, "s", "a", "projected", volume="p"),
            ],
            id="mixed-projected-volume",
        ),
        pytest.param(
            pod_spec(container("a", mounts=("c",)), volumes=(csi_volume("c", "spc"),)),
            [Reference(SPC, "spc", "a", "csi", volume="c")],
            id="csi-volume",
        ),
        pytest.param(
            pod_spec(container("a"), init=(container("i", env_from=[cm_from("cm")]),)),
            [Reference(CM, "cm", "i", "envFrom", init=True)],
            id="init-container",
        ),
        pytest.param(
            pod_spec(container("a"), volumes=(cm_volume("v", "cm"),)),
            [],
            id="unmounted-volume-is-no-reference",
        ),
        pytest.param(
            pod_spec(
                container("a", env=[cm_key_ref("cm", "X"), cm_key_ref("cm", "Y")]),
            ),
            [Reference(CM, "cm", "a", "env")],
            id="duplicates-collapsed",
        ),
        pytest.param(
            pod_spec(
                container("a", env_from=[cm_from("one")]),
                container("b", env_from=[cm_from("two")]),
            ),
            [Reference(CM, "one", "a", "envFrom"), Reference(CM, "two", "b", "envFrom")],
            id="multi-container",
        ),
    ],
)
def test_find_references(spec: dict[str, Any], expected: list[Reference]) -> None:
    assert list(find_references(spec)) == expected


def test_subpath_mount_counts_as_reference() -> None:
    spec = pod_spec(container("a"), volumes=(cm_volume("v", "cm"),))
    spec["containers"][0]["volumeMounts"] = [{"name": "v", "mountPath": "/x", "subPath": "k"}]
    assert find_references(spec) == (Reference(CM, "cm", "a", "volume", volume="v"),)


@pytest.mark.parametrize(
    "spec",
    [
        pytest.param(None, id="none"),
        pytest.param({}, id="empty"),
        pytest.param({"containers": None}, id="containers-null"),
        pytest.param({"containers": "x"}, id="containers-string"),
        pytest.param({"containers": [None, 3, "a", {"image": "no-name"}]}, id="junk-containers"),
        pytest.param(
            {"containers": [{"name": "a", "env": "x", "envFrom": [None, 3], "volumeMounts": {}}]},
            id="junk-env",
        ),
        pytest.param(
            {
                "containers": [{"name": "a", "env": [{"valueFrom": None}, {"valueFrom": []}]}],
                "volumes": [None, {"name": "v", "configMap": None}, {"projected": []}],
            },
            id="junk-value-from-and-volumes",
        ),
        pytest.param(
            {
                "containers": [{"name": "a", "volumeMounts": [{"name": "v"}, None, {"name": 3}]}],
                "volumes": [{"name": "v", "projected": {"sources": None}, "csi": "x"}],
            },
            id="junk-projected-and-csi",
        ),
        pytest.param(
            {"containers": [{"name": "a", "env": [{"valueFrom": {"configMapKeyRef": {}}}]}]},
            id="ref-without-name",
        ),
    ],
)
def test_malformed_pod_specs_give_no_references_and_no_target(spec: Any) -> None:
    assert find_references(spec) == ()
    assert target_container(spec, CM, "cm") is None


@pytest.mark.parametrize(
    ("spec", "kind", "name", "expected"),
    [
        pytest.param(
            pod_spec(container("a"), container("b", env=[cm_key_ref("cm")])),
            CM, "cm", "b", id="env-key-ref-container",
        ),
        pytest.param(
            pod_spec(container("a"), container("b", env_from=[secret_from("s")])),
            SECRET, "s", "b", id="env-from-secret-container",
        ),
        pytest.param(
            pod_spec(
                container("a"), container("b", mounts=("v",)), volumes=(cm_volume("v", "cm"),)
            ),
            CM, "cm", "b", id="volume-mounting-container",
        ),
        pytest.param(
            pod_spec(
                container("a"), container("b", mounts=("p",)),
                volumes=(projected_volume("p", secrets=("s",)),),
            ),
            SECRET, "s", "b", id="projected-secret",
        ),
        pytest.param(
            pod_spec(
                container("a"), container("b", mounts=("c",)), volumes=(csi_volume("c", "spc"),)
            ),
            SPC, "spc", "b", id="csi",
        ),
        pytest.param(
            pod_spec(
                container("a", env_from=[cm_from("cm")]), container("b", mounts=("v",)),
                volumes=(cm_volume("v", "cm"),),
            ),
            CM, "cm", "b", id="volume-before-env",
        ),
        pytest.param(
            pod_spec(
                container("a", env_from=[cm_from("cm")]), container("b", env_from=[cm_from("cm")]),
            ),
            CM, "cm", "a", id="first-of-several-containers",
        ),
        pytest.param(
            pod_spec(container("main"), init=(container("i", env_from=[cm_from("cm")]),)),
            CM, "cm", "main", id="init-env-goes-to-first-container",
        ),
        pytest.param(
            pod_spec(
                container("main"), container("side"), init=(container("i", mounts=("v",)),),
                volumes=(secret_volume("v", "s"),),
            ),
            SECRET, "s", "main", id="init-volume-goes-to-first-container",
        ),
        pytest.param(
            pod_spec(
                container("main"), init=(container("i", mounts=("c",)),),
                volumes=(csi_volume("c", "spc"),),
            ),
            SPC, "spc", "main", id="init-csi-goes-to-first-container",
        ),
        pytest.param(
            pod_spec(init=(container("i", env_from=[cm_from("cm")]),)),
            CM, "cm", None, id="init-only-and-no-regular-container",
        ),
        pytest.param(
            pod_spec(container("a"), container("b")), CM, "cm", None, id="no-reference",
        ),
        pytest.param(
            pod_spec(container("a", mounts=("v",)), volumes=(secret_volume("v", "cm"),)),
            CM, "cm", None, id="secret-of-same-name-is-not-the-configmap",
        ),
        pytest.param(
            pod_spec(
                container("a", env_from=[cm_from("cm")]), container("b", mounts=("v2",)),
                volumes=(cm_volume("v1", "cm"), cm_volume("v2", "cm")),
            ),
            CM, "cm", "a", id="only-the-first-volume-counts-then-env",
        ),
        pytest.param(
            pod_spec(
                container("a"), container("b", mounts=("v",)),
                init=(container("i", env_from=[cm_from("cm")]),),
                volumes=(cm_volume("v", "cm"),),
            ),
            CM, "cm", "b", id="regular-volume-beats-init-env",
        ),
    ],
)  # fmt: skip
def test_target_container(
    spec: dict[str, Any], kind: SourceKind, name: str, expected: str | None
) -> None:
    assert target_container(spec, kind, name) == expected
