"""Input rules below every layer that parses input: zod's type names and number rules (Infisical's
wording), the camelCase base model, and the secret-path rule. The request bodies (app.schemas), the
provider parameter models (app.catalogue.parameters) and the read path's query (app.reads) share them."""

from __future__ import annotations

import math
import re
from typing import Any

from pydantic import BaseModel, BeforeValidator, ConfigDict
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError


def value_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, tuple)):
        return "array"
    return "object" if isinstance(value, dict) else type(value).__name__


def _number(value: float) -> str:
    """A bound as zod prints it: 2592000, never 2.592e+06."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def number_rule(
    *,
    integer: bool,
    minimum: float | None = None,
    maximum: float | None = None,
    exclusive_minimum: bool = False,
    from_string: bool = False,
    nullable: bool = False,
):
    """A before-validator for numbers with zod's codes and messages. `from_string` converts "30" -> 30."""

    def check(value: Any) -> Any:
        if value is None and nullable:
            return None
        if from_string and isinstance(value, str) and value.strip():
            try:
                value = float(value.strip())
            except ValueError:
                raise PydanticCustomError("invalid_type", "Expected number, received nan") from None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise PydanticCustomError("invalid_type", f"Expected number, received {value_kind(value)}")
        if isinstance(value, float):
            if not math.isfinite(value):
                raise PydanticCustomError("invalid_type", "Expected number, received infinity")
            if integer:
                if not value.is_integer():
                    raise PydanticCustomError("invalid_type", "Expected integer, received float")
                value = int(value)
        if minimum is not None:
            if exclusive_minimum and value <= minimum:
                raise PydanticCustomError("too_small", f"Number must be greater than {_number(minimum)}")
            if not exclusive_minimum and value < minimum:
                raise PydanticCustomError("too_small", f"Number must be greater than or equal to {_number(minimum)}")
        if maximum is not None and value > maximum:
            raise PydanticCustomError("too_big", f"Number must be less than or equal to {_number(maximum)}")
        return value

    return BeforeValidator(check)


class CamelModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, validate_by_name=True, validate_by_alias=True)


def refuse_unknown_keys(model: type[BaseModel], data: Any) -> Any:
    """For a `mode="before"` model validator: zod's strict-object refusal of keys the model does not name (by
    alias or by field name), for bodies where a misspelt key must not be silently dropped."""
    if isinstance(data, dict):
        known = {info.alias or name for name, info in model.model_fields.items()} | set(model.model_fields)
        unknown = [key for key in data if key not in known]
        if unknown:
            names = ", ".join(f"'{key}'" for key in unknown)
            raise PydanticCustomError("unrecognized_keys", f"Unrecognized key(s) in object: {names}")
    return data


# Control characters (tab, line feed and carriage return excepted), bidirectional overrides and isolates, lone
# surrogates: text that displays as something else, or that PostgreSQL refuses when it is written.
POISON_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def normalise_secret_path(value: str) -> str:
    """Trim, require at least one character, add a leading `/`, drop one trailing `/` (not from root); refuse
    `.` and `..` segments and control or bidirectional-override characters."""
    if not isinstance(value, str):
        raise ValueError("Secret path must be a string")
    value = value.strip()
    if not value:
        raise ValueError("Secret path required")
    if not value.startswith("/"):
        value = "/" + value
    if len(value) > 1 and value.endswith("/"):
        value = value[:-1]
    if "//" in value or len(value) > 1024:
        raise ValueError("Secret path is not valid")
    # A path names one folder: `.` and `..` would let two spellings reach it, or one climb out of a scope.
    if any(segment in (".", "..") for segment in value.split("/")):
        raise ValueError("Secret path must not contain '.' or '..' segments")
    # The request boundary already refuses these; the rule is stated here too for every other caller.
    if POISON_TEXT.search(value):
        raise ValueError("Secret path must not contain control or bidirectional-override characters")
    return value
