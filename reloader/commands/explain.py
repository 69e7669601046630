"""``reloader explain KIND/NAME``: what the controller does with a workload, and why.

It reads the workload, LISTs the sources of the kinds the controller watches in its namespace
(with ``--resource-label-selector``, as the controller's watch), and, with
``--namespace-selector``, whether its namespace is selected; then ``domain.explain`` applies the
controller's own rules to them: ``reload.domain.candidates``, ``plan_with_settings``, the
workload's reload window (``workloads.admission.window_for``). The command line (``cli.explain``)
takes the run flags that change a decision and converts them to the same Settings as ``run``.

Exit codes as for ``restart``: 0 explained; 1 the API refused a read; 2 bad input.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import replace
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from reloader.commands.common import connect
from reloader.commands.domain.explain import explain
from reloader.commands.domain.images import ImagesExplanation, explain_images
from reloader.commands.domain.report import Explanation
from reloader.commands.domain.waves import wave_lines
from reloader.core.annotations import SourceKind
from reloader.core.objects import NAMESPACES
from reloader.errors import EXIT_FAILED, EXIT_OK, EXIT_USAGE, ConfigError, KubeError, NotFound, fail
from reloader.images.domain.views import summarize_images
from reloader.images.domain.watch import ImageNames, read_spec
from reloader.images.poller import Poller
from reloader.images.pull_secrets import pull_credentials
from reloader.images.registry import RegistryClient
from reloader.kube import resources
from reloader.kube.client import KubeClient
from reloader.reload.domain.candidates import watched_kinds
from reloader.reload.domain.views import (
    SourceView,
    WorkloadView,
    summarize_source,
    summarize_workload,
)
from reloader.reload.sources import SOURCE_TYPES
from reloader.runtime.clock import RealClock
from reloader.workloads.admission import window_for
from reloader.workloads.domain.kinds import enabled_kinds
from reloader.workloads.scope import namespace_in_scope

if TYPE_CHECKING:
    from reloader.settings import Settings
    from reloader.workloads.domain.kinds import WorkloadKind


async def explain_command(
    *,
    kind: WorkloadKind,
    name: str,
    namespace: str | None,
    settings: Settings,
    as_json: bool,
) -> int:
    """Explain ``kind/name`` in ``namespace`` (None: the configuration's default namespace)."""
    try:
        client, namespace = await connect(settings.kube.kubeconfig, namespace)
    except ConfigError as exc:
        return fail(str(exc), EXIT_USAGE)
    async with client:
        try:
            obj = await resources.get(client, kind.resource, namespace=namespace, name=name)
        except NotFound:
            return fail(f"{kind.kind} {namespace}/{name} not found", EXIT_USAGE)
        except KubeError as exc:
            return fail(f"{kind.kind} {namespace}/{name}: {exc}", EXIT_FAILED)
        try:
            sources, settings = await list_sources(client, namespace, settings)
            workloads = await list_rolling_workloads(client, namespace, settings)
            watched = await namespace_watched(client, namespace, settings)
        except KubeError as exc:
            return fail(f"reading the sources of {namespace}: {exc}", EXIT_FAILED)
        try:
            images = await look_up_images(client, kind, obj, settings)
        except KubeError as exc:
            return fail(f"reading the pull credentials in {namespace}: {exc}", EXIT_FAILED)
    view = summarize_workload(kind, obj)
    window, window_warnings = window_for(
        view.annotations,
        names=settings.names,
        default=settings.safety.window,
        default_timezone=settings.safety.window_timezone,
    )
    result = explain(
        workload=view,
        kind=kind,
        sources=sources,
        settings=settings,
        now=datetime.now(UTC),
        namespace_watched=watched,
        window=window,
        window_warnings=window_warnings,
        workloads=workloads,
    )
    result = replace(result, images=images)
    text = json.dumps(dataclasses.asdict(result), indent=2) if as_json else render(result)
    print(text)  # noqa: T201 - the command's output
    return EXIT_OK


async def list_sources(
    client: KubeClient, namespace: str, settings: Settings
) -> tuple[list[SourceView], Settings]:
    """Every source of the watched kinds in ``namespace``, as the controller's caches hold them
    (the same label selector, the same reduced views); and the settings, with CSI off when its
    API is not installed (the controller turns it off at startup then, too)."""
    out: list[SourceView] = []
    for source_kind in watched_kinds(settings.reload):
        try:
            items = await resources.list_all(
                client,
                SOURCE_TYPES[source_kind],
                namespace=namespace,
                label_selector=settings.scope.resource_label_selector or None,
            )
            out.extend(summarize_source(source_kind, item) for item in items)
        except NotFound:
            if source_kind is not SourceKind.SECRETPROVIDERCLASS:
                raise
            settings = replace(settings, reload=replace(settings.reload, csi=False))
    return out, settings


async def list_rolling_workloads(
    client: KubeClient, namespace: str, settings: Settings
) -> list[WorkloadView]:
    """The workloads of ``namespace`` of the watched kinds with rollouts: the other targets of a
    shared change, for the waves (docs/waves.md)."""
    out: list[WorkloadView] = []
    kinds = enabled_kinds(
        ignored_workload_types=settings.reload.ignored_workload_types,
        argo_rollouts=settings.reload.argo_rollouts,
    )
    for kind in (k for k in kinds if k.rolls_out):
        items = await resources.list_all(client, kind.resource, namespace=namespace)
        out.extend(summarize_workload(kind, item) for item in items)
    return out


async def look_up_images(
    client: KubeClient, kind: WorkloadKind, obj: dict[str, Any], settings: Settings
) -> ImagesExplanation | None:
    """With ``image-watch``: each watched tag looked up now, the controller's way (anonymous,
    then with the workload's pull credentials if the registry asks for them)."""
    names = ImageNames()
    view = summarize_images(kind, obj, watch_key=names.watch, keep=names.keys())
    if view is None:
        return None
    spec = read_spec(
        view.state.annotations,
        view.containers,
        names=names,
        default_interval=settings.images.interval,
        min_interval=settings.images.min_interval,
    )
    registry = RegistryClient(plain_http=frozenset(settings.images.plain_http))
    poller = Poller(client=registry, clock=RealClock())
    answers: dict[str, tuple[str | None, str]] = {}
    try:
        for ref in spec.watched:
            found = await poller.current(
                ref,
                spec.interval,
                partial(pull_credentials, client, view, ref),
                source=view.credential_source,
            )
            answers[str(ref)] = (None if found.error else found.digest, found.error)
    finally:
        await registry.aclose()
    return explain_images(spec, answers)


async def namespace_watched(client: KubeClient, namespace: str, settings: Settings) -> bool:
    """Whether the controller's scope includes ``namespace`` (``--namespaces``,
    ``--namespaces-to-ignore``, ``--namespace-selector``, evaluated by the API server)."""
    scope = settings.scope
    selected: set[str] | None = None
    if not scope.namespaces and scope.namespace_selector:
        matching = await resources.list_all(
            client,
            NAMESPACES,
            label_selector=scope.namespace_selector,
            field_selector=f"metadata.name={namespace}",
        )
        selected = {item["metadata"]["name"] for item in matching}
    return namespace_in_scope(namespace, scope, selected=selected)


# ---------------------------------------------------------------------- text output


STATUS_TEXT = {
    "in-sync": "in sync",
    "reload-pending": "changed: a reload is pending",
    "not-recorded": "not recorded yet (recorded without a rollout at the next reconcile)",
    "not-reloaded": "its changes do not reload the workload",
    "missing": "does not exist",
    "deleted": "recorded, and deleted (its recorded hash is kept)",
    "dropped": "recorded, no longer selected (the entry is dropped)",
    "not-watched": "not watched by the controller",
}
VERDICT_TEXT = {
    "reload": "reload",
    "held": "held",
    "notify": "webhook notification (no rollout)",
    "no-reload": "no reload",
}


def _short(value: str | None) -> str:
    if value is None:
        return "-"
    return value if len(value) <= 16 else value[:12]


def render(result: Explanation) -> str:
    """The human-readable form."""
    lines = [f"{result.kind} {result.namespace}/{result.name}"]
    verdict = VERDICT_TEXT.get(result.verdict, result.verdict)
    lines.append(f"Verdict: {verdict} [{result.verdict_reason}]: {result.verdict_detail}")
    if result.pending:
        lines.append(f"Reload pending: yes, for {', '.join(result.pending_sources)}")
    else:
        lines.append("Reload pending: no")
    lines.append("")
    lines.append(f"Sources ({len(result.sources)}):" if result.sources else "Sources: none")
    for src in result.sources:
        absent = {True: "", False: "  (does not exist)", None: "  (not read)"}[src.exists]
        lines.append(f"  {src.kind} {src.name}{absent}")
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
    lines.extend(_render_hooks(result))
    lines.extend(wave_lines(result.wave))
    lines.extend(_render_images(result.images))
    if result.notes:
        lines.append("")
        lines.append("What explain cannot see:")
        lines.extend(f"  - {n}" for n in result.notes)
    image_warnings = result.images.warnings if result.images is not None else ()
    warnings = (*result.warnings, *result.schedule_warnings, *image_warnings)
    if warnings:
        lines.append("")
        lines.append("Warnings:")
        lines.extend(f"  - {w}" for w in warnings)
    return "\n".join(lines)


def _render_hooks(result: Explanation) -> list[str]:
    hooks = result.hooks
    if hooks is None:
        return ["", "Hooks: none"]
    on_failure = "stay stopped" if hooks.stay_stopped else "start"
    lines = [
        "",
        f"Hooks: timeout {hooks.timeout_seconds:g}s, a failed stopped-hook: {on_failure}",
    ]
    lines.extend(
        f"  {h.point + ':':9}{h.hook}  (last: {h.last_result or '-'})" for h in hooks.hooks
    )
    if hooks.step is not None:
        attempt = f", attempt {hooks.attempt}" if hooks.attempt > 1 else ""
        lines.append(f"  in progress: restart {hooks.restart}, step {hooks.step}{attempt}")
    return lines


def _render_images(images: ImagesExplanation | None) -> list[str]:
    if images is None:
        return ["", "Images: not watched (no reloader.stakater.com/image-watch)"]
    lines = ["", f"Images: watched, verdict {images.verdict}; polled {images.next_poll}"]
    for image in images.images:
        lines.append(f"  container {image.container}: {image.image}")
        if image.reference is not None:
            lines.append(f"    reference: {image.reference} (tag {image.tag or '-'})")
        if image.status != "not-watchable":
            lines.append(f"    recorded:  {image.recorded_digest or '-'}")
            lines.append(f"    registry:  {image.current_digest or '-'}")
        lines.append(f"    status:    {image.status}: {image.detail}")
    return lines
