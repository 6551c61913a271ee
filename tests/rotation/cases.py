"""One provider as the engine tests see it: its emulator, a connection made through the API, its rotation
type and parameters, and where its faults go. The engine tests take `provider_case` and run once per
provider, so a provider difference shows up as a failing engine test, not as a copy of one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from emulators import arouter as arouter_emulator
from emulators import openrouter as openrouter_emulator
from emulators.server import EmulatorServer

PROVIDERS = ["open-router", "arouter"]


@dataclass(frozen=True)
class ProviderSpec:
    """What differs between providers, as data."""

    app: str  # app-connection slug
    display_name: str  # as it appears in messages ("Failed to create OpenRouter API key: ...")
    rotation_type: str
    parameters: dict[str, Any]  # valid parameters for the rotation type, camelCase as the API takes them
    secret_name: str
    paths: dict[str, tuple[str, str]]  # operation -> (method, path regex) for fault injection
    id_field: str  # the key id in the emulator's list form
    limit_field: str  # where the emulator's list form shows the spending limit
    key_prefix: str  # how a minted (non-admin) key starts: never in a log line
    messages: dict[int, str]  # the emulator's default error text per status


SPECS = {
    "open-router": ProviderSpec(
        app="open-router",
        display_name="OpenRouter",
        rotation_type="open-router-api-key",
        parameters={"name": "my-app-key", "limit": 100, "limitReset": "monthly", "includeByokInLimit": False},
        secret_name="OPEN_ROUTER_API_KEY",
        paths={
            "mint": ("POST", r"/keys$"),
            "verify": ("GET", r"/key$"),
            "revoke": ("DELETE", r"/keys/"),
            "list": ("GET", r"/keys$"),
        },
        id_field="hash",
        limit_field="limit",
        key_prefix="sk-or-v1-",
        messages=openrouter_emulator.MESSAGES,
    ),
    "arouter": ProviderSpec(
        app="arouter",
        display_name="ARouter",
        rotation_type="arouter-api-key",
        parameters={"name": "my-app-key", "allowedProviders": ["openai", "anthropic"], "spendingLimit": 50},
        secret_name="AROUTER_API_KEY",
        paths={
            "mint": ("POST", r"/v1/keys$"),
            "verify": ("GET", r"/v1/models$"),
            "revoke": ("DELETE", r"/v1/keys/"),
            "list": ("GET", r"/v1/keys$"),
        },
        id_field="id",
        limit_field="spending_limit",
        key_prefix="lr_live_",
        messages=arouter_emulator.MESSAGES,
    ),
}


@dataclass
class ProviderCase:
    spec: ProviderSpec
    emulator: EmulatorServer
    project: dict
    connection: dict  # the API's appConnection object
    management_key: str = field(repr=False)

    @property
    def app(self) -> str:
        return self.spec.app

    @property
    def display_name(self) -> str:
        return self.spec.display_name

    @property
    def rotation_type(self) -> str:
        return self.spec.rotation_type

    @property
    def parameters(self) -> dict[str, Any]:
        return dict(self.spec.parameters)

    @property
    def secret_name(self) -> str:
        return self.spec.secret_name

    @property
    def key_prefix(self) -> str:
        return self.spec.key_prefix

    def fault(self, operation: str, **options: Any) -> None:
        """Inject a fault into one provider operation: "mint", "verify", "revoke" or "list"."""
        method, path_regex = self.spec.paths[operation]
        self.emulator.add_fault(method, path_regex, **options)

    def live_keys(self) -> list[dict]:
        return self.emulator.live_keys()

    def live_ids(self) -> set[str]:
        return {k[self.spec.id_field] for k in self.emulator.live_keys()}

    def live_names(self) -> set[str]:
        return {k["name"] for k in self.emulator.live_keys()}

    def key_works(self, api_key: str) -> bool:
        return self.emulator.key_works(api_key)

    @property
    def create_count(self) -> int:
        return self.emulator.create_count

    def error(self, operation: str, status: int) -> str:
        """The message the engine stores for a provider operation that the emulator answered `status`."""
        prefix = {
            "mint": f"Failed to create {self.display_name} API key",
            "verify": f"{self.display_name} API key verification failed",
            "revoke": f"Failed to delete {self.display_name} API key",
        }[operation]
        return f"{prefix}: {self.spec.messages[status]}"


@pytest.fixture(params=PROVIDERS)
def provider_case(request, client, project, openrouter, arouter) -> ProviderCase:
    """Each engine test runs once per provider: the emulator (reset), a project, and a connection for
    that app created through the API with a management key from that emulator."""
    spec = SPECS[request.param]
    emulator = {"open-router": openrouter, "arouter": arouter}[request.param]
    management_key = emulator.create_management_key()
    response = client.post(
        f"/api/v1/app-connections/{spec.app}",
        json={
            "name": f"my-{spec.app}-connection",
            "method": "api-key",
            "projectId": project["id"],
            "credentials": {"apiKey": management_key},
        },
    )
    assert response.status_code == 200, response.text
    return ProviderCase(
        spec=spec,
        emulator=emulator,
        project=project,
        connection=response.json()["appConnection"],
        management_key=management_key,
    )
