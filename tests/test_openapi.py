"""openapi/openapi.json is generated from the app and must be kept in sync (`keyturn openapi`)."""

from app.openapi import DEFAULT_PATH, render_openapi


def test_openapi_document_is_up_to_date():
    assert DEFAULT_PATH.exists(), "run `keyturn openapi` to generate openapi/openapi.json"
    assert DEFAULT_PATH.read_text() == render_openapi(), "openapi/openapi.json is stale: run `keyturn openapi`"
