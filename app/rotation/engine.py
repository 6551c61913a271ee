"""The rotation engine: the only code that mints and revokes keys. (Interface; being built.)

Create, rotate-now, the worker and delete all come through here. Every function takes its own
sessions from app.db (it commits intent records before provider calls, so it cannot share the
caller's transaction).
"""

from __future__ import annotations

from collections.abc import Callable

from sqlmodel import Session

from app.models import SecretRotation


def create_rotation(rotation: SecretRotation, *, secret_name: str, recheck: Callable[[Session], None]) -> SecretRotation:
    """Mint generation 1 for a not-yet-saved rotation (its id already chosen), verify it, then in one
    transaction call `recheck(session)` (raises BadRequest on a conflict), insert the rotation, create
    the mapped secret (version 1) and mark the credential active in slot 0. A provider failure raises
    BadRequest (400) and queues the revocation of anything minted. Returns the saved rotation."""
    raise NotImplementedError


def rotate(rotation_id: str, *, manual: bool, job_id: str | None = None) -> SecretRotation:
    """One rotation under the lease. Manual: BadRequest (400) if the lease is held; ProviderFailure (502)
    on a provider failure (the row is marked failed). Scheduled: returns after recording the attempt."""
    raise NotImplementedError


def check_credentials(rotation_id: str) -> None:
    """Verify the active key with the provider; BadRequest (400) with the spec's messages otherwise."""
    raise NotImplementedError


def delete_rotation(rotation_id: str, *, delete_secrets: bool, revoke: bool) -> SecretRotation:
    """Under the lease: optionally revoke every live key first (400 and nothing deleted on failure), then
    delete the rotation (and its secret if asked) in one transaction. Returns the row as it was."""
    raise NotImplementedError
