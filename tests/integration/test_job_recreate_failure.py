"""A Job whose re-create fails is created again later, never left deleted (spec §13.6).

The failure is real: a ValidatingAdmissionPolicy (CEL, in the API server) refuses Job creation in
the test namespace while a parameter ConfigMap says so.
"""

from __future__ import annotations

import contextlib
import hashlib
from pathlib import Path
from typing import Any

from reloader.domain.objects import CONFIGMAPS, JOBS, ResourceType
from reloader.errors import NotFound
from reloader.kube import resources
from reloader.kube.client import KubeClient
from tests.integration.controller import ControllerProcess
from tests.integration.reload_support import make_configmap, update_configmap
from tests.integration.support import ClusterInfo, eventually

POLICIES = ResourceType(
    "admissionregistration.k8s.io",
    "v1",
    "validatingadmissionpolicies",
    "ValidatingAdmissionPolicy",
    namespaced=False,
)
BINDINGS = ResourceType(
    "admissionregistration.k8s.io",
    "v1",
    "validatingadmissionpolicybindings",
    "ValidatingAdmissionPolicyBinding",
    namespaced=False,
)


async def _block_job_creates(kube: KubeClient, ns: str) -> None:
    await resources.create(
        kube,
        POLICIES,
        namespace=None,
        body={
            "metadata": {"name": f"block-jobs-{ns}"},
            "spec": {
                "failurePolicy": "Fail",
                "paramKind": {"apiVersion": "v1", "kind": "ConfigMap"},
                "matchConstraints": {
                    "resourceRules": [
                        {
                            "apiGroups": ["batch"],
                            "apiVersions": ["v1"],
                            "operations": ["CREATE"],
                            "resources": ["jobs"],
                        }
                    ]
                },
                "validations": [
                    {
                        "expression": "params.data.block != 'true'",
                        "message": "job creation blocked by the test",
                    }
                ],
            },
        },
    )
    await resources.create(
        kube,
        BINDINGS,
        namespace=None,
        body={
            "metadata": {"name": f"block-jobs-{ns}"},
            "spec": {
                "policyName": f"block-jobs-{ns}",
                "validationActions": ["Deny"],
                "paramRef": {
                    "name": "job-gate",
                    "namespace": ns,
                    "parameterNotFoundAction": "Allow",
                },
                "matchResources": {
                    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns}}
                },
            },
        },
    )


async def _unblock(kube: KubeClient, ns: str) -> None:
    for rt in (BINDINGS, POLICIES):
        with contextlib.suppress(NotFound):
            await resources.delete(kube, rt, namespace=None, name=f"block-jobs-{ns}")


async def test_failed_recreate_is_retried_until_the_job_exists(
    kube: KubeClient, namespace: str, cluster: ClusterInfo, tmp_path: Path
) -> None:
    await make_configmap(kube, namespace, "cfg", {"k": "v1"})
    await make_configmap(kube, namespace, "job-gate", {"block": "false"})
    await _block_job_creates(kube, namespace)
    proc = ControllerProcess(
        kubeconfig=cluster.kubeconfig,
        log_path=tmp_path / "r.log",
        args=[f"--namespaces={namespace}"],
    )
    proc.start()
    try:
        original = await resources.create(
            kube,
            JOBS,
            namespace=namespace,
            body={
                "metadata": {
                    "name": "migrate",
                    "annotations": {"reloader.stakater.com/auto": "true"},
                },
                "spec": {
                    "suspend": True,
                    "template": {
                        "spec": {
                            "restartPolicy": "Never",
                            "containers": [
                                {
                                    "name": "t",
                                    "image": "x",
                                    "envFrom": [{"configMapRef": {"name": "cfg"}}],
                                }
                            ],
                        }
                    },
                },
            },
        )

        async def recorded() -> bool:
            job = await resources.get(kube, JOBS, namespace=namespace, name="migrate")
            return "reloader.stakater.com/applied-hashes" in job["metadata"].get("annotations", {})

        await eventually(recorded, timeout=30, what="the Job's record")
        await resources.patch(
            kube,
            CONFIGMAPS,
            namespace=namespace,
            name="job-gate",
            patch_type="merge",
            body={"data": {"block": "true"}},
        )

        async def refused() -> bool:  # the gate is in force (policies apply asynchronously)
            try:
                await resources.create(
                    kube,
                    JOBS,
                    namespace=namespace,
                    body={
                        "metadata": {"name": "probe"},
                        "spec": {
                            "suspend": True,
                            "template": {
                                "spec": {
                                    "restartPolicy": "Never",
                                    "containers": [{"name": "t", "image": "x"}],
                                }
                            },
                        },
                    },
                )
            except Exception:  # noqa: BLE001 - Invalid/Forbidden: refused, as wanted
                return True
            await resources.delete(kube, JOBS, namespace=namespace, name="probe")
            return False

        await eventually(refused, timeout=30, what="the admission policy to refuse Jobs")
        await update_configmap(kube, namespace, "cfg", {"k": "v2"})

        async def deleted() -> bool:
            try:
                await resources.get(kube, JOBS, namespace=namespace, name="migrate")
            except NotFound:
                return True
            return False

        await eventually(deleted, timeout=15, what="the Job deleted for the recreate")

        async def failures() -> list[Any]:
            return [
                e
                for e in proc.logs("reconcile.failed")
                if e.get("key") == f"Job/{namespace}/migrate"
            ]

        assert await eventually(failures, timeout=15, what="the refused create, retried")
        await resources.patch(
            kube,
            CONFIGMAPS,
            namespace=namespace,
            name="job-gate",
            patch_type="merge",
            body={"data": {"block": "false"}},
        )

        async def recreated() -> dict[str, Any] | None:
            try:
                job = await resources.get(kube, JOBS, namespace=namespace, name="migrate")
            except NotFound:
                return None
            return job if job["metadata"]["uid"] != original["metadata"]["uid"] else None

        job = await eventually(recreated, timeout=60, what="the Job created again")
        assert job is not None
        env = job["spec"]["template"]["spec"]["containers"][0]["env"]
        assert env == [
            {"name": "STAKATER_CFG_CONFIGMAP", "value": hashlib.sha1(b"k=v2").hexdigest()}
        ]
    finally:
        assert proc.stop() == 0
        await _unblock(kube, namespace)
