"""Error mapping: one class per status, Status bodies only, nothing else of a body survives."""

from __future__ import annotations

import orjson
import pytest

from reloader.errors import (
    Conflict,
    Forbidden,
    Gone,
    Invalid,
    KubeClientError,
    KubeConnectionError,
    KubeError,
    KubeServerError,
    NotFound,
    TooManyRequests,
)
from reloader.kube.errors import MAX_TEXT, connection_error, from_response, map_error
from reloader.kube.transport import TransportError

SECRET = "c3VwZXItc2VjcmV0LXBhc3N3b3Jk"


def status_body(code: int, reason: str, message: str, **extra: object) -> bytes:
    body = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": code}
    return orjson.dumps({**body, "reason": reason, "message": message, **extra})


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        pytest.param(400, KubeClientError, id="400-bad-request"),
        pytest.param(401, KubeClientError, id="401-unauthorized"),
        pytest.param(403, Forbidden, id="403"),
        pytest.param(404, NotFound, id="404"),
        pytest.param(405, KubeClientError, id="405"),
        pytest.param(409, Conflict, id="409"),
        pytest.param(410, Gone, id="410"),
        pytest.param(415, KubeClientError, id="415"),
        pytest.param(422, Invalid, id="422"),
        pytest.param(429, TooManyRequests, id="429"),
        pytest.param(500, KubeServerError, id="500"),
        pytest.param(503, KubeServerError, id="503"),
        pytest.param(504, KubeServerError, id="504"),
    ],
)
def test_each_status_gets_its_class(code: int, expected: type[KubeError]) -> None:
    body = status_body(code, "SomeReason", "some message")
    error = from_response(code, body, {})
    assert type(error) is expected
    assert (error.status, error.reason, error.message) == (code, "SomeReason", "some message")
    assert str(error) == "some message"


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(orjson.dumps({"kind": "Secret", "data": {"password": SECRET}}), id="secret"),
        pytest.param(f"<html><body>{SECRET}</body></html>".encode(), id="html"),
        pytest.param(SECRET.encode(), id="text"),
        pytest.param(orjson.dumps([SECRET]), id="json-list"),
        pytest.param(orjson.dumps({"reason": SECRET, "message": SECRET}), id="not-a-status"),
    ],
)
@pytest.mark.parametrize("code", [403, 404, 500])
def test_a_body_that_is_not_a_status_never_reaches_the_error(body: bytes, code: int) -> None:
    error = from_response(code, body, {})
    text = f"{error} {error.message} {error.reason} {error!r} {error.args}"
    assert SECRET not in text
    assert error.status == code
    assert str(code) in error.message  # "HTTP 404 Not Found"


def test_status_text_is_truncated() -> None:
    error = from_response(422, status_body(422, "R" * 1000, "m" * 5000), {})
    assert len(error.message) == MAX_TEXT
    assert len(error.reason) == MAX_TEXT
    assert error.message.endswith("...")


@pytest.mark.parametrize(
    ("headers", "details", "expected"),
    [
        pytest.param({"Retry-After": "3"}, None, 3.0, id="header"),
        pytest.param({"Retry-After": "1.5"}, {"retryAfterSeconds": 9}, 1.5, id="header-wins"),
        pytest.param({}, {"retryAfterSeconds": 7}, 7.0, id="status-details"),
        pytest.param({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, None, None, id="date"),
        pytest.param({"Retry-After": "-1"}, None, None, id="negative"),
        pytest.param({}, None, None, id="absent"),
    ],
)
def test_too_many_requests_carries_retry_after(
    headers: dict[str, str], details: dict[str, int] | None, expected: float | None
) -> None:
    extra = {"details": details} if details else {}
    body = status_body(429, "TooManyRequests", "slow down", **extra)
    error = from_response(429, body, headers)
    assert isinstance(error, TooManyRequests)
    assert error.retry_after == expected


@pytest.mark.parametrize(
    "exc",
    [
        pytest.param(TransportError("the connection closed before the whole answer"), id="cut"),
        pytest.param(TransportError("not an HTTP/1.x answer: 'SSH-2.0'"), id="not-http"),
        pytest.param(ConnectionResetError(104, "Connection reset by peer"), id="reset"),
        pytest.param(ConnectionRefusedError(111, "Connection refused"), id="refused"),
        pytest.param(TimeoutError(), id="timeout"),
    ],
)
def test_no_answer_is_a_connection_error(exc: BaseException) -> None:
    error = map_error(exc)
    assert type(error) is KubeConnectionError
    assert error.status == 0
    assert error.message


def test_a_connection_error_names_the_failure_and_is_truncated() -> None:
    error = connection_error(TransportError("x" * 1000))
    assert error.message.startswith("TransportError: xxx")
    assert len(error.message) <= 256
    assert connection_error(ConnectionResetError()).message == "ConnectionResetError"


def test_a_kube_error_maps_to_itself() -> None:
    error = NotFound("gone", status=404)
    assert map_error(error) is error


def test_an_unexpected_exception_is_a_generic_kube_error() -> None:
    error = map_error(RuntimeError(SECRET))
    assert type(error) is KubeError
    assert SECRET not in str(error)
