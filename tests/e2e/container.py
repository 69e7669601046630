"""Run a built image without a daemon: a buildah working container, ``buildah run`` with chroot
isolation, and the process tree under it (to signal and inspect the controller by PID).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

#: How ``buildah run`` isolates: chroot needs neither a daemon nor an OCI runtime.
ISOLATION = "chroot"


def run(
    cmd: list[str], *, timeout: float, what: str, input_text: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a command to completion; raise with its output if it fails or outlives ``timeout``."""
    try:
        done = subprocess.run(
            cmd,
            input=input_text,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            stdin=None if input_text is not None else subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as exc:
        raise TimeoutError(f"{what}: no answer after {timeout}s: {' '.join(cmd)}") from exc
    if done.returncode != 0:
        raise RuntimeError(
            f"{what} failed with exit {done.returncode}: {' '.join(cmd)}\n"
            f"stdout: {done.stdout[-2000:]}\nstderr: {done.stderr[-2000:]}"
        )
    return done


def wait_for(
    what: str,
    check: Callable[[], T | None],
    *,
    timeout: float,
    interval: float = 0.2,
    details: Callable[[], str] = lambda: "",
) -> T:
    """Poll ``check`` until it returns something truthy; raise after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        value = check()
        if value:
            return value
        last = value
        if time.monotonic() >= deadline:
            raise TimeoutError(
                f"timed out after {timeout}s waiting for {what} (last: {last!r})\n{details()}"
            )
        time.sleep(interval)


def require_buildah() -> str:
    path = shutil.which("buildah")
    if path is None:
        raise RuntimeError("buildah is not installed: run tools/image/build.sh (it installs it)")
    if os.geteuid() != 0:
        raise RuntimeError("buildah run with chroot isolation needs root")
    return path


def inspect_image(image: str) -> dict[str, Any]:
    out = run(["buildah", "inspect", "--type", "image", image], timeout=60, what="inspect image")
    return dict(json.loads(out.stdout))


# ------------------------------------------------------------------------------ process tree
def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry.name}/stat").read_text()
        except OSError:
            continue  # exited meanwhile
        ppid = int(stat.rpartition(")")[2].split()[1])
        tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def descendants(pid: int) -> list[int]:
    tree, out, todo = _children(), [], [pid]
    while todo:
        for child in tree.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def proc_status(pid: int) -> dict[str, str]:
    """``/proc/PID/status`` as a dict (``Uid``, ``Gid``, ``CapEff``, ``SigCgt``, ...)."""
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return {k: v.strip() for k, _, v in (line.partition(":") for line in lines)}


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


# ------------------------------------------------------------------------------ containers
@dataclass
class Container:
    """A buildah working container made from an image; removed by :meth:`remove`."""

    image: str
    name: str = ""

    def create(self) -> None:
        require_buildah()
        self.name = f"reloader-image-test-{secrets.token_hex(4)}"
        run(
            ["buildah", "from", "--pull-never", "--quiet", "--name", self.name, self.image],
            timeout=120,
            what=f"buildah from {self.image} (build it first: tools/image/build.sh)",
        )

    def remove(self) -> None:
        if self.name:
            with contextlib.suppress(RuntimeError, TimeoutError):
                run(["buildah", "umount", self.name], timeout=60, what="buildah umount")
            run(["buildah", "rm", self.name], timeout=60, what="buildah rm")
            self.name = ""

    def mountpoint(self) -> Path:
        """The container's root filesystem as the host sees it (``buildah mount``)."""
        out = run(["buildah", "mount", self.name], timeout=60, what="buildah mount")
        return Path(out.stdout.strip())

    def run_args(
        self, argv: list[str], *, user: str | None, volumes: list[str], tmpfs_tmp: bool
    ) -> list[str]:
        cmd = ["buildah", "run", "--isolation", ISOLATION, "--network", "host"]
        if user is not None:
            cmd += ["--user", user]
        for volume in volumes:
            cmd += ["--volume", volume]
        if tmpfs_tmp:  # the chart mounts an emptyDir at /tmp: the only writable place
            cmd += ["--mount", "type=tmpfs,destination=/tmp"]
        return [*cmd, self.name, "--", *argv]

    def exec(
        self,
        argv: list[str],
        *,
        user: str | None = None,
        volumes: list[str] | None = None,
        timeout: float = 60,
    ) -> str:
        """Run ``argv`` in the container to completion; return its stdout."""
        cmd = self.run_args(argv, user=user, volumes=volumes or [], tmpfs_tmp=True)
        return run(cmd, timeout=timeout, what=f"buildah run {' '.join(argv)}").stdout

    @contextlib.contextmanager
    def spawn(
        self, argv: list[str], *, log_path: Path, user: str | None, volumes: list[str]
    ) -> Iterator[subprocess.Popen[bytes]]:
        """Start ``buildah run ... argv`` in the background (output to ``log_path``); on exit,
        whatever is left of it is killed by PID."""
        cmd = self.run_args(argv, user=user, volumes=volumes, tmpfs_tmp=True)
        with log_path.open("ab") as log:
            proc = subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        try:
            yield proc
        finally:
            if proc.poll() is None:
                for pid in reversed(descendants(proc.pid)):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, 9)
                proc.kill()
            proc.wait(timeout=30)


def snapshot(root: Path, *, exclude: set[str]) -> dict[str, tuple[int, int, int]]:
    """Every path under ``root`` (but the top-level names in ``exclude``) with its mode, size
    and mtime: two snapshots differ where something was written."""
    out: dict[str, tuple[int, int, int]] = {}
    for top in root.iterdir():
        if top.name in exclude:
            continue
        stack = [top]
        while stack:
            path = stack.pop()
            st = path.lstat()
            out[str(path.relative_to(root))] = (st.st_mode, st.st_size, st.st_mtime_ns)
            if path.is_dir() and not path.is_symlink():
                stack.extend(path.iterdir())
    return out
