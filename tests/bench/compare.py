"""Side by side: reloader and a reference controller, per scenario and figure, with a winner.

Every figure in the comparison is one where lower is better: latency, time to the first reaction,
RSS, CPU seconds, API requests, rollouts for the same updates (each one restarts pods) and
(workload, source) pairs left behind. The ratio is ours / theirs (below 1: ours is lower); within
``TIE`` (5 %) of each other, or equal, the row is a tie. A scenario only reloader can run (it uses
reloader's own flags) is listed with its figures and marked "ours only".
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tests.bench.report import table

TIE = 0.05
OURS, THEIRS, EVEN, ONLY, NONE = "ours", "theirs", "tie", "ours only", "-"


def ratio(ours: float | None, theirs: float | None) -> float | None:
    """ours / theirs; None when either is missing or theirs is 0."""
    if ours is None or theirs is None or theirs == 0:
        return None
    return ours / theirs


def winner(ours: float | None, theirs: float | None, *, tie: float = TIE) -> str:
    """Who has the lower figure: "ours", "theirs", "tie" (within ``tie``) or "-" (missing)."""
    if ours is None or theirs is None:
        return NONE
    if ours == theirs or abs(ours - theirs) <= tie * max(abs(ours), abs(theirs)):
        return EVEN
    return OURS if ours < theirs else THEIRS


@dataclass
class Row:
    scenario: str
    figure: str
    unit: str  # "ms" (value in seconds), "s", "MB" or "" (a count)
    ours: float | None
    theirs: float | None
    ours_only: bool = False

    @property
    def ratio(self) -> float | None:
        return None if self.ours_only else ratio(self.ours, self.theirs)

    @property
    def winner(self) -> str:
        return ONLY if self.ours_only else winner(self.ours, self.theirs)

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "ratio": self.ratio, "winner": self.winner}


def _get(node: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def _reads(api: dict[str, Any] | None) -> float | None:
    """GET + LIST: client-go's metric has only the HTTP method, so reads are compared whole."""
    if api is None:
        return None
    return float(api.get("GET", 0) + api.get("LIST", 0))


Figure = tuple[str, str, Callable[[dict[str, Any]], Any]]

READY: Figure = ("ready: start -> first reaction", "s", lambda r: r.get("sync_s"))
SCENARIO_FIGURES: list[Figure] = [
    READY,
    ("reaction latency p50", "ms", lambda r: _get(r, "latency_s", "p50")),
    ("reaction latency p99", "ms", lambda r: _get(r, "latency_s", "p99")),
    ("all dependents changed, slowest", "ms", lambda r: _get(r, "all_dependents_changed_s", "max")),
    ("all rolled and complete, last update", "s", lambda r: r.get("last_update_all_complete_s")),
    ("rolled before the halt", "", lambda r: _get(r, "halt", "rolled_before_halt")),
    ("rollouts", "", lambda r: r.get("rollouts_total")),
    ("(workload, source) not converged", "", lambda r: r.get("not_converged_pairs")),
    ("PATCH requests", "", lambda r: _get(r, "api_requests", "PATCH")),
    ("GET + LIST requests", "", lambda r: _reads(r.get("api_requests"))),
    ("CPU over the scenario", "s", lambda r: r.get("cpu_s")),
    ("RSS max", "MB", lambda r: _get(r, "rss_mb", "max")),
]
#: figures of the fan-out scenarios only (one source shared by several workloads; the halt)
FAN_OUT_ONLY = {"all rolled and complete, last update", "rolled before the halt"}
SCALE_FIGURES: list[Figure] = [
    READY,
    ("RSS at ready", "MB", lambda r: _get(r, "rss_mb", "ready")),
    ("RSS synced + idle", "MB", lambda r: _get(r, "rss_mb", "synced")),
    ("RSS peak", "MB", lambda r: _get(r, "rss_mb", "peak")),
    ("bytes per source object", "B", lambda r: r.get("bytes_per_object")),
    ("CPU from start to synced", "s", lambda r: r.get("cpu_s_to_synced")),
    ("probe latency p50", "ms", lambda r: _get(r, "probe", "latency_s", "p50")),
    ("probe latency max", "ms", lambda r: _get(r, "probe", "latency_s", "max")),
]


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def comparison(
    ours: dict[str, Any], theirs: dict[str, Any], ours_only: Collection[str] = ()
) -> list[Row]:
    """One row per scenario and figure, in ours' scenario order. A scenario of ``ours_only``
    (it uses reloader's own flags) is marked so; one missing on a side for another reason (it
    failed there) has that side's values missing and no winner."""
    rows: list[Row] = []
    for name in [*ours, *(n for n in theirs if n not in ours)]:
        a, b = ours.get(name), theirs.get(name)
        figures = SCALE_FIGURES if name.startswith("scale") else SCENARIO_FIGURES
        for figure, unit, get in figures:
            row = Row(
                scenario=name,
                figure=figure,
                unit=unit,
                ours=None if a is None else _number(get(a)),
                theirs=None if b is None else _number(get(b)),
                ours_only=name in ours_only,
            )
            if figure in FAN_OUT_ONLY and row.ours is None and row.theirs is None:
                continue  # not a fan-out (or not a halt) scenario
            rows.append(row)
    return rows


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "ms":
        return f"{value * 1000:.0f} ms"
    if unit == "s":
        return f"{value:.2f} s"
    if unit == "MB":
        return f"{value:.1f} MB"
    return f"{value:g}"


def fmt_ratio(row: Row) -> str:
    r = row.ratio
    if r is not None:
        return f"{r:.2f}x"
    return "-"


def render(rows: list[Row], ours_label: str, theirs_label: str) -> str:
    wins = {w: sum(1 for r in rows if r.winner == w) for w in (OURS, THEIRS, EVEN)}
    body = table(
        ["scenario", "figure", ours_label, theirs_label, "ours/theirs", "who wins"],
        [
            [
                r.scenario,
                r.figure,
                fmt(r.ours, r.unit),
                fmt(r.theirs, r.unit),
                fmt_ratio(r),
                r.winner,
            ]
            for r in rows
        ],
    )
    return (
        f"Side by side: ours = {ours_label}, theirs = {theirs_label}. Lower is better on every "
        f"row; ratio = ours / theirs; a tie is within {TIE:.0%}.\n{body}\n"
        f"wins: ours {wins[OURS]}, theirs {wins[THEIRS]}, tie {wins[EVEN]}\n"
    )


def plot(path: Path, ours: dict[str, Any], theirs: dict[str, Any], labels: tuple[str, str]) -> None:
    """Latency distributions side by side per scenario; RSS over the scale sync for both."""
    import matplotlib  # type: ignore[import-not-found,unused-ignore]

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # type: ignore[import-not-found,unused-ignore]

    colors = ("tab:blue", "tab:orange")
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(16, 6))
    names = [n for n in dict.fromkeys([*ours, *theirs]) if not n.startswith("scale")]
    names += [n for n in dict.fromkeys([*ours, *theirs]) if n.startswith("scale")]
    sides = list(zip((ours, theirs), labels, colors, strict=True))
    for side, (results, label, color) in enumerate(sides):
        positions, data = [], []
        for i, name in enumerate(names):
            values = [x * 1000 for x in (results.get(name) or {}).get("latencies_s") or []]
            if values:
                positions.append(i + (side - 0.5) * 0.38)
                data.append(values)
        if data:
            box = ax1.boxplot(
                data,
                positions=positions,
                widths=0.34,
                whis=(1, 99),
                flierprops={"markersize": 2},
                patch_artist=True,
            )
            for patch in box["boxes"]:
                patch.set_facecolor(color)
                patch.set_alpha(0.5)
            ax1.plot([], [], color=color, lw=6, alpha=0.5, label=label)
    ax1.set_xticks(range(len(names)), names, rotation=30, ha="right")
    ax1.set_yscale("log")
    ax1.set_ylabel("ms (log)")
    ax1.set_title("Reaction latency per scenario (whiskers p1-p99)")
    ax1.legend(loc="best", fontsize=8)

    curves = False
    for results, label, color in sides:
        for name, style in (("scale-4k", "-"), ("scale-40k", "--")):
            curve = (results.get(name) or {}).get("curve") or []
            if curve:
                curves = True
                ax2.plot(
                    [c[0] for c in curve],
                    [c[1] for c in curve],
                    color=color,
                    ls=style,
                    label=f"{label} {name}",
                )
    if curves:
        ax2.set_xlabel("seconds since the controller's start")
        ax2.set_title("RSS during the scale scenario's initial sync")
    else:  # no scale run: the largest RSS of each scenario
        for side, (results, label, color) in enumerate(sides):
            xs, ys = [], []
            for i, name in enumerate(names):
                value = _get(results.get(name), "rss_mb", "max")
                if value is not None:
                    xs.append(i + (side - 0.5) * 0.38)
                    ys.append(value)
            ax2.bar(xs, ys, width=0.36, color=color, alpha=0.7, label=label)
        ax2.set_xticks(range(len(names)), names, rotation=30, ha="right")
        ax2.set_title("RSS max per scenario")
    ax2.set_ylim(bottom=0)
    ax2.set_ylabel("controller RSS (MB)")
    ax2.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
