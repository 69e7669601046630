"""The local control plane is a real one: scheduling, rollouts and RBAC all happen for real."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from reloader.core.objects import DEPLOYMENTS, ResourceType
from reloader.errors import Forbidden
from reloader.kube import resources
from reloader.kube.client import KubeClient
from tests.integration.support import ClusterInfo, deployment, eventually

PODS = ResourceType("", "v1", "pods", "Pod")
REPLICASETS = ResourceType("apps", "v1", "replicasets", "ReplicaSet")
SERVICEACCOUNTS = ResourceType("", "v1", "serviceaccounts", "ServiceAccount")
ROLES = ResourceType("rbac.authorization.k8s.io", "v1", "roles", "Role")
ROLEBINDINGS = ResourceType("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding")


async def _ready_replicas(kube: KubeClient, namespace: str, name: str) -> int:
    obj = await resources.get(kube, DEPLOYMENTS, namespace=namespace, name=name)
    return int(obj.get("status", {}).get("readyReplicas") or 0)


async def _replicasets(kube: KubeClient, namespace: str) -> list[dict[str, Any]]:
    page = await resources.list_page(kube, REPLICASETS, namespace=namespace)
    return list(page["items"])


async def test_deployment_becomes_ready_on_kwok_nodes(kube: KubeClient, namespace: str) -> None:
    await resources.create(
        kube, DEPLOYMENTS, namespace=namespace, body=deployment("web", replicas=3)
    )

    async def three_ready() -> bool:
        return await _ready_replicas(kube, namespace, "web") == 3

    await eventually(three_ready, what="3 ready replicas")
    pods = (await resources.list_page(kube, PODS, namespace=namespace))["items"]
    assert len(pods) == 3
    assert all(p["spec"]["nodeName"].startswith("kwok-node-") for p in pods)
    assert all(p["status"]["phase"] == "Running" for p in pods)


async def test_template_patch_rolls_out_a_new_replicaset(kube: KubeClient, namespace: str) -> None:
    await resources.create(
        kube, DEPLOYMENTS, namespace=namespace, body=deployment("web", replicas=3)
    )
    await eventually(lambda: _ready_replicas(kube, namespace, "web"), what="initial rollout")
    [first] = await _replicasets(kube, namespace)
    await resources.patch(
        kube,
        DEPLOYMENTS,
        namespace=namespace,
        name="web",
        patch_type="strategic",
        body={"spec": {"template": {"metadata": {"annotations": {"smoke": "2"}}}}},
    )

    async def rolled() -> bool:
        rs = await _replicasets(kube, namespace)
        new = [r for r in rs if r["metadata"]["uid"] != first["metadata"]["uid"]]
        old = [r for r in rs if r["metadata"]["uid"] == first["metadata"]["uid"]]
        return (
            len(new) == 1
            and new[0].get("status", {}).get("readyReplicas") == 3
            and old[0]["spec"]["replicas"] == 0
        )

    await eventually(rolled, timeout=90, what="new ReplicaSet 3/3 ready and old one scaled to 0")


async def test_rbac_is_enforced(
    kube: KubeClient, namespace: str, cluster: ClusterInfo, tmp_path: Path
) -> None:
    await resources.create(
        kube, DEPLOYMENTS, namespace=namespace, body=deployment("web", replicas=1)
    )
    await resources.create(
        kube, SERVICEACCOUNTS, namespace=namespace, body={"metadata": {"name": "reader"}}
    )
    await resources.create(
        kube,
        ROLES,
        namespace=namespace,
        body={
            "metadata": {"name": "get-deployments"},
            "rules": [{"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get"]}],
        },
    )
    await resources.create(
        kube,
        ROLEBINDINGS,
        namespace=namespace,
        body={
            "metadata": {"name": "reader"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": "get-deployments",
            },
            "subjects": [{"kind": "ServiceAccount", "name": "reader", "namespace": namespace}],
        },
    )
    token = await kube.request(
        "POST",
        f"/api/v1/namespaces/{namespace}/serviceaccounts/reader/token",
        body={"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}},
    )
    admin = json.loads(cluster.kubeconfig.read_text())
    admin["users"] = [{"name": "admin", "user": {"token": token["status"]["token"]}}]
    kubeconfig = tmp_path / "reader.kubeconfig"
    kubeconfig.write_text(json.dumps(admin))

    async with await KubeClient.connect(kubeconfig=str(kubeconfig)) as reader:
        obj = await resources.get(reader, DEPLOYMENTS, namespace=namespace, name="web")
        assert obj["metadata"]["name"] == "web"
        with pytest.raises(Forbidden):
            await resources.patch(
                reader,
                DEPLOYMENTS,
                namespace=namespace,
                name="web",
                patch_type="strategic",
                body={"spec": {"template": {"metadata": {"annotations": {"x": "y"}}}}},
            )
