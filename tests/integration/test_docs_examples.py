"""Every Kubernetes object the docs show is accepted by the real API server.

Complete manifests as they are, and the examples marked ``# part of a KIND`` merged into a
minimal valid object of that kind (tests/docs_examples.py), each created with a server-side dry
run (``dryRun=All``: admission and validation run, nothing is stored) in the test's namespace.
"""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest

from tests import docs_examples as examples
from tests.integration.support import ClusterInfo
from tests.integration.test_chart_install import _run, helm_command

APPLIED = examples.by_sort("manifest", "part")


def test_the_docs_have_objects_to_apply() -> None:
    assert len(APPLIED) >= 10


@pytest.mark.parametrize("example", APPLIED, ids=lambda e: e.where)
async def test_yaml_example_is_accepted_by_the_api_server(
    cluster: ClusterInfo, namespace: str, tmp_path: Path, example: examples.YamlExample
) -> None:
    manifest = example.manifest()
    manifest.get("metadata", {}).pop("namespace", None)  # the test's namespace instead
    path = tmp_path / "example.json"
    path.write_text(json.dumps(manifest))
    kubectl = [
        str(Path(helm_command(cluster)[0]).parent / "kubectl"),
        f"--kubeconfig={cluster.kubeconfig}",
    ]
    cmd = [*kubectl, "create", "--dry-run=server", "-o", "name", "-n", namespace, "-f", str(path)]
    out = await anyio.to_thread.run_sync(_run, cmd, tmp_path)
    assert out.returncode == 0, f"{example.where}: {out.stderr}"
    assert out.stdout.strip().endswith(f"/{manifest['metadata']['name']}")
