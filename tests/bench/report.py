"""Judge the targets from the measured values, print the report, write JSON and a PNG.

Every PASS/MISS below is computed from the numbers of this run; a target whose scenario did not
run is listed as "not run", never as a pass.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tests.bench.fanout import render_fan_out
from tests.bench.images import IMAGE_RUNS, render_images

MB_LIMIT = 150.0


@dataclass
class Target:
    name: str
    scenario: str
    measured: str
    limit: str
    status: str  # PASS | MISS | not run
    note: str = ""


def _get(results: dict[str, Any], *path: str) -> Any:
    node: Any = results
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def _ms(x: float | None) -> str:
    return "-" if x is None else f"{x * 1000:.0f} ms"


def _judge(ok: bool | None) -> str:
    return "not run" if ok is None else ("PASS" if ok else "MISS")


def targets(results: dict[str, Any], scale: float) -> list[Target]:
    out: list[Target] = []

    def latency(name: str, scen: str, path: tuple[str, ...], limit: float, note: str = "") -> None:
        value = _get(results, scen, *path)
        ok = None if scen not in results else (value is not None and value <= limit)
        out.append(Target(name, scen, _ms(value), f"<= {_ms(limit)}", _judge(ok), note))

    floor = _get(results, "idle-nodebounce", "latency_s", "p50")
    idle50 = _get(results, "idle", "latency_s", "p50")
    debounce_note = (
        f"debounce floor: idle p50 {_ms(idle50)} vs {_ms(floor)} with --reload-debounce=0"
        if floor is not None and idle50 is not None
        else ""
    )
    latency("idle reaction latency p99", "idle", ("latency_s", "p99"), 0.1, debounce_note)
    guarded = "defaults: a source changing every second waits for quiet (issue 10), by design"
    unguarded = "--max-rollouts-in-progress=0 --flapping-max-wait=1ms --canary-size=0"
    latency("S1 burst reaction latency p99", "s1", ("latency_s", "p99"), 1.0, guarded)
    latency("S1 burst reaction latency p99", "s1-unguarded", ("latency_s", "p99"), 1.0, unguarded)
    latency(
        "S2 fan-out, gates off: all 50 changed (slowest update)",
        "s2-unguarded",
        ("all_dependents_changed_s", "max"),
        1.0,
        unguarded,
    )
    # with the default waves, each wave waits for the previous one's rollouts to complete and be
    # judged healthy: the target is the whole fan-out rolled and complete, not the first change
    latency(
        "S2 fan-out, default waves: all 50 rolled and complete (last update)",
        "s2",
        ("last_update_all_complete_s",),
        30.0,
        "health-gated waves of 1, 1, 2, 4, 8, 16, 18 (docs/waves.md)",
    )

    images = results.get("images") if isinstance(results.get("images"), dict) else None
    per = None if images is None else images["registry_requests_per_interval"]
    want = None if images is None else images["target_requests_per_interval"]
    out.append(
        Target(
            "image registry requests per interval (one per reference)",
            "images",
            "-" if per is None else str(per),
            "<= references" if want is None else f"<= {want}",
            _judge(None if per is None or want is None else per <= want),
            "" if images is None else f"CPU {images['cpu_s_per_round']}s per poll round",
        )
    )
    for scen, res in results.items():
        if scen.startswith("scale") or scen in IMAGE_RUNS or not isinstance(res, dict):
            continue
        per = res.get("workload_patches_per_rollout")
        verdicts = res.get("wave_verdicts") or 0
        if per is not None:
            patches = res["api_requests"].get("PATCH", 0)
            per = (patches - verdicts) / res["rollouts_total"]
            minus = f" - {verdicts} wave verdicts" if verdicts else ""
            out.append(
                Target(
                    "one workload write (PATCH) per reload",
                    scen,
                    f"{per:.2f} ({patches} PATCH{minus} / "
                    f"{res['rollouts_total']} rollouts; all writes incl. Events: "
                    f"{res['writes_per_rollout']:.2f})",
                    "== 1.00",
                    _judge(abs(per - 1.0) < 1e-9),
                    "a wave verdict is a PATCH of its own (docs/waves.md)" if verdicts else "",
                )
            )
        lists = res.get("api_requests", {}).get("LIST")
        if lists is not None:
            pods = res.get("wave_pod_lists") or 0
            out.append(
                Target(
                    "zero LIST requests after the initial sync (but the waves' pod reads)",
                    scen,
                    f"{lists - pods} ({lists} LIST - {pods} pod LISTs of waves)"
                    if pods
                    else str(lists),
                    "== 0",
                    _judge(lists - pods == 0),
                    "waves: the pods of a rolled workload are LISTed until its verdict "
                    "(docs/waves.md)"
                    if pods
                    else "",
                )
            )
        halt = res.get("halt")
        if halt is not None:
            out.append(
                Target(
                    "unhealthy canary: workloads rolled before the halt",
                    scen,
                    f"{halt['rolled_before_halt']} of {halt['workloads']}",
                    "== 1 (the canary wave)",
                    _judge(halt["rolled_before_halt"] == 1),
                )
            )

    s4 = results.get("s4")
    out.append(
        Target(
            "S4 no-op: zero writes, zero rollouts",
            "s4",
            "-"
            if s4 is None
            else f"{s4['writes_total']} writes, {s4['rollouts_total']} rollouts"
            f" for {s4.get('noop_updates', '?')} annotation updates",
            "== 0",
            _judge(None if s4 is None else s4["writes_total"] == 0 and s4["rollouts_total"] == 0),
        )
    )
    co = results.get("coalesce")
    if co is None:
        out.append(Target("one rollout per workload per burst", "coalesce", "-", "== 1", "not run"))
    else:
        bursts = co.get("bursts", 1)
        worst = co["rollouts_per_workload"]["max"] / bursts
        out.append(
            Target(
                "one rollout per workload per burst",
                "coalesce",
                f"max {worst:.2f}, mean {co['rollouts_per_workload']['mean'] / bursts:.2f} "
                f"(bursts of 9 updates spanning p50 {_ms(co['burst_span_s']['p50'])}, "
                f"max {_ms(co['burst_span_s']['max'])})",
                "== 1",
                _judge(worst == 1.0 and co["redundant_rollouts"] == 0),
            )
        )
    for scen in ("s1", "s7"):
        res = results.get(scen)
        if res is None:
            continue
        out.append(
            Target(
                "never more rollouts than updates (coalescing)",
                scen,
                f"{res['rollouts_total']} rollouts for {res['updates']} updates",
                "<= updates",
                _judge(res["rollouts_total"] <= res["updates"] and res["redundant_rollouts"] == 0),
            )
        )
    s6 = results.get("s6")
    out.append(
        Target(
            "S6 restart: every workload at its sources' final hash, no extra rollouts",
            "s6",
            "-"
            if s6 is None
            else f"{s6['not_converged_pairs']} not converged, "
            f"{s6['redundant_rollouts']} redundant rollouts, "
            f"{s6['rollouts_total']} rollouts for {s6['updates']} updates",
            "0 / 0 / <= updates",
            _judge(
                None
                if s6 is None
                else s6["not_converged_pairs"] == 0
                and s6["redundant_rollouts"] == 0
                and s6["rollouts_total"] <= s6["updates"]
            ),
        )
    )

    small, large = results.get("scale-4k"), results.get("scale-40k")
    at = "" if scale == 1 else f"measured at SCALE={scale}, not the target's size"
    rss4 = None if small is None else small["rss_mb"]["synced"]
    rss40 = None if large is None else large["rss_mb"]["synced"]
    out.append(
        Target(
            "scale: RSS after initial sync (4 KiB)",
            "scale-4k",
            "-" if rss4 is None else f"{rss4:.1f} MB (peak {small['rss_mb']['peak']:.1f} MB)",  # type: ignore[index]
            f"<= {MB_LIMIT:.0f} MB",
            _judge(None if rss4 is None else rss4 <= MB_LIMIT),
            at,
        )
    )
    ratio = None if rss4 is None or rss40 is None else rss40 / rss4
    out.append(
        Target(
            "scale: RSS 40 KiB vs 4 KiB",
            "scale-40k",
            "-" if ratio is None else f"{rss40:.1f} MB vs {rss4:.1f} MB = {ratio:.2f}x",
            "<= 1.10x",
            _judge(None if ratio is None else ratio <= 1.10),
            at,
        )
    )
    for res_name, res in (("scale-4k", small), ("scale-40k", large)):
        sync = None if res is None else res["sync_s"]
        out.append(
            Target(
                f"scale: initial sync, process start -> first reaction ({res_name[6:]})",
                res_name,
                "-" if sync is None else f"{sync:.2f} s (all adopted after {res['adopt_s']} s)",  # type: ignore[index]
                "<= 15 s",
                _judge(None if sync is None else sync <= 15.0),
                at
                if res_name == "scale-4k"
                else f"40 KiB: beyond the target's size; {at}".strip("; "),
            )
        )
    return out


# ---------------------------------------------------------------------- text


def _row(cells: list[str], widths: list[int]) -> str:
    return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)
    ]
    lines = [_row(headers, widths), _row(["-" * w for w in widths], widths)]
    lines += [_row(r, widths) for r in rows]
    return "\n".join(lines)


def _fmt(value: Any, unit: Callable[[float], str] = _ms) -> str:
    return "-" if value is None else unit(value)


def render(
    meta: dict[str, Any],
    results: dict[str, Any],
    judged: list[Target],
    *,
    title: str = "reloader benchmark",
) -> str:
    """The run in detail; without ``judged`` targets (another controller), no Targets section."""
    parts = [
        title,
        f"controller: {meta['controller_cmd']}",
        (
            f"scenarios: {' '.join(meta['scenarios'])}   scale: {meta['scale']}   "
            f"machine: {meta['cpus']} CPUs   work tree: {meta['git']}   "
            f"controller code: {meta.get('git_ref', 'work tree')}"
        ),
        "",
        "Reaction latency (source update answered -> workload change on the watch)",
    ]
    rows = []
    for name, r in results.items():
        if name in IMAGE_RUNS:
            continue  # a section of its own
        if name.startswith("scale"):
            lat = r["probe"]["latency_s"]
            rows.append(
                [
                    name + " probe",
                    str(r["probe"]["updates"]),
                    str(lat["n"]),
                    _fmt(lat["p50"]),
                    _fmt(lat["p95"]),
                    _fmt(lat["p99"]),
                    _fmt(lat["max"]),
                    "-",
                    str(r["probe"]["rollouts_total"]),
                ]
            )
            continue
        lat = r["latency_s"]
        rows.append(
            [
                name,
                str(r["updates"]),
                str(lat["n"]),
                _fmt(lat["p50"]),
                _fmt(lat["p95"]),
                _fmt(lat["p99"]),
                _fmt(lat["max"]),
                _fmt(r["all_dependents_changed_s"]["max"]),
                f"{r['rollouts_total']} ({_spread(r['rollouts_per_workload'])})",
            ]
        )
    parts.append(
        table(
            [
                "scenario",
                "updates",
                "n",
                "p50",
                "p95",
                "p99",
                "max",
                "all-changed max",
                "rollouts (per workload min/mean/max)",
            ],
            rows,
        )
    )
    parts += ["", "Controller cost over the scenario (API requests from its own /metrics)"]
    rows = []
    for name, r in results.items():
        if name in IMAGE_RUNS:
            continue  # a section of its own
        if name.startswith("scale"):
            req = r["probe"]["api_requests"]
            cpu, rss = "-", f"{r['rss_mb']['end']}"
        else:
            req = r["api_requests"]
            cpu = f"{r['cpu_s']:.2f} ({r['cpu_cores_avg']:.2f} cores)"
            rss = f"{r['rss_mb']['start']} -> {r['rss_mb']['max']}"
        err = r["errors"]
        n_err = (
            len(err["harness"])
            + int(err.get("controller_errors_and_retries", 0))
            + int(err.get("api_error_responses", 0))
        )
        mean = r.get("api_request_mean_ms") or {}
        load = r.get("loadavg_1m") or {}
        rows.append(
            [
                name,
                *(str(int(req.get(v, 0))) for v in ("LIST", "WATCH", "GET", "PATCH", "CREATE")),
                str(int(err.get("api_conflicts_409", 0))),
                "/".join(
                    "-" if mean.get(m) is None else f"{mean[m]:.0f}" for m in ("PATCH", "POST")
                ),
                cpu,
                rss,
                str(n_err),
                str(sum(err.get("controller_warnings_logged", {}).values())),
                f"{load.get('before', '-')}/{load.get('after', '-')}",
            ]
        )
    headers = ["scenario", "LIST", "WATCH", "GET", "PATCH", "CREATE", "409"]
    headers += ["PATCH/POST ms", "CPU s", "RSS MB", "errors", "warn log", "load 1m"]
    parts.append(table(headers, rows))
    parts += render_fan_out(results)
    small, large = results.get("scale-4k"), results.get("scale-40k")
    if small or large:
        parts += ["", "Scale (4 KiB vs 40 KiB side by side)"]
        rows = []

        def pair(label: str, get: Callable[[dict[str, Any]], Any], fmt: str = "{}") -> None:
            a = get(small) if small else None
            b = get(large) if large else None
            ratio = (
                f"{b / a:.2f}x"
                if isinstance(a, int | float) and isinstance(b, int | float) and a
                else "-"
            )
            rows.append(
                [
                    label,
                    "-" if a is None else fmt.format(a),
                    "-" if b is None else fmt.format(b),
                    ratio,
                ]
            )

        pair(
            "objects (CM + Secret / Deployments)",
            lambda r: (
                f"{r['objects']['configmaps'] + r['objects']['secrets']} / "
                f"{r['objects']['deployments']}"
            ),
        )
        pair("payload in etcd (MB)", lambda r: r["objects"]["payload_mb"])
        pair("create sources (s)", lambda r: r["create_sources_s"])
        pair("ready: start -> first reaction (s)", lambda r: r["sync_s"])
        pair("all adopted after (s)", lambda r: r["adopt_s"])
        pair("RSS at ready (MB)", lambda r: r["rss_mb"]["ready"])
        pair("RSS synced + idle (MB)", lambda r: r["rss_mb"]["synced"])
        pair("RSS peak (MB)", lambda r: r["rss_mb"]["peak"])
        pair("RSS when /metrics first answers (MB)", lambda r: r["rss_mb"].get("before_sources"))
        pair("bytes per source object (RSS)", lambda r: r.get("bytes_per_object"))
        pair("CPU to synced (s)", lambda r: r["cpu_s_to_synced"])
        pair("LISTs in initial sync", lambda r: r["lists_in_initial_sync"])
        pair("probe latency p50", lambda r: _fmt(r["probe"]["latency_s"]["p50"]))
        pair("probe latency max", lambda r: _fmt(r["probe"]["latency_s"]["max"]))
        parts.append(table(["", "4 KiB", "40 KiB", "40/4"], rows))
    errors = [f"  {name}: {e}" for name, r in results.items() for e in r["errors"]["harness"]]
    if errors:
        parts += ["", "Harness errors", *errors]
    if meta.get("notes"):
        parts += ["", "Notes", *(f"  - {n}" for n in meta["notes"])]
    if not judged:
        return "\n".join(parts) + "\n"
    parts += ["", "Targets"]
    parts.append(
        table(
            ["status", "target", "scenario", "measured", "limit", "note"],
            [[t.status, t.name, t.scenario, t.measured, t.limit, t.note] for t in judged],
        )
    )
    counts = {s: sum(1 for t in judged if t.status == s) for s in ("PASS", "MISS", "not run")}
    parts.append(f"\n{counts['PASS']} PASS, {counts['MISS']} MISS, {counts['not run']} not run")
    parts += render_images(results)
    return "\n".join(parts) + "\n"


def _spread(s: dict[str, Any]) -> str:
    if s["min"] is None:
        return "-"
    return f"{s['min']}/{s['mean']:.1f}/{s['max']}"


# ---------------------------------------------------------------------- files


def write_json(
    path: Path,
    meta: dict[str, Any],
    results: dict[str, Any],
    judged: list[Target],
    extra: dict[str, Any] | None = None,
) -> None:
    doc = {"meta": meta, "scenarios": results, "targets": [asdict(t) for t in judged]}
    doc.update(extra or {})
    path.write_text(json.dumps(doc, indent=2, default=str))


def plot(path: Path, results: dict[str, Any]) -> None:
    """Latency distribution per scenario; RSS over the number of sources received."""
    import matplotlib  # type: ignore[import-not-found,unused-ignore]

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # type: ignore[import-not-found,unused-ignore]

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(15, 6))
    names = [n for n, r in results.items() if r.get("latencies_s")]
    data = [[x * 1000 for x in results[n]["latencies_s"]] for n in names]
    if data:
        ax1.boxplot(data, whis=(1, 99), showfliers=True, flierprops={"markersize": 2})
        ax1.set_xticks(range(1, len(names) + 1), names, rotation=30, ha="right")
        for n_i, values in enumerate(data, start=1):
            ax1.scatter([n_i] * len(values), values, s=2, alpha=0.25, color="tab:blue")
        ax1.set_yscale("log")
        ax1.axhline(100, color="tab:green", ls="--", lw=1, label="idle p99 target 100 ms")
        ax1.axhline(1000, color="tab:red", ls="--", lw=1, label="S1/S2 target 1 s")
        ax1.legend(loc="upper left", fontsize=8)
    ax1.set_title("Reaction latency per scenario (whiskers p1-p99)")
    ax1.set_ylabel("ms (log)")
    for name, color in (("scale-4k", "tab:blue"), ("scale-40k", "tab:orange")):
        r = results.get(name)
        if not r or not r.get("curve"):
            continue
        curve = r["curve"]
        xs = [c[2] for c in curve]
        use_count = max(xs) > 0
        xs = xs if use_count else [c[0] for c in curve]
        ax2.plot(xs, [c[1] for c in curve], color=color, label=f"{name} (over time)")
        ax2.axhline(
            r["rss_mb"]["synced"],
            color=color,
            ls=":",
            lw=1,
            label=f"{name} synced: {r['rss_mb']['synced']} MB",
        )
        ax2.set_xlabel("sources received by the controller" if use_count else "seconds since start")
    points = [
        (r["objects"]["sources"], r["rss_mb"]["max"], n)
        for n, r in results.items()
        if not n.startswith("scale") and r.get("rss_mb", {}).get("max") is not None
    ]
    if points:
        ax2.scatter(
            [p[0] for p in points],
            [p[1] for p in points],
            color="gray",
            s=12,
            label="other scenarios: max RSS vs sources",
        )
        for x, y, n in points:
            ax2.annotate(n, (x, y), fontsize=6, color="gray")
    ax2.set_ylim(bottom=0)
    ax2.axhline(MB_LIMIT, color="tab:red", ls="--", lw=1, label=f"target {MB_LIMIT:.0f} MB")
    ax2.set_ylabel("controller RSS (MB)")
    ax2.set_title("Memory over object count (initial sync)")
    ax2.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
