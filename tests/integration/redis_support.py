"""A real Redis on a loopback port (Debian's packages, unpacked by ``tools/redis/fetch.sh``).

Started by PID with persistence off, stopped by PID; ``cli`` runs Debian's redis-cli against it.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.controller import _free_port

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Redis:
    bin_dir: Path
    port: int

    @property
    def cli_path(self) -> str:
        return str(self.bin_dir / "redis-cli")

    def cli(self, *args: str) -> str:
        done = subprocess.run(
            [self.cli_path, "-p", str(self.port), *args],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
        return done.stdout.strip()


@pytest.fixture(scope="session")
def redis_bin() -> Path:
    out = subprocess.run(
        ["bash", str(REPO / "tools" / "redis" / "fetch.sh")],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert out.returncode == 0, f"tools/redis/fetch.sh failed:\n{out.stderr}"
    return Path(out.stdout.strip().splitlines()[-1])


@pytest.fixture
def redis(redis_bin: Path, tmp_path: Path) -> Iterator[Redis]:
    port = _free_port()
    log = (tmp_path / "redis.log").open("wb")
    proc = subprocess.Popen(
        [
            str(redis_bin / "redis-server"),
            "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--dir", str(tmp_path),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    server = Redis(redis_bin, port)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if server.cli("ping") == "PONG":
                    break
            except subprocess.CalledProcessError:
                pass
            assert proc.poll() is None, "redis-server exited; see redis.log"
            assert time.monotonic() < deadline, "redis-server did not answer PING within 20 s"
            time.sleep(0.1)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
