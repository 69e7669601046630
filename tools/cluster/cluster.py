#!/usr/bin/env python3
"""Start and stop a real local Kubernetes control plane on 127.0.0.1.

etcd, kube-apiserver (RBAC, a static admin token, service-account keys, the default admission
plugins), kube-controller-manager, kube-scheduler and kwok (fake nodes whose pods become Ready),
all built from Go modules by ``build.sh``. Everything listens on free loopback ports; every process
started is recorded by PID in the state directory and stopped by PID, never by name.

    cluster.py up   [--dir DIR] [--nodes N]   start, wait until ready, print the kubeconfig path
    cluster.py down [--dir DIR]               stop what ``up`` started in DIR
    cluster.py run  [--dir DIR] -- CMD...     up, run CMD with KUBECONFIG set, down

Standard library only: the test suite imports it before anything else is installed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
DEFAULT_DIR = REPO / ".cluster"
NODE_ANNOTATION = "kwok.x-k8s.io/node"


def log(msg: str) -> None:
    print(f"cluster: {msg}", file=sys.stderr, flush=True)


def build(*only: str) -> Path:
    """Build (or reuse) the binaries (all, or only those named); return their directory."""
    out = subprocess.run(
        ["bash", str(HERE / "build.sh"), *only], check=True, stdout=subprocess.PIPE, text=True
    )
    return Path(out.stdout.strip().splitlines()[-1])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Cluster:
    dir: Path
    bin: Path
    token: str = ""
    api_port: int = 0
    pids: dict[str, int] = field(default_factory=dict)

    @property
    def kubeconfig(self) -> Path:
        return self.dir / "kubeconfig"

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.api_port}"

    # ------------------------------------------------------------------ processes
    def spawn(self, name: str, args: list[str]) -> None:
        logf = open(self.dir / f"{name}.log", "ab")  # noqa: SIM115 - lives as long as the child
        proc = subprocess.Popen(
            [str(self.bin / name), *args],
            stdout=logf,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # a Ctrl-C in the terminal does not kill the cluster
        )
        self.pids[name] = proc.pid
        self.save()

    def save(self) -> None:
        state = {"pids": self.pids, "api_port": self.api_port, "bin": str(self.bin)}
        (self.dir / "state.json").write_text(json.dumps(state, indent=2))

    def check_alive(self) -> None:
        for name, pid in self.pids.items():
            try:
                done, status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                continue
            if done:
                tail = (self.dir / f"{name}.log").read_text(errors="replace")[-3000:]
                raise RuntimeError(f"{name} exited with status {status}:\n{tail}")

    # ------------------------------------------------------------------ API access
    def api(self, method: str, path: str, body: object = None) -> object:
        ctx = ssl.create_default_context(cafile=str(self.dir / "pki" / "apiserver.crt"))
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.server + path, data=data, method=method)
        req.add_header("Authorization", f"Bearer {self.token}")
        req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, context=ctx, timeout=10) as resp:  # noqa: S310
            raw = resp.read()
        return json.loads(raw) if raw.startswith(b"{") else raw.decode()

    def wait(self, what: str, check: object, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                if check():  # type: ignore[operator]
                    return
            except (OSError, urllib.error.URLError, ValueError, KeyError) as exc:
                last = exc
            time.sleep(0.25)
        raise TimeoutError(f"timed out waiting for {what} (last error: {last})")

    # ------------------------------------------------------------------ bring-up
    def up(self, nodes: int) -> None:
        pki = self.dir / "pki"
        pki.mkdir(parents=True, exist_ok=True)
        self.token = secrets.token_hex(16)
        (pki / "tokens.csv").write_text(f'{self.token},admin,admin,"system:masters"\n')
        # a CA for client certificates (--client-ca-file): tests sign users' certificates with it
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-keyout", str(pki / "client-ca.key"), "-out", str(pki / "client-ca.crt"),
             "-days", "30", "-subj", "/CN=reloader-test-client-ca",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
            check=True, capture_output=True,
        )
        subprocess.run(
            ["openssl", "genrsa", "-out", str(pki / "sa.key"), "2048"],
            check=True, capture_output=True,
        )
        subprocess.run(
            ["openssl", "rsa", "-in", str(pki / "sa.key"), "-pubout", "-out", str(pki / "sa.pub")],
            check=True, capture_output=True,
        )
        etcd_port, peer_port = free_port(), free_port()
        self.api_port = free_port()
        self.spawn("etcd", [
            "--name=default", f"--data-dir={self.dir / 'etcd'}",
            f"--listen-client-urls=http://127.0.0.1:{etcd_port}",
            f"--advertise-client-urls=http://127.0.0.1:{etcd_port}",
            f"--listen-peer-urls=http://127.0.0.1:{peer_port}",
            f"--initial-advertise-peer-urls=http://127.0.0.1:{peer_port}",
            f"--initial-cluster=default=http://127.0.0.1:{peer_port}",
            "--unsafe-no-fsync=true", "--log-level=warn",
            "--quota-backend-bytes=8589934592",
        ])
        self.wait("etcd", lambda: b"true" in urllib.request.urlopen(  # noqa: S310
            f"http://127.0.0.1:{etcd_port}/health", timeout=2).read())
        self.spawn("kube-apiserver", [
            f"--etcd-servers=http://127.0.0.1:{etcd_port}",
            f"--cert-dir={pki}", f"--secure-port={self.api_port}",
            "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
            "--endpoint-reconciler-type=none",
            "--service-cluster-ip-range=10.96.0.0/16", "--allow-privileged=true",
            "--authorization-mode=Node,RBAC", f"--token-auth-file={pki / 'tokens.csv'}",
            f"--client-ca-file={pki / 'client-ca.crt'}",
            f"--service-account-issuer=https://127.0.0.1:{self.api_port}",
            f"--service-account-key-file={pki / 'sa.pub'}",
            f"--service-account-signing-key-file={pki / 'sa.key'}",
            # the defaults of a real cluster (NamespaceLifecycle, ServiceAccount, ...) stay on
            "--enable-admission-plugins=NodeRestriction",
            "--max-requests-inflight=1000", "--max-mutating-requests-inflight=500",
            "--watch-cache=true", "--v=0",
        ])
        # The apiserver writes its self-signed serving certificate into --cert-dir first.
        self.wait("apiserver certificate", lambda: (pki / "apiserver.crt").exists())
        self.write_kubeconfig()
        self.wait("kube-apiserver /readyz", lambda: self.api("GET", "/readyz") == "ok")
        common = [f"--kubeconfig={self.kubeconfig}", "--leader-elect=false",
                  "--bind-address=127.0.0.1", "--secure-port=0"]
        self.spawn("kube-controller-manager", [
            *common, "--controllers=*", "--use-service-account-credentials=true",
            f"--service-account-private-key-file={pki / 'sa.key'}",
            f"--root-ca-file={pki / 'apiserver.crt'}",
            "--service-cluster-ip-range=10.96.0.0/16",
            "--kube-api-qps=200", "--kube-api-burst=400",
            "--concurrent-deployment-syncs=10", "--concurrent-replicaset-syncs=10",
            "--node-monitor-grace-period=60s",
        ])
        self.spawn("kube-scheduler", [*common, "--kube-api-qps=200", "--kube-api-burst=400"])
        # kwok serves the kubelet API for its nodes on loopback, so pods/exec through the API
        # server runs the command on this machine (ClusterExec below), in the cluster directory.
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650",
             "-subj", "/CN=kwok", "-addext", "subjectAltName=IP:127.0.0.1",
             "-keyout", str(pki / "kwok.key"), "-out", str(pki / "kwok.crt")],
            check=True, capture_output=True,
        )
        exec_config = self.dir / "kwok-exec.yaml"
        exec_config.write_text(json.dumps({
            "apiVersion": "kwok.x-k8s.io/v1alpha1", "kind": "ClusterExec",
            "metadata": {"name": "local"},
            "spec": {"execs": [{"local": {"workDir": str(self.dir)}}]},
        }))
        self.spawn("kwok", [
            f"--kubeconfig={self.kubeconfig}", f"--config={self.bin / 'kwok-stages.yaml'}",
            f"--config={exec_config}",
            f"--config={Path(__file__).parent / 'stages' / 'unhealthy.yaml'}",
            f"--manage-nodes-with-annotation-selector={NODE_ANNOTATION}=fake",
            "--cidr=10.244.0.0/16", "--node-ip=127.0.0.1", f"--node-port={free_port()}",
            f"--tls-cert-file={pki / 'kwok.crt'}", f"--tls-private-key-file={pki / 'kwok.key'}",
            "--node-lease-duration-seconds=40",
        ])
        for i in range(nodes):
            self.create_node(f"kwok-node-{i}")
        self.wait("nodes Ready", lambda: self.ready_nodes() >= nodes)
        self.wait("default ServiceAccount", lambda: bool(
            self.api("GET", "/api/v1/namespaces/default/serviceaccounts/default")))

    def write_kubeconfig(self) -> None:
        ca = self.dir / "pki" / "apiserver.crt"
        cfg = {
            "apiVersion": "v1", "kind": "Config", "current-context": "local",
            "clusters": [{"name": "local", "cluster": {
                "server": self.server, "certificate-authority": str(ca)}}],
            "users": [{"name": "admin", "user": {"token": self.token}}],
            "contexts": [{"name": "local", "context": {"cluster": "local", "user": "admin"}}],
        }
        self.kubeconfig.write_text(json.dumps(cfg, indent=2))  # JSON is valid YAML

    def create_node(self, name: str) -> None:
        self.api("POST", "/api/v1/nodes", {
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "annotations": {NODE_ANNOTATION: "fake"},
                         "labels": {"type": "kwok", "kubernetes.io/hostname": name,
                                    "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64"}},
            "status": {
                "allocatable": {"cpu": "64", "memory": "256Gi", "pods": "250"},
                "capacity": {"cpu": "64", "memory": "256Gi", "pods": "250"},
            },
        })

    def ready_nodes(self) -> int:
        items = self.api("GET", "/api/v1/nodes")["items"]  # type: ignore[index]
        return sum(
            1 for n in items
            for c in n.get("status", {}).get("conditions", [])
            if c["type"] == "Ready" and c["status"] == "True"
        )


def stop(directory: Path) -> None:
    """Stop every process recorded in ``directory``: SIGTERM, then SIGKILL after a grace."""
    state_file = directory / "state.json"
    if not state_file.exists():
        return
    pids: dict[str, int] = json.loads(state_file.read_text())["pids"]
    # reverse start order: kwok and controllers first, etcd last
    for name, pid in reversed(list(pids.items())):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.05)
        if _alive(pid):
            log(f"{name} (pid {pid}) ignored SIGTERM, killing")
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    state_file.unlink()


def _alive(pid: int) -> bool:
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done:
            return False
    except ChildProcessError:
        pass  # not our child (started by an earlier `up`): probe with signal 0
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


# ---------------------------------------------------------------------- restarting in place
# For fault tests (tests/reliability): stop one process of a running cluster by PID and start it
# again with the same command line (same ports, same data directory, same certificates).


def process_args(pid: int) -> list[str]:
    """The arguments a running process was started with (Linux /proc), program excluded."""
    raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    return [arg.decode() for arg in raw.split(b"\0")[1:-1]]


def attach(directory: Path) -> Cluster:
    """The Cluster that ``up`` (or ``running``) started in ``directory``, from its state file."""
    state = json.loads((directory / "state.json").read_text())
    token = (directory / "pki" / "tokens.csv").read_text().split(",", 1)[0]
    return Cluster(dir=directory, bin=Path(state["bin"]), token=token,
                   api_port=int(state["api_port"]), pids=dict(state["pids"]))


def stop_process(directory: Path, name: str, sig: int = signal.SIGTERM) -> list[str]:
    """Stop the ``name`` process of the cluster in ``directory`` by PID (SIGKILL after 20 s);
    return its arguments, for :func:`start_process`."""
    cluster = attach(directory)
    pid = cluster.pids[name]
    args = process_args(pid)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.05)
    if _alive(pid):
        log(f"{name} (pid {pid}) ignored {signal.Signals(sig).name}, killing")
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        while _alive(pid):
            time.sleep(0.05)
    return args


def start_process(directory: Path, name: str, args: list[str], timeout: float = 120.0) -> int:
    """Start ``name`` again with ``args`` and wait until it is healthy; return its new PID."""
    cluster = attach(directory)
    cluster.spawn(name, args)
    pid = cluster.pids[name]
    if name == "etcd":
        url = next(a.split("=", 1)[1] for a in args if a.startswith("--listen-client-urls="))
        cluster.wait("etcd", lambda: b"true" in urllib.request.urlopen(  # noqa: S310
            f"{url.split(',')[0]}/health", timeout=2).read(), timeout)
    elif name == "kube-apiserver":
        cluster.wait("kube-apiserver /readyz", lambda: cluster.api("GET", "/readyz") == "ok",
                     timeout)
    return pid


def restart_process(directory: Path, name: str, *, args: list[str] | None = None,
                    sig: int = signal.SIGTERM, down_for: float = 0.0) -> int:
    """Stop ``name`` by PID, stay down ``down_for`` seconds, start it with the same arguments
    (or ``args``), wait until healthy; return the new PID."""
    old = stop_process(directory, name, sig)
    time.sleep(down_for)
    return start_process(directory, name, old if args is None else args)


@contextlib.contextmanager
def running(directory: Path, *, nodes: int = 3) -> Iterator[Cluster]:
    """Context manager: a started cluster, stopped (by PID) on exit whatever happens."""
    stop(directory)
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    cluster = Cluster(dir=directory, bin=build())
    t0 = time.monotonic()
    try:
        cluster.up(nodes)
        log(f"ready in {time.monotonic() - t0:.1f}s; KUBECONFIG={cluster.kubeconfig}")
        yield cluster
    finally:
        stop(directory)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["up", "down", "run", "build"])
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--nodes", type=int, default=3)
    argv = sys.argv[1:]
    cmd = argv[argv.index("--") + 1 :] if "--" in argv else []
    args = parser.parse_args(argv[: argv.index("--")] if "--" in argv else argv)
    directory: Path = args.dir.resolve()
    if args.command == "build":
        print(build())
        return 0
    if args.command == "down":
        stop(directory)
        log(f"stopped {directory}")
        return 0
    if args.command == "up":
        stop(directory)
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)
        cluster = Cluster(dir=directory, bin=build())
        t0 = time.monotonic()
        try:
            cluster.up(args.nodes)
        except BaseException:
            stop(directory)
            raise
        log(f"ready in {time.monotonic() - t0:.1f}s")
        print(cluster.kubeconfig)
        return 0
    if not cmd:
        parser.error("run needs a command after --")
    with running(directory, nodes=args.nodes) as cluster:
        env = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig),
               "PATH": f"{cluster.bin}{os.pathsep}{os.environ['PATH']}"}
        return subprocess.run(cmd, env=env, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
