"""The `revocation` block of a rotation (keyturn extension, rotation §14k): when a superseded key may be revoked.

Requests may send any subset of the fields: on create the rest come from the server's defaults, on update the
given fields merge into the stored block. Unknown keys are refused (unlike the rest of a rotation body), so a
misspelt safety setting is never silently dropped. The bounds live in app.config, beside the defaults.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, ConfigDict, Field, StrictBool, model_validator
from pydantic_core import PydanticCustomError

from app.config import (
    MAX_HOLD_SECONDS,
    MAX_KEY_LIFETIME_SECONDS,
    MAX_MIN_OVERLAP_SECONDS,
    MAX_QUIET_SECONDS,
    MIN_QUIET_SECONDS,
    REVOCATION_MODES,
    RevocationMode,
)
from app.validation import CamelModel, number_rule, refuse_unknown_keys, value_kind


def _mode(value: Any) -> str:
    if value in REVOCATION_MODES:
        return value
    expected = " | ".join(f"'{mode}'" for mode in REVOCATION_MODES)
    if not isinstance(value, str):
        raise PydanticCustomError("invalid_type", f"Expected {expected}, received {value_kind(value)}")
    raise PydanticCustomError("invalid_enum_value", f"Invalid enum value. Expected {expected}, received '{value}'")


def _seconds(minimum: int, maximum: int, *, nullable: bool = False) -> tuple[Any, Any]:
    """The check with zod's messages, and the same bounds stated in the OpenAPI document."""
    return (
        number_rule(integer=True, minimum=minimum, maximum=maximum, nullable=nullable),
        Field(json_schema_extra={"minimum": minimum, "maximum": maximum}),
    )


Mode = Annotated[RevocationMode, BeforeValidator(_mode)]
MinOverlapSeconds = Annotated[int, *_seconds(0, MAX_MIN_OVERLAP_SECONDS)]
QuietSeconds = Annotated[int, *_seconds(MIN_QUIET_SECONDS, MAX_QUIET_SECONDS)]
MaxHoldSeconds = Annotated[int, *_seconds(0, MAX_HOLD_SECONDS)]
# Its real floor depends on the rotation (2 x interval + maxHoldSeconds + 1 day); the service checks that.
KeyLifetimeSeconds = Annotated[int | None, *_seconds(1, MAX_KEY_LIFETIME_SECONDS, nullable=True)]


class RevocationPolicyInput(CamelModel):
    """What a request may set. Every field is optional; an explicit null is refused except for
    `keyLifetimeSeconds`, where it means keys that never expire."""

    # Unknown keys are refused by `_known_keys_only` first, with zod's wording; this states it in the OpenAPI document.
    model_config = ConfigDict(extra="forbid")

    mode: Mode = None  # type: ignore[assignment]
    min_overlap_seconds: MinOverlapSeconds = None  # type: ignore[assignment]
    hold_while_in_use: StrictBool = None  # type: ignore[assignment]
    quiet_seconds: QuietSeconds = None  # type: ignore[assignment]
    max_hold_seconds: MaxHoldSeconds = None  # type: ignore[assignment]
    key_lifetime_seconds: KeyLifetimeSeconds = None

    @model_validator(mode="before")
    @classmethod
    def _known_keys_only(cls, data: Any) -> Any:
        return refuse_unknown_keys(cls, data)  # reported at the block's own path

    def given(self) -> dict[str, Any]:
        """The fields the request set, by their snake_case names."""
        return {name: getattr(self, name) for name in self.model_fields_set}


class RevocationPolicy(CamelModel):
    """The block as every rotation object returns it: all fields, always present."""

    mode: RevocationMode
    min_overlap_seconds: int
    hold_while_in_use: bool
    quiet_seconds: int
    max_hold_seconds: int
    key_lifetime_seconds: int | None
