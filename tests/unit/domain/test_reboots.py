"""Node-reboot rules: lock slots, the cordon record, the loop guard, drain and gate decisions."""

from __future__ import annotations

from typing import Any

import pytest

from reloader.reboot.domain import coordination as rules
from reloader.reboot.domain.coordination import Busy, Held, Phase, SlotView, Take

NOW = 1_800_000_000.0
DAY = 86400.0


def _slot(index: int, holder: str = "", rv: str = "1", **kw: Any) -> SlotView:
    return SlotView(name=f"lk-{index}", index=index, holder=holder, resource_version=rv, **kw)


# ------------------------------------------------------------------------------------- lock


@pytest.mark.parametrize(
    ("slots", "concurrency", "expired", "expected"),
    [
        pytest.param([], 1, set(), Take("lk-0", None), id="no-lease-yet"),
        pytest.param([_slot(0)], 1, set(), Take("lk-0", _slot(0)), id="free-slot"),
        pytest.param([_slot(0, "b")], 1, set(), Busy(("b",)), id="held-by-other"),
        pytest.param([_slot(0, "me")], 1, set(), Held(_slot(0, "me")), id="already-mine"),
        pytest.param(
            [_slot(0, "me")], 1, {"lk-0"}, Held(_slot(0, "me")), id="mine-even-if-expired"
        ),
        pytest.param(
            [_slot(0, "b")], 1, {"lk-0"}, Take("lk-0", _slot(0, "b")), id="takeover-expired"
        ),
        pytest.param([_slot(0, "b")], 2, set(), Take("lk-1", None), id="second-slot"),
        pytest.param(
            [_slot(0, "b"), _slot(1, "c")], 2, set(), Busy(("b", "c")), id="all-slots-held"
        ),
        pytest.param(
            [_slot(0, "b"), _slot(1)], 2, {"lk-0"}, Take("lk-1", _slot(1)), id="free-before-expired"
        ),
        pytest.param(
            [_slot(0), _slot(1, "c")], 1, set(), Busy(("c",)), id="lowered-concurrency-counts-all"
        ),
    ],
)
def test_decide_lock(
    slots: list[SlotView], concurrency: int, expired: set[str], expected: object
) -> None:
    decision = rules.decide_lock(
        slots, node="me", prefix="lk", concurrency=concurrency, expired=frozenset(expired)
    )
    assert decision == expected


def test_takeover_names_the_dead_holder() -> None:
    take = rules.decide_lock(
        [_slot(0, "dead")], node="me", prefix="lk", concurrency=1, expired=frozenset({"lk-0"})
    )
    assert isinstance(take, Take)
    assert take.takeover == "dead"
    assert Take("lk-0", None).takeover == ""


def test_slot_names_round_trip() -> None:
    assert rules.slot_index("reloader-reboot", rules.slot_name("reloader-reboot", 3)) == 3
    assert rules.slot_index("reloader-reboot", "reloader-reboot-x") is None
    assert rules.slot_index("reloader-reboot", "other-0") is None


def test_lock_metadata_acquire_renew_release() -> None:
    acquired = rules.lock_metadata(
        "lk-0", "ns", None, holder="me", boot_id="boot-1", phase=Phase.ACQUIRED
    )
    assert acquired == {
        "name": "lk-0",
        "namespace": "ns",
        "labels": {rules.LOCK_LABEL: "true"},
        "annotations": {rules.LEASE_BOOT_ID: "boot-1", rules.LEASE_PHASE: "acquired"},
    }
    labels = {**acquired["labels"], "team": "a"}
    annotations = {**acquired["annotations"], "note": "kept"}
    meta = {**acquired, "labels": labels, "annotations": annotations, "resourceVersion": "7"}
    slot = rules.slot_view("lk", {"metadata": meta, "spec": {"holderIdentity": "me"}})
    assert slot is not None
    assert (slot.holder, slot.boot_id, slot.phase, slot.index) == ("me", "boot-1", "acquired", 0)
    assert slot.resource_version == "7"

    renewed = rules.lock_metadata(
        "lk-0", "ns", slot, holder="me", boot_id="boot-1", phase=Phase.REBOOTING
    )
    assert renewed["labels"] == {rules.LOCK_LABEL: "true", "team": "a"}
    assert renewed["annotations"] == {
        "note": "kept",
        rules.LEASE_BOOT_ID: "boot-1",
        rules.LEASE_PHASE: "rebooting",
    }
    assert "resourceVersion" not in renewed, "the Lease lock adds the one it read"

    released = rules.lock_metadata("lk-0", "ns", slot)
    assert released["annotations"] == {"note": "kept"}
    free = rules.slot_view("lk", {"metadata": released, "spec": {}})
    assert free is not None
    assert (free.holder, free.boot_id, free.phase) == ("", "", "")


def test_lock_metadata_without_phase_has_only_the_boot_id() -> None:
    meta = rules.lock_metadata("lk-0", "ns", None, holder="me", boot_id="b")
    assert meta["annotations"] == {rules.LEASE_BOOT_ID: "b"}


# ------------------------------------------------------------------------ node and record


def _node(
    *, unschedulable: bool = False, boot: str = "b1", annotations: dict[str, str] | None = None
) -> dict[str, Any]:
    return {
        "metadata": {
            "name": "n1",
            "uid": "u1",
            "resourceVersion": "42",
            "annotations": annotations or {},
        },
        "spec": {"unschedulable": True} if unschedulable else {},
        "status": {"nodeInfo": {"bootID": boot}},
    }


def test_cordon_records_schedulable_node() -> None:
    view = rules.node_view(_node())
    assert (view.boot_id, view.unschedulable, view.record) == ("b1", False, None)
    patch = rules.cordon_patch(view)
    assert patch["spec"] == {"unschedulable": True}
    assert patch["metadata"]["resourceVersion"] == "42"
    assert patch["metadata"]["annotations"] == {
        rules.NODE_WAS_SCHEDULABLE: "true",
        rules.NODE_CORDON_BOOT_ID: "b1",
    }


def test_cordon_of_admin_cordoned_node_records_it() -> None:
    patch = rules.cordon_patch(rules.node_view(_node(unschedulable=True)))
    assert patch["metadata"]["annotations"][rules.NODE_WAS_SCHEDULABLE] == "false"


def test_cordon_keeps_an_earlier_record() -> None:
    """A second attempt finds the node cordoned by the first: it was schedulable before that."""
    node = _node(unschedulable=True, annotations={rules.NODE_WAS_SCHEDULABLE: "true"})
    patch = rules.cordon_patch(rules.node_view(node))
    assert patch["metadata"]["annotations"][rules.NODE_WAS_SCHEDULABLE] == "true"


@pytest.mark.parametrize(
    ("was", "unschedulable", "uncordon"),
    [
        pytest.param("true", True, True, id="was-schedulable"),
        pytest.param("false", True, False, id="admin-cordoned-stays"),
        pytest.param("true", False, False, id="already-uncordoned"),
    ],
)
def test_restore(was: str, unschedulable: bool, uncordon: bool) -> None:
    node = rules.node_view(
        _node(
            unschedulable=unschedulable,
            annotations={rules.NODE_WAS_SCHEDULABLE: was, rules.NODE_CORDON_BOOT_ID: "b0"},
        )
    )
    assert node.record == rules.CordonRecord(was_schedulable=was == "true", boot_id="b0")
    patch = rules.restore_patch(node)
    assert patch is not None
    assert patch["metadata"]["annotations"] == {
        rules.NODE_WAS_SCHEDULABLE: None,
        rules.NODE_CORDON_BOOT_ID: None,
    }
    assert ("spec" in patch) is uncordon
    assert rules.uncordons(node) is uncordon


def test_restore_without_record_never_uncordons() -> None:
    node = rules.node_view(_node(unschedulable=True))
    assert rules.restore_patch(node) is None
    patch = rules.restore_patch(node, history=[NOW])
    assert patch is not None
    assert "spec" not in patch
    assert patch["metadata"]["annotations"][rules.NODE_LOOP_HISTORY] == rules.rfc3339(NOW)


# ------------------------------------------------------------------------------- loop guard


def test_loop_history_counts_reboots_that_left_the_sentinel() -> None:
    history: tuple[float, ...] = ()
    for i in range(3):
        history = rules.record_reboot(
            history, now=NOW + i, sentinel_present=True, window=DAY, limit=3
        )
    assert len(history) == 3
    assert rules.loop_stopped(history, now=NOW + 3, window=DAY, limit=3)
    assert not rules.loop_stopped(history, now=NOW + 3, window=DAY, limit=4)
    assert not rules.loop_stopped(history, now=NOW + 3, window=DAY, limit=0)
    assert not rules.loop_stopped(history, now=NOW + DAY + 1, window=DAY, limit=3)
    text = rules.format_history(history)
    assert rules.parse_history(text) == history
    assert (
        rules.node_view(_node(annotations={rules.NODE_LOOP_HISTORY: text})).loop_history == history
    )
    assert rules.record_reboot(history, now=NOW, sentinel_present=False, window=DAY, limit=3) == ()


def test_loop_history_drops_old_entries_and_bad_values() -> None:
    history = rules.record_reboot(
        (NOW - 2 * DAY, NOW - 10), now=NOW, sentinel_present=True, window=DAY, limit=5
    )
    assert history == (NOW - 10, NOW)
    assert rules.parse_history("garbage, 2026-01-01T00:00:00Z") == (
        rules.parse_rfc3339("2026-01-01T00:00:00Z"),
    )


def test_render_message() -> None:
    assert rules.render_message("Draining node %s", "n1") == "Draining node n1"
    assert rules.render_message("no placeholder", "n1") == "no placeholder"
