"""GET /api/status: liveness, the only endpoint that needs no token.

It also reports how far this process's clock is from the database's (a number, nothing secret): past the
limit the status is `clock-skew` instead of `ok`, still with 200, since restarting the process would not
fix the host's clock."""

from fastapi import APIRouter

from app import clock_skew
from app.schemas.status import Status

router = APIRouter()


@router.get("/api/status", operation_id="getStatus")
def get_status() -> Status:
    skew = clock_skew.recent()
    if skew is not None and skew.too_large:
        return Status(
            message=f"{skew.describe()} (limit {skew.limit:g} s)",
            status="clock-skew",
            clockSkewSeconds=skew.seconds,
        )
    return Status(
        message="Ok",
        status="ok",
        clockSkewSeconds=skew.seconds if skew is not None else None,
    )
