"""Settings of ``reloader node-agent``: frozen, built once from flags and KURED_* variables.

Defaults are kured's unless a comment says why not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from reloader.reboot.domain.notify import NotifyTarget
from reloader.reboot.domain.windows import RebootWindow

RebootMethod = Literal["command", "signal"]

DEFAULT_REBOOT_COMMAND = ("/bin/systemctl", "reboot")
#: the host's mount namespace, for the sentinel command (kured's prefix)
NSENTER_MOUNT = ("nsenter", "-m/proc/1/ns/mnt", "--")
#: every namespace of the host's PID 1, for the reboot command
NSENTER_HOST = ("nsenter", "-m", "-u", "-i", "-n", "-p", "-t", "1", "--")
SIGRTMIN_PLUS_5 = 39


@dataclass(frozen=True, slots=True)
class LockSettings:
    #: namespace of the lock Leases (kured's --ds-namespace)
    namespace: str = "kube-system"
    #: Lease names are ``<name>-0`` … ``<name>-(concurrency-1)``
    name: str = "reloader-reboot"
    concurrency: int = 1
    #: a holder silent this long is written off; 0 never (kured's default, which can get stuck).
    #: Default 30 minutes: longer than a slow server's reboot, short enough to keep going.
    ttl: float = 1800.0
    #: hold the lock this long after the node is back (spacing between nodes)
    release_delay: float = 0.0


@dataclass(frozen=True, slots=True)
class DrainSettings:
    #: seconds; 0 means no limit (kured's default). Default 30 minutes: a PDB that never allows
    #: an eviction must not hold the lock forever.
    timeout: float = 1800.0
    #: seconds given to each pod; negative: the pod's own terminationGracePeriodSeconds
    grace_period: int = -1
    #: only pods matching this label selector are evicted ("" = all)
    pod_selector: str = ""
    #: seconds after which a pod being deleted is no longer waited for (0 = always wait)
    skip_wait_for_delete_timeout: float = 0.0
    delay: float = 0.0
    #: reboot even when the drain fails
    force_reboot: bool = False


@dataclass(frozen=True, slots=True)
class GateSettings:
    #: label selectors; a running pod on this node matching any of them blocks the reboot
    blocking_pod_selectors: tuple[str, ...] = ()
    prometheus_url: str = ""
    alert_filter: re.Pattern[str] | None = None
    alert_filter_match_only: bool = False
    alert_firing_only: bool = False
    #: hold reboots while a Deployment or StatefulSet with pods on this node is rolling out
    wait_for_rollouts: bool = True


@dataclass(frozen=True, slots=True)
class HostSettings:
    sentinel_file: str = "/var/run/reboot-required"
    #: shell-split; replaces the file when set
    sentinel_command: tuple[str, ...] = ()
    method: RebootMethod = "command"
    reboot_command: tuple[str, ...] = DEFAULT_REBOOT_COMMAND
    reboot_signal: int = SIGRTMIN_PLUS_5
    #: run the sentinel and reboot commands in the host's namespaces (a pod with hostPID)
    nsenter: bool = True


@dataclass(frozen=True, slots=True)
class MarkSettings:
    """kured's node marks (reboot/domain/marks.py); all off by default, as in kured."""

    #: --prefer-no-schedule-taint: a PreferNoSchedule taint while waiting for the lock ("" off)
    taint: str = ""
    #: --annotate-nodes: the weave.works/kured-* annotations
    annotate: bool = False
    #: --pre-reboot-node-labels: set at drain start
    pre_labels: tuple[tuple[str, str], ...] = ()
    #: --post-reboot-node-labels: set with the uncordon
    post_labels: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class NotifySettings:
    targets: tuple[NotifyTarget, ...] = ()
    drain: str = "Draining node %s"
    reboot: str = "Rebooting node %s"
    uncordon: str = "Node %s rebooted & uncordoned successfully!"


@dataclass(frozen=True, slots=True)
class NodeAgentSettings:
    node: str
    period: float = 3600.0
    window: RebootWindow = field(default_factory=RebootWindow)
    reboot_delay: float = 0.0
    #: reboots after which the sentinel was still there, within ``loop_window``, before stopping
    loop_limit: int = 3
    loop_window: float = 86400.0
    lock: LockSettings = field(default_factory=LockSettings)
    drain: DrainSettings = field(default_factory=DrainSettings)
    gates: GateSettings = field(default_factory=GateSettings)
    host: HostSettings = field(default_factory=HostSettings)
    notify: NotifySettings = field(default_factory=NotifySettings)
    marks: MarkSettings = field(default_factory=MarkSettings)
    kubeconfig: str | None = None
    metrics_host: str = "0.0.0.0"  # noqa: S104 - Prometheus scrapes the pod's port
    metrics_port: int = 8080
    log_format: str = ""
    log_level: str = "info"
