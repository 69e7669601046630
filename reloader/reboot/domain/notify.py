"""Where reboot notifications go: kured's ``--notify-url`` (shoutrrr URLs) → an HTTP POST.

kured sends through shoutrrr; we accept the shoutrrr forms people use with it, plus plain
webhook URLs, and turn each into an HTTPS endpoint and a JSON body:

- ``slack://A/B/C`` (optionally ``slack://name@A/B/C``) and ``slack://hook:A-B-C@webhook``
  → ``https://hooks.slack.com/services/A/B/C``, body ``{"text": …}``;
- ``teams://GROUP@TENANT/ALT_ID/OWNER?host=ORG.webhook.office.com``
  → ``https://HOST/webhookb2/GROUP@TENANT/IncomingWebhook/ALT_ID/OWNER``, body ``{"text": …}``;
- ``generic://HOST/PATH`` (``generic+http://`` for plain HTTP) → ``https://HOST/PATH``, body
  ``{"text": …, "node": …, "event": …}``;
- an ``http(s)://`` URL as given: Slack's body for hooks.slack.com, Teams' for
  ``*.webhook.office.com``, else the generic body.

Surrounding quotes are stripped (a quoted Teams URL silently failed in kured). Slack bot tokens
(``slack://xoxb:…``) need the Slack API and are refused at startup, as is any other scheme.
Pure: no I/O.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Literal
from urllib.parse import parse_qs, urlsplit

Kind = Literal["slack", "teams", "generic"]


@dataclass(frozen=True, slots=True)
class NotifyTarget:
    kind: Kind
    url: str

    def body(self, text: str, *, node: str, event: str) -> bytes:
        if self.kind == "generic":
            return json.dumps({"text": text, "node": node, "event": event}).encode()
        return json.dumps({"text": text}).encode()


def strip_quotes(text: str) -> str:
    text = text.strip()
    if len(text) > 2 and text[0] == text[-1] and text[0] in "\"'":
        return text[1:-1]
    return text


def _kind_of_host(host: str) -> Kind:
    host = host.lower()
    if host == "hooks.slack.com":
        return "slack"
    if host.endswith((".webhook.office.com", "outlook.office.com", ".logic.azure.com")):
        return "teams"
    return "generic"


def parse_notify_url(raw: str) -> NotifyTarget:
    """Turn one ``--notify-url`` value into a target.

    :raises ValueError: naming what is wrong with the URL.
    """
    text = strip_quotes(raw)
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme in ("http", "https"):
        if not parts.netloc:
            raise ValueError(f"notify URL {text!r} has no host")
        return NotifyTarget(_kind_of_host(parts.hostname or ""), text)
    if scheme == "slack":
        return NotifyTarget("slack", _slack(parts.netloc, parts.path, text))
    if scheme == "teams":
        return NotifyTarget("teams", _teams(parts.netloc, parts.path, parts.query, text))
    if scheme in ("generic", "generic+https", "generic+http"):
        if not parts.netloc:
            raise ValueError(f"notify URL {text!r} has no host")
        http = "http" if scheme == "generic+http" else "https"
        query = f"?{parts.query}" if parts.query else ""
        return NotifyTarget("generic", f"{http}://{parts.netloc}{parts.path}{query}")
    raise ValueError(
        f"notify URL {text!r}: unsupported scheme {parts.scheme!r} "
        "(use slack://, teams://, generic:// or an http(s) webhook URL)"
    )


def _slack(netloc: str, path: str, text: str) -> str:
    user, _, host = netloc.rpartition("@")
    if user.startswith("hook:"):  # slack://hook:A-B-C@webhook
        tokens = user[len("hook:") :].split("-")
    elif ":" in user or host.startswith("xox"):
        raise ValueError(f"notify URL {text!r}: Slack API tokens are not supported, use a webhook")
    else:  # slack://[botname@]A/B/C
        tokens = [host, *[p for p in path.split("/") if p]]
    if len(tokens) != 3 or not all(tokens):
        raise ValueError(f"notify URL {text!r}: a Slack webhook has three tokens")
    return "https://hooks.slack.com/services/" + "/".join(tokens)


def _teams(netloc: str, path: str, query: str, text: str) -> str:
    group_tenant = netloc
    segments = [p for p in path.split("/") if p]
    if "@" not in group_tenant or len(segments) != 2:
        raise ValueError(
            f"notify URL {text!r}: expected teams://GROUP@TENANT/ALT_ID/OWNER?host=HOST"
        )
    host = (parse_qs(query).get("host") or ["outlook.office.com"])[0]
    alt_id, owner = segments
    return f"https://{host}/webhookb2/{group_tenant}/IncomingWebhook/{alt_id}/{owner}"
