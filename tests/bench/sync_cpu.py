"""CPU of the controller from its start to ``/ready``, restarted against one populated cluster,
two versions of ``reloader/`` alternating.

    python -m tests.bench.sync_cpu --refs "main HEAD" --runs 4              # a fresh cluster
    python -m tests.bench.sync_cpu --cluster-dir DIR --refs "main HEAD"     # a running one

Creates the scale scenario's ConfigMaps and Secrets (``list_floor.create_sources``; what exists
is kept), exports ``reloader/`` at each ref (``git archive``), then starts the controller of
each ref in turn, ``--runs`` times each, and reads its CPU seconds (``/proc/PID/stat``) the
moment ``/ready`` first answers 200, with the wall time and the CPU kube-apiserver and etcd
spent meanwhile. The benchmark's scale scenario counts the CPU until the controller is idle
after adopting every workload, with its own ``/metrics`` scrapes every 100 ms: a longer run
costs more there whatever the sync did, which this measurement leaves out.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import ExitStack
from pathlib import Path

import anyio

from reloader.kube.client import KubeClient
from tests.bench.__main__ import git_revision, snapshot
from tests.bench.command import free_port
from tests.bench.list_floor import create_sources, process_cpu

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tools" / "cluster"))
import cluster as local_cluster  # type: ignore[import-not-found]  # noqa: E402

WORK = REPO / ".bench" / "sync-cpu"


def export(ref: str) -> Path:
    """``reloader/`` as committed at ``ref``, in a directory of its own."""
    directory = WORK / git_revision(ref, work_tree=False)
    if not directory.is_dir():
        snapshot(ref, directory)
    return directory


def ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=1) as answer:
            return bool(answer.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def one_run(source: Path, kubeconfig: Path, pids: dict[str, int], log: Path) -> dict[str, float]:
    port = free_port()
    api0, etcd0 = process_cpu(pids["kube-apiserver"]), process_cpu(pids["etcd"])
    started = time.monotonic()
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-P",
                "-m",
                "reloader",
                f"--kubeconfig={kubeconfig}",
                "--log-format=json",
                f"--metrics-addr=127.0.0.1:{port}",
            ],
            env={**os.environ, "PYTHONPATH": str(source)},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = started + 600
        while not ready(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the controller never became ready; see {log}")
            time.sleep(0.05)
        result = {
            "ready_s": time.monotonic() - started,
            "cpu_s": process_cpu(proc.pid),
            "apiserver_cpu_s": process_cpu(pids["kube-apiserver"]) - api0,
            "etcd_cpu_s": process_cpu(pids["etcd"]) - etcd0,
        }
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return result


async def populate(kubeconfig: Path, scale: float, size_kib: int) -> None:
    async with await KubeClient.connect(
        kubeconfig=str(kubeconfig), field_manager="bench", max_connections=64
    ) as kube:
        await create_sources(kube, scale, size_kib)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cluster-dir", type=Path, help="a running cluster (tools/cluster)")
    parser.add_argument("--refs", default="main HEAD")
    parser.add_argument("--runs", type=int, default=4)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--size-kib", type=int, default=40)
    args = parser.parse_args()
    refs = args.refs.split()
    sources = {ref: export(ref) for ref in refs}
    results: dict[str, list[dict[str, float]]] = {ref: [] for ref in refs}
    with ExitStack() as stack:
        if args.cluster_dir is not None:
            cluster = local_cluster.attach(args.cluster_dir.resolve())
        else:
            (WORK.parent / ".gitignore").write_text("*\n")
            cluster = stack.enter_context(local_cluster.running(WORK / "cluster", nodes=1))
        anyio.run(populate, cluster.kubeconfig, args.scale, args.size_kib)
        for i in range(args.runs):
            for ref in refs if i % 2 == 0 else reversed(refs):
                r = one_run(sources[ref], cluster.kubeconfig, cluster.pids, WORK / f"{ref}.log")
                results[ref].append(r)
                sys.stderr.write(
                    f"{ref:>8} run {i}: /ready {r['ready_s']:6.2f} s  CPU {r['cpu_s']:5.2f} s  "
                    f"apiserver {r['apiserver_cpu_s']:5.2f} s  etcd {r['etcd_cpu_s']:5.2f} s\n"
                )
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    sys.stdout.write(f"load average (1, 5, 15 min) at the end: {load}\n")
    for ref, runs in results.items():
        cpu = sorted(r["cpu_s"] for r in runs)
        wall = sorted(r["ready_s"] for r in runs)
        sys.stdout.write(
            f"{ref:>8}: CPU to /ready {' '.join(f'{c:.2f}' for c in cpu)} "
            f"(median {cpu[len(cpu) // 2]:.2f} s); /ready median {wall[len(wall) // 2]:.2f} s\n"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
