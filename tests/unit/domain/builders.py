"""Small builders of raw objects and views for the domain tests."""

from __future__ import annotations

import base64
from typing import Any

from reloader.core.annotations import SourceKind
from reloader.reload.domain.views import SourceView, WorkloadView, summarize_workload
from reloader.workloads.domain.kinds import KINDS

NS = "ns"


def b64(text: str | bytes) -> str:
    raw = text.encode() if isinstance(text, str) else text
    return base64.b64encode(raw).decode()


def container(
    name: str,
    *,
    env: list[dict[str, Any]] | None = None,
    env_from: list[dict[str, Any]] | None = None,
    mounts: tuple[str, ...] = (),
) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "image": "busybox"}
    if env is not None:
        out["env"] = env
    if env_from is not None:
        out["envFrom"] = env_from
    if mounts:
        out["volumeMounts"] = [{"name": m, "mountPath": f"/etc/{m}"} for m in mounts]
    return out


def cm_key_ref(cm: str, var: str = "V") -> dict[str, Any]:
    return {"name": var, "valueFrom": {"configMapKeyRef": {"name": cm, "key": "k"}}}


def secret_key_ref(secret: str, var: str = "V") -> dict[str, Any]:
    return {"name": var, "valueFrom": {"secretKeyRef": {"name": secret, "key": "k"}}}


def cm_from(cm: str) -> dict[str, Any]:
    return {"configMapRef": {"name": cm}}


def secret_from(secret: str) -> dict[str, Any]:
    return {"secretRef": {"name": secret}}


def cm_volume(volume: str, cm: str) -> dict[str, Any]:
    return {"name": volume, "configMap": {"name": cm}}


def secret_volume(volume: str, secret: str) -> dict[str, Any]:
    return {"name": volume, "secret": {"secretName": secret}}


def projected_volume(
    volume: str, *, cms: tuple[str, ...] = (), secrets: tuple[str, ...] = ()
) -> dict[str, Any]:
    sources: list[dict[str, Any]] = [{"configMap": {"name": c}} for c in cms]
    sources += [{"secret": {"name": s}} for s in secrets]
    return {"name": volume, "projected": {"sources": sources}}


def csi_volume(volume: str, spc: str) -> dict[str, Any]:
    return {
        "name": volume,
        "csi": {
            "driver": "secrets-store.csi.k8s.io",
            "volumeAttributes": {"secretProviderClass": spc},
        },
    }


def pod_spec(
    *containers: dict[str, Any],
    init: tuple[dict[str, Any], ...] = (),
    volumes: tuple[dict[str, Any], ...] = (),
) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": list(containers)}
    if init:
        spec["initContainers"] = list(init)
    if volumes:
        spec["volumes"] = list(volumes)
    return spec


def workload_obj(
    kind: str = "Deployment",
    *,
    name: str = "app",
    annotations: dict[str, str] | None = None,
    template_annotations: dict[str, str] | None = None,
    spec: dict[str, Any] | None = None,
) -> dict[str, Any]:
    template = {
        "metadata": {"annotations": dict(template_annotations or {})},
        "spec": spec if spec is not None else pod_spec(container("main")),
    }
    body: dict[str, Any] = (
        {"jobTemplate": {"spec": {"template": template}}}
        if kind == "CronJob"
        else {"template": template}
    )
    return {
        "apiVersion": KINDS[kind].resource.api_version,
        "kind": kind,
        "metadata": {
            "name": name,
            "namespace": NS,
            "uid": f"uid-{name}",
            "resourceVersion": "7",
            "annotations": dict(annotations or {}),
        },
        "spec": body,
    }


def workload(
    kind: str = "Deployment",
    *,
    name: str = "app",
    annotations: dict[str, str] | None = None,
    template_annotations: dict[str, str] | None = None,
    spec: dict[str, Any] | None = None,
) -> WorkloadView:
    obj = workload_obj(
        kind,
        name=name,
        annotations=annotations,
        template_annotations=template_annotations,
        spec=spec,
    )
    return summarize_workload(KINDS[kind], obj)


def source(
    name: str = "cm",
    kind: SourceKind = SourceKind.CONFIGMAP,
    *,
    annotations: dict[str, str] | None = None,
    hash: str = "h1",
    namespace: str = NS,
) -> SourceView:
    return SourceView(
        kind=kind,
        namespace=namespace,
        name=name,
        annotations=dict(annotations or {}),
        labels={},
        hash=hash,
        resource_version="1",
    )
