"""Run the real controller as a subprocess against the test cluster.

One process per flag set per test module (each test has its own namespace); tests that need to
stop and start it (level-triggered behaviour) use :class:`ControllerProcess` directly.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ControllerProcess:
    """``python -m reloader`` with the given flags; logs (JSON lines) go to ``log_path``."""

    def __init__(
        self,
        *,
        kubeconfig: Path,
        log_path: Path,
        args: list[str],
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.kubeconfig = kubeconfig
        self.log_path = log_path
        self.args = args
        self.env = dict(env or {})
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, *, timeout: float = 60.0) -> None:
        self.port = _free_port()
        cmd = [
            sys.executable,
            "-m",
            "reloader",
            f"--kubeconfig={self.kubeconfig}",
            "--log-format=json",
            "--log-level=debug",
            f"--metrics-addr=127.0.0.1:{self.port}",
            *self.args,
        ]
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                cmd,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, "PYTHONUNBUFFERED": "1", **self.env},
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"controller exited with {self.proc.returncode}:\n"
                    f"{self.log_path.read_text()[-3000:]}"
                )
            if self.get("/ready")[0] == 200:
                return
            time.sleep(0.1)
        raise TimeoutError(
            f"controller not ready after {timeout}s:\n{self.log_path.read_text()[-3000:]}"
        )

    def stop(self, *, sig: signal.Signals = signal.SIGTERM) -> int:
        """Stop the process (by PID); return its exit code."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        code = self.proc.returncode
        self.proc = None
        return code

    def get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=2) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, ""
        except OSError:
            return 0, ""

    def logs(self, event: str | None = None) -> list[dict[str, Any]]:
        """Parsed JSON log lines (optionally only those with this event name)."""
        out = []
        for line in self.log_path.read_text().splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if event is None or entry.get("event") == event:
                out.append(entry)
        return out

    def metric(self, name: str, labels: dict[str, str] | None = None) -> float:
        """Sum of the samples of ``name`` whose labels include ``labels`` (0 when none has them
        yet); a name the process does not export at all fails, so a typo cannot pass as 0."""
        status, text = self.get("/metrics")
        assert status == 200, status
        families = [line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")]
        assert any(name == f or name.startswith(f"{f}_") for f in families), (
            f"no metric {name} on /metrics"
        )
        total = 0.0
        for line in text.splitlines():
            if line.startswith("#") or not line.startswith(name):
                continue
            series, _, value = line.rpartition(" ")
            metric, _, label_text = series.partition("{")
            if metric != name:
                continue
            if all(f'{k}="{v}"' in label_text for k, v in (labels or {}).items()):
                total += float(value)
        return total


def start_scoped(
    kubeconfig: Path,
    log_path: Path,
    namespace: str,
    *args: str,
    env: Mapping[str, str] | None = None,
) -> ControllerProcess:
    """A started controller watching only ``namespace`` (its own process, for its own test)."""
    proc = ControllerProcess(
        kubeconfig=kubeconfig,
        log_path=log_path,
        args=[f"--namespaces={namespace}", *args],
        env=env,
    )
    proc.start()
    return proc
