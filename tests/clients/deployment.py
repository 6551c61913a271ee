"""The deployment the clients' contract tests read from: where the rotated key is published, and the identity
that reads it (the fixtures are in conftest.py)."""

from __future__ import annotations

from dataclasses import dataclass

from tests.factories import bearer

SECRET = "OPENROUTER_API_KEY"
ENVIRONMENT = "prod"
PATH = "/openrouter"


@dataclass
class Deployment:
    project_id: str
    slug: str
    rotation_id: str
    token: str

    def headers(self, user_agent: str) -> dict[str, str]:
        """What the Go clients send with every call: the bearer token, `Accept`, and their own User-Agent."""
        return {**bearer(self.token), "Accept": "application/json", "User-Agent": user_agent}
