"""The pull credentials of a workload, read as the kubelet would find them.

The pod template's ``imagePullSecrets``, or, when it has none, its ServiceAccount's (the
ServiceAccount admission plugin copies those into each pod that names none). Each Secret's
``.dockerconfigjson`` or ``.dockercfg`` is parsed and its entries matched against the image by
the kubelet's host rules (``domain/credentials.py``). Read when a registry asks for credentials,
kept by no one; a missing or forbidden Secret is a problem named in the result, never an error.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from reloader.core.objects import SECRETS, ResourceType
from reloader.errors import Forbidden, NotFound
from reloader.images.domain.credentials import Credential, lookup, parse_docker_config
from reloader.kube import resources

if TYPE_CHECKING:
    from reloader.images.domain.references import ImageRef
    from reloader.images.domain.views import ImageWorkload
    from reloader.kube.client import KubeClient

SERVICEACCOUNTS = ResourceType("", "v1", "serviceaccounts", "ServiceAccount")


async def pull_credentials(
    client: KubeClient, view: ImageWorkload, ref: ImageRef
) -> tuple[list[Credential], tuple[str, ...]]:
    """The credentials for ``ref``, most specific first, and the problems met reading them."""
    ns = view.namespace
    problems: list[str] = []
    names = list(view.pull_secrets)
    if not names:
        try:
            account = await resources.get(
                client, SERVICEACCOUNTS, namespace=ns, name=view.service_account
            )
        except (NotFound, Forbidden) as exc:
            problems.append(f"ServiceAccount {ns}/{view.service_account}: {exc}")
        else:
            names = [
                str(s.get("name", ""))
                for s in account.get("imagePullSecrets") or []
                if isinstance(s, dict)
            ]
    entries: list[tuple[str, Credential]] = []
    for name in filter(None, names):
        origin = f"Secret {ns}/{name}"
        try:
            secret = await resources.get(client, SECRETS, namespace=ns, name=name)
        except (NotFound, Forbidden) as exc:
            problems.append(f"{origin}: {exc}")
            continue
        found, bad = parse_docker_config(secret.get("data") or {}, origin=origin)
        entries.extend(found)
        problems.extend(bad)
    matched = lookup(entries, ref.name)
    if not matched:
        where = ", ".join(names) if names else "none"
        problems.append(f"no pull credentials for {ref.host} (imagePullSecrets: {where})")
    return matched, tuple(problems)
