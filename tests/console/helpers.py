"""Signing in to the console as a browser would: fetch the form (its CSRF cookie), post it, keep the cookie."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from tests.factories import ADMIN_TOKEN

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(html: str) -> str:
    match = CSRF.search(html)
    assert match, "the page has no CSRF field"
    return match.group(1)


def sign_in(client: TestClient, **fields: str) -> str:
    """Sign in with `fields` (default: the admin token); returns the CSRF token of the first page."""
    form = client.get("/console/sign-in")
    assert form.status_code == 200
    response = client.post(
        "/console/sign-in", data={"csrf": csrf_of(form.text), **(fields or {"admin_token": ADMIN_TOKEN})}
    )
    assert response.status_code == 200 and response.url.path == "/console", response.text[:500]
    return csrf_of(response.text)
