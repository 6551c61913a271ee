"""Webhooks in the console, on both databases: admin only, created through W1's model (its words), the URL's
path and the signing key never rendered, disable/enable, a signed test into the delivery log, delete."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from markupsafe import escape

from app.console.webhooks import origin
from tests.console.helpers import csrf_of, sign_in
from tests.factories import WebhookReceiver, grant, make_machine

SECRET_KEY = "whsec-console-key"


@pytest.fixture
def browser(app):
    """A second client with its own cookie jar and no bearer header."""
    with TestClient(app, raise_server_exceptions=False, client=("127.0.0.1", 50001)) as c:
        yield c


@pytest.fixture
def allow_private(settings):
    settings.webhook_allow_private = True  # loopback receivers
    return settings


def test_origin_keeps_no_credential_of_a_url():
    assert origin("https://hooks.slack.com/services/T0/B0/secret") == "https://hooks.slack.com/…"
    assert origin("https://user:pass@example.com:8443/x?token=t") == "https://example.com:8443/…"
    assert origin("not a url") == "(unreadable URL)"


def test_only_the_admin_manages_webhooks(client, browser, project):
    machine = make_machine(client, "ops")
    grant(client, project["id"], machine.identity_id, "admin")
    sign_in(browser, client_id=machine.client_id, client_secret=machine.client_secret)
    page = browser.get("/console/webhooks")
    assert page.status_code == 403 and "You are not allowed to read on webhooks" in page.text
    response = browser.post("/console/webhooks", data={"csrf": csrf_of(page.text), "project_id": project["id"]})
    assert response.status_code == 403 and "only the admin token may do this" in response.text


def test_webhook_lifecycle(client, browser, project, allow_private):
    csrf = sign_in(browser)
    assert "No webhooks in billing yet" in browser.get(f"/console/webhooks?project={project['id']}").text
    with WebhookReceiver() as receiver:
        url = receiver.url + "?token=hook-credential"
        form = {"csrf": csrf, "project_id": project["id"], "environment": "nope", "url": url, "secret_key": SECRET_KEY}
        refused = browser.post("/console/webhooks", data=form)
        api_words = client.post(
            "/api/v1/webhooks", json={"projectId": project["id"], "environment": "nope", "webhookUrl": url}
        ).json()["message"]
        assert refused.status_code == 404 and escape(api_words) in refused.text
        assert SECRET_KEY not in refused.text and "hook-credential" not in refused.text

        created = browser.post(
            "/console/webhooks",
            data={**form, "environment": "dev", "secret_path": "/**", "event_secrets.rotation-failed": "true"},
        )
        assert "Webhook created for dev /**" in created.text
        assert f"general: <code>http://127.0.0.1:{receiver.port}/…</code>" in created.text
        assert "<td>secrets.rotation-failed</td>" in created.text
        assert SECRET_KEY not in created.text and "hook-credential" not in created.text
        webhook_id = re.search(r'data-webhook="([^"]+)"', created.text).group(1)

        tested = browser.post(f"/console/webhooks/{webhook_id}/test", data={"csrf": csrf})
        assert "Test delivered" in tested.text and "<code>test</code>" in tested.text and "delivered" in tested.text
        (got,) = receiver.received
        assert got.signature_valid(SECRET_KEY)

    disabled = browser.post(f"/console/webhooks/{webhook_id}/disable", data={"csrf": csrf})
    assert "Webhook disabled" in disabled.text and f'id="enable-{webhook_id}"' in disabled.text
    assert client.get("/api/v1/webhooks", params={"projectId": project["id"]}).json()["webhooks"][0]["isDisabled"]
    enabled = browser.post(f"/console/webhooks/{webhook_id}/enable", data={"csrf": csrf})
    assert "Webhook enabled." in enabled.text and f'id="disable-{webhook_id}"' in enabled.text

    deleted = browser.post(f"/console/webhooks/{webhook_id}/delete", data={"csrf": csrf})
    assert "Webhook deleted" in deleted.text and "No webhooks in billing yet" in deleted.text
    assert client.get("/api/v1/webhooks", params={"projectId": project["id"]}).json()["webhooks"] == []


def test_a_failed_test_is_an_error_and_stays_in_the_log(client, browser, project, allow_private):
    csrf = sign_in(browser)
    with WebhookReceiver(status=404) as receiver:
        browser.post(
            "/console/webhooks",
            data={"csrf": csrf, "project_id": project["id"], "environment": "dev", "url": receiver.url},
        )
        webhook_id = client.get("/api/v1/webhooks", params={"projectId": project["id"]}).json()["webhooks"][0]["id"]
        tested = browser.post(f"/console/webhooks/{webhook_id}/test", data={"csrf": csrf})
    assert "flash-error" in tested.text and "Request failed with status code 404" in tested.text
    assert tested.url.path == f"/console/webhooks/{webhook_id}" and "failed" in tested.text
