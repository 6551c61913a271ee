"""GET /metrics in one process (issue 14, item 1): who may scrape, the work counters, the state gauges read from the
database, and no secret anywhere in the output. tests/test_metrics_processes.py runs real processes."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.reads import audit as read_audit
from app.rotation import revocations
from tests.api.test_audit_events import emulator_keys, make_due
from tests.api.test_secrets_read import PYTHON_SDK_QUERY
from tests.factories import ADMIN_TOKEN, OR, bearer, credentials, grant, make_machine, token_for

METRICS_TOKEN = "metrics-token-" + "m" * 40


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition, by (name, sorted labels)."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(found: dict, metric: str, **labels: str) -> float:
    return found.get((metric, tuple(sorted(labels.items()))), 0.0)


def scrape(client) -> dict:
    response = client.get("/metrics", headers={"Authorization": ""})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return samples(response.text)


def test_metrics_are_open_on_loopback_without_a_token(anon_client):
    assert anon_client.get("/metrics").status_code == 200


@pytest.mark.parametrize(
    ("host", "forwarded_allow_ips", "headers"),
    [
        ("0.0.0.0", None, {}),  # listens beyond loopback
        ("127.0.0.1", "10.0.0.1", {}),  # a proxy is declared
        ("127.0.0.1", None, {"X-Forwarded-For": "203.0.113.9"}),  # came through a proxy
        ("127.0.0.1", None, {"Forwarded": "for=203.0.113.9"}),
        ("keyturn.internal", None, {}),  # a host name may resolve to anything
    ],
)
def test_metrics_need_a_token_beyond_loopback(anon_client, settings, host, forwarded_allow_ips, headers):
    settings.host, settings.forwarded_allow_ips = host, forwarded_allow_ips
    response = anon_client.get("/metrics", headers=headers)
    assert response.status_code == 401
    body = response.json()
    assert body["error"] == "UnauthorizedError" and "KEYTURN_METRICS_TOKEN" in body["message"]
    assert set(body) == {"reqId", "statusCode", "message", "error"}


def test_a_set_token_is_needed_even_on_loopback_and_the_admin_token_is_not_it(anon_client, settings):
    settings.metrics_token = type(settings.admin_token)(METRICS_TOKEN)
    for headers in ({}, bearer(ADMIN_TOKEN), bearer(METRICS_TOKEN[:-1]), {"Authorization": f"Basic {METRICS_TOKEN}"}):
        assert anon_client.get("/metrics", headers=headers).status_code == 401, headers
    settings.host = "0.0.0.0"
    assert anon_client.get("/metrics", headers=bearer(METRICS_TOKEN)).status_code == 200


def test_a_placeholder_metrics_token_is_refused_at_start_up():
    from pydantic import ValidationError

    from app.config import Settings

    with pytest.raises(ValidationError, match="at least 32 characters"):
        Settings(metrics_token="token")


def test_a_failed_rotation_shows_in_the_counters_and_the_state_gauges(client, project, connection, openrouter):
    rotation = client.post(OR, json={**_seed(project, connection)}).json()["secretRotation"]
    rid = rotation["id"]
    labels = {"rotation_id": rid, "name": "my-open-router-rotation", "project": project["id"]}
    before = scrape(client)
    assert value(before, "keyturn_rotation_failed", **labels) == 0
    openrouter.add_fault("POST", r"/keys$", kind="status", status=500, times=1)
    assert client.post(f"{OR}/{rid}/rotate-secrets").status_code == 502
    after = scrape(client)
    failed = {"type": "open-router-api-key", "outcome": "failed", "trigger": "manual"}
    assert value(after, "keyturn_rotations_total", **failed) == value(before, "keyturn_rotations_total", **failed) + 1
    assert value(after, "keyturn_rotation_failed", **labels) == 1
    create = {"provider": "open-router", "operation": "create", "status_class": "5xx"}
    assert value(after, "keyturn_provider_requests_total", **create) > value(
        before, "keyturn_provider_requests_total", **create
    )
    assert value(after, "keyturn_rotation_duration_seconds_count", type="open-router-api-key") > 0

    assert client.post(f"{OR}/{rid}/rotate-secrets").status_code == 200
    again = scrape(client)
    assert value(again, "keyturn_rotation_failed", **labels) == 0
    assert value(again, "keyturn_rotation_last_success_timestamp_seconds", **labels) >= value(
        after, "keyturn_rotation_last_success_timestamp_seconds", **labels
    )
    assert value(again, "keyturn_rotation_interval_seconds", **labels) == 30 * 86400
    assert value(again, "keyturn_rotation_next_due_timestamp_seconds", **labels) > 0
    assert value(again, "keyturn_state_up") == 1


def test_a_scheduled_attempt_counts_as_scheduled(client, project, connection):
    from app.rotation import engine

    rid = client.post(OR, json=_seed(project, connection)).json()["secretRotation"]["id"]
    success = {"type": "open-router-api-key", "outcome": "success", "trigger": "scheduled"}
    before = value(scrape(client), "keyturn_rotations_total", **success)
    make_due(rid)
    assert engine.rotate(rid, manual=False).rotation_status == "success"
    assert value(scrape(client), "keyturn_rotations_total", **success) == before + 1


def test_a_failing_revocation_is_counted_and_queued(client, project, connection, openrouter):
    rid = client.post(OR, json=_seed(project, connection)).json()["secretRotation"]["id"]
    for _ in range(2):  # generation 1 becomes inactive, then queued for revocation
        assert client.post(f"{OR}/{rid}/rotate-secrets").status_code == 200
    openrouter.add_fault("DELETE", r"/keys/", kind="status", status=503, times=None)
    before = scrape(client)
    make_due(rid)
    revocations.drain()
    assert client.post(f"{OR}/{rid}/rotate-secrets").status_code == 200
    revocations.drain()
    after = scrape(client)
    assert value(after, "keyturn_revocation_failures_total", provider="open-router") > value(
        before, "keyturn_revocation_failures_total", provider="open-router"
    )
    assert value(after, "keyturn_revocations_pending") >= 1
    assert value(after, "keyturn_revocations_held") == 0
    assert value(after, "keyturn_intents_open", state="pending") == 0


def test_reads_are_counted_by_api_and_result(client, project, connection):
    client.post(OR, json=_seed(project, connection, environment="prod"))
    machine = make_machine(client)
    grant(client, project["id"], machine.identity_id, "viewer")
    token = token_for(client, machine)
    url = f"/api/v3/secrets/raw/OPEN_ROUTER_API_KEY?workspaceId={project['id']}&environment=prod&{PYTHON_SDK_QUERY}"
    before = scrape(client)
    first = client.get(url, headers=bearer(token))
    assert first.status_code == 200
    assert client.get(url, headers={**bearer(token), "If-None-Match": first.headers["etag"]}).status_code == 304
    assert client.get(url, headers=bearer("not-a-token")).status_code == 401
    assert client.get(url.replace("OPEN_ROUTER", "NO_SUCH"), headers=bearer(token)).status_code == 404
    after = scrape(client)
    for result, count in (("200", 1), ("304", 1), ("401", 1), ("404", 1)):
        delta = value(after, "keyturn_secret_reads_total", api="v3", result=result) - value(
            before, "keyturn_secret_reads_total", api="v3", result=result
        )
        assert delta == count, result
    assert value(after, "keyturn_read_cache_hits_total") > value(before, "keyturn_read_cache_hits_total")
    assert value(after, "keyturn_read_cache_misses_total") > value(before, "keyturn_read_cache_misses_total")


def test_failed_logins_are_counted_by_reason(client):
    machine = make_machine(client)
    before = scrape(client)
    response = client.post(
        "/api/v1/auth/universal-auth/login",
        json={"clientId": machine.client_id, "clientSecret": "wrong-" + "x" * 40},
        headers={"Authorization": ""},
    )
    assert response.status_code == 401
    after = scrape(client)
    assert value(after, "keyturn_login_failures_total", reason="wrong-secret") == (
        value(before, "keyturn_login_failures_total", reason="wrong-secret") + 1
    )


def test_no_secret_reaches_the_metrics(client, project, connection, openrouter):
    rid = client.post(OR, json=_seed(project, connection)).json()["secretRotation"]["id"]
    assert client.post(f"{OR}/{rid}/rotate-secrets").status_code == 200
    machine = make_machine(client)
    token = token_for(client, machine)
    text = client.get("/metrics").text
    key_ids = [cred.key_id for cred in credentials(rid) if cred.key_id]
    secrets = [*emulator_keys(openrouter), *key_ids, machine.client_secret, token, ADMIN_TOKEN]
    assert len(key_ids) == 2 and rid in text
    for secret in secrets:
        assert secret not in text


def test_lagging_consumers_are_counted_per_rotation(client, project, connection):
    rid = client.post(OR, json=_seed(project, connection, environment="prod")).json()["secretRotation"]["id"]
    machine = make_machine(client)
    grant(client, project["id"], machine.identity_id, "viewer")
    token = token_for(client, machine)
    url = f"/api/v3/secrets/raw/OPEN_ROUTER_API_KEY?workspaceId={project['id']}&environment=prod&{PYTHON_SDK_QUERY}"
    assert client.get(url, headers=bearer(token)).status_code == 200
    read_audit.flush_pending()
    assert value(scrape(client), "keyturn_consumers_lagging", rotation_id=rid) == 0
    assert client.post(f"{OR}/{rid}/rotate-secrets").status_code == 200  # generation 1 stays live, inactive
    assert value(scrape(client), "keyturn_consumers_lagging", rotation_id=rid) == 1
    assert client.get(url, headers=bearer(token)).status_code == 200
    read_audit.flush_pending()
    assert value(scrape(client), "keyturn_consumers_lagging", rotation_id=rid) == 0


def _seed(project, connection, **overrides) -> dict:
    from tests.factories import seed_body

    return seed_body(project, connection, **overrides)
