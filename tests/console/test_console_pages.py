"""The console over the in-process app, on both databases: sessions, CSRF, permissions and what pages show."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from app.db import unit_of_work
from app.models import AccessToken, ConsoleSession
from app.timeutil import utcnow
from tests.console.helpers import csrf_of, sign_in
from tests.factories import ADMIN_TOKEN, OR, grant, make_machine, post_rotation, row


@pytest.fixture
def browser(app):
    """A second client with its own cookie jar and no bearer header."""
    with TestClient(app, raise_server_exceptions=False, client=("127.0.0.1", 50001)) as c:
        yield c


def test_pages_need_a_session(browser):
    pages = ("/console", "/console/rotations/new", "/console/connections", "/console/identities", "/console/webhooks")
    for path in (*pages, "/console/audit"):
        response = browser.get(path, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"] == "/console/sign-in", path


def test_session_cookie_is_httponly_strict_and_hashed_at_rest(browser):
    sign_in(browser)
    cookie = next(c for c in browser.cookies.jar if c.name == "keyturn_console")
    assert cookie.has_nonstandard_attr("HttpOnly") and cookie.path == "/console"
    with unit_of_work() as session:
        stored = [s.id_hash for s in session.query(ConsoleSession).all()]
    assert stored and cookie.value not in stored


def test_wrong_admin_token_is_refused(browser):
    form = browser.get("/console/sign-in")
    response = browser.post("/console/sign-in", data={"csrf": csrf_of(form.text), "admin_token": "nope"})
    assert response.status_code == 401 and "Invalid credentials" in response.text
    assert browser.get("/console", follow_redirects=False).status_code == 303


def test_sign_in_without_its_csrf_cookie_is_refused(browser):
    response = browser.post("/console/sign-in", data={"csrf": "forged", "admin_token": "x"})
    assert response.status_code == 403


def test_post_without_csrf_is_403_and_changes_nothing(client, browser, project, connection):
    rotation = post_rotation(client, project, connection)
    sign_in(browser)
    for data in ({}, {"csrf": "forged"}):
        response = browser.post(f"/console/rotations/{rotation['id']}/pause", data=data)
        assert response.status_code == 403
    assert row(rotation["id"]).is_auto_rotation_enabled


def test_idle_session_goes_back_to_sign_in(browser):
    sign_in(browser)
    with unit_of_work() as session:
        session.execute(update(ConsoleSession).values(last_seen_at=utcnow() - timedelta(hours=12, seconds=1)))
    response = browser.get("/console", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/console/sign-in"
    with unit_of_work() as session:
        assert session.query(ConsoleSession).count() == 0


def test_sign_out_ends_the_session_and_its_token(client, browser, project):
    machine = make_machine(client, "ops")
    grant(client, project["id"], machine.identity_id, "viewer")
    csrf = sign_in(browser, client_id=machine.client_id, client_secret=machine.client_secret)
    response = browser.post("/console/sign-out", data={"csrf": csrf})
    assert response.url.path == "/console/sign-in" and "Signed out." in response.text
    assert browser.get("/console", follow_redirects=False).status_code == 303
    with unit_of_work() as session:  # the access token issued for the session is revoked with it
        issued = session.query(AccessToken).filter(AccessToken.identity_id == machine.identity_id).all()
    assert issued and all(token.is_revoked for token in issued)


def test_console_login_shares_the_lockout(client, browser):
    machine = make_machine(client, "ops", ua={"lockoutThreshold": 2})
    form = browser.get("/console/sign-in")
    for _ in range(2):
        browser.post(
            "/console/sign-in",
            data={"csrf": csrf_of(form.text), "client_id": machine.client_id, "client_secret": "wrong"},
        )
    response = browser.post(
        "/console/sign-in",
        data={"csrf": csrf_of(form.text), "client_id": machine.client_id, "client_secret": machine.client_secret},
    )
    assert response.status_code == 401 and "temporarily locked" in response.text


def test_scoped_viewer_sees_only_its_environment_and_no_actions(client, browser, project, connection):
    dev = post_rotation(client, project, connection, name="dev-key")
    prod = post_rotation(
        client, project, connection, name="prod-key", environment="prod", secretsMapping={"apiKey": "PROD_KEY"}
    )
    machine = make_machine(client, "viewer")
    grant(client, project["id"], machine.identity_id, "viewer", {"environments": ["dev"]})
    sign_in(browser, client_id=machine.client_id, client_secret=machine.client_secret)
    overview = browser.get("/console").text
    assert "dev-key" in overview and "prod-key" not in overview
    page = browser.get(f"/console/rotations/{dev['id']}")
    assert page.status_code == 200 and "dev-key" in page.text
    assert "/rotate" not in page.text and "Emergency" not in page.text and "/delete" not in page.text
    assert browser.get(f"/console/rotations/{prod['id']}").status_code == 403
    # A forged POST meets the service's own check.
    csrf = csrf_of(page.text)
    response = browser.post(f"/console/rotations/{dev['id']}/rotate", data={"csrf": csrf})
    assert "not allowed" in response.text
    assert row(dev["id"]).next_generation == 2


def test_create_form_shows_the_apis_words_beside_fields(client, browser, project, connection):
    csrf = sign_in(browser)
    response = browser.post(
        "/console/rotations/new",
        data={
            "csrf": csrf,
            "type": "open-router-api-key",
            "name": "Bad Name!",
            "project_id": project["id"],
            "connection_id": connection["id"],
            "environment": "dev",
            "secret_path": "/",
            "interval": "0",
            "key_name": "k",
            "secret_name": "KEY",
        },
    )
    assert response.status_code == 422
    assert 'id="err-name"' in response.text and 'id="err-rotationInterval"' in response.text
    assert "No rotations yet" in browser.get("/console").text


def test_create_connection_and_rotation_through_forms(browser, project, openrouter):
    csrf = sign_in(browser)
    management_key = openrouter.create_management_key()
    response = browser.post(
        "/console/connections",
        data={
            "csrf": csrf,
            "app": "open-router",
            "name": "or-conn",
            "project_id": project["id"],
            "api_key": management_key,
        },
    )
    assert "Connection or-conn created" in response.text and management_key not in response.text
    assert browser.get("/api/v1/app-connections").status_code == 401  # the console cookie is no API credential
    page = browser.get("/console/rotations/new").text
    response = browser.post(
        "/console/rotations/new",
        data={
            "csrf": csrf_of(page),
            "type": "open-router-api-key",
            "name": "web-key",
            "project_id": project["id"],
            "connection_id": _connection_id(page),
            "environment": "dev",
            "secret_path": "/",
            "interval": "30",
            "hours": "0",
            "minutes": "0",
            "auto": "true",
            "key_name": "web",
            "secret_name": "WEB_KEY",
        },
    )
    assert response.status_code == 200 and "Created web-key: generation 1 is live." in response.text
    assert "Generation 1" in response.text
    overview = browser.get("/console").text
    assert "web-key" in overview and "Rotating" in overview


def _connection_id(page: str) -> str:
    start = page.index('id="connection_id"')
    return page[start:].split('<option value="', 1)[1].split('"', 1)[0]


def test_actions_rotate_pause_and_emergency(client, browser, project, connection):
    rotation = post_rotation(client, project, connection)
    csrf = sign_in(browser)
    url = f"/console/rotations/{rotation['id']}"
    response = browser.post(f"{url}/rotate", data={"csrf": csrf})
    assert "Rotated" in response.text and "Generation 2" in response.text
    assert f"project {project['name']} <code>{project['slug']}</code>" in response.text  # a name, not an id
    response = browser.post(f"{url}/emergency", data={"csrf": csrf, "confirm_name": "wrong"})
    assert "to confirm" in response.text and "Generation 3" not in response.text
    response = browser.post(f"{url}/emergency", data={"csrf": csrf, "confirm_name": rotation["name"]})
    assert "Emergency rotation done" in response.text and "Generation 3" in response.text
    response = browser.post(f"{url}/pause", data={"csrf": csrf})
    assert "Auto-rotation paused." in response.text and "not scheduled" in response.text
    assert row(rotation["id"]).next_rotation_at is None


def test_no_page_shows_key_material(client, browser, project, openrouter, settings):
    settings.webhook_allow_private = True  # a loopback webhook target
    management_key = openrouter.create_management_key()
    connection = client.post(
        "/api/v1/app-connections/open-router",
        json={
            "name": "leak-check",
            "method": "api-key",
            "projectId": project["id"],
            "credentials": {"apiKey": management_key},
        },
    ).json()["appConnection"]
    rotation = post_rotation(client, project, connection)
    client.post(f"{OR}/{rotation['id']}/rotate-secrets").raise_for_status()
    machine = make_machine(client, "reader")
    grant(client, project["id"], machine.identity_id, "viewer")
    generated = client.get(f"{OR}/{rotation['id']}/generated-credentials").json()["generatedCredentials"]
    hook_url_secret, hook_key = "hook-path-credential", "whsec-never-shown"
    webhook = client.post(
        "/api/v1/webhooks",
        json={
            "projectId": project["id"],
            "environment": "dev",
            "webhookUrl": f"http://127.0.0.1:9/{hook_url_secret}",
            "webhookSecretKey": hook_key,
        },
    ).json()["webhook"]
    secrets = {management_key, machine.client_secret, ADMIN_TOKEN, hook_url_secret, hook_key}
    secrets |= {c["apiKey"] for c in generated}
    csrf = sign_in(browser)
    # A client secret made in the console is in the response that shows it once, and in no page after it.
    shown = browser.post(f"/console/identities/{machine.identity_id}/client-secrets", data={"csrf": csrf}).text
    console_secret = shown.split('id="new-secret" class="secret" value="', 1)[1].split('"', 1)[0]
    secrets.add(console_secret)
    assert all(secrets)
    pages = [
        "/console",
        f"/console/rotations/{rotation['id']}",
        f"/console/rotations/{rotation['id']}/edit",
        "/console/rotations/new",
        "/console/connections",
        f"/console/connections/{connection['id']}/edit",
        "/console/identities",
        f"/console/identities/{machine.identity_id}",
        f"/console/webhooks?project={project['id']}",
        f"/console/webhooks/{webhook['id']}",
        "/console/audit",
        "/console/sign-in",
    ]
    for path in pages:
        response = browser.get(path)
        assert response.status_code == 200, path
        assert not [s for s in secrets if s in response.text], f"key material in {path}"
        assert response.headers["cache-control"] == "no-store"
