"""The OpenRouter emulator charges chat completions and honours `expires_at` (OpenRouter §3, OpenRouter §4.1,
OpenRouter §8), proven with the official `openrouter` SDK: a completion's `usage.cost`, the key's `usage`,
period usages, `limit_remaining` and `last_used_at`; free models cost nothing; an expired key gets 401."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from openrouter import errors

from emulators.control import RemoteEmulator
from tests.conftest import FakeClock

HELLO = [{"role": "user", "content": "hi"}]
PAID = "openai/gpt-4o"
FREE = "meta-llama/llama-3.3-70b-instruct:free"


@pytest.fixture
def fake_clock(openrouter) -> FakeClock:
    """The emulator's clock, frozen on Sunday 2025-08-31 23:00 UTC: the last hour of a week and of a month."""
    clock = FakeClock(datetime(2025, 8, 31, 23, 0, tzinfo=UTC))
    openrouter.clock = clock
    return clock


def _periods(data) -> tuple[float, float, float, float]:
    return (data.usage, data.usage_daily, data.usage_weekly, data.usage_monthly)


def test_sdk_each_completion_is_charged_to_its_key(openrouter, manager, sdk_factory):
    created = manager.api_keys.create(name="billing", limit=1, limit_reset="monthly")
    other = manager.api_keys.create(name="idle")
    as_key = sdk_factory(created.key)

    for _ in range(3):
        result = as_key.chat.send(model=PAID, messages=HELLO)
        assert result.usage.cost == 0.0001 and result.usage.is_byok is False

    data = manager.api_keys.get(hash=created.data.hash).data
    assert _periods(data) == (0.0003, 0.0003, 0.0003, 0.0003)
    assert data.limit_remaining == 0.9997
    assert data.last_used_at is not None and data.last_used_at.tzinfo is not None
    current = as_key.api_keys.get_current_key_metadata().data
    assert (current.usage, current.usage_daily, current.limit_remaining) == (0.0003, 0.0003, 0.9997)
    # Only the key that made the calls is charged.
    idle = manager.api_keys.get(hash=other.data.hash).data
    assert _periods(idle) == (0, 0, 0, 0) and idle.last_used_at is None


def test_sdk_free_model_costs_nothing_but_is_a_use(manager, sdk_factory):
    created = manager.api_keys.create(name="free-tier")
    as_key = sdk_factory(created.key)
    assert as_key.chat.send(model=FREE, messages=HELLO).usage.cost == 0

    data = manager.api_keys.get(hash=created.data.hash).data
    assert _periods(data) == (0, 0, 0, 0)  # invisible to usage
    assert data.last_used_at is not None
    free = as_key.api_keys.get_current_key_metadata().data.free_model_daily_requests
    assert (free.used, free.remaining) == (1, 999)


def test_sdk_period_usages_reset_at_utc_day_monday_and_month(openrouter, manager, sdk_factory, fake_clock):
    created = manager.api_keys.create(name="periods")
    as_key = sdk_factory(created.key)
    as_key.chat.send(model=PAID, messages=HELLO)  # Sunday 31 August

    fake_clock.advance(2 * 3600)  # Monday 1 September, 01:00: a new day, week and month
    assert _periods(manager.api_keys.get(hash=created.data.hash).data) == (0.0001, 0, 0, 0)
    as_key.chat.send(model=PAID, messages=HELLO)

    fake_clock.advance(2 * 86400)  # Wednesday 3 September: same week and month
    as_key.chat.send(model=PAID, messages=HELLO)
    assert _periods(manager.api_keys.get(hash=created.data.hash).data) == (0.0003, 0.0001, 0.0002, 0.0002)


def test_sdk_limit_remaining_follows_the_reset_period(manager, sdk_factory, fake_clock):
    created = manager.api_keys.create(name="capped", limit=0.5, limit_reset="daily")
    sdk_factory(created.key).chat.send(model=PAID, messages=HELLO)
    assert manager.api_keys.get(hash=created.data.hash).data.limit_remaining == 0.4999
    fake_clock.advance(3600)  # past midnight UTC: the daily cap is whole again
    assert manager.api_keys.get(hash=created.data.hash).data.limit_remaining == 0.5


def test_completion_cost_is_set_over_the_control_api(openrouter, manager, sdk_factory):
    RemoteEmulator(openrouter.control_url).set_completion_cost(0.25)
    created = manager.api_keys.create(name="pricey")
    assert sdk_factory(created.key).chat.send(model=PAID, messages=HELLO).usage.cost == 0.25
    assert manager.api_keys.get(hash=created.data.hash).data.usage == 0.25
    refused = httpx.post(openrouter.control_url + "/completion-cost", json={"usd": -1})
    assert refused.status_code == 400 and openrouter.state()["completion_cost"] == 0.25


# --- expires_at ------------------------------------------------------------------------------


def test_sdk_expiring_key_works_until_its_expiry_then_gets_401(openrouter, manager, sdk_factory, fake_clock):
    expires = fake_clock() + timedelta(hours=1, microseconds=123456)
    created = manager.api_keys.create(name="short-lived", expires_at=expires)
    assert created.data.expires_at == expires.replace(microsecond=123000)  # answered with milliseconds
    as_key = sdk_factory(created.key)
    assert as_key.chat.send(model=PAID, messages=HELLO).choices[0].message.role == "assistant"

    fake_clock.advance(3601)
    with pytest.raises(errors.UnauthorizedResponseError) as caught:
        as_key.chat.send(model=PAID, messages=HELLO)
    assert caught.value.data.error.code == 401
    with pytest.raises(errors.UnauthorizedResponseError):
        as_key.api_keys.get_current_key_metadata()
    assert not openrouter.key_works(created.key)

    # Gone from the default listing, still there when asked for, still readable and deletable.
    assert manager.api_keys.list().data == []
    assert [k.hash for k in manager.api_keys.list(include_expired=True).data] == [created.data.hash]
    assert manager.api_keys.get(hash=created.data.hash).data.expires_at is not None
    assert manager.api_keys.delete(hash=created.data.hash).DELETED is True


def test_expired_key_is_refused_on_the_management_routes_with_401(openrouter, manager, fake_clock):
    created = manager.api_keys.create(name="k", expires_at=fake_clock() + timedelta(seconds=10))
    headers = {"Authorization": f"Bearer {created.key}"}
    # A live regular key may not manage keys (403); once expired it is no key at all (401).
    assert httpx.get(openrouter.base_url + "/keys", headers=headers).status_code == 403
    fake_clock.advance(10)
    response = httpx.get(openrouter.base_url + "/keys", headers=headers)
    assert response.status_code == 401 and response.json()["error"]["code"] == 401


@pytest.mark.parametrize(
    "expires_at",
    [
        "2030-01-01T00:00Z",  # minute precision (OpenRouter §4.1)
        "2030-01-01T00:00:00",  # no zone: not a UTC instant
        "2030-01-01 00:00:00Z",  # space-separated
        "2030-13-45T00:00:00Z",  # looks right, is no date
        "tomorrow",
        1893456000,  # a number
        True,
        "2020-01-01T00:00:00Z",  # in the past
    ],
)
def test_create_refuses_a_bad_expiry_with_400_and_makes_no_key(openrouter, expires_at):
    management = openrouter.create_management_key()
    response = httpx.post(
        openrouter.base_url + "/keys",
        headers={"Authorization": f"Bearer {management}"},
        json={"name": "k", "expires_at": expires_at},
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == 400 and "expires_at" in response.json()["error"]["message"]
    assert openrouter.create_count == 0 and openrouter.live_keys() == []


def test_sdk_past_expiry_is_a_bad_request(manager):
    with pytest.raises(errors.BadRequestResponseError) as caught:
        manager.api_keys.create(name="k", expires_at=datetime.now(UTC) - timedelta(seconds=1))
    assert str(caught.value) == "expires_at must be in the future"


def test_an_expiry_with_an_offset_is_answered_in_utc(openrouter):
    management = openrouter.create_management_key()
    response = httpx.post(
        openrouter.base_url + "/keys",
        headers={"Authorization": f"Bearer {management}"},
        json={"name": "k", "expires_at": "2099-06-01T14:30:15.5+02:00"},
    )
    assert response.status_code == 201 and response.json()["data"]["expires_at"] == "2099-06-01T12:30:15.500Z"


def test_null_expiry_means_none(openrouter, manager):
    created = manager.api_keys.create(name="forever", expires_at=None)
    assert created.data.expires_at is None and openrouter.key_works(created.key)


# --- bad completion requests -----------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"model": "openai/gpt-4o"}',
        b'{"model": "openai/gpt-4o", "messages": []}',
        b'{"model": "openai/gpt-4o", "messages": ["hi"]}',
        b'{"model": 7, "messages": [{"role": "user", "content": "hi"}]}',
    ],
)
def test_bad_completion_request_is_a_400_and_costs_nothing(openrouter, manager, body):
    created = manager.api_keys.create(name="k")
    response = httpx.post(
        openrouter.base_url + "/chat/completions",
        content=body,
        headers={"Authorization": f"Bearer {created.key}", "Content-Type": "application/json"},
    )
    assert response.status_code == 400 and response.json()["error"]["code"] == 400
    data = manager.api_keys.get(hash=created.data.hash).data
    assert data.usage == 0 and data.last_used_at is None


def test_completion_without_model_uses_the_default_and_is_charged(openrouter, manager):
    created = manager.api_keys.create(name="k")
    response = httpx.post(
        openrouter.base_url + "/chat/completions",
        json={"messages": HELLO},
        headers={"Authorization": f"Bearer {created.key}"},
    )
    assert response.status_code == 200 and response.json()["model"] == PAID
    assert manager.api_keys.get(hash=created.data.hash).data.usage == 0.0001


def test_completion_is_authenticated_before_it_is_read(openrouter):
    response = httpx.post(openrouter.base_url + "/chat/completions", content=b"not json")
    assert response.status_code == 401 and response.json()["error"]["message"] == "Missing Authentication header"


def test_deleted_key_completion_is_401_and_not_charged(openrouter, manager, sdk_factory):
    created = manager.api_keys.create(name="k")
    manager.api_keys.delete(hash=created.data.hash)
    with pytest.raises(errors.UnauthorizedResponseError):
        sdk_factory(created.key).chat.send(model=PAID, messages=HELLO)
