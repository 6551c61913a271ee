"""A connection's provider credentials: sealed into the row, opened only for a provider call."""

from __future__ import annotations

import json
from typing import Any

from app.crypto import fingerprint
from app.models import AppConnection
from app.models.sealed import CONNECTION_CREDENTIALS


def seal_credentials(connection: AppConnection, credentials: dict[str, Any]) -> None:
    """Encrypt the credentials into the row; `credentials_hash` tells a changed key without opening it."""
    token = CONNECTION_CREDENTIALS.seal(connection.id, json.dumps(credentials, sort_keys=True))
    connection.encrypted_credentials = token
    connection.credentials_hash = fingerprint(token)


def load_credentials(connection: AppConnection) -> dict[str, Any]:
    """The decrypted credentials (`{"apiKey": ...}`)."""
    return open_credentials(connection.id, connection.encrypted_credentials)


def open_credentials(connection_id: str, token: str) -> dict[str, Any]:
    """The decrypted credentials of connection `connection_id` from its sealed column's `token`."""
    return json.loads(CONNECTION_CREDENTIALS.open(connection_id, token))
