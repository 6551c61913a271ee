"""`keys.expiring` (issue 14): the worker notes each active key whose expiry makes its rotation due (its rotation's
`expiry_due_at` has passed, app.rotation.schedule), once per key, claimed by a conditional UPDATE so that several
workers send it once between them."""

from __future__ import annotations

from sqlalchemy import update
from sqlmodel import col, select

from app import db
from app.models import RotationCredential, SecretRotation
from app.models.credential import CredentialState
from app.models.tables import CREDENTIALS
from app.rotation import notices

C = CREDENTIALS.c


def note_expiring(limit: int = 50) -> int:
    """Emit `keys.expiring` for up to `limit` keys not yet noted; returns how many."""
    statement = (
        select(RotationCredential, SecretRotation)
        .join(SecretRotation, col(SecretRotation.id) == RotationCredential.rotation_id)
        .where(
            col(RotationCredential.state) == CredentialState.ACTIVE,
            col(RotationCredential.expires_at).is_not(None),
            col(RotationCredential.expiry_notified_at).is_(None),
            col(SecretRotation.expiry_due_at) <= db.now(),
        )
        .limit(limit)
    )
    noted = 0
    with db.unit_of_work() as session:
        for cred, rotation in session.exec(statement).all():
            first = update(CREDENTIALS).where(C.id == cred.id, C.expiry_notified_at.is_(None))
            if notices.claimed(session, first.values(expiry_notified_at=db.now())):
                notices.key_expiring(session, rotation, cred)
                noted += 1
    return noted
