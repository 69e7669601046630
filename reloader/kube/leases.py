"""The coordination.k8s.io Leases of one namespace, as ``runtime/lease.py`` reads and writes them:
leader election's one Lease and the reboot lock's slot Leases. Every body written names its Lease.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from reloader.core.objects import LEASES
from reloader.kube import resources

if TYPE_CHECKING:
    from collections.abc import Mapping

    from reloader.kube.client import KubeClient


class Leases:
    def __init__(self, client: KubeClient, namespace: str, name: str = "") -> None:
        self.client = client
        self.namespace = namespace
        #: the Lease :meth:`get` reads (leader election has one)
        self.name = name

    async def get(self) -> Mapping[str, Any]:
        return await resources.get(self.client, LEASES, namespace=self.namespace, name=self.name)

    async def create(self, body: Mapping[str, Any]) -> Mapping[str, Any]:
        return await resources.create(self.client, LEASES, namespace=self.namespace, body=body)

    async def replace(self, body: Mapping[str, Any]) -> Mapping[str, Any]:
        name = str(body["metadata"]["name"])
        return await resources.replace(
            self.client, LEASES, namespace=self.namespace, name=name, body=body
        )
