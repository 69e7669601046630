"""The controller's command line, and the ports it listens on (pure, no process started).

A command is a template: ``{kubeconfig}``, ``{metrics_port}`` and ``{python}`` are filled in; a
template without ``{kubeconfig}`` or ``{metrics_port}`` gets reloader's flags appended, unless told
not to (a controller with flags of its own, such as stakater/Reloader).
"""

from __future__ import annotations

import contextlib
import os
import shlex
import socket
import subprocess
import sys
from pathlib import Path

#: -OO as the image runs it (PYTHONOPTIMIZE=2: no docstrings, 2.5 MB less RSS)
DEFAULT_COMMAND = "{python} -OO -m reloader"
DEFAULT_FLAGS = (
    "--kubeconfig={kubeconfig} --log-format=json --metrics-addr=127.0.0.1:{metrics_port}"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_in_use(port: int) -> bool:
    """Whether a listener on all interfaces at ``port`` would fail now.

    SO_REUSEADDR as Go's listeners set it: a connection in TIME_WAIT does not count.
    """
    for family, addr in ((socket.AF_INET6, "::"), (socket.AF_INET, "0.0.0.0")):  # noqa: S104
        try:
            sock = socket.socket(family, socket.SOCK_STREAM)
        except OSError:
            continue
        with sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            try:
                sock.bind((addr, port))
                sock.listen(1)
            except OSError:
                return True
    return False


def build_command(
    template: str,
    *,
    kubeconfig: Path,
    metrics_port: int,
    extra_args: list[str],
    append_flags: bool | None = None,
) -> list[str]:
    """The argv of ``template``; reloader's flags are appended when ``append_flags`` (by
    default: when the template has no ``{kubeconfig}`` or ``{metrics_port}`` of its own)."""
    if append_flags is None:
        append_flags = not ("{kubeconfig}" in template or "{metrics_port}" in template)
    text = f"{template} {DEFAULT_FLAGS}" if append_flags else template
    argv = shlex.split(text)
    if argv and argv[0] in ("python", "python3"):
        argv[0] = "{python}"  # the harness's interpreter: the one with reloader installed
    values = {"kubeconfig": str(kubeconfig), "metrics_port": metrics_port, "python": sys.executable}
    return [arg.format(**values) for arg in argv] + extra_args


def compile_bytecode(pythonpath: Path | None = None) -> None:
    """Compile (and cache, where writable) the bytecode of everything ``reloader run`` imports,
    at the level DEFAULT_COMMAND runs with: otherwise the first scenario's controller compiles
    it, and its RSS holds the compiler's garbage (an installed package comes compiled)."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # the point is to write it
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    subprocess.run(
        [sys.executable, "-OO", "-P", "-c", "import reloader.cli, reloader.app"],
        env=env,
        check=True,
    )
