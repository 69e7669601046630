"""Stands in for ``systemctl reboot`` in node-agent tests: the node "reboots".

Run by the agent as its ``--reboot-command``. It gives the Node a new boot ID (PATCH of the
status subresource: ``status.nodeInfo.bootID``, which kwok leaves alone), removes the sentinel
file unless ``--keep-sentinel``, and appends a line to ``--marker`` so the test knows to restart
the node's agent, as a real reboot would.

    python -m tests.integration.fake_reboot --kubeconfig K --node N --sentinel S --marker M
"""

from __future__ import annotations

import argparse
import contextlib
import json
import ssl
import sys
import urllib.request
import uuid
from pathlib import Path

import yaml


def set_boot_id(kubeconfig: str, node: str, boot_id: str) -> None:
    """PATCH the node's status with the standard library (a fast start: no client library).

    Reads a token and a CA file from the kubeconfig's current context, as the local test
    cluster writes it; other kubeconfigs fall back to reloader's client.
    """
    config = yaml.safe_load(Path(kubeconfig).read_text())
    context = next(
        c["context"] for c in config["contexts"] if c["name"] == config["current-context"]
    )
    cluster = next(c["cluster"] for c in config["clusters"] if c["name"] == context["cluster"])
    user = next(u["user"] for u in config["users"] if u["name"] == context["user"])
    if "token" not in user or "certificate-authority" not in cluster:
        _set_boot_id_with_client(kubeconfig, node, boot_id)
        return
    request = urllib.request.Request(  # noqa: S310 - the test cluster's URL
        f"{cluster['server']}/api/v1/nodes/{node}/status",
        data=json.dumps({"status": {"nodeInfo": {"bootID": boot_id}}}).encode(),
        method="PATCH",
        headers={
            "Content-Type": "application/merge-patch+json",
            "Authorization": f"Bearer {user['token']}",
        },
    )
    context_ssl = ssl.create_default_context(cafile=cluster["certificate-authority"])
    with urllib.request.urlopen(request, context=context_ssl, timeout=10) as response:  # noqa: S310
        response.read()


def _set_boot_id_with_client(kubeconfig: str, node: str, boot_id: str) -> None:
    import anyio

    from reloader.core.objects import NODES
    from reloader.kube import resources
    from reloader.kube.client import KubeClient

    async def patch() -> None:
        async with await KubeClient.connect(kubeconfig=kubeconfig) as kube:
            await resources.patch(
                kube,
                NODES,
                namespace=None,
                name=node,
                body={"status": {"nodeInfo": {"bootID": boot_id}}},
                patch_type="merge",
                subresource="status",
            )

    anyio.run(patch)


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--kubeconfig", required=True)
    p.add_argument("--node", required=True)
    p.add_argument("--sentinel", required=True)
    p.add_argument("--marker", required=True)
    p.add_argument("--keep-sentinel", action="store_true")
    p.add_argument("--no-boot", action="store_true", help="the host never comes back")
    args = p.parse_args(argv)
    if not args.no_boot:
        set_boot_id(args.kubeconfig, args.node, f"boot-{uuid.uuid4()}")
        if not args.keep_sentinel:
            with contextlib.suppress(FileNotFoundError):
                Path(args.sentinel).unlink()
    with Path(args.marker).open("a") as marker:
        marker.write("rebooted\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
