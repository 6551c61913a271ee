"""A connection's credentials may change while keys minted under them are live only if the new credentials can
see every one of those keys (issue 10 A7).

A provider's 404 means "not known to these credentials". Pointed at another account, a connection would read
every revocation of an old key as done while the key lives on, and could never revoke it. So before the change,
each live key that the new credentials do not already answer for is looked up with them; the change is refused
unless every one is seen, and the keys that were seen are then recorded as answered for by the new credentials.
A key still being minted under the old credentials cannot be looked up (its id is not known yet), and a listing
under the new ones might miss it for good, so the change waits until it is settled."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import func, or_, update
from sqlmodel import Session, col, select

from app.errors import BadRequest
from app.models import AppConnection, RotationCredential
from app.models.credential import CredentialState
from app.providers.base import ProviderError
from app.rotation.upstream import ConnectionUnavailable, credentials_fingerprint, with_credentials

log = logging.getLogger("keyturn.connections")

# Keys that exist at the provider and are still keyturn's to revoke.
LIVE_STATES = (CredentialState.ACTIVE, CredentialState.INACTIVE, CredentialState.MINTED, CredentialState.REVOKING)


def _keys(count: int) -> str:
    return f"{count} key" if count == 1 else f"{count} keys"


def hand_over_live_keys(session: Session, connection: AppConnection, credentials: dict[str, Any]) -> None:
    """Raise BadRequest, having written nothing, unless `credentials` can see every live key of the connection
    minted under other credentials; then record them as the keys' credentials (in the caller's transaction)."""
    new_fingerprint = credentials_fingerprint(credentials)
    under_others = (
        RotationCredential.connection_id == connection.id,
        or_(
            col(RotationCredential.credential_fingerprint).is_(None),
            col(RotationCredential.credential_fingerprint) != new_fingerprint,
        ),
    )
    prefix = f"Cannot change the credentials of App Connection with ID {connection.id}"
    minting = session.exec(
        select(func.count())
        .select_from(RotationCredential)
        .where(*under_others, col(RotationCredential.state) == CredentialState.PENDING)
    ).one()
    if minting:
        raise BadRequest(
            f"{prefix}: {_keys(minting)} {'is' if minting == 1 else 'are'} still being minted under the current "
            "credentials. Try again once the rotation has finished."
        )
    others = session.exec(
        select(RotationCredential.id, RotationCredential.key_id).where(
            *under_others,
            col(RotationCredential.state).in_(LIVE_STATES),
            col(RotationCredential.key_id).is_not(None),
        )
    ).all()
    if not others:
        return
    unseen = 0
    try:
        upstream = with_credentials(connection, credentials)
        for _, key_id in others:
            if not upstream.sees_key(key_id or ""):
                unseen += 1
    except (ProviderError, ConnectionUnavailable) as exc:
        reason = exc.message if isinstance(exc, ProviderError) else str(exc)
        log.info("credential change of connection %s refused: check failed (%s)", connection.id, reason)
        raise BadRequest(
            f"{prefix}: could not confirm that the new API key can see the {_keys(len(others))} minted under the "
            f"current credentials that are still live ({reason}). Try again later."
        ) from None
    if unseen:
        log.info("credential change of connection %s refused: %s unseen by the new key", connection.id, _keys(unseen))
        raise BadRequest(
            f"{prefix}: the new API key cannot see {_keys(unseen)} minted under the current credentials that "
            f"{'is' if unseen == 1 else 'are'} still live, so keyturn could no longer revoke "
            f"{'it' if unseen == 1 else 'them'}. Use a key of the same account, or let those keys be revoked first."
        )
    session.execute(
        update(RotationCredential)
        .where(col(RotationCredential.id).in_([cred_id for cred_id, _ in others]))
        .values(credential_fingerprint=new_fingerprint)
        .execution_options(synchronize_session=False)
    )
