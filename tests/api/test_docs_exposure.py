"""API docs (issue 10 B11): the OpenAPI document only when KEYTURN_DOCS is on, and no HTML page that would
load a third-party script."""

from __future__ import annotations

from fastapi.testclient import TestClient


def test_the_openapi_document_is_served_by_default_and_no_html_docs(anon_client):
    assert anon_client.get("/openapi.json").status_code == 200
    for path in ("/docs", "/redoc", "/docs/oauth2-redirect"):
        assert anon_client.get(path).status_code == 404, path


def test_docs_off_serves_no_document(settings):
    from app.main import create_app

    with TestClient(create_app(settings.model_copy(update={"docs": False}))) as client:
        assert client.get("/openapi.json").status_code == 404
