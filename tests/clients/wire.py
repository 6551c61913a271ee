"""What the Go clients decode responses into (clients §2.2), written from their structs, and how Go's
encoding/json treats a body: a field of the wrong JSON type fails the whole decode, `null` or an absent field
leaves the zero value, unknown fields are ignored. And resty decodes a body only under a JSON content type.

A struct here is a dict of field name to type: `str`, `int`, `bool`, a nested struct, or a one-item list of
one (a slice). `decode(struct, body)` fails like the client would, and returns what it would keep.
"""

from __future__ import annotations

from typing import Any

import httpx

TAG = {"id": str, "slug": str, "name": str, "color": str}

# Infisical CLI, packages/api/model.go (clients §3.2, clients §4)
CLI_SECRET = {
    "_id": str,
    "version": int,
    "workspace": str,
    "type": str,
    "environment": str,
    "secretKey": str,
    "secretValue": str,
    "secretComment": str,
    "secretPath": str,
    "skipMultilineEncoding": bool,
    "tags": [TAG],
}
CLI_IMPORTED = {"id": str, "workspace": str, "type": str, "secretKey": str, "secretValue": str, "secretComment": str}
CLI_LIST = {
    "secrets": [CLI_SECRET],
    "imports": [{"secretPath": str, "environment": str, "folderId": str, "secrets": [CLI_IMPORTED]}],
}
CLI_GET = {"secret": {name: kind for name, kind in CLI_SECRET.items() if name != "tags"}}
CLI_PROJECT = {"id": str, "name": str, "slug": str}

# Kubernetes operator, internal/api/secrets_v4.go and the model.Project it reads by slug (clients §3.2, clients §6)
OPERATOR_SECRET = {
    "id": str,
    "type": str,
    "environment": str,
    "secretKey": str,
    "secretValue": str,
    "secretPath": str,
}
OPERATOR_LIST = {"secrets": [OPERATOR_SECRET], "imports": [{"secrets": [OPERATOR_SECRET]}]}
OPERATOR_PROJECT = {
    "id": str,
    "name": str,
    "slug": str,
    "orgId": str,
    "environments": [{"name": str, "slug": str, "id": str}],
}

# go-sdk, packages/models/secrets.go (clients §5.2); External Secrets and the operator's InfisicalSecret use it
GO_SECRET = {
    "id": str,
    "workspace": str,
    "environment": str,
    "version": int,
    "type": str,
    "secretKey": str,
    "secretValue": str,
    "secretComment": str,
    "secretPath": str,
    "secretMetadata": [{"key": str, "value": str}],
    "tags": [TAG],
}
GO_LIST = {
    "secrets": [GO_SECRET],
    "imports": [{"secretPath": str, "environment": str, "folderId": str, "secrets": [GO_SECRET]}],
}
GO_GET = {"secret": GO_SECRET}
GO_ERROR = {"message": str, "reqId": str}


def decode(struct: Any, value: Any, where: str = "$") -> Any:
    if value is None:
        return None
    if isinstance(struct, dict):
        assert isinstance(value, dict), f"{where}: a JSON object expected, got {value!r}"
        return {name: decode(kind, value.get(name), f"{where}.{name}") for name, kind in struct.items()}
    if isinstance(struct, list):
        assert isinstance(value, list), f"{where}: a JSON array expected, got {value!r}"
        return [decode(struct[0], item, f"{where}[{n}]") for n, item in enumerate(value)]
    if struct is int:  # a JSON number without a fraction; true/false is not one
        assert isinstance(value, int) and not isinstance(value, bool), f"{where}: an integer expected, got {value!r}"
    else:
        assert isinstance(value, struct), f"{where}: a {struct.__name__} expected, got {value!r}"
    return value


def go_json(response: httpx.Response, struct: Any) -> Any:
    """The body as a resty client with `SetResult(&struct)` sees it: only under a JSON content type."""
    media_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
    assert media_type == "application/json" or media_type.endswith("+json"), media_type
    return decode(struct, response.json())
