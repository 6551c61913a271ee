"""Field rules shared by request schemas (rotation §1.4, identity §2.4), and the bases of request and
response bodies."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StrictInt
from pydantic_core import PydanticCustomError

from app.validation import normalise_secret_path

SLUG_RE = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")

# Every integer column keyturn writes from a request is an INTEGER (32-bit on PostgreSQL; SQLite's holds 64), so
# every integer request field stops here: a larger number is a 422, never a driver error at the flush.
INTEGER_MAX = 2**31 - 1


def column_int(minimum: int = 0):
    """A JSON integer (never a string or a float) from `minimum` up to what an INTEGER column holds."""
    return Field(ge=minimum, le=INTEGER_MAX)


ColumnInt = Annotated[StrictInt, column_int()]


def slug_rule(field: str, min_len: int = 1, max_len: int = 64):
    """A validator for Infisical's slug rule with its exact messages; `field` is the name used in them."""

    def check(value: str) -> str:
        if not isinstance(value, str):
            raise ValueError(f"{field} field must be a string")
        value = value.strip()
        if len(value) < min_len:
            raise ValueError(
                f"{field} field must be at least {min_len} lowercase character{'s' if min_len > 1 else ''}"
            )
        if len(value) > max_len:
            raise ValueError(f"{field} field must be at most {max_len} lowercase characters")
        if not SLUG_RE.match(value):
            raise ValueError(f"{field} field can only contain lowercase letters, numbers, and hyphens")
        return value

    return BeforeValidator(check)


def _secret_name(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("Secret name required")
    if ":" in value or "/" in value:
        raise ValueError("Secret name cannot contain colon or forward slash.")
    if len(value) > 256:
        raise ValueError("Secret name must be 256 characters or fewer")
    return value


def _trimmed_nonempty(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("Required")
    return value


SecretPath = Annotated[str, BeforeValidator(normalise_secret_path)]
SecretName = Annotated[str, AfterValidator(_secret_name)]
TrimmedStr = Annotated[str, AfterValidator(_trimmed_nonempty)]


def trimmed(min_len: int, max_len: int):
    """Trim, then check the length with Infisical-style messages and codes."""

    def check(value: str) -> str:
        value = value.strip()
        if "\x00" in value:  # PostgreSQL text cannot store NUL
            raise PydanticCustomError("invalid_string", "String must not contain NUL characters")
        if len(value) < min_len:
            raise PydanticCustomError("too_small", "String must contain at least {n} character(s)", {"n": min_len})
        if len(value) > max_len:
            raise PydanticCustomError("too_big", "String must contain at most {n} character(s)", {"n": max_len})
        return value

    return AfterValidator(check)


class RequestBody(BaseModel):
    """Base of request bodies: unknown keys are dropped, never rejected (Infisical's schemas are not strict)."""

    model_config = ConfigDict(extra="ignore")


class ResponseBody(BaseModel):
    """Base of response objects. A key the model does not declare is an error rather than silently dropped, and a
    field with a default (a constant such as `"projectId": null`) is still listed as always present."""

    model_config = ConfigDict(extra="forbid", json_schema_serialization_defaults_required=True)


class Message(ResponseBody):
    message: str
