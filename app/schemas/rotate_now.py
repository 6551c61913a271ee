"""The optional body of rotate-now (R10): keyturn's emergency rotation (rotation §14l).

Infisical's clients send no body; no body, `{}` and `{"revokeSuperseded": false}` are all a plain rotate-now.
Unknown keys are refused, not dropped: a misspelt `revokeSuperseded` must not quietly leave old keys live.
"""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field, StrictBool, model_validator

from app.validation import CamelModel, refuse_unknown_keys


class RotateSecretsBody(CamelModel):
    # Unknown keys are refused by `_known_keys_only` first, with zod's wording; this states it in the OpenAPI document.
    model_config = ConfigDict(extra="forbid")

    revoke_superseded: StrictBool = Field(
        default=False,
        description=(
            "Emergency rotation (project admins only): after the new key is published, revoke every other live key "
            "of the rotation at once, ignoring the minimum overlap and any hold. 502 if the provider has not "
            "confirmed every revocation; those keys stay queued."
        ),
    )

    @model_validator(mode="before")
    @classmethod
    def _known_keys_only(cls, data: Any) -> Any:
        return refuse_unknown_keys(cls, data)
