"""Request and response bodies of the secret-rotation API (rotation spec §3.1, §5.5, §5.6).

Validation messages follow Infisical's (zod) wording where the spec gives it. Unknown keys are dropped.
The per-type `parameters` models live here too; app.rotation.types maps each type slug to its model.
"""

from __future__ import annotations

import math
import uuid
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StrictBool
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from app.schemas.fields import SecretName, SecretPath, slug_rule

MAX_ROTATION_INTERVAL = 3650  # ten years in days; bounds every interval unit to something sane


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, tuple)):
        return "array"
    return "object" if isinstance(value, dict) else type(value).__name__


def number_rule(
    *,
    integer: bool,
    minimum: float | None = None,
    maximum: float | None = None,
    exclusive_minimum: bool = False,
    from_string: bool = False,
    nullable: bool = False,
):
    """A before-validator for numbers with zod's codes and messages. `from_string` converts "30" -> 30."""

    def check(value: Any) -> Any:
        if value is None and nullable:
            return None
        if from_string and isinstance(value, str) and value.strip():
            try:
                value = float(value.strip())
            except ValueError:
                raise PydanticCustomError("invalid_type", "Expected number, received nan") from None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise PydanticCustomError("invalid_type", f"Expected number, received {_kind(value)}")
        if isinstance(value, float):
            if not math.isfinite(value):
                raise PydanticCustomError("invalid_type", "Expected number, received infinity")
            if integer:
                if not value.is_integer():
                    raise PydanticCustomError("invalid_type", "Expected integer, received float")
                value = int(value)
        if minimum is not None:
            if exclusive_minimum and value <= minimum:
                raise PydanticCustomError("too_small", f"Number must be greater than {minimum:g}")
            if not exclusive_minimum and value < minimum:
                raise PydanticCustomError("too_small", f"Number must be greater than or equal to {minimum:g}")
        if maximum is not None and value > maximum:
            raise PydanticCustomError("too_big", f"Number must be less than or equal to {maximum:g}")
        return value

    return BeforeValidator(check)


def _key_name(value: Any) -> str:
    if not isinstance(value, str):
        raise PydanticCustomError("invalid_type", f"Expected string, received {_kind(value)}")
    value = value.strip()
    if not value:
        raise PydanticCustomError("too_small", "Key name required")
    if len(value) > 100:
        raise PydanticCustomError("too_big", "Key name must be 100 characters or fewer")
    return value


def _project_id(value: Any) -> str:
    if not isinstance(value, str):
        raise PydanticCustomError("invalid_type", f"Expected string, received {_kind(value)}")
    value = value.strip()
    if not value:
        raise PydanticCustomError("too_small", "Project ID required")
    return value


def _description(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise PydanticCustomError("invalid_type", f"Expected string, received {_kind(value)}")
    value = value.strip()
    if len(value) > 256:
        raise PydanticCustomError("too_big", "Description cannot exceed 256 characters")
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
        raise PydanticCustomError("invalid_type", f"Expected array, received {_kind(value)}")
    if len(value) > 50:
        raise PydanticCustomError("too_big", "At most 50 providers are allowed")
    names = []
    for item in value:
        if not isinstance(item, str) or not item.strip() or len(item.strip()) > 100:
            raise PydanticCustomError("custom", "Each provider must be a name of 1-100 characters")
        names.append(item.strip())
    return names


RotationName = Annotated[str, slug_rule("name")]
EnvironmentSlug = Annotated[str, slug_rule("environment")]
ProjectId = Annotated[str, BeforeValidator(_project_id)]
Description = Annotated[str | None, BeforeValidator(_description)]
KeyName = Annotated[str, BeforeValidator(_key_name)]
RotationInterval = Annotated[int, number_rule(integer=True, minimum=1, maximum=MAX_ROTATION_INTERVAL, from_string=True)]
Hours = Annotated[int, number_rule(integer=True, minimum=0, maximum=23)]
Minutes = Annotated[int, number_rule(integer=True, minimum=0, maximum=59)]
PositiveAmount = Annotated[float | None, number_rule(integer=False, minimum=0, exclusive_minimum=True, nullable=True)]


class CamelModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, validate_by_name=True, validate_by_alias=True)


# --- parameters, one model per rotation type ----------------------------------------------------


class OpenRouterParameters(CamelModel):
    """`name` is the key-name prefix at OpenRouter; keyturn appends a unique suffix (§14c)."""

    name: KeyName
    limit: PositiveAmount = None
    limit_reset: Annotated[Literal["daily", "weekly", "monthly"] | None, BeforeValidator(_limit_reset)] = None
    include_byok_in_limit: StrictBool | None = None


class ARouterParameters(CamelModel):
    name: KeyName
    allowed_providers: Annotated[list[str] | None, BeforeValidator(_provider_names)] = None
    spending_limit: PositiveAmount = None


def stored_parameters(parameters: BaseModel) -> dict[str, Any]:
    """What the row keeps and the API returns: the camelCase keys the caller sent, validated."""
    return parameters.model_dump(by_alias=True, exclude_unset=True)


# --- request bodies -------------------------------------------------------------------------


class SecretsMapping(CamelModel):
    api_key: SecretName


class RotateAtUtc(CamelModel):
    hours: Hours = 0
    minutes: Minutes = 0


P = TypeVar("P", bound=BaseModel)


class RotationCreate(CamelModel, Generic[P]):
    name: RotationName
    project_id: ProjectId
    description: Description = None
    connection_id: Annotated[uuid.UUID, AfterValidator(str)]
    environment: EnvironmentSlug
    secret_path: SecretPath
    is_auto_rotation_enabled: StrictBool = True
    rotation_interval: RotationInterval
    rotate_at_utc: RotateAtUtc = Field(default_factory=RotateAtUtc)
    parameters: P
    secrets_mapping: SecretsMapping


class RotationUpdate(CamelModel, Generic[P]):
    """Every field optional; an explicit null is refused except for `description`.
    connectionId, environment, secretPath and projectId are not fields, so they are dropped (§5.6)."""

    name: RotationName = None  # type: ignore[assignment]
    description: Description = None
    is_auto_rotation_enabled: StrictBool = None  # type: ignore[assignment]
    rotation_interval: RotationInterval = None  # type: ignore[assignment]
    rotate_at_utc: RotateAtUtc = None  # type: ignore[assignment]
    parameters: P = None  # type: ignore[assignment]
    secrets_mapping: SecretsMapping = None  # type: ignore[assignment]


# --- responses ------------------------------------------------------------------------------


class ConnectionRef(CamelModel):
    app: str
    name: str
    id: str


class EnvironmentRef(CamelModel):
    slug: str
    name: str
    id: str


class FolderRef(CamelModel):
    id: str
    path: str


class RotationPublic(CamelModel):
    id: str
    name: str
    description: str | None
    type: str
    parameters: dict[str, Any]
    secrets_mapping: dict[str, str]
    is_auto_rotation_enabled: bool
    active_index: int
    folder_id: str
    connection_id: str
    created_at: str
    updated_at: str
    rotation_interval: int
    rotate_at_utc: RotateAtUtc
    rotation_status: str
    last_rotation_attempted_at: str
    last_rotated_at: str
    last_rotation_job_id: str | None
    next_rotation_at: str | None
    is_last_rotation_manual: bool
    last_rotation_message: str | None
    connection: ConnectionRef
    environment: EnvironmentRef
    project_id: str
    folder: FolderRef


class RotationEnvelope(CamelModel):
    secret_rotation: RotationPublic


class RotationListEnvelope(CamelModel):
    secret_rotations: list[RotationPublic]


class RotationOption(CamelModel):
    name: str
    type: str
    connection: str
    template: dict[str, Any]


class RotationOptionsEnvelope(CamelModel):
    secret_rotation_options: list[RotationOption]


class GeneratedCredentials(CamelModel):
    generated_credentials: list[dict[str, str]]
    active_index: int
    rotation_id: str
    type: str


class HistoryEntry(CamelModel):
    generation: int
    key_name: str
    key_id: str | None
    state: str
    created_at: str
    published_at: str | None
    revoked_at: str | None
    last_error: str | None


class HistoryEnvelope(CamelModel):
    history: list[HistoryEntry]
    rotation_id: str
    type: str
