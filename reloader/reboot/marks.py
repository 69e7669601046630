"""kured's node marks on the agent's own Node: the PreferNoSchedule taint, the
``weave.works/kured-*`` annotations, the pre-reboot labels (rules in ``reboot/domain/marks.py``).

Each change is one PATCH of the Node, logged and posted as a Node Event; nothing is written when
the Node already carries what it should. The taint list is replaced as a whole, so that patch
carries the resourceVersion it was computed from (a 409 reads the Node again); annotations and
labels are merge patches of their maps, which leave every other key alone.

The taint and the annotations are best effort: a failure is logged and retried at the next
check, it never stops a reboot (kured exits the process instead). The pre-reboot labels are not:
an operator who asked for them gets no drain without them (the attempt is aborted and retried).
The post-reboot labels go with the uncordon itself (``NodeOps.restore``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import structlog

from reloader.errors import KubeError
from reloader.reboot.domain import coordination as rules
from reloader.reboot.domain import marks
from reloader.reboot.events import NORMAL
from reloader.reboot.node import NodeOps
from reloader.reboot.settings import MarkSettings
from reloader.runtime.clock import Clock

log = structlog.get_logger(__name__)

#: posts a Node Event: (type, reason, message)
Record = Callable[[str, str, str], Awaitable[None]]


class NodeMarks:
    def __init__(
        self,
        *,
        nodes: NodeOps,
        clock: Clock,
        settings: MarkSettings,
        event: Record,
        failed: Callable[[], None] = lambda: None,
    ) -> None:
        self.nodes = nodes
        self.clock = clock
        self.name = nodes.name
        self.settings = settings
        self._event = event
        self._failed = failed

    async def settle(self, node: rules.NodeView, stage: marks.Stage) -> None:
        """Bring the taint and the annotations to what ``stage`` wants. Never raises."""
        want = marks.wanted(stage)
        s = self.settings
        if s.taint and want.taint is not None:
            await self._safely(stage, self._taint(node, present=want.taint, stage=stage))
        if s.annotate and want.annotate:
            body = marks.annotate_patch(node.annotations, now=self.clock.wall())
            await self._safely(stage, self._annotate(body))
        if s.annotate and want.clear:
            await self._safely(stage, self._annotate(marks.clear_patch(node.annotations)))

    async def _safely(self, stage: marks.Stage, step: Awaitable[None]) -> None:
        try:
            await step
        except KubeError as exc:
            log.warning("reboot.mark_failed", node=self.name, stage=stage.value, error=str(exc))
            self._failed()

    async def pre_labels(self) -> None:
        """Set --pre-reboot-node-labels (drain start). :raises KubeError:"""
        wanted = self.settings.pre_labels
        if not wanted:
            return
        node = await self.nodes.get()
        body = marks.labels_patch(node.labels, wanted)
        if body is None:
            return
        await self.nodes.patch(body)
        text = marks.format_labels(wanted)
        log.info("reboot.labelled", node=self.name, when="pre-reboot", labels=text)
        await self._event(NORMAL, "PreRebootLabels", f"labelled before the reboot: {text}")

    async def post_labelled(self) -> None:
        """Report --post-reboot-node-labels, set with the uncordon (``NodeOps.restore``)."""
        if wanted := self.settings.post_labels:
            text = marks.format_labels(wanted)
            log.info("reboot.labelled", node=self.name, when="post-reboot", labels=text)
            await self._event(NORMAL, "PostRebootLabels", f"labelled with the uncordon: {text}")

    # ---------------------------------------------------------------------------------------

    async def _taint(self, node: rules.NodeView, *, present: bool, stage: marks.Stage) -> None:
        name = self.settings.taint
        _, written = await self.nodes.update(
            lambda n: marks.taint_patch(
                n.taints, name=name, present=present, resource_version=n.resource_version
            ),
            what="update the taints of",
            read=node,
        )
        if written is None:
            return
        event = "reboot.taint_added" if present else "reboot.taint_removed"
        log.info(event, node=self.name, taint=name, stage=stage.value)
        if present:
            message = (
                f"{name}:{marks.TAINT_EFFECT} added: a reboot is needed and waits for the lock"
            )
        else:
            message = f"{name}:{marks.TAINT_EFFECT} removed ({stage.value.replace('_', ' ')})"
        await self._event(
            NORMAL, "PreferNoScheduleTainted" if present else "PreferNoScheduleUntainted", message
        )

    async def _annotate(self, body: dict[str, Any] | None) -> None:
        if body is None:
            return
        await self.nodes.patch(body)
        values = body["metadata"]["annotations"]
        if values.get(marks.ANNOTATION_IN_PROGRESS) is None:
            log.info("reboot.annotation_cleared", node=self.name, key=marks.ANNOTATION_IN_PROGRESS)
            await self._event(
                NORMAL, "RebootAnnotationCleared", f"removed {marks.ANNOTATION_IN_PROGRESS}"
            )
            return
        stamp = values[marks.ANNOTATION_IN_PROGRESS]
        log.info("reboot.annotated", node=self.name, time=stamp)
        await self._event(
            NORMAL,
            "RebootAnnotated",
            f"{marks.ANNOTATION_IN_PROGRESS} and {marks.ANNOTATION_MOST_RECENT} set to {stamp}",
        )
