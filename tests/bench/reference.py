"""The reference controller the benchmark compares reloader with: stakater/Reloader.

``make bench COMPARE=reloader`` builds it from the Go module pinned in
``tools/reference/reloader/go.mod`` (``tools/reference/build.sh``, cached under
``~/.cache/reloader/reference-<key>/``) and runs every scenario with it too, alternating with
reloader, each run on a fresh cluster.

Reloader is run as it ships: flags only for what reloader is also given (JSON logs), the
kubeconfig from ``KUBECONFIG``, and its metrics and ``/live`` on ``:9090``, which it always
listens on (it has no flag for it). Only one controller runs at a time, so the harness scrapes
``127.0.0.1:9090`` for it, after checking that nothing else holds the port.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Reference:
    """A controller to compare with: how to build it and how to run it."""

    name: str  # the value of COMPARE / --compare
    key: str  # names its log files and cluster directories
    label: str  # its column in the report
    build_script: Path  # prints the binary's path on its last line of stdout
    flags: str  # appended to the binary; no reloader flags are added
    port: int  # the metrics port it always listens on


REFERENCES: dict[str, Reference] = {
    "reloader": Reference(
        name="reloader",
        key="stakater-reloader",
        label="stakater/Reloader",
        build_script=REPO / "tools" / "reference" / "build.sh",
        flags="--log-format=json",
        port=9090,
    ),
}


def reference(name: str) -> Reference:
    try:
        return REFERENCES[name]
    except KeyError:
        raise SystemExit(
            f"unknown reference controller {name!r}; known: {', '.join(REFERENCES)}"
        ) from None


def command(ref: Reference, binary: Path) -> str:
    """The controller command template of ``ref`` built at ``binary`` (no placeholders)."""
    return f"{binary} {ref.flags}".strip()


def build(ref: Reference) -> tuple[Path, str]:
    """Build (or reuse) the reference binary; return its path and version."""
    done = subprocess.run(
        ["bash", str(ref.build_script)], stdout=subprocess.PIPE, text=True, check=True
    )
    binary = Path(done.stdout.strip().splitlines()[-1])
    version_file = binary.parent / "VERSION"
    version = version_file.read_text().strip() if version_file.is_file() else "unknown"
    return binary, version


@dataclass(frozen=True)
class Side:
    """One controller of a run: ours, or the reference it is compared with."""

    key: str  # names its files: logs/<scenario>.<key>.log, cluster/<scenario>.<key>/
    label: str  # its column in the report
    template: str  # the command template (tests/bench/controller.py)
    ours: bool  # reloader: its own flags, metrics and /ready may be used
    port: int | None = None  # it always listens there
    append_flags: bool | None = None  # reloader's flags appended (None: unless placeholders)


def reference_side(ref: Reference, binary: Path, version: str) -> Side:
    return Side(
        key=ref.key,
        label=f"{ref.label} {version}",
        template=command(ref, binary),
        ours=False,
        port=ref.port,
        append_flags=False,
    )


def plan(names: list[str], sides: list[Side], ours_only: set[str]) -> list[tuple[str, Side]]:
    """The runs in order: each scenario with every side in turn (alternating), a scenario that
    uses reloader's own flags only with a side that is reloader."""
    return [(n, side) for n in names for side in sides if side.ours or n not in ours_only]
