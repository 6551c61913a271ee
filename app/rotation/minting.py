"""Mint, store and verify one key against an intent that is already committed (rotation §14d, rotation §14e).

The mint is never retried. Every way out of here leaves the intent in a state the rest of the core
knows how to finish: minted (published next), revoking (queued), abandoned, or pending (reconciled later).
"""

from __future__ import annotations

import functools
import logging
from datetime import datetime
from typing import Any

from app import db
from app.models.credential import CredentialState
from app.providers.base import ProviderError
from app.rotation import killpoint, lease, reconcile, revocations
from app.rotation.intents import store_minted, transition
from app.rotation.messages import clip, scrub
from app.rotation.retry import verify_with_retry
from app.rotation.upstream import Upstream
from app.webhooks.events import FailureCategory, category_of_status

log = logging.getLogger("keyturn.minting")


class MintFailed(Exception):
    """The provider refused or could not be reached; `message` is safe to show and store, `category` is what a
    webhook receiver is told (never the provider's text)."""

    def __init__(self, message: str, category: FailureCategory, *, retry_after: float | None = None):
        super().__init__(message)
        self.message = message
        self.category = category
        self.retry_after = retry_after


def mint_and_verify(
    upstream: Upstream,
    cred_id: str,
    key_name: str,
    parameters: dict[str, Any],
    *,
    expires_at: datetime | None = None,
) -> str:
    """Return the new key's plaintext once it is stored (encrypted) and verified; raise MintFailed otherwise.
    `expires_at`: the key dies on its own then (the intent's, from the rotation's key lifetime)."""
    killpoint.reached("after_intent")
    try:
        minted = upstream.mint(key_name, parameters, expires_at=expires_at)
    except ProviderError as exc:
        _close_failed_intent(cred_id, exc)
        category = category_of_status(exc.status, retryable=exc.retryable)
        raise MintFailed(exc.message, category, retry_after=exc.retry_after) from None
    if not store_minted(cred_id, minted):
        revoke_now(cred_id)
        raise MintFailed(
            "the key's intent record was closed by reconciliation before the key was stored",
            FailureCategory.INTERNAL_ERROR,
        )
    killpoint.reached("after_mint")
    log.info("minted key %s as %s", minted.key_id[:12], key_name)
    try:
        verify_with_retry(lambda: upstream.verify(minted.api_key))
    except ProviderError as exc:
        message = scrub(exc.message, [minted.api_key])
        discard(cred_id, f"not published: verification failed: {message}")
        raise MintFailed(message, FailureCategory.VERIFICATION_FAILED, retry_after=exc.retry_after) from None
    killpoint.reached("after_verify")
    return minted.api_key


def _close_failed_intent(cred_id: str, exc: ProviderError) -> None:
    if exc.ambiguous:
        # The provider may have made the key anyway: look for it by its unique name (rotation §14e.3).
        try:
            reconcile.reconcile([cred_id])
        except Exception:  # the worker's reconciler retries a still-pending intent
            log.warning("reconciliation after an ambiguous mint failed; the worker will retry", exc_info=True)
            return
        revoke_now(cred_id)
        return
    with db.unit_of_work() as session:
        transition(
            session, cred_id, [CredentialState.PENDING], state=CredentialState.ABANDONED, last_error=clip(exc.message)
        )


def discard(cred_id: str, reason: str) -> None:
    """A minted key that will not be published: queue its revocation and try it once now."""
    try:
        with db.unit_of_work() as session:
            transition(
                session,
                cred_id,
                [CredentialState.MINTED],
                state=CredentialState.REVOKING,
                slot=None,
                revoke_not_before=db.now(),
                last_error=clip(reason),
            )
    except Exception:  # the row stays `minted`; the reconciler queues it later
        log.warning("could not queue the revocation of an unpublished key; the reconciler will", exc_info=True)
        return
    revoke_now(cred_id)


def revoke_now(
    entry: str | revocations.Claimed,
    *,
    upstream: Upstream | None = None,
    release: tuple[str, str] | None = None,
    may_hold: bool = True,
) -> bool | None:
    """One inline revocation attempt of a queued credential (its id), or of an entry already claimed; any failure
    leaves the entry queued for the worker. True: revoked; False: failed; None: not revoked and not a failure (held
    while in use, or someone else's to try). `release`: (rotation id, lease owner) whose lease the confirmation
    gives back in the same commit, the last write of a run."""
    then = None
    if release is not None:
        rotation_id, owner = release
        then = functools.partial(lease.release_in, rotation_id=rotation_id, owner=owner)
    try:
        if isinstance(entry, str):
            return revocations.attempt(entry)
        return revocations.revoke_claimed(entry, upstream=upstream, then=then, may_hold=may_hold)
    except Exception:
        log.warning("inline revocation failed; the worker will retry", exc_info=True)
        return False
