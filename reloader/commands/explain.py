"""``reloader explain KIND/NAME``: which sources a workload depends on and why it reloads or not.

It reads the workload and its sources once (GET per referenced source; a LIST of a kind only
when an explicit reload list may name sources the pod spec does not use), reduces them to the
views the controller keeps, and lets ``domain.explain`` assemble the answer with the
controller's own decision and plan functions. Pass the flags the controller runs with
(``--reload-strategy``, ``--auto-reload-all``, ...) so the answer is the controller's.

Exit codes as for ``restart``: 0 explained; 1 the API refused a read; 2 bad input.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING

import anyio

from reloader.commands.common import UsageError, default_namespace, parse_target
from reloader.commands.domain.explain import Explanation, explain
from reloader.core.annotations import AnnotationNames, SourceKind
from reloader.core.durations import parse_duration
from reloader.errors import EXIT_FAILED, EXIT_OK, EXIT_USAGE, ConfigError, KubeError, NotFound, fail
from reloader.kube import resources
from reloader.kube.client import KubeClient
from reloader.observability import logging as logging_setup
from reloader.reload.domain.decisions import DecisionOptions
from reloader.reload.domain.views import SourceView, summarize_source, summarize_workload
from reloader.reload.sources import SOURCE_TYPES
from reloader.schedule.domain.schedules import ScheduleNames

if TYPE_CHECKING:
    from reloader.reload.domain.plans import Strategy
    from reloader.reload.domain.views import WorkloadView
    from reloader.workloads.domain.kinds import WorkloadKind


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="reloader explain",
        description="Explain which ConfigMaps, Secrets and SecretProviderClasses a workload "
        "depends on, through which references, which annotation makes it reload (or why "
        "not), whether a reload is pending, and its restart schedule.",
        epilog="Exit codes: 0 explained; 1 the API refused a read; 2 bad input.",
    )
    p.add_argument("target", metavar="KIND/NAME", help="e.g. deployment/web")
    p.add_argument("-n", "--namespace", default=None, help="default: the kubeconfig context's")
    p.add_argument("--kubeconfig", default=None, help="default: $KUBECONFIG, ~/.kube/config")
    p.add_argument("-o", "--output", default="text", choices=("text", "json"))
    p.add_argument("--reload-strategy", default="env-vars", choices=("env-vars", "annotations"))
    p.add_argument("--auto-reload-all", action="store_true", help="as the controller's flag")
    p.add_argument("--ignored-workload-types", default="", metavar="LIST", help="jobs,cronjobs")
    p.add_argument("--schedule-deadline", default="1h", metavar="DURATION")
    p.add_argument("--schedule-jitter", default="0s", metavar="DURATION")
    return p


def main(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(list(argv))
    try:
        kind, name = parse_target(args.target)
        deadline = parse_duration(args.schedule_deadline)
        jitter = parse_duration(args.schedule_jitter)
    except (UsageError, ValueError) as exc:
        return fail(str(exc), EXIT_USAGE)
    logging_setup.configure(fmt="console", level="warning")
    ignored = frozenset(v.strip() for v in args.ignored_workload_types.split(",") if v.strip())
    run = partial(
        explain_command,
        kind=kind,
        name=name,
        namespace=args.namespace or default_namespace(args.kubeconfig),
        kubeconfig=args.kubeconfig,
        strategy=args.reload_strategy,
        options=DecisionOptions(
            auto_reload_all=args.auto_reload_all, ignored_workload_types=ignored
        ),
        deadline=deadline,
        jitter=int(jitter),
        as_json=args.output == "json",
    )
    return anyio.run(run)


async def explain_command(
    *,
    kind: WorkloadKind,
    name: str,
    namespace: str,
    kubeconfig: str | None,
    strategy: Strategy,
    options: DecisionOptions,
    deadline: float,
    jitter: int,
    as_json: bool,
) -> int:
    try:
        client = await KubeClient.connect(kubeconfig=kubeconfig)
    except ConfigError as exc:
        return fail(str(exc), EXIT_USAGE)
    names = AnnotationNames()
    async with client:
        try:
            obj = await resources.get(client, kind.resource, namespace=namespace, name=name)
            view = summarize_workload(kind, obj)
            sources = await fetch_sources(client, view, names)
        except NotFound:
            return fail(f"{kind.kind} {namespace}/{name} not found", EXIT_USAGE)
        except KubeError as exc:
            return fail(f"{kind.kind} {namespace}/{name}: {exc}", EXIT_FAILED)
    result = explain(
        workload=view,
        kind=kind,
        sources=sources,
        strategy=strategy,
        names=names,
        options=options,
        now=datetime.now(UTC),
        schedule_names=ScheduleNames(),
        deadline=deadline,
        max_jitter=jitter,
    )
    text = json.dumps(dataclasses.asdict(result), indent=2) if as_json else render(result)
    print(text)  # noqa: T201 - the command's output
    return EXIT_OK


async def fetch_sources(
    client: KubeClient, view: WorkloadView, names: AnnotationNames
) -> list[SourceView]:
    """The sources the workload's decision sees (see :meth:`Sources.candidates`)."""
    explicit = {
        kind
        for kind in SourceKind
        if kind.explicit_key(names) in view.annotations
        or kind.explicit_key(names) in view.template_annotations
    }
    found: list[SourceView] = []
    for source_kind, rt in SOURCE_TYPES.items():
        wanted = {r.name for r in view.references if r.source_kind is source_kind}
        if source_kind in explicit or (source_kind is SourceKind.SECRETPROVIDERCLASS and wanted):
            try:
                listed = await _list_all(client, source_kind, view.namespace)
            except NotFound:
                continue  # the CSI API is not installed
            newest: dict[str, SourceView] = {}
            for src in listed:  # several CSI pod statuses per class: the newest stands for it
                if src.name not in newest or _rv(src) > _rv(newest[src.name]):
                    newest[src.name] = src
            found.extend(newest.values())
            continue
        for source_name in sorted(wanted):
            try:
                obj = await resources.get(client, rt, namespace=view.namespace, name=source_name)
            except NotFound:
                continue
            found.append(summarize_source(source_kind, obj))
    return found


def _rv(src: SourceView) -> int:
    return int(src.resource_version) if src.resource_version.isdigit() else 0


async def _list_all(client: KubeClient, kind: SourceKind, namespace: str) -> list[SourceView]:
    out: list[SourceView] = []
    token: str | None = None
    while True:
        page = await resources.list_page(
            client, SOURCE_TYPES[kind], namespace=namespace, continue_token=token
        )
        out.extend(summarize_source(kind, item) for item in page.get("items") or [])
        token = (page.get("metadata") or {}).get("continue") or None
        if token is None:
            return out


# ---------------------------------------------------------------------- text output


STATUS_TEXT = {
    "in-sync": "in sync",
    "reload-pending": "changed: a reload is pending",
    "not-recorded": "not recorded yet (recorded without a rollout at the next reconcile)",
    "not-reloaded": "its changes do not reload the workload",
    "missing": "does not exist",
    "deleted": "recorded, but no longer referenced or deleted",
}


def _short(value: str | None) -> str:
    if value is None:
        return "-"
    return value if len(value) <= 16 else value[:12]


def render(result: Explanation) -> str:
    """The human-readable form."""
    lines = [f"{result.kind} {result.namespace}/{result.name}"]
    if result.pending:
        lines.append(f"Reload pending: yes, for {', '.join(result.pending_sources)}")
    else:
        lines.append("Reload pending: no")
    lines.append("")
    lines.append(f"Sources ({len(result.sources)}):" if result.sources else "Sources: none")
    for src in result.sources:
        lines.append(f"  {src.kind} {src.name}{'' if src.exists else '  (does not exist)'}")
        for use in src.uses:
            where = "init container" if use.init else "container"
            volume = f" {use.volume}" if use.volume else ""
            lines.append(f"    used by:  {where} {use.container} ({use.via}{volume})")
        verdict = "yes" if src.reload else "no"
        because = f", by {src.annotation}" if src.annotation else ""
        lines.append(f"    reloads:  {verdict}{because} [{src.reason}]: {src.detail}")
        status = STATUS_TEXT.get(src.status, src.status)
        lines.append(
            f"    hash:     recorded {_short(src.recorded_hash)}, "
            f"current {_short(src.current_hash)}: {status}"
        )
    schedule = result.schedule
    lines.append("")
    if schedule is None:
        lines.append("Schedule: none")
    else:
        lines.append(
            f'Schedule: "{schedule.expression}" in {schedule.timezone}, method {schedule.method}'
            f", deadline {schedule.deadline_seconds:g}s"
            + (f", jitter {schedule.jitter_seconds}s" if schedule.jitter_seconds else "")
        )
        lines.append(
            f"  next restart:  {schedule.next_restart_local or 'never'}"
            + (f" ({schedule.next_restart})" if schedule.next_restart else "")
        )
        lines.append(f"  last restart:  {schedule.last_restart or '-'}")
        if schedule.baseline:
            lines.append(f"  baseline:      {schedule.baseline}")
        lines.append(f"  now:           {schedule.note}")
        if schedule.stop_start_replicas is not None:
            lines.append(f"  stop-start in progress: scales back to {schedule.stop_start_replicas}")
    warnings = (*result.warnings, *result.schedule_warnings)
    if warnings:
        lines.append("")
        lines.append("Warnings:")
        lines.extend(f"  - {w}" for w in warnings)
    return "\n".join(lines)
