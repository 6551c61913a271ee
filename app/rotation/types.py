"""The registry of rotation types: what each type is called, which app connection it needs, what
parameters it takes and what secrets it maps. The API is generic over this registry, so adding a
provider's rotation type is one entry here (plus its provider in app.providers).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from app.schemas.rotations import ARouterParameters, OpenRouterParameters

# Display names of the app-connection apps, used in messages ("OpenRouter Connection with ID ...").
APP_NAMES = {"open-router": "OpenRouter", "arouter": "ARouter"}


@dataclass(frozen=True)
class RotationType:
    slug: str  # URL segment and `type` field, e.g. "open-router-api-key"
    name: str  # display name, e.g. "OpenRouter API Key"
    app: str  # the app-connection app it mints with, e.g. "open-router"
    parameters_model: type[BaseModel]
    secrets_mapping_template: dict[str, str] = field(default_factory=dict)
    # Field names of a generated credential in R9: both types use Infisical's {apiKey, keyHash}, so
    # clients need one parser; for ARouter `keyHash` holds the provider's key id (`key_abc123`).
    credential_fields: tuple[str, str] = ("apiKey", "keyHash")

    @property
    def app_name(self) -> str:
        return APP_NAMES.get(self.app, self.app)

    def option(self) -> dict[str, Any]:
        """The R1 options item."""
        return {
            "name": self.name,
            "type": self.slug,
            "connection": self.app,
            "template": {"secretsMapping": dict(self.secrets_mapping_template)},
        }


OPENROUTER_API_KEY = RotationType(
    slug="open-router-api-key",
    name="OpenRouter API Key",
    app="open-router",
    parameters_model=OpenRouterParameters,
    secrets_mapping_template={"apiKey": "OPEN_ROUTER_API_KEY"},
)

AROUTER_API_KEY = RotationType(
    slug="arouter-api-key",
    name="ARouter API Key",
    app="arouter",
    parameters_model=ARouterParameters,
    secrets_mapping_template={"apiKey": "AROUTER_API_KEY"},
)

ROTATION_TYPES: dict[str, RotationType] = {t.slug: t for t in (OPENROUTER_API_KEY, AROUTER_API_KEY)}


def rotation_type(slug: str) -> RotationType | None:
    return ROTATION_TYPES.get(slug)


def types_by_name() -> list[RotationType]:
    return sorted(ROTATION_TYPES.values(), key=lambda t: t.name)
