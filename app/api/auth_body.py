"""Bodies for login, renew and revoke: JSON or application/x-www-form-urlencoded, as Infisical accepts."""

from __future__ import annotations

import json
from typing import TypeVar
from urllib.parse import parse_qsl

from fastapi import Request
from pydantic import BaseModel, ValidationError

from app.api.errors import validation_issues
from app.errors import ValidationFailure

BodyT = TypeVar("BodyT", bound=BaseModel)


async def parse_body(request: Request, model: type[BodyT]) -> BodyT:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    raw = await request.body()
    if content_type == "application/x-www-form-urlencoded":
        data = dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
    elif not raw.strip():
        data = {}
    else:
        try:
            data = json.loads(raw)
        except ValueError:
            raise ValidationFailure.one([], "Body is not valid JSON", code="invalid_json") from None
        if not isinstance(data, dict):
            raise ValidationFailure.one([], "Expected a JSON object", code="invalid_type")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailure(validation_issues([dict(error) for error in exc.errors()])) from None


def form_or_json(model: type[BaseModel]) -> dict:
    """`openapi_extra` documenting both body encodings."""
    schema = model.model_json_schema()
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": schema},
                "application/x-www-form-urlencoded": {"schema": schema},
            },
        }
    }
