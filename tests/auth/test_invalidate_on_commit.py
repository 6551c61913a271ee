"""Cache invalidation waits for the write's commit, and does not happen when the write rolls back."""

from __future__ import annotations

import pytest

from app import db
from app.auth import tokens


@pytest.fixture
def calls(monkeypatch) -> list[dict]:
    seen: list[dict] = []
    monkeypatch.setattr(tokens, "_listeners", [lambda **kwargs: seen.append(kwargs)])
    return seen


def test_invalidation_runs_after_the_commit(app, calls):
    with db.unit_of_work() as session:
        tokens.invalidate_on_commit(session, identity_id="i-1")
        assert calls == []
    assert calls == [{"identity_id": "i-1", "token_hash": None}]


def test_no_invalidation_when_the_write_rolls_back(app, calls):
    with pytest.raises(RuntimeError), db.unit_of_work() as session:
        tokens.invalidate_on_commit(session, token_hash="h")
        raise RuntimeError
    assert calls == []
