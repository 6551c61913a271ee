"""The bytes a webhook receives, and their signature.

Serialised once (compact, keys in order, non-ASCII as is, as JavaScript's JSON.stringify), signed as those UTF-8
bytes, and sent as those bytes: `x-infisical-signature: t=<timestamp>;<hex HMAC-SHA256 of the body>`, with the
same `timestamp` (Unix milliseconds of the event) as the body's last field. `general` bodies are the event payload;
`slack` bodies are a Slack message (text and blocks) saying what happened and what to do."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from app.webhooks.events import WORDING, Event

SIGNATURE_HEADER = "x-infisical-signature"
EVENT_ID_HEADER = "X-Keyturn-Event-Id"
SLACK_HOST = "hooks.slack.com"
TYPES = ("general", "slack")


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def signature(body: str, secret_key: str, timestamp_ms: int) -> str:
    """The signature header's value for `body` under `secret_key`."""
    digest = hmac.new(secret_key.encode(), body.encode(), hashlib.sha256).hexdigest()
    return f"t={timestamp_ms};{digest}"


def render(webhook_type: str, payload: dict[str, Any], *, event_id: str, timestamp_ms: int) -> str:
    """The body for a webhook of `webhook_type`. General: `{event, eventId, project, timestamp}`; Slack:
    `{text, blocks, eventId, timestamp}`. `timestamp` is always last, as Infisical appends it."""
    if webhook_type == "slack":
        message = {**slack_message(payload), "eventId": event_id}
    else:
        message = {"event": payload["event"], "eventId": event_id, "project": payload["project"]}
    return dumps({**message, "timestamp": timestamp_ms})


# Labels of the Slack fields, in order; values come from the payload's `project` object.
_SLACK_FIELDS = (
    ("Rotation", "rotationName"),
    ("Project", "projectName"),
    ("Environment", "environment"),
    ("Environment Name", "environmentName"),
    ("Secret Path", "secretPath"),
    ("Generation", "generation"),
    ("Error", "errorMessage"),
    ("Triggered Manually", "triggeredManually"),
    ("Lagging Consumers", "laggingIdentities"),
    ("Expires At", "expiresAt"),
)


def _slack_text(value: Any) -> str:
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, list):
        value = ", ".join(str(item) for item in value) or "–"
    # Slack's mrkdwn treats these three as markup.
    return str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_message(payload: dict[str, Any]) -> dict[str, Any]:
    """A Slack incoming-webhook message: `text` (the notification line) and `blocks` (title, the rotation's
    facts, what to do)."""
    project = payload["project"]
    wording = WORDING[Event(payload["event"])]
    fields = [
        {"type": "mrkdwn", "text": f"*{label}*\n{_slack_text(project[key])}"}
        for label, key in _SLACK_FIELDS
        if project.get(key) is not None
    ]
    where = f"{_slack_text(project['projectName'])} / {_slack_text(project['environment'])}"
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*{_slack_text(wording.title)}*"}},
        # Slack shows at most ten fields in one section.
        *({"type": "section", "fields": fields[i : i + 10]} for i in range(0, len(fields), 10)),
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*What to do:* {_slack_text(wording.advice)}"}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": f"keyturn · {payload['event']}"}]},
    ]
    return {"text": f"{wording.title} ({where})", "blocks": blocks}
