"""Generic verbs on raw JSON objects, for any resource type: one function per verb, not per kind.

Every write (create, replace, patch) sends the client's field manager as ``fieldManager``.
Every function raises a ``reloader.errors.KubeError`` subclass on failure; none returns an empty
result instead of an error.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from reloader.core.objects import EVENTS
from reloader.errors import NotFound
from reloader.kube import proto
from reloader.kube.wire import decode_object

if TYPE_CHECKING:
    from reloader.core.objects import RawObject, ResourceType
    from reloader.kube.client import KubeClient
    from reloader.kube.wire import QueryValue

PatchType = Literal["strategic", "merge", "json", "apply"]

PATCH_CONTENT_TYPES: Mapping[PatchType, str] = {
    "strategic": "application/strategic-merge-patch+json",
    "merge": "application/merge-patch+json",
    "json": "application/json-patch+json",
    "apply": "application/apply-patch+yaml",  # JSON is YAML
}


def _object_path(rt: ResourceType, namespace: str | None, name: str) -> str:
    if rt.namespaced and not namespace:
        raise ValueError(f"{rt.kind} is namespaced: a namespace is required for {name!r}")
    return rt.path(namespace=namespace, name=name)


def _namespace_of(rt: ResourceType, namespace: str | None, body: RawObject) -> str | None:
    if namespace is not None or not rt.namespaced:
        return namespace
    meta = body.get("metadata")
    value = meta.get("namespace") if isinstance(meta, Mapping) else None
    return str(value) if value else None


def _typed(rt: ResourceType, body: RawObject) -> dict[str, Any]:
    """The body with apiVersion and kind set when missing (apply requires them)."""
    return {"apiVersion": rt.api_version, "kind": rt.kind, **body}


def _write_query(client: KubeClient, field_manager: str | None) -> dict[str, QueryValue]:
    return {"fieldManager": field_manager or client.field_manager}


async def list_page(
    client: KubeClient,
    rt: ResourceType,
    *,
    namespace: str | None = None,
    label_selector: str | None = None,
    field_selector: str | None = None,
    limit: int = 500,
    continue_token: str | None = None,
    protobuf: bool = False,
) -> dict[str, Any]:
    """One page of a LIST: the List object, whose ``metadata.continue`` names the next page.

    :param namespace: None lists all namespaces (or a cluster-scoped type).
    :param protobuf: ask for protobuf (``rt`` must be one ``proto.lists``); the page is the same
        dict, a Secret's values raw bytes (see ``reloader.kube.proto``). An answer in JSON
        (a proxy that rewrites it, say) is read as JSON.
    :raises Gone: ``continue_token`` expired; the list must start again.
    :raises ProtobufError: the protobuf answer is unreadable.
    """
    query: dict[str, QueryValue] = {"limit": limit}
    if label_selector:
        query["labelSelector"] = label_selector
    if field_selector:
        query["fieldSelector"] = field_selector
    if continue_token:
        query["continue"] = continue_token
    path = rt.path(namespace=namespace)
    if not protobuf:
        return await client.request("GET", path, query=query)
    if not proto.lists(rt):
        raise ValueError(f"no protobuf reader for a list of {rt.plural}")
    payload, content_type = await client.request_raw(path, accept=proto.ACCEPT, query=query)
    if proto.is_protobuf(content_type):
        return proto.decode_list(rt, payload)
    return decode_object(payload)


async def list_all(
    client: KubeClient,
    rt: ResourceType,
    *,
    namespace: str | None = None,
    label_selector: str | None = None,
    field_selector: str | None = None,
) -> list[dict[str, Any]]:
    """Every object of a LIST, page after page (for one-off reads: controllers use informers).

    :raises Gone: a continue token expired; the list must start again.
    """
    items: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        page = await list_page(
            client,
            rt,
            namespace=namespace,
            label_selector=label_selector,
            field_selector=field_selector,
            continue_token=token,
        )
        items.extend(page.get("items") or [])
        token = (page.get("metadata") or {}).get("continue") or None
        if token is None:
            return items


async def get(
    client: KubeClient, rt: ResourceType, *, namespace: str | None, name: str
) -> dict[str, Any]:
    """The object. :raises NotFound: it does not exist."""
    return await client.request("GET", _object_path(rt, namespace, name))


async def create(
    client: KubeClient,
    rt: ResourceType,
    *,
    namespace: str | None,
    body: RawObject,
    field_manager: str | None = None,
) -> dict[str, Any]:
    """Create the object (namespace from the argument, else from its metadata).

    :raises Conflict: it already exists.
    """
    ns = _namespace_of(rt, namespace, body)
    if rt.namespaced and not ns:
        raise ValueError(f"{rt.kind} is namespaced: a namespace is required to create it")
    return await client.request(
        "POST",
        rt.path(namespace=ns),
        query=_write_query(client, field_manager),
        body=_typed(rt, body),
    )


async def post_event(client: KubeClient, namespace: str, body: RawObject) -> object:
    """Create a core/v1 Event (the ``post`` of ``observability.events``)."""
    return await create(client, EVENTS, namespace=namespace, body=body)


async def replace(
    client: KubeClient,
    rt: ResourceType,
    *,
    namespace: str | None,
    name: str,
    body: RawObject,
    field_manager: str | None = None,
) -> dict[str, Any]:
    """Replace the object (PUT). :raises Conflict: its resourceVersion is stale."""
    return await client.request(
        "PUT",
        _object_path(rt, _namespace_of(rt, namespace, body), name),
        query=_write_query(client, field_manager),
        body=_typed(rt, body),
    )


async def patch(
    client: KubeClient,
    rt: ResourceType,
    *,
    namespace: str | None,
    name: str,
    body: RawObject | Sequence[Mapping[str, Any]],
    patch_type: PatchType,
    field_manager: str | None = None,
    force: bool = False,
    subresource: str | None = None,
) -> dict[str, Any]:
    """Patch the object and return it as stored.

    :param body: a dict, or a list of operations for ``patch_type="json"``.
    :param patch_type: strategic merge (built-in types only), JSON merge, JSON patch, or
        server-side apply (``force`` takes over fields owned by other managers).
    :raises NotFound: the object does not exist.
    :raises Invalid: the server rejected the patch.
    """
    if patch_type == "json":
        if isinstance(body, Mapping):
            raise TypeError("a JSON patch is a list of operations")
        payload: Any = list(body)
    elif not isinstance(body, Mapping):
        raise TypeError(f"a {patch_type} patch is an object")
    else:
        payload = _typed(rt, body) if patch_type == "apply" else body
    query = _write_query(client, field_manager)
    if patch_type == "apply" and force:
        query["force"] = True
    path = _object_path(rt, namespace, name)
    if subresource:
        path += f"/{subresource}"
    return await client.request(
        "PATCH",
        path,
        query=query,
        body=payload,
        content_type=PATCH_CONTENT_TYPES[patch_type],
    )


async def delete(
    client: KubeClient,
    rt: ResourceType,
    *,
    namespace: str | None,
    name: str,
    propagation_policy: Literal["Foreground", "Background", "Orphan"] | None = None,
    precondition_uid: str | None = None,
) -> dict[str, Any]:
    """Delete the object; returns what the server answers (the object or a Status).

    :param precondition_uid: delete only this incarnation of the object (else 409 Conflict).
    :raises NotFound: it does not exist.
    """
    options: dict[str, Any] = {}
    if propagation_policy is not None:
        options["propagationPolicy"] = propagation_policy
    if precondition_uid is not None:
        options["preconditions"] = {"uid": precondition_uid}
    body = {"kind": "DeleteOptions", "apiVersion": "v1", **options} if options else None
    return await client.request("DELETE", _object_path(rt, namespace, name), body=body)


async def api_resource_exists(client: KubeClient, group_version: str, plural: str) -> bool:
    """Whether the API server serves ``plural`` in ``group_version`` (e.g. an optional CRD).

    :param group_version: ``"v1"`` for the core group, else ``"GROUP/VERSION"``.
    :raises KubeError: any failure other than 404 (a 403 or 503 is not "absent").
    """
    path = f"/apis/{group_version}" if "/" in group_version else f"/api/{group_version}"
    try:
        discovery = await client.request("GET", path)
    except NotFound:
        return False
    resources = discovery.get("resources")
    if not isinstance(resources, list):
        return False
    return any(isinstance(r, dict) and r.get("name") == plural for r in resources)
