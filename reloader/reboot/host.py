"""What the agent does on the host: check the sentinel, reboot, and send notifications.

In a pod (hostPID, privileged), commands run in the host's namespaces through ``nsenter``: the
sentinel command in the host's mount namespace (as kured does), the reboot command in all of PID
1's namespaces. ``--nsenter=false`` runs them as they are, for an agent running on the host.
"""

from __future__ import annotations

import os
import subprocess

import anyio
import structlog

from reloader.observability.notify import post
from reloader.reboot.domain.notify import NotifyTarget
from reloader.reboot.settings import NSENTER_HOST, NSENTER_MOUNT, HostSettings

log = structlog.get_logger(__name__)

SENTINEL_TIMEOUT_S = 60.0
REBOOT_TIMEOUT_S = 120.0
PREFLIGHT_TIMEOUT_S = 30.0
#: how util-linux's nsenter starts its own error messages
NSENTER_ERROR = b"nsenter: "


def _tail(stderr: bytes) -> str:
    """The end of a command's error output, for a message (its last 300 characters)."""
    return stderr.decode(errors="replace").strip()[-300:]


class HostError(Exception):
    """Raised when the sentinel command cannot run, or the reboot command or signal fails."""


class Host:
    def __init__(self, settings: HostSettings) -> None:
        self.settings = settings

    def sentinel_command(self) -> list[str]:
        cmd = list(self.settings.sentinel_command)
        return [*NSENTER_MOUNT, *cmd] if self.settings.nsenter else cmd

    def reboot_command(self) -> list[str]:
        cmd = list(self.settings.reboot_command)
        return [*NSENTER_HOST, *cmd] if self.settings.nsenter else cmd

    def preflight_commands(self) -> list[tuple[str, list[str]]]:
        """(flag, command) pairs that prove nsenter can enter PID 1's namespaces, for each
        command that goes through it: ``nsenter ... -- true``."""
        s = self.settings
        if not s.nsenter:
            return []
        probes = []
        if s.sentinel_command:
            probes.append(("--reboot-sentinel-command", [*NSENTER_MOUNT, "true"]))
        if s.method == "command":
            probes.append(("--reboot-command", [*NSENTER_HOST, "true"]))
        return probes

    async def preflight(self) -> None:
        """Check once, at startup, that nsenter works. nsenter exits 1 when it cannot enter
        the namespaces (no hostPID, not privileged), which the sentinel command would read as
        "no reboot needed", silently and forever; the reboot command would fail only after a
        whole drain. :raises HostError: with what to fix."""
        for flag, cmd in self.preflight_commands():
            try:
                with anyio.fail_after(PREFLIGHT_TIMEOUT_S):
                    result = await anyio.run_process(cmd, check=False, stdin=subprocess.DEVNULL)
            except (OSError, TimeoutError) as exc:
                detail = f"could not run: {exc}"
            else:
                if result.returncode == 0:
                    continue
                stderr = _tail(result.stderr)
                detail = f"exited with {result.returncode}: {stderr or 'no message'}"
            raise HostError(
                f"{flag} runs through {' '.join(cmd[:-1])!r}, which does not work here "
                f"({' '.join(cmd)!r} {detail}). The agent needs the host's PID namespace and a "
                f"privileged container (hostPID: true, securityContext.privileged: true); "
                f"--nsenter=false runs the commands as they are, for an agent on the host itself"
            )

    async def reboot_required(self) -> bool:
        """Whether the sentinel says so: the file exists, or the command exits 0.

        Exit 1 means no; another code is logged and means no (never a reboot loop because
        a check broke). :raises HostError: the command could not be started or timed out, or
        nsenter itself failed.
        """
        if not self.settings.sentinel_command:
            return await anyio.Path(self.settings.sentinel_file).exists()
        cmd = self.sentinel_command()
        try:
            with anyio.fail_after(SENTINEL_TIMEOUT_S):
                result = await anyio.run_process(cmd, check=False, stdin=subprocess.DEVNULL)
        except (OSError, TimeoutError) as exc:
            raise HostError(f"sentinel command {cmd[0]!r} could not run: {exc}") from exc
        if self.settings.nsenter and result.returncode and result.stderr.startswith(NSENTER_ERROR):
            # nsenter's own failure also exits 1: that is no answer, not "no reboot needed"
            stderr = _tail(result.stderr)
            raise HostError(f"sentinel command: nsenter failed: {stderr}")
        if result.returncode not in (0, 1):
            log.warning(
                "reboot.sentinel_unexpected_exit",
                code=result.returncode,
                stderr=result.stderr.decode(errors="replace")[-500:],
            )
        return result.returncode == 0

    async def reboot(self) -> None:
        """Run the reboot command, or send the reboot signal to PID 1.

        :raises HostError: it failed (non-zero exit, could not start, signal refused).
        """
        s = self.settings
        if s.method == "signal":
            try:
                os.kill(1, s.reboot_signal)
            except OSError as exc:
                raise HostError(f"signal {s.reboot_signal} to PID 1 failed: {exc}") from exc
            return
        cmd = self.reboot_command()
        try:
            with anyio.fail_after(REBOOT_TIMEOUT_S):
                result = await anyio.run_process(cmd, check=False, stdin=subprocess.DEVNULL)
        except (OSError, TimeoutError) as exc:
            raise HostError(f"reboot command {cmd[0]!r} could not run: {exc}") from exc
        if result.returncode != 0:
            stderr = result.stderr.decode(errors="replace")[-500:]
            raise HostError(f"reboot command exited with {result.returncode}: {stderr}")


class Notifier:
    """Posts notifications from one background task (:meth:`run`); never holds up a reboot step."""

    def __init__(self, targets: tuple[NotifyTarget, ...], *, node: str) -> None:
        self.targets = targets
        self.node = node
        self._send, self._receive = anyio.create_memory_object_stream[tuple[str, str]](100)

    def send(self, event: str, text: str) -> None:
        if not self.targets:
            return
        try:
            self._send.send_nowait((event, text))
        except anyio.WouldBlock:
            log.warning("reboot.notification_dropped", reason="queue full")

    async def send_now(self, event: str, text: str) -> None:
        """Deliver at once (bounded by the post timeout): the message before a reboot must not
        wait in a queue that the reboot is about to drop."""
        for target in self.targets:
            await self._deliver(target, event, text)

    async def run(self) -> None:
        async with self._receive:
            async for event, text in self._receive:
                for target in self.targets:
                    try:
                        await self._deliver(target, event, text)
                    except Exception:  # the sender's boundary: a bug must not stop the agent
                        log.exception("reboot.notification_crashed", kind=target.kind)

    async def _deliver(self, target: NotifyTarget, event: str, text: str) -> None:
        body = target.body(text, node=self.node, event=event)
        try:
            status = await post(target.url, body)
        except (OSError, ValueError) as exc:
            log.warning("reboot.notification_failed", kind=target.kind, error=str(exc))
            return
        log.debug("reboot.notification_sent", kind=target.kind, status=status, step=event)
