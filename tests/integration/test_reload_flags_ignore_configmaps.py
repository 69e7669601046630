"""``--resources-to-ignore=configmaps``.

The configmap type is not watched at all (no informer, no event received); secrets reload as usual.
"""

from __future__ import annotations

from reloader.kube.client import KubeClient
from tests.integration.controller import ControllerProcess
from tests.integration.reload_support import ignored_type_does_not_reload, kept_type_reloads

CONTROLLER_ARGS = ["--resources-to-ignore=configmaps"]


async def test_configmap_change_does_not_reload_when_configmaps_ignored_item_104(
    kube: KubeClient, namespace: str, controller: ControllerProcess
) -> None:
    await ignored_type_does_not_reload(kube, controller, namespace, ignored="CONFIGMAP")


async def test_secret_change_still_reloads_when_configmaps_ignored_item_105(
    kube: KubeClient, namespace: str, controller: ControllerProcess
) -> None:
    await kept_type_reloads(kube, namespace, source_type="SECRET")
