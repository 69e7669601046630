"""The benchmark's pure parts for the side-by-side run: ratios and winners, the comparison rows and
table, the run plan, the reference's command line, the port check and the readiness probe's rule."""

from __future__ import annotations

import socket
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.bench import compare
from tests.bench.command import DEFAULT_COMMAND, build_command, port_in_use
from tests.bench.readiness import PAIRS, PERIOD, PROBES, first_reaction
from tests.bench.reference import REFERENCES, Side, command, plan, reference, reference_side


@pytest.mark.parametrize(
    ("ours", "theirs", "ratio", "winner"),
    [
        (0.06, 0.02, 3.0, "theirs"),
        (0.5, 26.2, 0.5 / 26.2, "ours"),
        (100.0, 103.0, 100 / 103, "tie"),  # within 5 %
        (100.0, 106.0, 100 / 106, "ours"),
        (0.0, 0.0, None, "tie"),
        (0.0, 5.0, 0.0, "ours"),
        (3.0, 0.0, None, "theirs"),
        (None, 5.0, None, "-"),
        (5.0, None, None, "-"),
    ],
)
def test_ratio_is_ours_over_theirs_and_the_lower_figure_wins(
    ours: float | None, theirs: float | None, ratio: float | None, winner: str
) -> None:
    assert compare.ratio(ours, theirs) == pytest.approx(ratio)
    assert compare.winner(ours, theirs) == winner


def _scenario(p50: float, patches: int, gets: int, rss: float, *, lists: int = 0) -> dict[str, Any]:
    return {
        "sync_s": 1.5,
        "latency_s": {"p50": p50, "p99": p50 * 2},
        "all_dependents_changed_s": {"max": p50 * 3},
        "rollouts_total": 50,
        "not_converged_pairs": 0,
        "api_requests": {"PATCH": patches, "GET": gets, "LIST": lists},
        "cpu_s": 1.0,
        "rss_mb": {"max": rss},
    }


def test_comparison_rows_per_scenario_and_figure() -> None:
    ours = {"idle": _scenario(0.07, 50, 0, 53.0), "idle-nodebounce": _scenario(0.01, 50, 0, 53.0)}
    theirs = {"idle": _scenario(0.008, 80, 200, 45.0, lists=0)}
    rows = compare.comparison(ours, theirs, ours_only={"idle-nodebounce"})
    by = {(r.scenario, r.figure): r for r in rows}
    p50 = by[("idle", "reaction latency p50")]
    assert (p50.ours, p50.theirs, p50.winner) == (0.07, 0.008, "theirs")
    assert p50.ratio == pytest.approx(0.07 / 0.008)
    patches = by[("idle", "PATCH requests")]
    assert patches.winner == "ours"
    assert patches.ratio == pytest.approx(50 / 80)
    reads = by[("idle", "GET + LIST requests")]  # client-go counts LIST as GET: compared whole
    assert (reads.ours, reads.theirs, reads.winner) == (0.0, 200.0, "ours")
    assert by[("idle", "ready: start -> first reaction")].winner == "tie"
    only = [r for r in rows if r.scenario == "idle-nodebounce"]
    assert only
    assert all(r.ours_only and r.winner == "ours only" and r.ratio is None for r in only)
    assert only[0].to_json()["winner"] == "ours only"


def test_a_scenario_that_failed_on_one_side_has_no_winner() -> None:
    rows = compare.comparison({"s7": _scenario(0.5, 3, 0, 60.0)}, {}, ours_only={"s1-unguarded"})
    assert rows
    assert all(r.theirs is None and not r.ours_only and r.winner == "-" for r in rows)


def test_scale_scenarios_compare_sync_memory_and_cpu() -> None:
    def scale(sync: float, synced: float) -> dict[str, Any]:
        return {
            "sync_s": sync,
            "rss_mb": {"ready": synced, "synced": synced, "peak": synced},
            "cpu_s_to_synced": sync,
            "probe": {"latency_s": {"p50": 0.06, "max": 0.07}},
        }

    rows = compare.comparison({"scale-4k": scale(3.8, 101.5)}, {"scale-4k": scale(2.0, 238.0)})
    by = {r.figure: r for r in rows}
    assert by["RSS synced + idle"].winner == "ours"
    assert by["RSS synced + idle"].ratio == pytest.approx(101.5 / 238.0)
    assert by["ready: start -> first reaction"].winner == "theirs"
    assert "reaction latency p50" not in by  # the scale scenario's latency is its probe's


def test_the_table_names_both_controllers_the_ratio_and_who_wins() -> None:
    rows = compare.comparison(
        {"s2": _scenario(0.5, 300, 0, 60.0)}, {"s2": _scenario(26.2, 500, 900, 45.0)}
    )
    text = compare.render(rows, "reloader", "stakater/Reloader v1.4.22")
    header = text.splitlines()[1]
    for column in ("scenario", "figure", "reloader", "stakater/Reloader v1.4.22", "ours/theirs"):
        assert column in header
    assert "who wins" in header
    assert "Lower is better on every row" in text
    line = next(x for x in text.splitlines() if "reaction latency p50" in x)
    assert line.split()[-6:] == ["500", "ms", "26200", "ms", "0.02x", "ours"]
    assert "wins: ours" in text


def test_figures_are_formatted_with_their_unit() -> None:
    assert compare.fmt(0.0684, "ms") == "68 ms"
    assert compare.fmt(13.345, "s") == "13.35 s"
    assert compare.fmt(101.51, "MB") == "101.5 MB"
    assert compare.fmt(3.0, "") == "3"
    assert compare.fmt(None, "ms") == "-"


def test_plan_alternates_controllers_and_runs_reloader_only_scenarios_for_ours_alone() -> None:
    ours = Side("reloader", "reloader", DEFAULT_COMMAND, ours=True)
    theirs = Side("stakater-reloader", "Reloader", "/bin/reloader", ours=False, port=9090)
    runs = plan(["idle", "idle-nodebounce", "s2"], [ours, theirs], {"idle-nodebounce"})
    assert [(n, s.key) for n, s in runs] == [
        ("idle", "reloader"),
        ("idle", "stakater-reloader"),
        ("idle-nodebounce", "reloader"),
        ("s2", "reloader"),
        ("s2", "stakater-reloader"),
    ]


def test_the_reference_runs_with_its_own_flags_on_its_fixed_port() -> None:
    ref = reference("reloader")
    assert ref is REFERENCES["reloader"]
    assert ref.port == 9090
    assert ref.build_script.is_file()
    side = reference_side(ref, Path("/cache/bin/stakater-reloader"), "v1.4.22")
    assert side.label == "stakater/Reloader v1.4.22"
    assert (side.ours, side.port, side.append_flags) == (False, 9090, False)
    assert side.key != "reloader"  # its logs and clusters do not mix with ours
    argv = build_command(
        command(ref, Path("/cache/bin/stakater-reloader")),
        kubeconfig=Path("/k/kubeconfig"),
        metrics_port=9090,
        extra_args=[],
        append_flags=side.append_flags,
    )
    assert argv == ["/cache/bin/stakater-reloader", "--log-format=json"]
    with pytest.raises(SystemExit, match="unknown reference controller 'nope'"):
        reference("nope")


def test_reloader_gets_its_flags_appended_unless_the_template_places_them() -> None:
    argv = build_command(
        DEFAULT_COMMAND, kubeconfig=Path("/k/kc"), metrics_port=1234, extra_args=["--x=1"]
    )
    assert argv == [
        sys.executable,
        "-OO",
        "-m",
        "reloader",
        "--kubeconfig=/k/kc",
        "--log-format=json",
        "--metrics-addr=127.0.0.1:1234",
        "--x=1",
    ]
    own = build_command(
        "ctl --config={kubeconfig}", kubeconfig=Path("/k/kc"), metrics_port=1, extra_args=[]
    )
    assert own == ["ctl", "--config=/k/kc"]


def test_a_port_held_by_a_listener_is_in_use() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        port = sock.getsockname()[1]
        assert port_in_use(port)
    assert not port_in_use(port)


def test_the_first_reaction_is_the_first_probe_value_after_the_start() -> None:
    var = "STAKATER_READY_PROBE_CONFIGMAP"
    history = [
        (9.0, var, "h1"),  # an earlier incarnation's reaction (a restart): before the start
        (10.5, "STAKATER_OTHER_CONFIGMAP", "h2"),
        (10.7, var, "unknown"),
        (11.2, var, "h2"),
        (11.9, var, "h3"),
    ]
    hashes = {"h1": 1.0, "h2": 11.0, "h3": 11.8}
    assert first_reaction(history, var, hashes, since=10.0) == (11.2, "h2")
    assert first_reaction(history, var, {"h9": 1.0}, since=10.0) is None


def test_each_probe_is_written_less_often_than_reloaders_flapping_quiet_time() -> None:
    """A probe written again within 5 s of a hold would be held for --flapping-max-wait."""
    assert PAIRS * PERIOD > 5.0
    assert PERIOD > 3 * 0.05  # longer than reloader's burst window at the default debounce
    names = {src.env_var for src, _ in PROBES}
    assert len(names) == len({wl for _, wl in PROBES}) == PAIRS
