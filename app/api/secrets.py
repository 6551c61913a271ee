"""Routes: the consumer read API the official Infisical SDKs call (consumer §5–§6).

HTTP only: these hand the bearer token, the caller's IP, the raw query and the conditional header to
app.reads.service and turn its answer into a response. They are `async def` and take the query raw: the
SDKs send unknown and empty parameters that a strict schema would refuse (consumer §2.2), and a cache hit then
costs no thread hop. They are the hot path, so they are PlainRoutes (no per-request FastAPI machinery), and
create_app puts them on the app's own router, first.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from app.api.deps import bearer_token, client_ip
from app.api.plain_route import PlainRoute
from app.api.read_metrics import counts_reads
from app.reads import service
from app.reads.schemas import SecretListResponse, SecretResponse

router = APIRouter(tags=["secrets"], route_class=PlainRoute)

_NO_STORE = "no-store"

_QUERY_DOC: list[dict[str, Any]] = [
    {"name": "secretName", "in": "path", "required": True, "schema": {"type": "string"}}
] + [
    {"name": name, "in": "query", "required": False, "schema": {"type": "string"}}
    for name in (
        "workspaceId",
        "workspaceSlug",
        "projectId",
        "environment",
        "secretPath",
        "viewSecretValue",
        "expandSecretReferences",
        "include_imports",
        "type",
        "version",
    )
]


@router.get(
    "/api/v3/secrets/raw/{secretName}",
    operation_id="getSecretByNameV3",
    openapi_extra={"parameters": _QUERY_DOC},
    response_class=Response,
    responses={
        200: {"model": SecretResponse, "description": "The secret, with its ETag."},
        304: {"description": "The copy named by If-None-Match is current."},
    },
)
@counts_reads("v3")
async def get_secret_by_name(request: Request) -> Response:
    """Read one secret's current value (Python `get_secret_by_name`, Node `getSecret`, Go `Retrieve`)."""
    read = await service.read_secret(
        token=bearer_token(request),
        client_ip=client_ip(request),
        query_string=request.scope["query_string"],
        name=request.path_params["secretName"],
        if_none_match=request.headers.get("if-none-match"),
    )
    headers = {"ETag": read.etag, "Cache-Control": _NO_STORE}
    if read.body is None:
        return Response(status_code=304, headers=headers)
    return Response(read.body, media_type="application/json", headers=headers)


@router.get(
    "/api/v3/secrets/raw",
    operation_id="listSecretsV3",
    openapi_extra={"parameters": _QUERY_DOC[1:]},
    response_class=Response,
    responses={200: {"model": SecretListResponse, "description": "The secrets at the path."}},
)
@counts_reads("v3")
async def list_secrets(request: Request) -> Response:
    """List the secrets at one path (Python `list_secrets`, Node `listSecrets`, Go `List`); `imports` is always []."""
    body = await service.list_secrets(
        token=bearer_token(request), client_ip=client_ip(request), query_string=request.scope["query_string"]
    )
    return Response(body, media_type="application/json", headers={"Cache-Control": _NO_STORE})
