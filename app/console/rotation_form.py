"""A rotation's form fields as the API's request bodies: R6's for the create form, R7's for the edit form.

The bodies are then validated by the API's own models, so a value a person types wrongly is refused in the
API's words. Fields are sent as typed (a number field holding "abc" stays a string) for the same reason.
"""

from __future__ import annotations

import json
from typing import Any

from app.console.web import number
from app.schemas.rotations import RotationPublic

# The policy's numbers: form field (its snake_case name in RevocationPolicy) -> the API's `revocation` key.
REVOCATION_FIELDS = {
    "min_overlap_seconds": "minOverlapSeconds",
    "quiet_seconds": "quietSeconds",
    "max_hold_seconds": "maxHoldSeconds",
}


def _parameters(form: dict[str, str]) -> Any:
    """The key-name prefix plus the optional JSON object of the type's other parameters."""
    parameters: Any = {}
    extra = form.get("parameters_json", "").strip()
    if extra:
        try:
            parameters = json.loads(extra)
        except ValueError:
            parameters = extra  # the model refuses it in its own words ("Expected object")
    if isinstance(parameters, dict) and form.get("key_name", "").strip():
        parameters = {**parameters, "name": form["key_name"]}
    return parameters


def _settings(form: dict[str, str]) -> dict[str, Any]:
    """The fields R6 and R7 share."""
    return {
        "name": form.get("name", ""),
        "isAutoRotationEnabled": form.get("auto") == "true",
        "rotationInterval": form.get("interval", ""),
        "rotateAtUtc": {"hours": number(form.get("hours")), "minutes": number(form.get("minutes"))},
        "parameters": _parameters(form),
        "secretsMapping": {"apiKey": form.get("secret_name", "")},
    }


def create_body(form: dict[str, str]) -> dict[str, Any]:
    """R6's JSON body; empty optional fields are left out, as a client would."""
    body = {
        **_settings(form),
        "projectId": form.get("project_id", ""),
        "connectionId": form.get("connection_id", ""),
        "environment": form.get("environment", ""),
        "secretPath": form.get("secret_path", ""),
    }
    if form.get("description", "").strip():
        body["description"] = form["description"]
    if form.get("revocation_mode"):
        body["revocation"] = {"mode": form["revocation_mode"]}
    return body


def _revocation(form: dict[str, str], key_expiry: bool) -> dict[str, Any]:
    block: dict[str, Any] = {"mode": form.get("revocation_mode", "")}
    block.update({key: number(form.get(field)) for field, key in REVOCATION_FIELDS.items()})
    block["holdWhileInUse"] = form.get("hold_while_in_use") == "true"
    if key_expiry:  # empty: keys that never expire
        lifetime = form.get("key_lifetime_seconds", "").strip()
        block["keyLifetimeSeconds"] = number(lifetime) if lifetime else None
    return block


def _edit_fields(form: dict[str, str], key_expiry: bool) -> dict[str, Any]:
    return {
        **_settings(form),
        "description": form.get("description", "").strip() or None,
        "revocation": _revocation(form, key_expiry),
    }


def update_body(form: dict[str, str], stored: dict[str, str], *, key_expiry: bool) -> dict[str, Any]:
    """R7's JSON body with only what the person changed (`stored` is the form as the page first showed it),
    so the audit entry names the changed fields and an untouched field is never re-validated."""
    new, old = _edit_fields(form, key_expiry), _edit_fields(stored, key_expiry)
    body = {key: value for key, value in new.items() if key != "revocation" and value != old[key]}
    revocation = {key: value for key, value in new["revocation"].items() if value != old["revocation"][key]}
    if revocation:
        body["revocation"] = revocation
    return body


def edit_form(rotation: RotationPublic) -> dict[str, str]:
    """The edit form's fields, filled from the stored rotation."""
    parameters = dict(rotation.parameters)
    key_name = str(parameters.pop("name", ""))
    policy = rotation.revocation
    return {
        "name": rotation.name,
        "description": rotation.description or "",
        "interval": str(rotation.rotation_interval),
        "hours": str(rotation.rotate_at_utc.hours),
        "minutes": str(rotation.rotate_at_utc.minutes),
        "auto": "true" if rotation.is_auto_rotation_enabled else "",
        "key_name": key_name,
        "parameters_json": json.dumps(parameters) if parameters else "",
        "secret_name": rotation.secrets_mapping.get("apiKey", ""),
        "revocation_mode": policy.mode,
        **{field: str(getattr(policy, field)) for field in REVOCATION_FIELDS},
        "hold_while_in_use": "true" if policy.hold_while_in_use else "",
        "key_lifetime_seconds": "" if policy.key_lifetime_seconds is None else str(policy.key_lifetime_seconds),
    }
