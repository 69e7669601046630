"""Raw objects for the controller tests, as a user would create them."""

from __future__ import annotations

from typing import Any

NS = "ns"
#: a Deployment's own controller reports its first rollout complete
ROLLED_OUT = {
    "observedGeneration": 1,
    "replicas": 1,
    "updatedReplicas": 1,
    "readyReplicas": 1,
    "availableReplicas": 1,
}


def configmap(name: str, data: dict[str, str], *, namespace: str = NS) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": namespace}, "data": data}


def deployment(
    name: str,
    *,
    configmap: str | None = None,
    annotations: dict[str, str] | None = None,
    namespace: str = NS,
) -> dict[str, Any]:
    """One container ``app``, taking its environment from ``configmap`` if given."""
    container: dict[str, Any] = {"name": "app", "image": "busybox"}
    if configmap is not None:
        container["envFrom"] = [{"configMapRef": {"name": configmap}}]
    return {
        "metadata": {"name": name, "namespace": namespace, "annotations": annotations or {}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [container]},
            },
        },
        "status": dict(ROLLED_OUT),
    }


def env_of(obj: dict[str, Any], container: str = "app") -> dict[str, str]:
    """The env vars of a container of a Deployment's pod template."""
    for c in obj["spec"]["template"]["spec"]["containers"]:
        if c["name"] == container:
            return {e["name"]: e.get("value", "") for e in c.get("env", [])}
    raise KeyError(container)


def template_annotations(obj: dict[str, Any]) -> dict[str, str]:
    return dict(obj["spec"]["template"].get("metadata", {}).get("annotations") or {})
