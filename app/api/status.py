"""GET /api/status: liveness, the only endpoint that needs no token."""

from fastapi import APIRouter

from app.schemas.status import Status

router = APIRouter()


@router.get("/api/status", operation_id="getStatus")
def get_status() -> Status:
    return Status(message="Ok", status="ok")
