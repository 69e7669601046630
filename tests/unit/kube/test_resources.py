"""Generic verbs: paths, query parameters, content types, field manager, discovery."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import anyio
import orjson
import pytest

from reloader.core.objects import CONFIGMAPS, DEPLOYMENTS, JOBS, NAMESPACES, ROLLOUTS
from reloader.errors import Forbidden, NotFound
from reloader.kube import resources
from tests.unit.kube.fake_apiserver import Answer, FakeApiServer, obj, status

if TYPE_CHECKING:
    from reloader.kube.client import KubeClient

DEADLINE = 5.0
DEPLOY = "/apis/apps/v1/namespaces/ns/deployments/web"


def last_body(server: FakeApiServer) -> Any:
    return orjson.loads(server.requests[-1].body)


async def test_list_page_sends_selectors_limit_and_continue(
    server: FakeApiServer, client: KubeClient
) -> None:
    server.objects = [obj("a", "1"), obj("b", "2"), obj("c", "3")]
    with anyio.fail_after(DEADLINE):
        page = await resources.list_page(
            client, CONFIGMAPS, namespace="ns", label_selector="app in (x,y)",
            field_selector="metadata.name!=z", limit=2, continue_token="c1",
        )  # fmt: skip
    assert [item["metadata"]["name"] for item in page["items"]] == ["b", "c"]
    request = server.requests[-1]
    assert request.path == "/api/v1/namespaces/ns/configmaps"
    assert request.query == {
        "limit": "2",
        "labelSelector": "app in (x,y)",
        "fieldSelector": "metadata.name!=z",
        "continue": "c1",
    }


async def test_list_page_of_all_namespaces(server: FakeApiServer, client: KubeClient) -> None:
    with anyio.fail_after(DEADLINE):
        await resources.list_page(client, CONFIGMAPS)
    assert server.requests[-1].path == "/api/v1/configmaps"


async def test_get_raises_not_found(server: FakeApiServer, client: KubeClient) -> None:
    with anyio.fail_after(DEADLINE), pytest.raises(NotFound):
        await resources.get(client, DEPLOYMENTS, namespace="ns", name="web")
    assert server.requests[-1].path == DEPLOY


async def test_named_verbs_of_a_namespaced_type_need_a_namespace(client: KubeClient) -> None:
    with pytest.raises(ValueError, match="namespace"):
        await resources.get(client, DEPLOYMENTS, namespace=None, name="web")


async def test_create_sends_field_manager_and_fills_kind(
    server: FakeApiServer, client: KubeClient
) -> None:
    path = "/api/v1/namespaces/ns/configmaps"
    server.answers[("POST", path)] = Answer(201, obj("a", "5"))
    with anyio.fail_after(DEADLINE):
        created = await resources.create(
            client, CONFIGMAPS, namespace=None, body={"metadata": {"name": "a", "namespace": "ns"}}
        )
    assert created["metadata"]["resourceVersion"] == "5"
    request = server.requests[-1]
    assert request.path == path
    assert request.query == {"fieldManager": "reloader"}
    assert request.headers["Content-Type"] == "application/json"
    assert last_body(server) == {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "a", "namespace": "ns"},
    }


async def test_create_cluster_scoped(server: FakeApiServer, client: KubeClient) -> None:
    server.answers[("POST", "/api/v1/namespaces")] = Answer(201, {"kind": "Namespace"})
    with anyio.fail_after(DEADLINE):
        await resources.create(client, NAMESPACES, namespace=None, body={"metadata": {"name": "n"}})
    assert last_body(server)["kind"] == "Namespace"


async def test_replace_puts_the_object(server: FakeApiServer, client: KubeClient) -> None:
    server.answers[("PUT", DEPLOY)] = Answer(200, {"kind": "Deployment"})
    body = {"metadata": {"name": "web", "resourceVersion": "7"}, "spec": {}}
    with anyio.fail_after(DEADLINE):
        await resources.replace(
            client, DEPLOYMENTS, namespace="ns", name="web", body=body, field_manager="other"
        )
    assert server.requests[-1].query == {"fieldManager": "other"}
    assert last_body(server)["apiVersion"] == "apps/v1"


@pytest.mark.parametrize(
    ("patch_type", "body", "content_type"),
    [
        pytest.param(
            "strategic",
            {"spec": {"template": {"metadata": {"annotations": {"a": "1"}}}}},
            "application/strategic-merge-patch+json",
            id="strategic",
        ),
        pytest.param(
            "merge",
            {"metadata": {"labels": {"a": None}}},
            "application/merge-patch+json",
            id="merge",
        ),
        pytest.param(
            "json",
            [{"op": "replace", "path": "/spec/replicas", "value": 0}],
            "application/json-patch+json",
            id="json",
        ),
    ],
)
async def test_patch_content_types(
    server: FakeApiServer, client: KubeClient, patch_type: Any, body: Any, content_type: str
) -> None:
    server.answers[("PATCH", DEPLOY)] = Answer(200, {"kind": "Deployment"})
    with anyio.fail_after(DEADLINE):
        result = await resources.patch(
            client, DEPLOYMENTS, namespace="ns", name="web", body=body, patch_type=patch_type
        )
    assert result == {"kind": "Deployment"}
    request = server.requests[-1]
    assert request.headers["Content-Type"] == content_type
    assert request.query == {"fieldManager": "reloader"}
    assert last_body(server) == body


async def test_apply_patch_is_typed_and_may_force(
    server: FakeApiServer, client: KubeClient
) -> None:
    path = "/apis/argoproj.io/v1alpha1/namespaces/ns/rollouts/r"
    server.answers[("PATCH", path)] = Answer(200, {"kind": "Rollout"})
    with anyio.fail_after(DEADLINE):
        await resources.patch(
            client, ROLLOUTS, namespace="ns", name="r", body={"spec": {"restartAt": "now"}},
            patch_type="apply", field_manager="reloader-restart", force=True,
        )  # fmt: skip
    request = server.requests[-1]
    assert request.headers["Content-Type"] == "application/apply-patch+yaml"
    assert request.query == {"fieldManager": "reloader-restart", "force": "true"}
    assert last_body(server) == {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "spec": {"restartAt": "now"},
    }


async def test_patch_body_must_match_the_patch_type(client: KubeClient) -> None:
    with pytest.raises(TypeError):
        await resources.patch(
            client, DEPLOYMENTS, namespace="ns", name="web", body={"a": 1}, patch_type="json"
        )
    with pytest.raises(TypeError):
        await resources.patch(
            client, DEPLOYMENTS, namespace="ns", name="web", body=[{"op": "x"}], patch_type="merge"
        )


async def test_patch_of_a_subresource(server: FakeApiServer, client: KubeClient) -> None:
    server.answers[("PATCH", DEPLOY + "/scale")] = Answer(200, {"kind": "Scale"})
    with anyio.fail_after(DEADLINE):
        await resources.patch(
            client, DEPLOYMENTS, namespace="ns", name="web", body={"spec": {"replicas": 0}},
            patch_type="merge", subresource="scale",
        )  # fmt: skip
    assert server.requests[-1].path == DEPLOY + "/scale"


async def test_delete_with_propagation_and_precondition(
    server: FakeApiServer, client: KubeClient
) -> None:
    path = "/apis/batch/v1/namespaces/ns/jobs/j"
    server.answers[("DELETE", path)] = Answer(200, {"kind": "Status", "status": "Success"})
    with anyio.fail_after(DEADLINE):
        await resources.delete(
            client, JOBS, namespace="ns", name="j", propagation_policy="Background",
            precondition_uid="u-1",
        )  # fmt: skip
        assert last_body(server) == {
            "kind": "DeleteOptions",
            "apiVersion": "v1",
            "propagationPolicy": "Background",
            "preconditions": {"uid": "u-1"},
        }
        await resources.delete(client, JOBS, namespace="ns", name="j")
    assert server.requests[-1].body == b""


def discovery(*names: str) -> dict[str, Any]:
    return {
        "kind": "APIResourceList",
        "groupVersion": "argoproj.io/v1alpha1",
        "resources": [{"name": n, "namespaced": True, "kind": "X"} for n in names],
    }


async def test_api_resource_exists(server: FakeApiServer, client: KubeClient) -> None:
    path = "/apis/argoproj.io/v1alpha1"
    server.answers[("GET", path)] = Answer(200, discovery("rollouts", "rollouts/status"))
    server.answers[("GET", "/api/v1")] = Answer(200, discovery("configmaps"))
    with anyio.fail_after(DEADLINE):
        assert await resources.api_resource_exists(client, "argoproj.io/v1alpha1", "rollouts")
        assert not await resources.api_resource_exists(
            client, "argoproj.io/v1alpha1", "analysisruns"
        )
        assert await resources.api_resource_exists(client, "v1", "configmaps")
        assert not await resources.api_resource_exists(
            client, "secrets-store.csi.x-k8s.io/v1", "secretproviderclasspodstatuses"
        )
    assert server.requests[-1].path == "/apis/secrets-store.csi.x-k8s.io/v1"


async def test_api_resource_exists_does_not_hide_other_errors(
    server: FakeApiServer, client: KubeClient
) -> None:
    path = "/apis/argoproj.io/v1alpha1"
    server.answers[("GET", path)] = Answer(403, status(403, "Forbidden", "no discovery"))
    with anyio.fail_after(DEADLINE), pytest.raises(Forbidden):
        await resources.api_resource_exists(client, "argoproj.io/v1alpha1", "rollouts")
