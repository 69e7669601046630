"""The container image, run the way the chart runs it, against a real local cluster.

``make image-test`` builds the image (``tools/image/build.sh``: buildah, no daemon, a cached
debootstrapped base) and runs this module with ``RELOADER_IMAGE`` naming it; without that
variable the module builds the image itself. The image's ``reloader`` runs under
``buildah run --isolation chroot`` as 65532:65532 with host networking, the kubeconfig mounted
read-only and a tmpfs at /tmp (the chart's emptyDir), and must:

- run as uid/gid 65532 with no capabilities, chrooted into the image;
- roll an annotated Deployment when its ConfigMap changes (``STAKATER_..._CONFIGMAP``);
- answer /metrics;
- write nothing outside /tmp (so ``readOnlyRootFilesystem: true`` holds);
- exit 0 on SIGTERM.

The tests share one controller process and run in file order; the last one stops it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.container import (
    Container,
    alive,
    descendants,
    inspect_image,
    proc_status,
    require_buildah,
    run,
    snapshot,
    wait_for,
)

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tools" / "cluster"))
import cluster as local_cluster  # type: ignore[import-not-found]  # noqa: E402

pytestmark = pytest.mark.timeout(1200)  # a cold image build in the fixture takes minutes

UID = 65532
NS = "image-test"
CONFIG_DIR = "/config"  # where the kubeconfig is mounted in the container
#: top-level names not checked for writes: kernel filesystems, /tmp (tmpfs) and our mount
NOT_ROOTFS = {"proc", "sys", "dev", "tmp", CONFIG_DIR.strip("/")}
#: what ``buildah run`` itself rewrites at each start (podman's marker file), not the controller
BUILDAH_WRITES = {"run", "run/.containerenv"}


# ------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def image() -> str:
    require_buildah()
    given = os.environ.get("RELOADER_IMAGE")
    if given:
        return given
    out = run(["bash", str(REPO / "tools" / "image" / "build.sh")], timeout=1800, what="build")
    return out.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[local_cluster.Cluster]:
    with local_cluster.running(tmp_path_factory.mktemp("cluster"), nodes=1) as c:
        yield c


@pytest.fixture(scope="module")
def container(image: str) -> Iterator[Container]:
    c = Container(image)
    c.create()
    try:
        yield c
    finally:
        c.remove()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _portable_kubeconfig(cluster: local_cluster.Cluster, directory: Path) -> Path:
    """The cluster's kubeconfig with its CA inlined (the file path does not exist in the
    container), in a directory that uid 65532 can read."""
    cfg = json.loads(cluster.kubeconfig.read_text())
    for entry in cfg["clusters"]:
        ca = Path(entry["cluster"].pop("certificate-authority"))
        entry["cluster"]["certificate-authority-data"] = base64.b64encode(ca.read_bytes()).decode()
    directory.mkdir(mode=0o755)
    path = directory / "kubeconfig"
    path.write_text(json.dumps(cfg))
    directory.chmod(0o755)  # whatever the umask
    path.chmod(0o644)
    return path


@dataclass
class Running:
    """The controller running from the image."""

    proc: subprocess.Popen[bytes]  # `buildah run`
    pid: int  # the controller's Python process, inside the chroot
    port: int
    log_path: Path
    rootfs: Path
    before: dict[str, tuple[int, int, int]]

    def log_tail(self) -> str:
        return f"controller log ({self.log_path}):\n{self.log_path.read_text()[-3000:]}"

    def get(self, path: str) -> tuple[int, str]:
        try:
            url = f"http://127.0.0.1:{self.port}{path}"
            with urllib.request.urlopen(url, timeout=2) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, ""
        except OSError:
            return 0, ""

    def check_running(self) -> None:
        if self.proc.poll() is not None:
            raise AssertionError(
                f"buildah run exited with {self.proc.returncode}\n{self.log_tail()}"
            )


def _controller_pid(proc: subprocess.Popen[bytes]) -> int | None:
    """The Python process of ``reloader`` under ``buildah run`` (its chroot helpers between)."""
    for pid in descendants(proc.pid):
        try:
            exe = os.readlink(f"/proc/{pid}/exe")
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if Path(exe).name.startswith("python") and any(a.endswith(b"/reloader") for a in argv):
            return pid
    return None


@pytest.fixture(scope="module")
def controller(
    container: Container, cluster: local_cluster.Cluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Running]:
    work = tmp_path_factory.mktemp("image")
    kubeconfig = _portable_kubeconfig(cluster, work / "config")
    volumes = [f"{kubeconfig.parent}:{CONFIG_DIR}:ro"]
    # A first run with the same mounts lets buildah make its mount points before the snapshot.
    container.exec(["true"], user=f"{UID}:{UID}", volumes=volumes)
    rootfs = container.mountpoint()
    before = snapshot(rootfs, exclude=NOT_ROOTFS)
    port = _free_port()
    log_path = work / "reloader.log"
    argv = [
        "reloader",
        f"--kubeconfig={CONFIG_DIR}/kubeconfig",
        f"--metrics-addr=127.0.0.1:{port}",
        "--log-format=json",
    ]
    with container.spawn(argv, log_path=log_path, user=f"{UID}:{UID}", volumes=volumes) as proc:
        running = Running(proc, 0, port, log_path, rootfs, before)

        def ready() -> bool:
            running.check_running()
            return running.get("/ready")[0] == 200

        wait_for("the controller's /ready", ready, timeout=90, details=running.log_tail)
        running.pid = wait_for(
            "the controller process under buildah run",
            lambda: _controller_pid(proc),
            timeout=10,
            details=lambda: f"descendants of {proc.pid}: {descendants(proc.pid)}",
        )
        yield running
        if proc.poll() is None and alive(running.pid):  # the SIGTERM test did not run
            os.kill(running.pid, signal.SIGTERM)
            proc.wait(timeout=30)


def kubectl(cluster: local_cluster.Cluster, *args: str, input_text: str | None = None) -> str:
    cmd = [str(cluster.bin / "kubectl"), f"--kubeconfig={cluster.kubeconfig}", *args]
    return run(cmd, timeout=60, what="kubectl", input_text=input_text).stdout


def configmap_hash(data: dict[str, str]) -> str:
    """Reloader's hash of a ConfigMap: SHA-1 of the sorted ``key=value`` joined with ``;``."""
    joined = ";".join(sorted(f"{k}={v}" for k, v in data.items()))
    return hashlib.sha1(joined.encode()).hexdigest()


def metric(text: str, name: str, labels: str = "") -> float:
    total = 0.0
    for line in text.splitlines():
        series, _, value = line.rpartition(" ")
        if series == name + (f"{{{labels}}}" if labels else ""):
            total += float(value)
    return total


# ------------------------------------------------------------------------------ tests
def test_image_config(image: str) -> None:
    """Non-root by number, ``reloader`` as the entrypoint, port 9090, the OCI labels."""
    info = inspect_image(image)
    config = info["OCIv1"]["config"]
    assert config["User"] == f"{UID}:{UID}"
    assert config["Entrypoint"] == ["reloader"]
    assert "9090/tcp" in config["ExposedPorts"]
    env = dict(e.partition("=")[::2] for e in config["Env"])
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert env["PYTHONOPTIMIZE"] == "2"  # no docstrings: less idle RSS
    assert env["PYTHONUNBUFFERED"] == "1"
    assert env["PATH"].startswith("/opt/venv/bin:")
    labels = config["Labels"]
    assert labels["org.opencontainers.image.title"] == "reloader"
    assert labels["org.opencontainers.image.licenses"] == "Apache-2.0"
    for key in ("version", "revision", "created", "description"):
        assert labels.get(f"org.opencontainers.image.{key}"), f"label {key} is empty"


def test_runtime_stage_has_only_the_venv(container: Container) -> None:
    """No build tools or sources in the runtime image: pip and setuptools left the venv."""
    root = container.mountpoint()
    assert (root / "opt/venv/bin/reloader").is_file()
    assert not (root / "opt/venv/bin/pip").exists()
    assert not list((root / "opt/venv/lib").glob("python3*/site-packages/pip"))
    assert not (root / "src").exists()


def test_bytecode_without_docstrings_is_compiled(container: Container) -> None:
    """PYTHONOPTIMIZE=2 finds its bytecode (``.opt-2.pyc``) for the package and the standard
    library: nothing is compiled at start (PYTHONDONTWRITEBYTECODE would compile it every time)."""
    root = container.mountpoint()
    package = root.glob("opt/venv/lib/python3*/site-packages/reloader/__pycache__/app.*.opt-2.pyc")
    assert list(package)
    stdlib = [*root.glob("usr/lib/python3*"), *root.glob("usr/local/lib/python3*")]
    assert any(list(d.glob("__pycache__/argparse.*.opt-2.pyc")) for d in stdlib)


def test_default_user_is_65532(container: Container) -> None:
    """Without --user the image's own USER applies."""
    assert container.exec(["id", "-u"]).strip() == str(UID)
    assert container.exec(["id", "-g"]).strip() == str(UID)


def test_controller_runs_as_65532_without_privileges(controller: Running) -> None:
    status = proc_status(controller.pid)
    assert status["Uid"].split() == [str(UID)] * 4, status["Uid"]
    assert status["Gid"].split() == [str(UID)] * 4, status["Gid"]
    assert int(status["CapEff"], 16) == 0, status["CapEff"]
    # chrooted into the image, running the image's interpreter and venv
    assert os.readlink(f"/proc/{controller.pid}/root") != "/"
    argv = Path(f"/proc/{controller.pid}/cmdline").read_bytes().split(b"\0")
    assert argv[1] == b"/opt/venv/bin/reloader", argv


def test_configmap_change_rolls_annotated_deployment(
    cluster: local_cluster.Cluster, controller: Running
) -> None:
    kubectl(cluster, "create", "namespace", NS)
    kubectl(cluster, "-n", NS, "create", "configmap", "app-config", "--from-literal=greeting=hello")
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "web",
            "annotations": {"configmap.reloader.stakater.com/reload": "app-config"},
        },
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [
                        {
                            "name": "web",
                            "image": "registry.local/web:1",
                            "envFrom": [{"configMapRef": {"name": "app-config"}}],
                        }
                    ]
                },
            },
        },
    }
    kubectl(cluster, "-n", NS, "apply", "-f", "-", input_text=json.dumps(deployment))

    def get_deployment() -> dict[str, Any]:
        return dict(json.loads(kubectl(cluster, "-n", NS, "get", "deploy", "web", "-o", "json")))

    def recorded() -> bool:
        controller.check_running()
        annotations = get_deployment()["metadata"].get("annotations", {})
        return "app-config" in annotations.get("reloader.stakater.com/applied-hashes", "")

    # Level-triggered: the first sight of the ConfigMap is recorded, not a reason to roll.
    wait_for(
        "the controller to record the ConfigMap's hash on the Deployment",
        recorded,
        timeout=60,
        details=controller.log_tail,
    )
    kubectl(
        cluster,
        "-n",
        NS,
        "patch",
        "configmap",
        "app-config",
        "--type=merge",
        "-p",
        json.dumps({"data": {"greeting": "bonjour"}}),
    )

    expected = configmap_hash({"greeting": "bonjour"})

    def env_set() -> str | None:
        controller.check_running()
        spec = get_deployment()["spec"]
        for c in spec["template"]["spec"]["containers"]:
            for e in c.get("env") or []:
                if e["name"] == "STAKATER_APP_CONFIG_CONFIGMAP":
                    return str(e.get("value"))
        return None

    value = wait_for(
        "STAKATER_APP_CONFIG_CONFIGMAP on the Deployment",
        env_set,
        timeout=60,
        details=controller.log_tail,
    )
    assert value == expected

    # and the Deployment really rolls: a second ReplicaSet, then the rollout completes
    def replicasets() -> int:
        return len(kubectl(cluster, "-n", NS, "get", "rs", "-l", "app=web", "-o", "name").split())

    wait_for("a second ReplicaSet", lambda: replicasets() >= 2, timeout=60)
    kubectl(cluster, "-n", NS, "rollout", "status", "deployment/web", "--timeout=60s")
    reloaded = [
        json.loads(line)
        for line in controller.log_path.read_text().splitlines()
        if line.startswith("{") and '"workload.reloaded"' in line
    ]
    assert reloaded, controller.log_tail()


def test_metrics_endpoint(controller: Running) -> None:
    status, text = controller.get("/metrics")
    assert status == 200, controller.log_tail()
    assert "# TYPE reloader_reload_executed_total counter" in text
    assert metric(text, "reloader_reload_executed_total", 'success="true"') >= 1


def test_writes_nothing_outside_tmp(controller: Running) -> None:
    """What the controller did so far (start, sync, a reload) changed no file of the image."""
    controller.check_running()
    after = snapshot(controller.rootfs, exclude=NOT_ROOTFS)
    changed = sorted(
        p
        for p in after.keys() | controller.before.keys()
        if after.get(p) != controller.before.get(p) and p not in BUILDAH_WRITES
    )
    assert not changed, f"written outside /tmp (breaks readOnlyRootFilesystem): {changed[:20]}"


def test_sigterm_stops_with_exit_0(controller: Running) -> None:
    status = proc_status(controller.pid)
    # a handler for SIGTERM: as PID 1 in a pod (no default action there) it still stops
    assert int(status["SigCgt"], 16) & (1 << (signal.SIGTERM - 1)), status["SigCgt"]
    os.kill(controller.pid, signal.SIGTERM)
    try:
        code = controller.proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail(f"still running 30s after SIGTERM\n{controller.log_tail()}")
    assert code == 0, controller.log_tail()
    assert '"controller.stopped"' in controller.log_path.read_text()
