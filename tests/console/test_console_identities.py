"""Identities and access in the console, on both databases: admin only, client secrets shown exactly once and
never logged, memberships with roles and scope, all through the API's services (its rules, words and audit)."""

from __future__ import annotations

import logging
import re

import pytest
from fastapi.testclient import TestClient
from markupsafe import escape

from tests.console.helpers import csrf_of, sign_in
from tests.factories import create_identity, grant, make_machine

MEMBERSHIP = "/api/v1/projects/{project}/memberships/identities/{identity}"
LOGIN = "/api/v1/auth/universal-auth/login"


@pytest.fixture
def browser(app):
    """A second client with its own cookie jar and no bearer header."""
    with TestClient(app, raise_server_exceptions=False, client=("127.0.0.1", 50001)) as c:
        yield c


def _login(anon, client_id: str, client_secret: str) -> int:
    response = anon.post(
        LOGIN, json={"clientId": client_id, "clientSecret": client_secret}, headers={"Authorization": ""}
    )
    return response.status_code


def test_only_the_admin_sees_identities(client, browser, project):
    machine = make_machine(client, "viewer")
    grant(client, project["id"], machine.identity_id, "viewer")
    sign_in(browser, client_id=machine.client_id, client_secret=machine.client_secret)
    home = browser.get("/console").text
    assert 'href="/console/identities"' not in home
    for path in ("/console/identities", f"/console/identities/{machine.identity_id}"):
        page = browser.get(path)
        assert page.status_code == 403 and "only the admin token may do this" in page.text, path
    response = browser.post(f"/console/identities/{machine.identity_id}/client-secrets", data={"csrf": csrf_of(home)})
    assert response.status_code == 403 and "only the admin token may do this" in response.text


def test_create_identity_then_a_client_secret_shown_once(client, anon_client, browser, caplog):
    csrf = sign_in(browser)
    assert "No identities yet" in browser.get("/console/identities").text
    refused = browser.post("/console/identities", data={"csrf": csrf, "name": " ", "role": "no-access"})
    assert refused.status_code == 422 and 'id="err-name"' in refused.text
    response = browser.post("/console/identities", data={"csrf": csrf, "name": "billing-api", "role": "no-access"})
    assert response.status_code == 200 and "Identity billing-api created with universal auth" in response.text
    identity_id = response.url.path.rsplit("/", 1)[1]
    client_id = re.search(r'<code id="client-id">([^<]+)</code>', response.text).group(1)
    assert "No client secret yet" in response.text

    with caplog.at_level(logging.DEBUG):
        created = browser.post(
            f"/console/identities/{identity_id}/client-secrets",
            data={"csrf": csrf, "description": "ci", "ttl": "0", "num_uses_limit": "0"},
        )
    secret = re.search(r'id="new-secret" class="secret" value="([^"]+)"', created.text).group(1)
    assert created.headers["cache-control"] == "no-store" and "shown only this once" in created.text
    assert secret not in caplog.text and secret not in str(created.cookies)
    page = browser.get(f"/console/identities/{identity_id}").text
    assert secret not in page and f"<code>{secret[:4]}…</code>" in page
    assert _login(anon_client, client_id, secret) == 200

    secret_id = re.search(r'data-secret="([^"]+)"', page).group(1)
    revoked = browser.post(f"/console/identities/{identity_id}/client-secrets/{secret_id}/revoke", data={"csrf": csrf})
    assert f"Client secret {secret[:4]}… revoked" in revoked.text and "No client secret yet" in revoked.text
    assert _login(anon_client, client_id, secret) == 401
    events = [e["eventType"] for e in client.get("/api/v1/audit-logs", params={"limit": 50}).json()["auditLogs"]]
    assert {"create-identity-universal-auth-client-secret", "revoke-identity-universal-auth-client-secret"} <= set(
        events
    )


def test_client_secret_refusal_is_the_apis_words(client, browser):
    identity_id = create_identity(client, "no-ua")
    csrf = sign_in(browser)
    page = browser.get(f"/console/identities/{identity_id}").text
    assert "no universal auth" in page and 'id="attach-ua"' in page
    attached = browser.post(f"/console/identities/{identity_id}/universal-auth", data={"csrf": csrf})
    assert "Universal auth added" in attached.text
    api = client.post(f"/api/v1/auth/universal-auth/identities/{identity_id}/client-secrets", json={"ttl": -1}).json()[
        "message"
    ][0]["message"]
    response = browser.post(
        f"/console/identities/{identity_id}/client-secrets", data={"csrf": csrf, "ttl": "-1", "num_uses_limit": "0"}
    )
    assert response.status_code == 422 and f"ttl: {escape(api)}" in response.text
    assert 'id="new-secret"' not in response.text


def test_memberships_grant_change_and_remove(client, browser, project):
    identity_id = create_identity(client, "deployer")
    csrf = sign_in(browser)
    url = f"/console/identities/{identity_id}"
    api_url = MEMBERSHIP.format(project=project["id"], identity=identity_id)
    assert "No project membership" in browser.get(url).text

    refused = browser.post(f"{url}/memberships", data={"csrf": csrf, "project_id": project["id"]})
    api_words = client.post(api_url, json={"roles": []}).json()["message"][0]["message"]
    assert refused.status_code == 422 and f"roles: {escape(api_words)}" in refused.text

    granted = browser.post(
        f"{url}/memberships",
        data={
            "csrf": csrf,
            "project_id": project["id"],
            "role_viewer": "true",
            "environments": "dev, staging",
            "secret_paths": "/api/**",
        },
    )
    assert "Granted viewer" in granted.text and "only environments dev, staging; paths /api/**" in granted.text
    stored = client.get(api_url).json()["identityMembership"]
    assert [r["role"] for r in stored["roles"]] == ["viewer"]
    assert stored["scope"] == {"environments": ["dev", "staging"], "secretPaths": ["/api/**"]}

    changed = browser.post(
        f"{url}/memberships/{project['id']}", data={"csrf": csrf, "role_member": "true", "role_viewer": "true"}
    )
    assert "Membership changed." in changed.text and "the whole project" in changed.text
    stored = client.get(api_url).json()["identityMembership"]
    assert sorted(r["role"] for r in stored["roles"]) == ["member", "viewer"] and stored["scope"] is None

    removed = browser.post(f"{url}/memberships/{project['id']}/remove", data={"csrf": csrf})
    assert "Membership removed" in removed.text and "No project membership" in removed.text
    assert client.get(api_url).status_code == 404
