"""openapi/openapi.json is generated from the app and must be kept in sync (`keyturn openapi`), and every response
with a body is typed."""

import json

from app.openapi import DEFAULT_PATH, render_openapi

NO_BODY = {"204", "304"}


def test_openapi_document_is_up_to_date():
    assert DEFAULT_PATH.exists(), "run `keyturn openapi` to generate openapi/openapi.json"
    assert DEFAULT_PATH.read_text() == render_openapi(), "openapi/openapi.json is stale: run `keyturn openapi`"


def _typed(schema: dict | None) -> bool:
    """`{}` (a route answering a bare Response) and a free-form object (a route returning `dict`) say nothing."""
    if not schema:
        return False
    free_form = schema.get("type") == "object" and "properties" not in schema
    return not (free_form and schema.get("additionalProperties", True) in (True, {}))


def untyped_success_responses(document: dict) -> list[str]:
    untyped = []
    for operations in document["paths"].values():
        for operation in operations.values():
            for status, response in operation["responses"].items():
                if not status.startswith("2") or status in NO_BODY:
                    continue
                content = response.get("content") or {}
                if not content or not all(_typed(media.get("schema")) for media in content.values()):
                    untyped.append(f"{operation['operationId']} ({status})")
    return sorted(untyped)


def test_every_success_response_with_a_body_has_a_schema():
    untyped = untyped_success_responses(json.loads(DEFAULT_PATH.read_text()))
    assert untyped == [], f"2xx responses without a typed schema: {', '.join(untyped)}"


def test_untyped_responses_are_detected():
    def document(schema):
        content = {"application/json": {"schema": schema}} if schema is not None else None
        response = {"description": "ok"} | ({"content": content} if content else {})
        return {"paths": {"/x": {"get": {"operationId": "getX", "responses": {"200": response}}}}}

    assert untyped_success_responses(document(None)) == ["getX (200)"]
    assert untyped_success_responses(document({})) == ["getX (200)"]
    assert untyped_success_responses(document({"type": "object", "additionalProperties": True})) == ["getX (200)"]
    assert untyped_success_responses(document({"$ref": "#/components/schemas/X"})) == []
    assert untyped_success_responses(document({"type": "object", "additionalProperties": {"type": "string"}})) == []
