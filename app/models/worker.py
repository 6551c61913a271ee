"""Rotation workers that are running: each beats here every poll interval, so any replica can tell whether some
worker is alive (GET /readyz) and how recently each beat (`keyturn_worker_last_heartbeat_timestamp_seconds`)."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel


class WorkerHeartbeat(SQLModel, table=True):
    __tablename__ = "worker_heartbeat"

    # Host name, process id and a random suffix (app.rotation.worker): no secret, it is a metric label.
    id: str = Field(primary_key=True, max_length=128)
    started_at: datetime
    # The database's clock, as every liveness comparison is.
    beat_at: datetime = Field(index=True)
