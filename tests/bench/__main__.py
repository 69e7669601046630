"""``python -m tests.bench``: run the named scenarios, each on a fresh local cluster, and report.

    python -m tests.bench --scenarios "idle s1 s2" --scale 0.1 --out .bench
    BENCH_CONTROLLER="/path/to/reloader --kubeconfig={kubeconfig} ..." python -m tests.bench
    python -m tests.bench --compare reloader      # side by side with stakater/Reloader

Results go to OUT/<timestamp>/ (report.json, report.png, report.txt, controller and cluster
logs); OUT/latest points at the newest run. OUT holds a ``.gitignore`` of ``*``, so nothing in it
is ever committed.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import shutil
import subprocess
import sys
import time
import traceback
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import structlog

from tests.bench import compare
from tests.bench.command import DEFAULT_COMMAND, compile_bytecode
from tests.bench.images import IMAGE_RUNS, image_counts, run_images
from tests.bench.reference import Side, build, plan, reference, reference_side
from tests.bench.report import plot, render, targets, write_json
from tests.bench.scale import counts, run_scale
from tests.bench.scenarios import SCENARIOS, Options, run_scenario

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tools" / "cluster"))
import cluster as local_cluster  # type: ignore[import-not-found]  # noqa: E402

SCALE_RUNS = {"scale-4k": 4, "scale-40k": 40}
ALL = [*SCENARIOS, *SCALE_RUNS, *IMAGE_RUNS]


def expand(names: str) -> list[str]:
    out: list[str] = []
    for name in names.replace(",", " ").split():
        if name == "all":
            out.extend(ALL)
        elif name == "scale":
            out.extend(SCALE_RUNS)
        elif name in SCENARIOS or name in SCALE_RUNS or name in IMAGE_RUNS:
            out.append(name)
        else:
            raise SystemExit(f"unknown scenario {name!r}; known: all, scale, {', '.join(ALL)}")
    return list(dict.fromkeys(out))


def git_revision(ref: str = "HEAD", *, work_tree: bool = True) -> str:
    try:
        rev = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", ref],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "--", "reloader"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return rev + ("+dirty(reloader/)" if dirty and work_tree else "")


def snapshot(ref: str, directory: Path) -> str:
    """Export reloader/ at ``ref`` (others may be editing the work tree); return the command."""
    directory.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", ref, "reloader"], capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(directory)], input=archive, check=True)
    compile_bytecode(directory)
    # -P: the current directory (the work tree) does not come first on sys.path
    return f"env PYTHONPATH={directory} {{python}} -P -OO -m reloader"


def rerender(run_dir: Path) -> int:
    doc = json.loads((run_dir / "report.json").read_text())
    meta, results = doc["meta"], doc["scenarios"]
    judged = targets(results, float(meta["scale"]))
    for t in judged:
        if t.status == "not run" and t.scenario in meta.get("failures", {}):
            t.status = "FAILED"
    ref = doc.get("reference")
    text = report_text(meta, results, judged, ref)
    (run_dir / "report.txt").write_text(text)
    write_plot(run_dir / "report.png", meta, results, ref)
    sys.stdout.write(text)
    return 0


def report_text(
    meta: dict[str, Any],
    results: dict[str, Any],
    judged: list[Any],
    ref: dict[str, Any] | None,
) -> str:
    """The text report: with a reference, the side-by-side table first, then each in detail."""
    text = render(meta, results, judged)
    if ref is None:
        return text
    ours_only = [
        n for n in results if (n in SCENARIOS and SCENARIOS[n].ours_only) or n in IMAGE_RUNS
    ]
    rows = compare.comparison(results, ref["scenarios"], ours_only)
    theirs = render(
        {**meta, "controller_cmd": ref["controller_cmd"], "scenarios": list(ref["scenarios"])},
        ref["scenarios"],
        [],
        title=f"{ref['label']} in detail",
    )
    head = (
        f"reloader benchmark, side by side ({meta['started']})\n"
        f"scale: {meta['scale']}   machine: {meta['cpus']} CPUs   work tree: {meta['git']}   "
        f"controller code: {meta.get('git_ref', 'work tree')}\n"
        f"{meta['ours_label']}: {meta['controller_cmd']}\n"
        f"{ref['label']}: {ref['controller_cmd']}\n\n"
    )
    return "\n\n".join(
        [head + compare.render(rows, meta["ours_label"], ref["label"]), text, theirs]
    )


def write_plot(
    path: Path, meta: dict[str, Any], results: dict[str, Any], ref: dict[str, Any] | None
) -> None:
    if ref is None:
        plot(path, results)
    else:
        compare.plot(path, results, ref["scenarios"], (meta["ours_label"], ref["label"]))


def log(msg: str) -> None:
    sys.stderr.write(f"bench: {msg}\n")
    sys.stderr.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench", description=__doc__)
    parser.add_argument("--scenarios", default=os.environ.get("SCENARIOS") or "all")
    parser.add_argument("--scale", type=float, default=float(os.environ.get("SCALE") or 1))
    parser.add_argument(
        "--controller-cmd",
        default=os.environ.get("BENCH_CONTROLLER") or DEFAULT_COMMAND,
        help="command template; {kubeconfig}, {metrics_port}, {python} are filled in; "
        "without placeholders reloader's flags are appended",
    )
    parser.add_argument(
        "--compare",
        default=os.environ.get("COMPARE") or "",
        help="also run every scenario with this reference controller, alternating, and report "
        "both side by side (reloader: stakater/Reloader, built from tools/reference)",
    )
    parser.add_argument("--out", type=Path, default=REPO / ".bench")
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--profile", action="store_true", help="py-spy each scenario (perturbs the numbers)"
    )
    parser.add_argument(
        "--git-ref",
        default=os.environ.get("BENCH_REF") or "",
        help="measure reloader/ as committed at this ref (e.g. HEAD), not the work tree",
    )
    parser.add_argument(
        "--rerender", type=Path, help="only rebuild report.txt/png of this run directory"
    )
    args = parser.parse_args(argv)
    if args.rerender:
        return rerender(args.rerender)
    # the harness uses reloader's watch code: keep its debug lines out of the report
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    names = expand(args.scenarios)
    ours = " -m reloader" in f" {args.controller_cmd} "
    ours_only = {n for n in names if n in SCENARIOS and SCENARIOS[n].ours_only}
    ours_only |= set(names) & set(IMAGE_RUNS)  # image watching is reloader's own
    if not ours:
        names = [n for n in names if n not in ours_only]
        if ours_only:
            log(f"skipping {sorted(ours_only)}: they use reloader's own flags")
    ref_side: Side | None = None
    if args.compare:
        ref = reference(args.compare)
        log(f"building {ref.label} (tools/reference/build.sh)")
        try:
            binary, version = build(ref)
        except (OSError, subprocess.CalledProcessError) as exc:
            raise SystemExit(f"could not build {ref.label} ({ref.build_script}): {exc}") from exc
        ref_side = reference_side(ref, binary, version)
        log(f"reference: {ref_side.label} ({ref_side.template})")
        if ours_only & set(names):
            log(f"{sorted(ours_only & set(names))}: reloader only (they use its own flags)")

    out_root: Path = args.out.resolve()
    out_root.mkdir(parents=True, exist_ok=True)
    (out_root / ".gitignore").write_text("*\n")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    run_dir = out_root / stamp
    run_dir.mkdir()
    latest = out_root / "latest"
    if latest.is_symlink() or latest.exists():
        latest.unlink()
    latest.symlink_to(stamp)

    if args.git_ref:
        args.controller_cmd = snapshot(args.git_ref, run_dir / "controller-src")
        log(f"controller: reloader/ at {args.git_ref} ({args.controller_cmd})")
    elif args.controller_cmd == DEFAULT_COMMAND:
        compile_bytecode()
    ours_side = Side(
        "reloader" if ref_side else "controller", "reloader", args.controller_cmd, ours
    )
    sides = [ours_side] if ref_side is None else [ours_side, ref_side]
    meta: dict[str, Any] = {
        "started": stamp,
        "controller_cmd": args.controller_cmd,
        "ours_label": "reloader" if ours else "controller under test",
        "ours_only": sorted(ours_only & set(names)),
        "scenarios": names,
        "scale": args.scale,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "git": git_revision(),
        "git_ref": f"{args.git_ref} = {git_revision(args.git_ref, work_tree=False)}"
        if args.git_ref
        else "work tree",
        "profile": args.profile,
    }
    results: dict[str, Any] = {}
    failures: dict[str, str] = {}
    ref_doc: dict[str, Any] | None = None
    if ref_side is not None:
        ref_doc = {
            "label": ref_side.label,
            "controller_cmd": ref_side.template,
            "port": ref_side.port,
            "ours_only": sorted(ours_only & set(names)),
            "scenarios": {},
            "failures": {},
        }
    t_all = time.monotonic()
    for name, side in plan(names, sides, ours_only):
        mine, fails = results, failures
        if ref_doc is not None and not side.ours:
            mine, fails = ref_doc["scenarios"], ref_doc["failures"]
        where = name if ref_side is None else f"{name}.{side.key}"
        cluster_dir = run_dir / "cluster" / where
        log(f"{where}: starting a fresh cluster")
        t0 = time.monotonic()
        nodes = args.nodes
        if name in SCALE_RUNS:  # kwok nodes take 250 pods each: room for every Deployment's pod
            nodes = max(nodes, counts(args.scale)["deployments"] // 200 + 1)
        if name in IMAGE_RUNS:
            nodes = max(nodes, image_counts(args.scale)["deployments"] // 200 + 1)
        try:
            with local_cluster.running(cluster_dir, nodes=nodes) as c:
                opts = Options(
                    kubeconfig=c.kubeconfig,
                    out_dir=run_dir,
                    controller_template=side.template,
                    ours=side.ours,
                    label=side.key,
                    port=side.port,
                    append_flags=side.append_flags,
                    scale=args.scale,
                    profile=args.profile,
                    seed=args.seed,
                )
                if name in SCALE_RUNS:
                    mine[name] = anyio.run(partial(run_scale, opts, SCALE_RUNS[name]))
                elif name in IMAGE_RUNS:
                    mine[name] = anyio.run(partial(run_images, opts))
                else:
                    mine[name] = anyio.run(partial(run_scenario, SCENARIOS[name], opts))
        except Exception:  # noqa: BLE001 - one failed scenario must not lose the others
            fails[name] = traceback.format_exc()
            log(f"{where}: FAILED\n{fails[name]}")
        finally:
            shutil.rmtree(cluster_dir / "etcd", ignore_errors=True)
        log(f"{where}: done in {time.monotonic() - t0:.0f}s")
        meta["failures"] = failures
        write_json(
            run_dir / "report.json",
            meta,
            results,
            targets(results, args.scale),
            extra(results, ref_doc),
        )

    meta["duration_s"] = round(time.monotonic() - t_all, 1)
    judged = targets(results, args.scale)
    for t in judged:
        if t.status == "not run" and t.scenario in failures:
            t.status = "FAILED"
    text = report_text(meta, results, judged, ref_doc)
    all_failed = list(failures)
    if ref_doc is not None:
        all_failed += [f"{n} ({ref_doc['label']})" for n in ref_doc["failures"]]
    if all_failed:
        text += "\nFailed scenarios: " + ", ".join(all_failed) + " (tracebacks in report.json)\n"
    write_json(run_dir / "report.json", meta, results, judged, extra(results, ref_doc))
    (run_dir / "report.txt").write_text(text)
    try:
        write_plot(run_dir / "report.png", meta, results, ref_doc)
    except ImportError as exc:
        log(f"no plot: {exc} (install the bench extra)")
    sys.stdout.write(text)
    sys.stdout.write(f"\nreport: {run_dir / 'report.json'}\nplot:   {run_dir / 'report.png'}\n")
    return 1 if all_failed else 0


def extra(results: dict[str, Any], ref_doc: dict[str, Any] | None) -> dict[str, Any]:
    """report.json's reference controller and side-by-side rows, when there is one."""
    if ref_doc is None:
        return {}
    rows = compare.comparison(results, ref_doc["scenarios"], ref_doc["ours_only"])
    return {"reference": ref_doc, "comparison": [r.to_json() for r in rows]}


if __name__ == "__main__":
    sys.exit(main())
