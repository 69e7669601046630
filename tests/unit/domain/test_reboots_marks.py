"""kured's node marks: the PreferNoSchedule taint, the reboot annotations, the node labels."""

from __future__ import annotations

from typing import Any

import pytest

from reloader.reboot.domain import coordination as rules
from reloader.reboot.domain import marks
from reloader.reboot.domain.marks import Stage

NOW = 1_800_000_000.0
STAMP = "2027-01-15T08:00:00Z"
OTHER = {"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"}
OURS = {"key": "reboot-pending", "effect": "PreferNoSchedule"}


# ------------------------------------------------------------------------------------ stages


STAGE_CASES = [
    pytest.param(Stage.STARTUP, False, False, False, id="startup-removes-taint"),
    pytest.param(Stage.NOT_NEEDED, False, False, True, id="not-needed-clears"),
    pytest.param(Stage.HELD_BACK, False, False, False, id="outside-window-or-loop"),
    pytest.param(Stage.GATED, None, True, False, id="gated-annotates-leaves-taint"),
    pytest.param(Stage.LOCK_BUSY, True, True, False, id="lock-busy-taints"),
    pytest.param(Stage.LOCKED, None, True, False, id="locked-keeps-taint"),
    pytest.param(Stage.RECOVERED, False, False, False, id="back-sentinel-remains"),
    pytest.param(Stage.DONE, False, False, True, id="back-and-done"),
]


@pytest.mark.parametrize(("stage", "taint", "annotate", "clear"), STAGE_CASES)
def test_what_each_stage_wants(
    stage: Stage, taint: bool | None, annotate: bool, clear: bool
) -> None:
    assert marks.wanted(stage) == marks.Wanted(taint=taint, annotate=annotate, clear=clear)


def test_every_stage_has_a_rule() -> None:
    rules = {stage: marks.wanted(stage) for stage in Stage}  # a stage without one: KeyError
    assert all(isinstance(rule, marks.Wanted) for rule in rules.values()), rules
    # and the table above pins each of those rules: a new stage cannot go unchecked
    checked = {case.values[0] for case in STAGE_CASES}
    assert checked == set(Stage), set(Stage) - checked


def test_only_waiting_for_the_lock_adds_the_taint() -> None:
    assert [s for s in Stage if marks.wanted(s).taint] == [Stage.LOCK_BUSY]


# ------------------------------------------------------------------------------------- taint


def test_taint_added_keeping_the_others_with_a_resource_version() -> None:
    patch = marks.taint_patch([OTHER], name="reboot-pending", present=True, resource_version="7")
    assert patch == {
        "metadata": {"resourceVersion": "7"},
        "spec": {"taints": [OTHER, OURS]},
    }


def test_taint_removed_keeping_the_others() -> None:
    patch = marks.taint_patch(
        [OTHER, OURS], name="reboot-pending", present=False, resource_version="8"
    )
    assert patch == {"metadata": {"resourceVersion": "8"}, "spec": {"taints": [OTHER]}}


def test_last_taint_removed_drops_the_list() -> None:
    patch = marks.taint_patch([OURS], name="reboot-pending", present=False, resource_version="8")
    assert patch is not None
    assert patch["spec"] == {"taints": None}


@pytest.mark.parametrize(
    ("taints", "present"),
    [
        pytest.param([OTHER, OURS], True, id="already-there"),
        pytest.param([OTHER], False, id="already-gone"),
        pytest.param([], False, id="no-taints"),
    ],
)
def test_taint_unchanged_writes_nothing(taints: list[dict[str, Any]], present: bool) -> None:
    assert (
        marks.taint_patch(taints, name="reboot-pending", present=present, resource_version="1")
        is None
    )


def test_a_taint_with_the_same_key_and_another_effect_is_not_ours() -> None:
    mine = {"key": "reboot-pending", "effect": "NoSchedule", "value": "admin"}
    assert not marks.has_taint([mine], "reboot-pending")
    patch = marks.taint_patch([mine], name="reboot-pending", present=True, resource_version="1")
    assert patch is not None
    assert patch["spec"]["taints"] == [mine, OURS]
    assert (
        marks.taint_patch([mine], name="reboot-pending", present=False, resource_version="1")
        is None
    )


def test_node_view_carries_taints_labels_annotations() -> None:
    view = rules.node_view(
        {
            "metadata": {
                "name": "n1",
                "resourceVersion": "3",
                "labels": {"a": "b"},
                "annotations": {marks.ANNOTATION_IN_PROGRESS: STAMP},
            },
            "spec": {"taints": [OTHER]},
        }
    )
    assert view.taints == (OTHER,)
    assert view.labels == {"a": "b"}
    assert view.annotations[marks.ANNOTATION_IN_PROGRESS] == STAMP


# ------------------------------------------------------------------------------- annotations


def test_annotations_set_once_per_reboot() -> None:
    stamp = rules.rfc3339(NOW)
    assert marks.annotate_patch({}, now=NOW) == {
        "metadata": {
            "annotations": {
                marks.ANNOTATION_IN_PROGRESS: stamp,
                marks.ANNOTATION_MOST_RECENT: stamp,
            }
        }
    }
    # in progress already: neither is rewritten (kured keeps the first time)
    assert marks.annotate_patch({marks.ANNOTATION_IN_PROGRESS: STAMP}, now=NOW) is None
    # most-recent alone (an earlier reboot) is refreshed
    assert marks.annotate_patch({marks.ANNOTATION_MOST_RECENT: STAMP}, now=NOW) is not None


def test_clear_removes_in_progress_only() -> None:
    both = {marks.ANNOTATION_IN_PROGRESS: STAMP, marks.ANNOTATION_MOST_RECENT: STAMP}
    assert marks.clear_patch(both) == {
        "metadata": {"annotations": {marks.ANNOTATION_IN_PROGRESS: None}}
    }
    assert marks.clear_patch({marks.ANNOTATION_MOST_RECENT: STAMP}) is None


# ------------------------------------------------------------------------------------ labels


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        pytest.param([], (), id="none"),
        pytest.param(["a=b"], (("a", "b"),), id="one"),
        pytest.param(["a=b,c=d"], (("a", "b"), ("c", "d")), id="comma-list"),
        pytest.param(["a=b", "c=d"], (("a", "b"), ("c", "d")), id="repeated"),
        pytest.param(["a=b, c=d", "e=f"], (("a", "b"), ("c", "d"), ("e", "f")), id="both"),
        pytest.param(["a=", "b=1"], (("a", ""), ("b", "1")), id="empty-value"),
        pytest.param(["a=1", "a=2"], (("a", "2"),), id="later-wins"),
        pytest.param(
            ["example.com/maintenance=in-progress"],
            (("example.com/maintenance", "in-progress"),),
            id="prefixed",
        ),
        pytest.param(["a=b,"], (("a", "b"),), id="trailing-comma"),
    ],
)
def test_parse_node_labels(items: list[str], expected: tuple[tuple[str, str], ...]) -> None:
    assert marks.parse_node_labels(items) == expected


@pytest.mark.parametrize(
    ("items", "message"),
    [
        pytest.param(["maintenance"], "not key=value", id="no-equals"),
        pytest.param(["=x"], "not a valid label key", id="empty-key"),
        pytest.param(["bad key=x"], "not a valid label key", id="space"),
        pytest.param(["Example.com/a=x"], "not a valid label key", id="prefix-uppercase"),
        pytest.param(["/a=x"], "not a valid label key", id="empty-prefix"),
        pytest.param([f"{'k' * 64}=x"], "not a valid label key", id="name-too-long"),
        pytest.param(["a=b=c"], "not a valid label value", id="equals-in-value"),
        pytest.param([f"a={'v' * 64}"], "not a valid label value", id="value-too-long"),
        pytest.param(["a=-x"], "not a valid label value", id="value-starts-with-dash"),
    ],
)
def test_parse_node_labels_rejects(items: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        marks.parse_node_labels(items)


def test_labels_patch_only_what_is_missing() -> None:
    wanted = (("state", "rebooting"), ("pool", "a"))
    assert marks.labels_patch({"pool": "a", "other": "x"}, wanted) == {
        "metadata": {"labels": {"state": "rebooting"}}
    }
    assert marks.labels_patch({"state": "rebooting", "pool": "a"}, wanted) is None
    assert marks.labels_patch({}, ()) is None


def test_mismatched_keys() -> None:
    pre = (("state", "rebooting"), ("pre", "x"))
    post = (("state", "done"),)
    assert marks.mismatched_keys(pre, post) == ["pre"]
    assert marks.mismatched_keys(pre, ()) == [], "only when both are set (kured)"
    assert marks.mismatched_keys((("state", "a"),), (("state", "b"),)) == []


def test_format_labels() -> None:
    assert marks.format_labels((("a", "b"), ("c", ""))) == "a=b,c="
    assert marks.format_labels({"a": "b"}) == "a=b"
