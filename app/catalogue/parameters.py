"""The `parameters` model of each rotation type: what a caller may set on the keys a rotation mints.
app.catalogue names each type's model; the providers map these camelCase fields to their wire names."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, StrictBool
from pydantic_core import PydanticCustomError

from app.validation import CamelModel, number_rule, value_kind


def _key_name(value: Any) -> str:
    if not isinstance(value, str):
        raise PydanticCustomError("invalid_type", f"Expected string, received {value_kind(value)}")
    value = value.strip()
    if not value:
        raise PydanticCustomError("too_small", "Key name required")
    if len(value) > 100:
        raise PydanticCustomError("too_big", "Key name must be 100 characters or fewer")
    return value


def _limit_reset(value: Any) -> str | None:
    allowed = ("daily", "weekly", "monthly")
    if value is None or value in allowed:
        return value
    raise PydanticCustomError(
        "invalid_enum_value", f"Invalid enum value. Expected 'daily' | 'weekly' | 'monthly', received '{value}'"
    )


def _provider_names(value: Any) -> list[str] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise PydanticCustomError("invalid_type", f"Expected array, received {value_kind(value)}")
    if len(value) > 50:
        raise PydanticCustomError("too_big", "At most 50 providers are allowed")
    names = []
    for item in value:
        if not isinstance(item, str) or not item.strip() or len(item.strip()) > 100:
            raise PydanticCustomError("custom", "Each provider must be a name of 1-100 characters")
        names.append(item.strip())
    return names


KeyName = Annotated[str, BeforeValidator(_key_name)]
PositiveAmount = Annotated[float | None, number_rule(integer=False, minimum=0, exclusive_minimum=True, nullable=True)]


class OpenRouterParameters(CamelModel):
    """`name` is the key-name prefix at OpenRouter; keyturn appends a unique suffix (rotation §14c)."""

    name: KeyName
    limit: PositiveAmount = None
    limit_reset: Annotated[Literal["daily", "weekly", "monthly"] | None, BeforeValidator(_limit_reset)] = None
    include_byok_in_limit: StrictBool | None = None


class ARouterParameters(CamelModel):
    name: KeyName
    allowed_providers: Annotated[list[str] | None, BeforeValidator(_provider_names)] = None
    spending_limit: PositiveAmount = None
