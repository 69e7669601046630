"""The controller under test: any command, started as a subprocess, measured from outside.

The command is a template (``--controller-cmd`` / ``BENCH_CONTROLLER``; tests/bench/command.py).
Placeholders ``{kubeconfig}``, ``{metrics_port}`` and ``{python}`` are filled in; a command without
``{kubeconfig}`` or ``{metrics_port}`` gets reloader's flags appended
(``--kubeconfig=… --log-format=json --metrics-addr=127.0.0.1:PORT``). ``KUBECONFIG`` is set in its
environment either way, so a controller that reads only the environment works too. A controller
that always listens on one port (stakater/Reloader on :9090) is given that ``port``: it is checked
free before the start (only one controller runs at a time), and its /metrics are read there.

RSS and CPU come from the operating system (psutil, the process and its children), so they are
measured the same way for every controller; API requests by verb come from its own /metrics
(``reloader_api_requests_total{verb}``, else client-go's ``rest_client_requests_total{method}``).
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import aiohttp
import anyio

from tests.bench.command import build_command, free_port, port_in_use

WRITE_VERBS = ("CREATE", "UPDATE", "PATCH", "DELETE")
VERBS = ("LIST", "WATCH", "GET", *WRITE_VERBS)


def _psutil() -> Any:
    """psutil, imported when a measurement needs it: it is the bench extra, and the pure parts of
    the harness (tested by make test, which installs only the dev extra) must import without it."""
    import psutil  # type: ignore[import-untyped,import-not-found,unused-ignore]

    return psutil


def port_holder(port: int) -> str:
    """Who listens on ``port`` (PID and command line), as far as this user may see."""
    psutil = _psutil()
    try:
        for conn in psutil.net_connections(kind="tcp"):
            if conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_LISTEN:
                if conn.pid is None:
                    return "a process this user cannot see"
                return f"PID {conn.pid} ({' '.join(psutil.Process(conn.pid).cmdline())[:120]})"
    except psutil.Error:
        pass
    return "an unknown process"


@dataclass
class Scrape:
    """One parse of /metrics: sample name → list of (labels, value)."""

    at: float
    samples: dict[str, list[tuple[dict[str, str], float]]] = field(default_factory=dict)

    def value(self, name: str, **labels: str) -> float | None:
        """Sum of the samples of ``name`` whose labels include ``labels``; None if absent."""
        rows = self.samples.get(name)
        if rows is None:
            return None
        return sum(v for lab, v in rows if all(lab.get(k) == x for k, x in labels.items()))

    def requests_by_verb(self) -> dict[str, float]:
        """The controller's own API requests per Kubernetes verb."""
        out: dict[str, float] = {}
        if "reloader_api_requests_total" in self.samples:
            for verb in VERBS:
                out[verb] = self.value("reloader_api_requests_total", verb=verb) or 0.0
            return out
        # client-go's metric has HTTP methods only: GET covers LIST and GET.
        for method, verb in (("GET", "GET"), ("POST", "CREATE"), ("PUT", "UPDATE")):
            out[verb] = self.value("rest_client_requests_total", method=method) or 0.0
        for verb in ("PATCH", "DELETE"):
            out[verb] = self.value("rest_client_requests_total", method=verb) or 0.0
        return out

    def error_responses(self, *, conflicts: bool = False) -> float:
        """API answers 4xx/5xx or no answer; only 409 Conflicts when ``conflicts``."""
        total = 0.0
        for lab, v in self.samples.get("rest_client_requests_total", []):
            code = lab.get("code", "")
            if conflicts:
                total += v if code == "409" else 0.0
            elif (code.startswith(("4", "5")) and code != "409") or code == "<error>":
                total += v
        return total

    def request_seconds(self, method: str) -> tuple[float, float]:
        """(sum of seconds, count) of the controller's API requests of this HTTP method."""
        name = "rest_client_request_duration_seconds"
        return (
            self.value(f"{name}_sum", verb=method) or 0.0,
            self.value(f"{name}_count", verb=method) or 0.0,
        )


def parse_metrics(text: str, at: float) -> Scrape:
    scrape = Scrape(at=at)
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        series, _, value = line.rpartition(" ")
        name, _, label_text = series.partition("{")
        labels: dict[str, str] = {}
        if label_text:
            for part in _split_labels(label_text.rstrip("}")):
                k, _, v = part.partition("=")
                labels[k] = v.strip('"')
        try:
            number = float(value)
        except ValueError:
            continue
        scrape.samples.setdefault(name, []).append((labels, number))
    return scrape


def _split_labels(text: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        if ch == "," and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    if current:
        parts.append("".join(current))
    return parts


@dataclass
class Sample:
    at: float  # monotonic
    rss: int  # bytes, process and children
    cpu: float  # user + system seconds, process and children


class ControllerUnderTest:
    """Start, probe, sample and stop the controller (by PID); restartable."""

    def __init__(
        self,
        *,
        template: str,
        kubeconfig: Path,
        log_path: Path,
        extra_args: list[str] | None = None,
        ready_path: str = "/ready",
        port: int | None = None,
        append_flags: bool | None = None,
    ) -> None:
        self.template = template
        self.kubeconfig = kubeconfig
        self.log_path = log_path
        self.extra_args = list(extra_args or [])
        self.ready_path = ready_path
        self.fixed_port = port  # a controller that always listens there (no flag for it)
        self.append_flags = append_flags
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0
        self.ready_at = 0.0
        self.samples: list[Sample] = []
        self.exit_codes: list[int] = []
        self.cpu_of_stopped = 0.0  # CPU seconds of earlier incarnations (restarts)
        self._session: aiohttp.ClientSession | None = None

    # ------------------------------------------------------------------ lifecycle
    async def __aenter__(self) -> Self:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.proc is not None:
            await self.stop()
        if self._session is not None:
            await self._session.close()

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def command(self) -> list[str]:
        return build_command(
            self.template,
            kubeconfig=self.kubeconfig,
            metrics_port=self.port,
            extra_args=self.extra_args,
            append_flags=self.append_flags,
        )

    def spawn(self) -> None:
        """Start the process (returns at once; tests/bench/readiness.py waits for it)."""
        assert self.proc is None, "already running"
        if self.fixed_port is not None and port_in_use(self.fixed_port):
            raise RuntimeError(
                f"port {self.fixed_port} is in use by {port_holder(self.fixed_port)}; the "
                f"controller `{self.template}` always listens on :{self.fixed_port} (it has no "
                "flag to change it): free the port and run again"
            )
        self.port = self.fixed_port or free_port()
        argv = self.command()
        env: Mapping[str, str] = {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            "PYTHONUNBUFFERED": "1",
        }
        with self.log_path.open("ab") as log:
            log.write(f"# bench: {shlex.join(argv)}\n".encode())
            log.flush()
            self.started_at = time.monotonic()
            self.proc = subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
            )
        self.ready_at = 0.0

    async def stop(self, *, sig: signal.Signals = signal.SIGTERM, timeout: float = 30.0) -> int:
        """Signal the process by PID, wait for it, return its exit code (SIGKILL at timeout)."""
        assert self.proc is not None
        proc = self.proc
        self.cpu_of_stopped += self._cpu_now()
        if proc.poll() is None:
            proc.send_signal(sig)
            try:
                await anyio.to_thread.run_sync(lambda: proc.wait(timeout))
            except subprocess.TimeoutExpired:
                proc.kill()
                await anyio.to_thread.run_sync(proc.wait)
        code = int(proc.returncode)
        self.exit_codes.append(code)
        self.proc = None
        return code

    def check_alive(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"controller exited with {self.proc.returncode}: {self.tail()}")

    def tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    # ------------------------------------------------------------------ HTTP
    async def http_status(self, path: str) -> int:
        assert self._session is not None
        try:
            async with self._session.get(f"http://127.0.0.1:{self.port}{path}") as resp:
                await resp.read()
                return resp.status
        except (aiohttp.ClientError, OSError, TimeoutError):
            return 0

    async def scrape(self) -> Scrape:
        """Parse /metrics now (an empty scrape when there is no answer)."""
        assert self._session is not None
        at = time.monotonic()
        try:
            async with self._session.get(f"http://127.0.0.1:{self.port}/metrics") as resp:
                text = await resp.text() if resp.status == 200 else ""
        except (aiohttp.ClientError, OSError, TimeoutError):
            text = ""
        return parse_metrics(text, at)

    # ------------------------------------------------------------------ OS measurements
    def _procs(self) -> list[Any]:
        psutil = _psutil()
        if self.proc is None or self.proc.poll() is not None:
            return []
        try:
            root = psutil.Process(self.proc.pid)
            return [root, *root.children(recursive=True)]
        except psutil.Error:
            return []

    def rss(self) -> int:
        psutil = _psutil()
        total = 0
        for p in self._procs():
            try:
                total += int(p.memory_info().rss)
            except psutil.Error:
                continue
        return total

    def _cpu_now(self) -> float:
        psutil = _psutil()
        total = 0.0
        for p in self._procs():
            try:
                t = p.cpu_times()
                total += t.user + t.system
            except psutil.Error:
                continue
        return total

    def cpu_seconds(self) -> float:
        """CPU seconds of every incarnation so far (restarts included)."""
        return self.cpu_of_stopped + self._cpu_now()

    def sample(self) -> Sample:
        s = Sample(at=time.monotonic(), rss=self.rss(), cpu=self.cpu_seconds())
        self.samples.append(s)
        return s

    async def sample_forever(self, interval: float = 0.25) -> None:
        """Append a Sample every ``interval`` seconds while running (a background task)."""
        while True:
            if self.proc is not None:
                self.sample()
            await anyio.sleep(interval)
