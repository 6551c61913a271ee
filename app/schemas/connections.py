"""App-connection request bodies and the sanitised `appConnection` object (rotation §3.3, rotation §4).

The bodies are built per app, because Infisical's messages name the app ("Not supported for
<display name> Connections") and each app has its own methods.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Any, ClassVar, Generic, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from app.models import AppConnection
from app.schemas.fields import ResponseBody, slug_rule
from app.schemas.projects import trimmed
from app.timeutil import iso


def _api_key(value: str) -> str:
    value = value.strip()
    if not value:
        raise PydanticCustomError("too_small", "API Key required")
    return value


ApiKey = Annotated[str, AfterValidator(_api_key)]


class ApiKeyCredentials(BaseModel):
    model_config = ConfigDict(extra="ignore")

    apiKey: ApiKey

    def __repr__(self) -> str:  # never show the key in a traceback or a log line
        return "ApiKeyCredentials(apiKey='***')"

    __str__ = __repr__


class _ConnectionBody(BaseModel):
    model_config = ConfigDict(extra="ignore", hide_input_in_errors=True)
    display_name: ClassVar[str] = ""

    description: Annotated[str, trimmed(0, 256)] | None = None
    isPlatformManagedCredentials: Any = None
    gatewayId: Any = None

    @field_validator("isPlatformManagedCredentials")
    @classmethod
    def _not_platform_managed(cls, value: Any) -> Any:
        if value not in (None, False):
            raise PydanticCustomError("custom", "Not supported for {app} Connections", {"app": cls.display_name})
        return value

    @field_validator("gatewayId")
    @classmethod
    def _no_gateway(cls, value: Any) -> Any:
        if value is not None:
            raise PydanticCustomError(
                "custom", "Gateways are not supported for {app} Connections", {"app": cls.display_name}
            )
        return value


class ConnectionCreateBase(_ConnectionBody):
    name: Annotated[str, slug_rule("name")]
    credentials: ApiKeyCredentials
    projectId: Annotated[str, trimmed(1, 64)] | None = None


class ConnectionUpdateBase(_ConnectionBody):
    name: Annotated[str, slug_rule("name")] | None = None
    # Checked by the service, which answers 400 for a badly shaped object (rotation §4.2).
    credentials: Any = None


@lru_cache
def create_schema(app_name: str, methods: tuple[str, ...]) -> type[ConnectionCreateBase]:
    """C7's body for one app: its methods as a literal, its display name in messages."""
    prefix = app_name.replace(" ", "")
    return type(
        f"{prefix}ConnectionCreate",
        (ConnectionCreateBase,),
        {
            "__module__": __name__,
            "__annotations__": {"method": Literal[methods]},
            "display_name": app_name,
        },
    )


@lru_cache
def update_schema(app_name: str) -> type[ConnectionUpdateBase]:
    prefix = app_name.replace(" ", "")
    return type(
        f"{prefix}ConnectionUpdate",
        (ConnectionUpdateBase,),
        {
            "__module__": __name__,
            "display_name": app_name,
        },
    )


class ConnectionPublic(ResponseBody):
    """Sanitised: `credentials` is always `{}`; the hash reveals nothing about the key."""

    id: str
    name: str
    description: str | None
    version: int
    orgId: str
    projectId: str | None = Field(description="null for an organisation-scoped connection")
    createdAt: str
    updatedAt: str
    isPlatformManagedCredentials: bool = False
    gatewayId: None = None
    credentialsHash: str
    app: str
    method: str
    credentials: dict[str, Any] = Field(default_factory=dict, description="always empty")


class AvailableConnection(ResponseBody):
    """C4's short item."""

    app: str
    name: str
    id: str
    projectId: str | None
    orgId: str


class ConnectionOption(ResponseBody):
    name: str
    app: str
    methods: list[str]


class ConnectionEnvelope(ResponseBody):
    appConnection: ConnectionPublic


ConnectionT = TypeVar("ConnectionT", ConnectionPublic, AvailableConnection)


class ConnectionList(ResponseBody, Generic[ConnectionT]):
    appConnections: list[ConnectionT]


class ConnectionOptions(ResponseBody):
    appConnectionOptions: list[ConnectionOption]


def connection_public(connection: AppConnection, org_id: str) -> ConnectionPublic:
    return ConnectionPublic(
        id=connection.id,
        name=connection.name,
        description=connection.description,
        version=connection.version,
        orgId=org_id,
        projectId=connection.project_id,
        createdAt=iso(connection.created_at),
        updatedAt=iso(connection.updated_at),
        credentialsHash=connection.credentials_hash,
        app=connection.app,
        method=connection.method,
    )


def available_public(connection: AppConnection, org_id: str) -> AvailableConnection:
    return AvailableConnection(
        app=connection.app, name=connection.name, id=connection.id, projectId=connection.project_id, orgId=org_id
    )


def app_option(name: str, slug: str, methods: tuple[str, ...]) -> ConnectionOption:
    return ConnectionOption(name=name, app=slug, methods=list(methods))
