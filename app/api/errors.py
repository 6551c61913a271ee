"""Render every failure in Infisical's error shape: {reqId, statusCode, message, error}."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.errors import AppError
from app.logcontext import current_request_id

log = logging.getLogger("keyturn.api")

_HTTP_ERROR_NAMES = {
    400: "BadRequest",
    401: "UnauthorizedError",
    403: "PermissionDenied",
    404: "NotFound",
    405: "MethodNotAllowed",
    413: "PayloadTooLarge",
    415: "UnsupportedMediaType",
    429: "RateLimitExceeded",
}


def error_response(status: int, error: str, message, details: list | dict | None = None, headers=None) -> JSONResponse:
    body = {"reqId": current_request_id(), "statusCode": status, "message": message, "error": error}
    if details is not None:
        body["details"] = details
    return JSONResponse(body, status_code=status, headers=headers)


def validation_issues(errors: Sequence[Mapping[str, Any]]) -> list[dict]:
    """Pydantic errors -> Infisical issues, with the `body`/`query`/`path` prefix dropped from paths."""
    issues = []
    for err in errors:
        loc = list(err.get("loc", ()))
        if loc and loc[0] in ("body", "query", "path", "header"):
            loc = loc[1:]
        message = err.get("msg", "Invalid input")
        if message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        code = err.get("type", "custom")
        if code == "missing":  # Infisical's (zod's) wording for an absent required field
            code, message = "invalid_type", "Required"
        issues.append({"code": code, "message": message, "path": loc})
    return issues


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(AppError)
    async def _app_error(_request: Request, exc: AppError) -> JSONResponse:
        if exc.status_code >= 500:
            log.error("request failed: %s %s", exc.error, exc.message)
        return error_response(exc.status_code, exc.error, exc.message, exc.details, headers=exc.headers())

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(422, "ValidationFailure", validation_issues(list(exc.errors())))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        name = _HTTP_ERROR_NAMES.get(exc.status_code, "BadRequest" if exc.status_code < 500 else "InternalServerError")
        message = exc.detail if isinstance(exc.detail, str) else "Request failed"
        if exc.status_code == 404 and message == "Not Found":
            message = "Route not found"
        return error_response(exc.status_code, name, message, headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
        # Log the type only: exception text from drivers or providers can carry secrets.
        log.error("unhandled %s", type(exc).__name__, exc_info=False)
        return error_response(500, "InternalServerError", "Something went wrong")
