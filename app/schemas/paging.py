"""Paging and bounds for the list endpoints' query strings (issue 10, B12).

Where Infisical pages a list (identity §7.4: memberships), `offset` and `limit` follow it: offset ≥ 0,
limit 1–1000. Every other list is cut at `LIST_CAP` rows in the SQL itself, in a stable order, so no
request can make the server load a whole table. A value out of range, or not an integer, is Infisical's 422.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import Query
from pydantic import AfterValidator

LIST_CAP = 1000  # Infisical's own upper bound on `limit`; also the most rows any keyturn list returns
MAX_OFFSET = 2**63 - 1  # what OFFSET takes (a BIGINT on PostgreSQL, a 64-bit integer on SQLite)

Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="rows to skip")]
Limit = Annotated[int, Query(ge=1, le=LIST_CAP, description=f"rows to return, at most {LIST_CAP}")]


def _as_utc(value: datetime) -> datetime:
    """A naive time is UTC; an offset one is converted, which fails past the calendar's edge (year 1 at
    +01:00, year 9999 at -01:00): a 422 rather than an OverflowError at the query."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("Date is out of range") from None


UtcDateTime = Annotated[datetime, AfterValidator(_as_utc)]
