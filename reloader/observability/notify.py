"""Outgoing HTTP notifications: reload alerts (Slack, Teams, Google Chat, raw) and webhook mode.

Alerts are best effort and never hold up a reload: ``Alerter.send`` only queues the message and
returns; one background task posts them, each with a timeout. Reloader posts synchronously in its
single worker with no timeout, so one slow receiver stops all reloads.

Webhook mode (``--webhook-url``) is different: the POST *is* the action, so it runs inside the
reconcile and a failure is retried like a failed patch. Its body names the workload and the
sources that changed (Reloader's constant body does not).

Requests run in a worker thread with the standard library client: proxies come from
``ALERT_WEBHOOK_PROXY``, redirects are refused (a redirect could send the message elsewhere).
"""

from __future__ import annotations

import json
import urllib.request
from typing import TYPE_CHECKING, Any

import anyio
import structlog

from reloader.settings import AlertSink

if TYPE_CHECKING:
    from reloader.settings import AlertSettings

log = structlog.get_logger(__name__)

TIMEOUT_S = 10.0


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # urllib then raises HTTPError for the 3xx


def _post_blocking(
    url: str, body: bytes, content_type: str, proxy: str | None, timeout: float
) -> int:
    handlers: list[urllib.request.BaseHandler] = [_NoRedirect()]
    handlers.append(urllib.request.ProxyHandler({"http": proxy, "https": proxy} if proxy else {}))
    opener = urllib.request.build_opener(*handlers)
    request = urllib.request.Request(  # noqa: S310 - the URL is the operator's own setting
        url, data=body, method="POST", headers={"Content-Type": content_type}
    )
    with opener.open(request, timeout=timeout) as response:
        return int(response.status)


async def post(
    url: str,
    body: bytes,
    *,
    content_type: str = "application/json",
    proxy: str | None = None,
    timeout: float = TIMEOUT_S,  # noqa: ASYNC109 - passed to the blocking client in the thread
) -> int:
    """POST ``body``; return the status code.

    :raises OSError: no answer, a timeout, or an HTTP error status (urllib's HTTPError).
    """
    return await anyio.to_thread.run_sync(
        _post_blocking, url, body, content_type, proxy, timeout, abandon_on_cancel=True
    )


def alert_body(sink: AlertSink, text: str) -> tuple[bytes, str, bool]:
    """(body, content type, whether only 200 counts as success) for one sink."""
    if sink is AlertSink.SLACK:
        payload = {"attachments": [{"color": "good", "author_name": "Reloader", "text": text}]}
        return json.dumps(payload).encode(), "application/json", False
    if sink in (AlertSink.TEAMS, AlertSink.GCHAT):
        return json.dumps({"text": text}).encode(), "application/json", True
    return text.replace("*", "").encode(), "text/plain", False


class Alerter:
    """Queues reload alerts and posts them from one background task (:meth:`run`)."""

    def __init__(self, settings: AlertSettings, *, capacity: int = 1000) -> None:
        self.settings = settings
        self._send, self._receive = anyio.create_memory_object_stream[str](capacity)

    @property
    def enabled(self) -> bool:
        return self.settings.enabled and bool(self.settings.url)

    def send(self, text: str) -> None:
        """Queue one alert; never waits. When the queue is full the alert is dropped, logged."""
        if not self.enabled:
            return
        if self.settings.additional_info:
            text = f"{self.settings.additional_info} : {text}"
        try:
            self._send.send_nowait(text)
        except anyio.WouldBlock:
            log.warning("alert.dropped", reason="queue full")

    async def run(self) -> None:
        if self.settings.enabled and not self.settings.url:
            log.error(
                "alert.misconfigured", problem="ALERT_ON_RELOAD=true without ALERT_WEBHOOK_URL"
            )
        async with self._receive:
            async for text in self._receive:
                await self._deliver(text)

    async def _deliver(self, text: str) -> None:
        body, content_type, exact_200 = alert_body(self.settings.sink, text)
        try:
            status = await post(
                self.settings.url,
                body,
                content_type=content_type,
                proxy=self.settings.proxy or None,
            )
        except OSError as exc:
            log.warning("alert.failed", sink=self.settings.sink, error=str(exc))
            return
        if (exact_200 and status != 200) or status >= 400:
            log.warning("alert.failed", sink=self.settings.sink, status=status)
        else:
            log.debug("alert.sent", sink=self.settings.sink, status=status)
