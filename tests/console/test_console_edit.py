"""Editing a rotation and a connection in the console, on both databases: R7's and C8's rules and words, only
what changed is sent (and audited), the caller's permissions, and a management key that is never shown."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from markupsafe import escape

from tests.console.helpers import csrf_of, sign_in
from tests.factories import OR, grant, make_machine, post_rotation

AUDIT = "/api/v1/audit-logs"
CONNECTIONS = "/api/v1/app-connections/open-router"


@pytest.fixture
def browser(app):
    """A second client with its own cookie jar and no bearer header."""
    with TestClient(app, raise_server_exceptions=False, client=("127.0.0.1", 50001)) as c:
        yield c


def _form(page: str) -> dict[str, str]:
    """The edit form's fields as the page fills them (inputs, the selected option, checked boxes, textareas)."""
    import re

    fields = {}
    for tag in re.findall(r"<input [^>]*>", page):
        name = re.search(r'name="([^"]+)"', tag)
        if not name:
            continue
        if 'type="checkbox"' in tag:
            if " checked" in tag:
                fields[name.group(1)] = "true"
            continue
        value = re.search(r'value="([^"]*)"', tag)
        fields[name.group(1)] = value.group(1) if value else ""
    for name, options in re.findall(r'<select id="[^"]+" name="([^"]+)">(.*?)</select>', page, re.S):
        selected = re.search(r'<option value="([^"]*)" selected>', options)
        fields[name] = selected.group(1) if selected else ""
    for name, text in re.findall(r'<textarea id="[^"]+" name="([^"]+)"[^>]*>(.*?)</textarea>', page, re.S):
        fields[name] = text.replace("&#34;", '"').replace("&quot;", '"')
    return fields


def _changed_fields(client, resource_id: str, event: str) -> list[list[str]]:
    logs = client.get(AUDIT, params={"eventType": event, "limit": 100}).json()["auditLogs"]
    return [e["metadata"]["changedFields"] for e in logs if e["resourceId"] == resource_id]


def test_edit_rotation_sends_only_what_changed(client, browser, project, connection):
    rotation = post_rotation(client, project, connection)
    sign_in(browser)
    url = f"/console/rotations/{rotation['id']}/edit"
    page = browser.get(url)
    assert page.status_code == 200 and "<title>Edit my-open-router-rotation · keyturn</title>" in page.text
    form = _form(page.text)
    assert form["interval"] == "30" and form["key_name"] == "my-app-key" and '"limit": 100' in form["parameters_json"]
    form.update(
        interval="45",
        hours="6",
        minutes="30",
        parameters_json='{"limit": 250, "limitReset": "weekly"}',
        revocation_mode="when-unused",
        min_overlap_seconds="600",
    )
    response = browser.post(url, data=form)
    assert response.url.path == f"/console/rotations/{rotation['id']}", response.text
    assert "Saved my-open-router-rotation: parameters, revocation, rotateAtUtc, rotationInterval." in response.text
    stored = client.get(f"{OR}/{rotation['id']}").json()["secretRotation"]
    assert (stored["rotationInterval"], stored["rotateAtUtc"]) == (45, {"hours": 6, "minutes": 30})
    assert stored["parameters"] == {"name": "my-app-key", "limit": 250, "limitReset": "weekly"}
    assert (stored["revocation"]["mode"], stored["revocation"]["minOverlapSeconds"]) == ("when-unused", 600)
    assert stored["description"] == rotation["description"]
    assert _changed_fields(client, rotation["id"], "update-secret-rotation") == [
        ["parameters", "revocation", "rotateAtUtc", "rotationInterval"]
    ]
    # Submitting the page as shown changes nothing and records nothing.
    response = browser.post(url, data=_form(browser.get(url).text))
    assert "Nothing changed." in response.text
    assert len(_changed_fields(client, rotation["id"], "update-secret-rotation")) == 1


def test_edit_rotation_refusals_are_the_apis_words_beside_their_fields(client, browser, project, connection):
    rotation = post_rotation(client, project, connection)
    other = post_rotation(client, project, connection, name="other", secretsMapping={"apiKey": "OTHER_KEY"})
    sign_in(browser)
    url = f"/console/rotations/{rotation['id']}/edit"
    form = _form(browser.get(url).text)
    api = client.patch(f"{OR}/{rotation['id']}", json={"rotationInterval": 0, "revocation": {"quietSeconds": 0}})
    words = {".".join(map(str, i["path"])): i["message"] for i in api.json()["message"]}
    response = browser.post(url, data={**form, "interval": "0", "quiet_seconds": "0", "description": "x"})
    assert response.status_code == 422
    for path, message in words.items():
        assert f'id="err-{path.replace(".", "-")}">{escape(message)}</span>' in response.text, path
    assert 'value="x"' in response.text  # what was typed stays in the form
    taken = client.patch(f"{OR}/{rotation['id']}", json={"name": other["name"]}).json()["message"]
    response = browser.post(url, data={**form, "name": other["name"]})
    assert response.status_code == 400 and escape(taken) in response.text
    assert client.get(f"{OR}/{rotation['id']}").json()["secretRotation"]["rotationInterval"] == 30


def test_viewer_cannot_open_or_post_the_edit_form(client, browser, project, connection):
    rotation = post_rotation(client, project, connection)
    machine = make_machine(client, "viewer")
    grant(client, project["id"], machine.identity_id, "viewer")
    sign_in(browser, client_id=machine.client_id, client_secret=machine.client_secret)
    detail = browser.get(f"/console/rotations/{rotation['id']}").text
    assert "/edit" not in detail
    url = f"/console/rotations/{rotation['id']}/edit"
    page = browser.get(url)
    assert page.status_code == 403 and "You are not allowed to edit on secret-rotation" in page.text
    response = browser.post(url, data={"csrf": csrf_of(detail), "interval": "1"})
    assert "You are not allowed to edit" in response.text
    assert client.get(f"{OR}/{rotation['id']}").json()["secretRotation"]["rotationInterval"] == 30


def test_edit_connection_keeps_the_key_write_only(client, browser, openrouter, connection):
    sign_in(browser)
    listing = browser.get("/console/connections").text
    url = f"/console/connections/{connection['id']}/edit"
    assert f'href="{url}"' in listing
    page = browser.get(url)
    assert page.status_code == 200 and 'id="api_key" name="api_key" type="password" autocomplete="off">' in page.text
    csrf = csrf_of(page.text)
    refused = browser.post(url, data={"csrf": csrf, "name": "renamed", "api_key": "sk-or-v1-not-a-key"})
    invalid = client.patch(f"{CONNECTIONS}/{connection['id']}", json={"credentials": {"apiKey": "sk-or-v1-x"}})
    assert refused.status_code == 401 and escape(invalid.json()["message"]) in refused.text
    assert "sk-or-v1-not-a-key" not in refused.text and 'value="renamed"' in refused.text
    new_key = openrouter.create_management_key()
    response = browser.post(url, data={"csrf": csrf, "name": "renamed", "description": "billing", "api_key": new_key})
    assert "Connection renamed saved: description, management key, name." in response.text
    assert new_key not in response.text and new_key not in browser.get(url).text
    stored = client.get(f"{CONNECTIONS}/{connection['id']}").json()["appConnection"]
    assert (stored["name"], stored["description"], stored["version"]) == ("renamed", "billing", 2)
    assert stored["credentialsHash"] != connection["credentialsHash"]
    assert _changed_fields(client, connection["id"], "update-app-connection") == [
        ["credentials", "description", "name"]
    ]
    # A blank key field keeps the key.
    response = browser.post(url, data={"csrf": csrf, "name": "renamed-again", "description": "billing"})
    assert "saved: name." in response.text
    assert (
        client.get(f"{CONNECTIONS}/{connection['id']}").json()["appConnection"]["credentialsHash"]
        == (stored["credentialsHash"])
    )


def test_a_member_sees_no_edit_link_and_cannot_edit_a_connection(client, browser, project, connection):
    machine = make_machine(client, "member")
    grant(client, project["id"], machine.identity_id, "member")
    sign_in(browser, client_id=machine.client_id, client_secret=machine.client_secret)
    url = f"/console/connections/{connection['id']}/edit"
    assert f'href="{url}"' not in browser.get("/console/connections").text
    page = browser.get(url)
    assert page.status_code == 403 and "You are not allowed to edit on app-connections" in page.text
