"""Run a command in a container through the API server's ``pods/exec``, as ``kubectl exec`` does.

The API server upgrades the request to a WebSocket speaking the channel protocol
(``v5.channel.k8s.io``, else ``v4.channel.k8s.io``): every binary message starts with one byte
naming its stream (1 stdout, 2 stderr, 3 the final Status, 255 a stream closed (v5 only)). The
command has ended when the Status arrives: ``Success``, or ``Failure`` whose cause ``ExitCode``
carries the exit status (``NonZeroExitCode``). Some kubelets (kwok among them) report a non-zero
exit only in the message ("... exit status 3"); that form is read too.

Only the tail of each output stream is kept (``keep`` bytes): a chatty command cannot fill the
controller's memory. The caller bounds the time (``anyio.fail_after``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec

from reloader.errors import KubeConnectionError
from reloader.kube import lazy_aiohttp

if TYPE_CHECKING:
    from collections.abc import Sequence

    from reloader.kube.client import KubeClient

PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")
STDOUT, STDERR, ERROR, CLOSE = 1, 2, 3, 255
UNKNOWN_EXIT = -1
_EXIT_IN_MESSAGE = re.compile(r"exit (?:status|code) (\d+)")


@dataclass(frozen=True, slots=True)
class ExecResult:
    """How the command ended: ``exit_code`` 0 is success, ``UNKNOWN_EXIT`` when the API server
    gave no exit status (the container was missing, the command not found, ...), with the
    API server's ``message``; the tails of both outputs."""

    exit_code: int
    stdout: bytes
    stderr: bytes
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


def exit_status(status: dict[str, Any]) -> tuple[int, str]:
    """The exit code and message of the Status sent on the error channel."""
    if status.get("status") == "Success":
        return 0, ""
    message = str(status.get("message") or status.get("reason") or "exec failed")
    for cause in (status.get("details") or {}).get("causes") or []:
        if cause.get("reason") == "ExitCode" and str(cause.get("message", "")).isdigit():
            return int(cause["message"]), message
    found = _EXIT_IN_MESSAGE.search(message)
    return (int(found.group(1)) if found else UNKNOWN_EXIT), message


class _Tail:
    def __init__(self, keep: int) -> None:
        self.keep = keep
        self.data = bytearray()

    def add(self, chunk: bytes) -> None:
        self.data += chunk
        if len(self.data) > self.keep:
            del self.data[: len(self.data) - self.keep]


async def exec_in_pod(
    client: KubeClient,
    *,
    namespace: str,
    pod: str,
    container: str,
    command: Sequence[str],
    keep: int = 4096,
) -> ExecResult:
    """Run ``command`` (no shell unless it names one) in ``container`` of ``pod``; no stdin.

    :raises KubeError: the exec was refused (403 without ``create`` on ``pods/exec``, 404 for a
        missing pod, 400 for a pod that is not running), or the connection broke.
    """
    query = [("container", container), ("stdout", "true"), ("stderr", "true")]
    query += [("command", part) for part in command]
    out, err = _Tail(keep), _Tail(keep)
    path = f"/api/v1/namespaces/{namespace}/pods/{pod}/exec"
    kinds = lazy_aiohttp.load().WSMsgType
    async with client.websocket(path, query=query, protocols=PROTOCOLS) as ws:
        async for message in ws:
            if message.type == kinds.ERROR:
                raise KubeConnectionError(f"exec in {namespace}/{pod}: {ws.exception()}")
            if message.type != kinds.BINARY or not message.data:
                continue
            channel, payload = message.data[0], message.data[1:]
            if channel == STDOUT:
                out.add(payload)
            elif channel == STDERR:
                err.add(payload)
            elif channel == ERROR:
                code, text = exit_status(msgspec.json.decode(payload) if payload else {})
                return ExecResult(code, bytes(out.data), bytes(err.data), text)
    raise KubeConnectionError(f"exec in {namespace}/{pod}: the stream ended without a status")
