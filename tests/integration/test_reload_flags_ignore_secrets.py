"""``--resources-to-ignore=secrets``.

The secret type is not watched at all (no informer, no event received); configmaps reload as usual.
"""

from __future__ import annotations

from reloader.kube.client import KubeClient
from tests.integration.controller import ControllerProcess
from tests.integration.reload_support import ignored_type_does_not_reload, kept_type_reloads

CONTROLLER_ARGS = ["--resources-to-ignore=secrets"]


async def test_secret_change_does_not_reload_when_secrets_ignored_item_102(
    kube: KubeClient, namespace: str, controller: ControllerProcess
) -> None:
    await ignored_type_does_not_reload(kube, controller, namespace, ignored="SECRET")


async def test_configmap_change_still_reloads_when_secrets_ignored_item_103(
    kube: KubeClient, namespace: str, controller: ControllerProcess
) -> None:
    await kept_type_reloads(kube, namespace, source_type="CONFIGMAP")
