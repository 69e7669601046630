"""The final Status of ``pods/exec`` → an exit code, in the forms kubelets send it."""

from __future__ import annotations

import pytest

from reloader.kube.exec import UNKNOWN_EXIT, exit_status


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ({"status": "Success", "metadata": {}}, (0, "")),
        (
            {
                "status": "Failure",
                "reason": "NonZeroExitCode",
                "message": "command terminated with non-zero exit code: exit status 7",
                "details": {"causes": [{"reason": "ExitCode", "message": "7"}]},
            },
            (7, "command terminated with non-zero exit code: exit status 7"),
        ),
        (
            {"status": "Failure", "reason": "InternalError", "message": "cmd wait: exit status 3"},
            (3, "cmd wait: exit status 3"),
        ),
        (
            {"status": "Failure", "message": 'exec: "x": executable file not found in $PATH'},
            (UNKNOWN_EXIT, 'exec: "x": executable file not found in $PATH'),
        ),
        ({"status": "Failure", "reason": "InternalError"}, (UNKNOWN_EXIT, "InternalError")),
        ({}, (UNKNOWN_EXIT, "exec failed")),
    ],
    ids=["success", "exit-code-cause", "exit-in-message", "not-started", "reason-only", "empty"],
)
def test_exit_status(status: dict[str, object], expected: tuple[int, str]) -> None:
    assert exit_status(status) == expected
