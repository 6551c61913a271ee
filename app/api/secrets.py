"""Routes: the consumer read API the Infisical clients call: v3 as the SDKs and the go-sdk call it
(consumer §5–§6, clients §5), v4 as the CLI, its agent and the operator call it (clients §3–§4).

HTTP only: these hand the bearer token, the caller's IP, the raw query and the conditional header to
app.reads.service and turn its answer into a response: the body with its ETag, or a 304 with the ETag alone.
v3 and v4 share the service; they differ only in the messages of a missing selector. The routes are
`async def` and take the query raw: clients send unknown and empty parameters that a strict schema would
refuse (consumer §2.2), and a cache hit then costs no thread hop. They are the hot path, so they are
PlainRoutes (no per-request FastAPI machinery), and create_app puts them on the app's own router, first.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from app.api.deps import bearer_token, client_ip
from app.api.plain_route import Endpoint, PlainRoute
from app.api.read_metrics import counts_reads
from app.reads import service
from app.reads.schemas import SecretListResponse, SecretResponse
from app.reads.service import V3, V4, ReadApi, SecretResult

router = APIRouter(tags=["secrets"], route_class=PlainRoute)

_NO_STORE = (b"cache-control", b"no-store")
_JSON = (b"content-type", b"application/json")
_NAME = {"name": "secretName", "in": "path", "required": True, "schema": {"type": "string"}}
_PROJECT = ("workspaceId", "projectId", "workspaceSlug", "projectSlug", "environment", "secretPath")
_FLAGS = ("viewSecretValue", "expandSecretReferences", "include_imports", "includeImports")
_GET_ONLY = ("type", "version")
_LIST_ONLY = ("recursive", "tagSlugs", "includePersonalOverrides", "metadataFilter")


def _query_doc(*names: str) -> list[dict[str, Any]]:
    return [{"name": name, "in": "query", "required": False, "schema": {"type": "string"}} for name in names]


_GET_DOC = [_NAME, *_query_doc(*_PROJECT, *_FLAGS, *_GET_ONLY, "includePersonalOverrides")]
_LIST_DOC = _query_doc(*_PROJECT, *_FLAGS, *_LIST_ONLY)
_GET_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": SecretResponse, "description": "The secret, with its ETag."},
    304: {"description": "The copy named by If-None-Match is current."},
}
_LIST_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": SecretListResponse, "description": "The secrets at the path, with their ETag."},
    304: {"description": "The copy named by If-None-Match is current."},
}


class _ReadResponse(Response):
    """A read's answer, its raw headers written directly: Response's own constructor encodes each header again on
    every request. A 304 carries the ETag and Cache-Control only."""

    def __init__(self, read: SecretResult):
        self.background = None
        etag = (b"etag", read.etag.encode())
        if read.body is None:
            self.status_code, self.body = 304, b""
            self.raw_headers = [etag, _NO_STORE]
        else:
            self.status_code, self.body = 200, read.body
            self.raw_headers = [(b"content-length", str(len(read.body)).encode()), _JSON, etag, _NO_STORE]


# Endpoints made per API version: each awaits the service itself, with its version bound, one frame fewer per read.
def _get_endpoint(api: ReadApi) -> Endpoint:
    async def get_secret(request: Request) -> Response:
        return _ReadResponse(
            await service.read_secret(
                token=bearer_token(request),
                client_ip=client_ip(request),
                query_string=request.scope["query_string"],
                name=request.path_params["secretName"],
                if_none_match=request.headers.get("if-none-match"),
                api=api,
            )
        )

    return get_secret


def _list_endpoint(api: ReadApi) -> Endpoint:
    async def list_secrets(request: Request) -> Response:
        return _ReadResponse(
            await service.list_secrets(
                token=bearer_token(request),
                client_ip=client_ip(request),
                query_string=request.scope["query_string"],
                if_none_match=request.headers.get("if-none-match"),
                api=api,
            )
        )

    return list_secrets


def _route(path: str, endpoint: Endpoint, operation_id: str, summary: str, description: str, doc, responses) -> None:
    router.add_api_route(
        path,
        counts_reads(path.split("/")[2])(endpoint),  # keyturn_secret_reads_total{api="v3"|"v4"}
        methods=["GET"],
        operation_id=operation_id,
        summary=summary,
        description=description,
        openapi_extra={"parameters": doc},
        response_class=Response,
        responses=responses,
    )


# The v3 get first: it is the read the SDKs make most.
_route(
    "/api/v3/secrets/raw/{secretName}",
    _get_endpoint(V3),
    "getSecretByNameV3",
    "Get Secret By Name",
    "Read one secret's current value (Python `get_secret_by_name`, Node `getSecret`, Go `Retrieve`).",
    _GET_DOC,
    _GET_RESPONSES,
)
_route(
    "/api/v3/secrets/raw",
    _list_endpoint(V3),
    "listSecretsV3",
    "List Secrets",
    "List the secrets at one path (Python `list_secrets`, Node `listSecrets`, Go `List`); `imports` is always [].",
    _LIST_DOC,
    _LIST_RESPONSES,
)
_route(
    "/api/v4/secrets/{secretName}",
    _get_endpoint(V4),
    "getSecretByNameV4",
    "Get Secret By Name V4",
    "Read one secret's current value (the CLI agent's `getSecretByName`); the v3 read with v4's messages.",
    _GET_DOC,
    _GET_RESPONSES,
)
_route(
    "/api/v4/secrets",
    _list_endpoint(V4),
    "listSecretsV4",
    "List Secrets V4",
    "List the secrets at one path (the CLI's `run`, `export`, `secrets`, the operator's static secrets).",
    _LIST_DOC,
    _LIST_RESPONSES,
)
