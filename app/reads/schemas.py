"""The bodies of the two reads, for the OpenAPI document (consumer §5.2–§5.3, consumer §6).

The reads render their bodies straight to JSON bytes (app.reads.secrets.secret_view), which is what a
cache hit serves; these models describe those bytes, and a test checks that they match.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class SecretRaw(BaseModel):
    """One secret as the SDKs read it; the Python SDK fails without any of the first eleven fields."""

    model_config = ConfigDict(populate_by_name=True)

    id: str
    id_: str = Field(alias="_id", description="The same as `id`.")
    workspace: str = Field(description="The project id.")
    environment: str = Field(description="The environment slug.")
    version: int = Field(description="Starts at 1; one more on every rotation.")
    type: str = Field(description='Always "shared".')
    secretKey: str
    secretValue: str = Field(description='The value, or "<hidden-by-infisical>" with viewSecretValue=false.')
    secretComment: str
    createdAt: str
    updatedAt: str = Field(description="The time of the last rotation or edit.")
    secretValueHidden: bool
    secretPath: str
    skipMultilineEncoding: bool
    secretReminderNote: str | None
    secretReminderRepeatDays: int | None
    tags: list[dict[str, Any]] = Field(description="Always [].")
    secretMetadata: list[dict[str, Any]] = Field(description="Always [].")
    isRotatedSecret: bool
    rotationId: str | None


class SecretResponse(BaseModel):
    secret: SecretRaw


class SecretListResponse(BaseModel):
    secrets: list[SecretRaw]
    imports: list[dict[str, Any]] = Field(description="Always []: keyturn has no secret imports.")
