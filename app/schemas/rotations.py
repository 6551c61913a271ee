"""Request and response bodies of the secret-rotation API (rotation §3.1, rotation §5.5, rotation §5.6), with
keyturn's `revocation` block (rotation §14k, app.schemas.revocation_policy).

Validation messages follow Infisical's (zod) wording where the spec gives it. Unknown keys are dropped.
The per-type `parameters` models live in app.catalogue.parameters, beside the entries that use them.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Generic, TypeVar

from pydantic import AfterValidator, BaseModel, BeforeValidator, Field, StrictBool
from pydantic_core import PydanticCustomError

from app.schemas.fields import SecretName, SecretPath, slug_rule
from app.schemas.revocation_policy import RevocationPolicy, RevocationPolicyInput
from app.validation import CamelModel, number_rule, value_kind

MAX_ROTATION_INTERVAL = 3650  # ten years in days; bounds every interval unit to something sane


def _project_id(value: Any) -> str:
    if not isinstance(value, str):
        raise PydanticCustomError("invalid_type", f"Expected string, received {value_kind(value)}")
    value = value.strip()
    if not value:
        raise PydanticCustomError("too_small", "Project ID required")
    return value


def _description(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise PydanticCustomError("invalid_type", f"Expected string, received {value_kind(value)}")
    value = value.strip()
    if len(value) > 256:
        raise PydanticCustomError("too_big", "Description cannot exceed 256 characters")
    return value


RotationName = Annotated[str, slug_rule("name")]
EnvironmentSlug = Annotated[str, slug_rule("environment")]
ProjectId = Annotated[str, BeforeValidator(_project_id)]
Description = Annotated[str | None, BeforeValidator(_description)]
RotationInterval = Annotated[int, number_rule(integer=True, minimum=1, maximum=MAX_ROTATION_INTERVAL, from_string=True)]
Hours = Annotated[int, number_rule(integer=True, minimum=0, maximum=23)]
Minutes = Annotated[int, number_rule(integer=True, minimum=0, maximum=59)]


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
    # keyturn extension (rotation §14k): fields left out take the server's defaults.
    revocation: RevocationPolicyInput = Field(default_factory=RevocationPolicyInput)


class RotationUpdate(CamelModel, Generic[P]):
    """Every field optional; an explicit null is refused except for `description`.
    connectionId, environment, secretPath and projectId are not fields, so they are dropped (rotation §5.6)."""

    name: RotationName = None  # type: ignore[assignment]
    description: Description = None
    is_auto_rotation_enabled: StrictBool = None  # type: ignore[assignment]
    rotation_interval: RotationInterval = None  # type: ignore[assignment]
    rotate_at_utc: RotateAtUtc = None  # type: ignore[assignment]
    parameters: P = None  # type: ignore[assignment]
    secrets_mapping: SecretsMapping = None  # type: ignore[assignment]
    revocation: RevocationPolicyInput = None  # type: ignore[assignment]  # merged into the stored block


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
    revocation: RevocationPolicy  # keyturn extension (rotation §14k)


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
    # Issue 12: when it stopped being the active key, and since when and why its revocation was held (kept after
    # the key is revoked, a forced revocation's included).
    superseded_at: str | None
    held_since: str | None
    hold_reason: str | None


class HistoryEnvelope(CamelModel):
    history: list[HistoryEntry]
    rotation_id: str
    type: str
