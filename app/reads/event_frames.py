"""What a project-events stream subscribes to, and the server-sent event frames it sends (clients §7.3–§7.5).

The Kubernetes operator parses the stream line by line and drops a frame without an `event:` line, so every frame
here has one, its `data:` is one line of JSON, and it ends with an empty line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from app.auth.scope import normalise_path, path_matches
from app.errors import AppError
from app.reads.secret_changes import SecretPlace
from app.timeutil import iso

PING = b"event: ping\n\n"
# The CloudEvents `source` of keyturn's events; Infisical's value is unknown and no client reads it.
SOURCE = "keyturn"
PROJECT_TYPE = "secret-manager"


@dataclass(frozen=True)
class Registration:
    """One `register[]` item: an event name and, unless `environment` is None (no conditions, so every change),
    the exact environment and a secret path glob (`*`, `?`, `**`, as membership scopes have them)."""

    event: str
    environment: str | None = None
    secret_path: str = "/"

    def matches(self, event: str, place: SecretPlace) -> bool:
        if event != self.event:
            return False
        if self.environment is None:
            return True
        return place.environment == self.environment and path_matches(self.secret_path, place.secret_path)

    @property
    def base_path(self) -> str:
        """The folder the glob starts from: its segments before the first wildcard."""
        segments = normalise_path(self.secret_path).split("/")[1:]
        fixed = []
        for segment in segments:
            if "*" in segment or "?" in segment:
                break
            fixed.append(segment)
        return normalise_path("/".join(fixed))


def _json(value: object) -> str:
    return json.dumps(value, separators=(",", ":"))


def change_frame(event: str, places: list[SecretPlace], at: datetime) -> bytes:
    """A change event: the SSE `event` is the project type; `data` is the whole chunk, payload always an array."""
    time = iso(at)
    chunk = {
        "datacontenttype": "application/json",
        "type": PROJECT_TYPE,
        "source": SOURCE,
        "time": time,
        "data": {"specversion": 1, "event": event, "payload": [place.payload() for place in places]},
    }
    return f"id: {time}\nevent: {PROJECT_TYPE}\ndata: {_json(chunk)}\n\n".encode()


def error_frame(error: AppError, request_id: str) -> bytes:
    """The last frame of a stream whose caller lost access: the error in Infisical's shape."""
    data = {"type": "error", "data": {"reqId": request_id, **error.body()}}
    return f"event: error\ndata: {_json(data)}\n\n".encode()
