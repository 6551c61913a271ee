"""Domain errors. Each carries its HTTP status and Infisical error name; one handler renders them.

This module imports nothing from app, so every layer may raise these.
"""

from __future__ import annotations

from typing import Any


class AppError(Exception):
    status_code = 500
    error = "InternalServerError"

    def __init__(self, message: Any = "Something went wrong", *, details: list | dict | None = None):
        super().__init__(message)
        self.message = message
        self.details = details

    def headers(self) -> dict[str, str] | None:
        """Response headers this error asks for (none by default)."""
        return None

    def body(self) -> dict[str, Any]:
        body = {"statusCode": self.status_code, "message": self.message, "error": self.error}
        if self.details is not None:
            body["details"] = self.details
        return body


class BadRequest(AppError):
    status_code = 400
    error = "BadRequest"


class Unauthorized(AppError):
    status_code = 401
    error = "UnauthorizedError"


class PermissionDenied(AppError):
    status_code = 403
    error = "PermissionDenied"


class ForbiddenIp(AppError):
    status_code = 403
    error = "ForbiddenError"


class NotFound(AppError):
    status_code = 404
    error = "NotFound"


class ValidationFailure(AppError):
    """`message` is the list of issues: [{code, message, path}]."""

    status_code = 422
    error = "ValidationFailure"

    @classmethod
    def one(cls, path: list, message: str, code: str = "custom") -> ValidationFailure:
        return cls([{"code": code, "message": message, "path": path}])


class TooManyRequests(AppError):
    """A rate limit refused the request; the client may retry after `retry_after` whole seconds.

    With a `limit`, the x-ratelimit-* headers go too, as Infisical's limiter sends them on a refusal: the limit,
    nothing remaining, and the reset (the same wait as Retry-After, as in Infisical's fixed window)."""

    status_code = 429
    error = "RateLimitExceeded"

    def __init__(self, retry_after: int, *, limit: int | None = None):
        self.retry_after = max(1, retry_after)
        self.limit = limit
        super().__init__(f"Rate limit exceeded. Please try again in {self.retry_after} seconds")

    def headers(self) -> dict[str, str]:
        headers = {"Retry-After": str(self.retry_after)}
        if self.limit is not None:
            headers |= {
                "x-ratelimit-limit": str(self.limit),
                "x-ratelimit-remaining": "0",
                "x-ratelimit-reset": str(self.retry_after),
            }
        return headers


class TooManyStreams(AppError):
    """Too many event streams open for one caller in one project (clients §7.2): no Retry-After, as Infisical."""

    status_code = 429
    error = "RateLimitExceeded"


class ProviderFailure(AppError):
    """A provider failure surfaced by a manual rotation (rotation §14b)."""

    status_code = 502
    error = "ProviderError"
