"""The bench harness retries a create whose answer was lost; the retry must not fail on its own first attempt."""

from __future__ import annotations

import httpx

from bench._harness import ApiError, create_rotations


class _LosesTheFirstAnswer:
    """A keyturn whose first create of each rotation is made but never answered (a timeout, a dropped connection)."""

    def __init__(self) -> None:
        self.made: dict[str, dict] = {}

    def create_rotation(self, *, prefix: str, index: int, **_fields) -> dict:
        name = f"{prefix}-rot-{index}"
        if name in self.made:
            request = httpx.Request("POST", "http://keyturn/api/v2/secret-rotations/open-router-api-key")
            raise ApiError(httpx.Response(400, json={"message": f"{name} already exists"}, request=request))
        self.made[name] = {"id": f"id-{index}", "name": name}
        raise httpx.ReadTimeout("no answer")

    def rotation_by_name(self, name: str, project_id: str, secret_path: str) -> dict | None:
        return self.made.get(name)


def test_a_create_whose_answer_was_lost_is_found_by_its_name_on_retry(monkeypatch):
    monkeypatch.setattr("bench._harness.time.sleep", lambda _seconds: None)
    api = _LosesTheFirstAnswer()
    created = create_rotations(
        api, project_id="p", connection_id="c", count=3, interval=60, secret_path="/bench", prefix="bench"
    )
    assert [rotation["name"] for rotation in created] == ["bench-rot-0", "bench-rot-1", "bench-rot-2"]
