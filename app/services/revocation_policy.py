"""A rotation's revocation policy (rotation §14k): the server's defaults for a new rotation, merging an update into
the stored block, and the key-lifetime rule. The policy lives in the rotation's `revocation_*` columns."""

from __future__ import annotations

from typing import Any

from app.catalogue import RotationType
from app.config import DAY_SECONDS, get_settings
from app.errors import ValidationFailure
from app.models import SecretRotation
from app.schemas.revocation_policy import RevocationPolicy, RevocationPolicyInput

FIELDS = tuple(RevocationPolicy.model_fields)  # snake_case; column = "revocation_" + field
LIFETIME_PATH = ["revocation", "keyLifetimeSeconds"]


def server_defaults(rtype: RotationType) -> dict[str, Any]:
    """KEYTURN_REVOCATION_* now; a type whose keys cannot expire gets no lifetime whatever the server says."""
    settings = get_settings()
    policy = {name: getattr(settings, f"revocation_{name}") for name in FIELDS}
    if not rtype.key_expiry:
        policy["key_lifetime_seconds"] = None
    return policy


def columns(policy: dict[str, Any]) -> dict[str, Any]:
    """The block as the rotation row's column values."""
    return {f"revocation_{name}": value for name, value in policy.items()}


def stored(rotation: SecretRotation) -> dict[str, Any]:
    return {name: getattr(rotation, f"revocation_{name}") for name in FIELDS}


def view(rotation: SecretRotation) -> RevocationPolicy:
    return RevocationPolicy(**stored(rotation))


def for_new_rotation(rtype: RotationType, given: RevocationPolicyInput, interval: int) -> dict[str, Any]:
    """R6: the fields the caller sent over the server's defaults, checked (422). Returns the block to store."""
    policy = {**server_defaults(rtype), **given.given()}
    from_server = "key_lifetime_seconds" not in given.model_fields_set
    check_key_lifetime(rtype, policy, interval, from_server=from_server)
    return policy


def apply_update(
    rotation: SecretRotation, rtype: RotationType, given: RevocationPolicyInput | None, *, interval_changed: bool
) -> None:
    """R7, on the row under its lease after the other fields are applied: merge the given fields into the stored
    block. The lifetime rule is checked again whenever a number it depends on changed (422)."""
    update = given.given() if given is not None else {}
    if not update and not interval_changed:
        return
    policy = {**stored(rotation), **update}
    check_key_lifetime(rtype, policy, rotation.rotation_interval)
    for column, value in columns(update).items():
        setattr(rotation, column, value)


def minimum_key_lifetime(interval: int, max_hold_seconds: int, unit_seconds: int) -> int:
    """A key must outlive two intervals (active, then superseded), the longest hold and a day's slack for the
    schedule's padding (rotation §7), in seconds."""
    return 2 * interval * unit_seconds + max_hold_seconds + DAY_SECONDS


def check_key_lifetime(
    rtype: RotationType, policy: dict[str, Any], interval: int, *, from_server: bool = False
) -> None:
    lifetime = policy["key_lifetime_seconds"]
    if lifetime is None:
        return
    if not rtype.key_expiry:
        raise ValidationFailure.one(
            LIFETIME_PATH,
            f"{rtype.app_name} keys cannot expire, so {rtype.name} rotations take no keyLifetimeSeconds (send null)",
        )
    minimum = minimum_key_lifetime(interval, policy["max_hold_seconds"], get_settings().interval_unit_seconds)
    if lifetime >= minimum:
        return
    message = (
        f"keyLifetimeSeconds must be at least {minimum} for this rotation "
        "(2 x rotationInterval in seconds + maxHoldSeconds + 86400)"
    )
    if from_server:
        default = "KEYTURN_REVOCATION_KEY_LIFETIME_SECONDS"
        message += f"; {lifetime} is the server default ({default}): send a longer one, or null"
    raise ValidationFailure.one(LIFETIME_PATH, message, code="too_small")
