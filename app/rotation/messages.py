"""Texts the rotation core stores and returns: clipped to the column size and scrubbed of key material.

They are sealed (app.models.sealed.ROTATION_MESSAGE) where they are stored."""

from __future__ import annotations

from collections.abc import Iterable

MAX_MESSAGE = 1024
FAILURE_PREFIX = "keyturn encountered an issue while generating credentials with the configured inputs: "
INTERNAL_FAILURE = "keyturn could not store or publish the new key (internal error); it will be revoked"


def clip(text: str, limit: int = MAX_MESSAGE) -> str:
    """At most `limit` characters; a cut text ends in `...` (Infisical's rule for lastRotationMessage)."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def scrub(text: str, secrets: Iterable[str | None] = ()) -> str:
    """Remove any known plaintext key from a provider's text: providers may echo what they were sent."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    return text


def failure_text(provider_message: str, secrets: Iterable[str | None] = ()) -> str:
    return clip(FAILURE_PREFIX + scrub(provider_message, secrets))
