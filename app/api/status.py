"""GET /api/status: liveness, the only endpoint that needs no token."""

from fastapi import APIRouter

router = APIRouter()


@router.get("/api/status", operation_id="getStatus")
def get_status() -> dict:
    return {"message": "Ok", "date": None, "status": "ok"}
