"""Alert bodies per sink (docs/flags.md#alerts) and the alert settings read from the environment."""

from __future__ import annotations

import json

import pytest

from reloader.observability.notify import alert_body
from reloader.settings import AlertSettings, AlertSink


@pytest.mark.parametrize(
    ("sink", "body", "content_type", "exact_200"),
    [
        pytest.param(
            AlertSink.SLACK,
            {"attachments": [{"color": "good", "author_name": "Reloader", "text": "*a* b"}]},
            "application/json",
            False,
            id="slack",
        ),
        pytest.param(AlertSink.TEAMS, {"text": "*a* b"}, "application/json", True, id="teams"),
        pytest.param(AlertSink.GCHAT, {"text": "*a* b"}, "application/json", True, id="gchat"),
    ],
)
def test_json_sinks(sink: AlertSink, body: object, content_type: str, exact_200: bool) -> None:
    raw, ctype, exact = alert_body(sink, "*a* b")
    assert json.loads(raw) == body
    assert (ctype, exact) == (content_type, exact_200)


def test_raw_sink_strips_asterisks_and_sends_plain_text() -> None:
    assert alert_body(AlertSink.RAW, "*a* b") == (b"a b", "text/plain", False)


def test_alert_settings_from_reloader_environment_variables() -> None:
    settings = AlertSettings.from_env(
        {
            "ALERT_ON_RELOAD": "true",
            "ALERT_WEBHOOK_URL": " http://h/x ",
            "ALERT_SINK": " Slack ",
            "ALERT_WEBHOOK_PROXY": "http://proxy:3128",
            "ALERT_ADDITIONAL_INFO": "prod",
        }
    )
    assert settings == AlertSettings(
        enabled=True,
        url="http://h/x",
        sink=AlertSink.SLACK,
        proxy="http://proxy:3128",
        additional_info="prod",
    )
    assert AlertSettings.from_env({"ALERT_ON_RELOAD": "True"}).enabled is False  # exact "true"
    assert AlertSettings.from_env({}).sink is AlertSink.RAW
    assert AlertSettings.from_env({"ALERT_SINK": "webhook"}).sink is AlertSink.RAW  # any other
