"""Routes: secret rotations v2 (rotation §2.1, R1-R11, the X1 history and X2 consumers extensions).

The type routes are built once per rotation type of app.catalogue, so every type gets the same endpoints
with its own `parameters` model. Move (R12) is not served (rotation §14j).
"""

# No `from __future__ import annotations`: the per-type routes annotate with models chosen at runtime,
# and FastAPI must see those classes, not strings.

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Body, Path, Query, Response

from app import catalogue
from app.api.deps import NO_STORE, CurrentPrincipal, SessionDep
from app.catalogue import RotationType
from app.schemas.consumers import ConsumersEnvelope
from app.schemas.fields import SecretPath, TrimmedStr
from app.schemas.rotate_now import RotateSecretsBody
from app.schemas.rotations import (
    GeneratedCredentials,
    HistoryEnvelope,
    ProjectId,
    RotationCreate,
    RotationEnvelope,
    RotationListEnvelope,
    RotationOption,
    RotationOptionsEnvelope,
    RotationUpdate,
)
from app.services import consumers_view
from app.services import rotations as service

PREFIX = "/api/v2/secret-rotations"

router = APIRouter(tags=["secret-rotations"])

ProjectIdQuery = Annotated[ProjectId, Query()]
RotationId = Annotated[uuid.UUID, Path()]
StringBool = Annotated[Literal["true", "false"] | None, Query()]


@router.get(f"{PREFIX}/options", operation_id="listSecretRotationOptions")
def list_options(_principal: CurrentPrincipal) -> RotationOptionsEnvelope:
    """R1: every supported rotation type, sorted by name."""
    return RotationOptionsEnvelope(
        secret_rotation_options=[
            RotationOption(**t.option()) for t in sorted(catalogue.rotation_types(), key=lambda t: t.name)
        ]
    )


@router.get(PREFIX, operation_id="listSecretRotations")
def list_all_rotations(
    projectId: ProjectIdQuery, session: SessionDep, principal: CurrentPrincipal
) -> RotationListEnvelope:
    """R2: the project's rotations of every type that the caller may read."""
    return RotationListEnvelope(secret_rotations=service.list_rotations(session, principal, projectId))


def _operation_suffix(rtype: RotationType) -> str:
    return "".join(part.capitalize() for part in rtype.slug.split("-"))  # some-api-key -> SomeApiKey


def type_router(rtype: RotationType) -> APIRouter:
    """R3-R11 and X1 for one rotation type."""
    typed = APIRouter(prefix=f"{PREFIX}/{rtype.slug}", tags=["secret-rotations"])
    op = _operation_suffix(rtype)
    # The bodies are parametrised at runtime by each type's parameter model, which mypy cannot follow.
    create_body = RotationCreate[rtype.parameters_model]  # type: ignore[name-defined]
    update_body = RotationUpdate[rtype.parameters_model]  # type: ignore[name-defined]

    @typed.get("", operation_id=f"list{op}Rotations")
    def list_rotations(
        projectId: ProjectIdQuery, session: SessionDep, principal: CurrentPrincipal
    ) -> RotationListEnvelope:
        return RotationListEnvelope(secret_rotations=service.list_rotations(session, principal, projectId, rtype))

    @typed.get("/rotation-name/{rotationName}", operation_id=f"get{op}RotationByName")
    def get_rotation_by_name(
        rotationName: Annotated[TrimmedStr, Path()],
        projectId: ProjectIdQuery,
        environment: Annotated[TrimmedStr, Query()],
        secretPath: Annotated[SecretPath, Query()],
        session: SessionDep,
        principal: CurrentPrincipal,
    ) -> RotationEnvelope:
        return RotationEnvelope(
            secret_rotation=service.read_by_name(
                session,
                principal,
                rtype,
                name=rotationName,
                project_id=projectId,
                environment=environment,
                secret_path=secretPath,
            )
        )

    @typed.get("/{rotationId}", operation_id=f"get{op}Rotation")
    def get_rotation(rotationId: RotationId, session: SessionDep, principal: CurrentPrincipal) -> RotationEnvelope:
        return RotationEnvelope(secret_rotation=service.read_rotation(session, principal, rtype, str(rotationId)))

    @typed.post("", operation_id=f"create{op}Rotation")
    def create_rotation(body: create_body, session: SessionDep, principal: CurrentPrincipal) -> RotationEnvelope:
        return RotationEnvelope(secret_rotation=service.create_rotation(session, principal, rtype, body))

    @typed.patch("/{rotationId}", operation_id=f"update{op}Rotation")
    def update_rotation(
        rotationId: RotationId, body: update_body, session: SessionDep, principal: CurrentPrincipal
    ) -> RotationEnvelope:
        return RotationEnvelope(
            secret_rotation=service.update_rotation(session, principal, rtype, str(rotationId), body)
        )

    @typed.delete("/{rotationId}", operation_id=f"delete{op}Rotation")
    def delete_rotation(
        rotationId: RotationId,
        session: SessionDep,
        principal: CurrentPrincipal,
        deleteSecrets: StringBool = None,
        revokeGeneratedCredentials: StringBool = None,
    ) -> RotationEnvelope:
        return RotationEnvelope(
            secret_rotation=service.delete_rotation(
                session,
                principal,
                rtype,
                str(rotationId),
                delete_secrets=deleteSecrets == "true",
                revoke=revokeGeneratedCredentials == "true",
            )
        )

    @typed.get(
        "/{rotationId}/generated-credentials",
        operation_id=f"get{op}RotationGeneratedCredentials",
        dependencies=NO_STORE,
    )
    def get_generated_credentials(
        rotationId: RotationId, session: SessionDep, principal: CurrentPrincipal
    ) -> GeneratedCredentials:
        return service.generated_credentials(session, principal, rtype, str(rotationId))

    @typed.post("/{rotationId}/rotate-secrets", operation_id=f"rotate{op}RotationSecrets")
    def rotate_secrets(
        rotationId: RotationId,
        session: SessionDep,
        principal: CurrentPrincipal,
        body: Annotated[RotateSecretsBody | None, Body()] = None,  # Infisical's clients send none
    ) -> RotationEnvelope:
        """R10: rotate now. With `{"revokeSuperseded": true}`, keyturn's emergency rotation (rotation §14l)."""
        revoke = body is not None and body.revoke_superseded
        return RotationEnvelope(
            secret_rotation=service.rotate_now(session, principal, rtype, str(rotationId), revoke_superseded=revoke)
        )

    @typed.post(
        "/{rotationId}/check-credentials",
        operation_id=f"check{op}RotationCredentials",
        status_code=204,
        response_class=Response,
    )
    def check_credentials(rotationId: RotationId, session: SessionDep, principal: CurrentPrincipal) -> Response:
        service.check_credentials(session, principal, rtype, str(rotationId))
        return Response(status_code=204)

    @typed.get("/{rotationId}/history", operation_id=f"get{op}RotationHistory")
    def get_history(rotationId: RotationId, session: SessionDep, principal: CurrentPrincipal) -> HistoryEnvelope:
        history = service.credential_history(session, principal, rtype, str(rotationId))
        return HistoryEnvelope(history=history, rotation_id=str(rotationId), type=rtype.slug)

    @typed.get("/{rotationId}/consumers", operation_id=f"get{op}RotationConsumers")
    def get_consumers(rotationId: RotationId, session: SessionDep, principal: CurrentPrincipal) -> ConsumersEnvelope:
        """X2: who reads the rotation's secret, and which superseded keys are still live and why (rotation §14m)."""
        return consumers_view.consumers_view(session, principal, rtype, str(rotationId))

    return typed


for _rotation_type in catalogue.rotation_types():
    router.include_router(type_router(_rotation_type))
