"""``pods/exec`` through the API server, against kwok's kubelet API on loopback.

The local cluster's kwok runs an exec'd command on this machine (in the cluster's directory), so
these tests see exactly what the API server relays: the output streams, the final Status and its
exit code, and the API server's refusals.
"""

from __future__ import annotations

import pytest

from reloader.core.objects import PODS
from reloader.errors import KubeError, NotFound
from reloader.kube import resources
from reloader.kube.client import KubeClient
from reloader.kube.exec import UNKNOWN_EXIT, exec_in_pod
from tests.integration.support import eventually


async def _running_pod(kube: KubeClient, namespace: str, name: str = "redis") -> str:
    body = {
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {"containers": [{"name": "redis", "image": "redis:7"}]},
    }
    await resources.create(kube, PODS, namespace=namespace, body=body)

    async def running() -> bool:
        pod = await resources.get(kube, PODS, namespace=namespace, name=name)
        return bool(pod.get("status", {}).get("phase") == "Running")

    await eventually(running, timeout=60, what=f"pod {name} running")
    return name


async def test_exit_code_and_both_outputs(kube: KubeClient, namespace: str) -> None:
    pod = await _running_pod(kube, namespace)
    ok = await exec_in_pod(
        kube, namespace=namespace, pod=pod, container="redis", command=["echo", "flushed"]
    )
    assert (ok.exit_code, ok.stdout, ok.stderr, ok.ok) == (0, b"flushed\n", b"", True)

    failed = await exec_in_pod(
        kube,
        namespace=namespace,
        pod=pod,
        container="redis",
        command=["sh", "-c", "echo partial; echo 'no such key' >&2; exit 3"],
    )
    assert failed.exit_code == 3
    assert not failed.ok
    assert failed.stdout == b"partial\n"
    assert failed.stderr == b"no such key\n"
    assert "exit status 3" in failed.message


async def test_only_the_tail_of_a_long_output_is_kept(kube: KubeClient, namespace: str) -> None:
    pod = await _running_pod(kube, namespace)
    result = await exec_in_pod(
        kube,
        namespace=namespace,
        pod=pod,
        container="redis",
        command=["seq", "1", "20000"],
        keep=64,
    )
    assert result.ok
    assert len(result.stdout) == 64
    assert result.stdout.endswith(b"19999\n20000\n")


async def test_a_command_that_cannot_start_has_no_exit_code(
    kube: KubeClient, namespace: str
) -> None:
    pod = await _running_pod(kube, namespace)
    result = await exec_in_pod(
        kube, namespace=namespace, pod=pod, container="redis", command=["no-such-binary-here"]
    )
    assert result.exit_code == UNKNOWN_EXIT
    assert "no-such-binary-here" in result.message


async def test_refusals_are_kube_errors(kube: KubeClient, namespace: str) -> None:
    with pytest.raises(NotFound):
        await exec_in_pod(
            kube, namespace=namespace, pod="missing", container="redis", command=["true"]
        )
    pod = await _running_pod(kube, namespace)
    with pytest.raises(KubeError) as refused:
        await exec_in_pod(kube, namespace=namespace, pod=pod, container="sidecar", command=["true"])
    assert refused.value.status == 400
