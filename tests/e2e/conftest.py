"""The end-to-end harness of issue 12 ("Done means"): `keyturn serve` with its embedded worker as a real
process on its own database (`db_url`: SQLite and PostgreSQL), one provider's emulator on loopback (`stack`:
OpenRouter and ARouter), and consumers in threads that log in as identities (universal auth), read the
rotated secret through the secrets API and call the provider's chat completions with what they read.

Times are wall-clock seconds (time.time()): the server, its database and the emulators share this host's
clock, so a test compares them with the timestamps keyturn reports. Waits poll with a deadline (`wait_until`
in tests/factories.py); a fixed window (`holds_for`) only where a test proves that something did not happen.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from emulators.server import EmulatorServer
from tests.factories import (
    ADMIN_TOKEN,
    BASE,
    PROVIDERS,
    ROOT_KEY,
    SPECS,
    ProviderSpec,
    bearer,
    grant,
    keyturn_server,
    make_machine,
    token_for,
)

CHAT_BODY = {"model": "openai/gpt-4o", "messages": [{"role": "user", "content": "ping"}]}  # costs credits
LOG_TAIL_LINES = 80


@dataclass(frozen=True)
class Policy:
    """The issue's numbers for these runs: the seconds unit, a 30 s interval, and the revocation block."""

    interval: int = 30
    min_overlap: int = 5
    quiet: int = 6
    max_hold: int = 40
    poll: float = 1.0  # KEYTURN_WORKER_POLL_SECONDS

    def block(self, mode: str, **overrides: Any) -> dict[str, Any]:
        return {
            "mode": mode,
            "minOverlapSeconds": self.min_overlap,
            "holdWhileInUse": True,
            "quietSeconds": self.quiet,
            "maxHoldSeconds": self.max_hold,
            **overrides,
        }

    @property
    def unused_bound(self) -> float:
        """Done means 1: an unused superseded key is gone within this long of its last consumer migrating."""
        return self.min_overlap + 2 * self.quiet + 5


@dataclass(frozen=True)
class Read:
    started: float
    ended: float
    value: str
    version: int


@dataclass(frozen=True)
class Call:
    started: float
    ended: float
    key: str
    status: int


class Consumer:
    """A thread that calls the provider's chat completions every `call_every` s with the key it holds. With a
    `token`, it gets that key by reading the secret as that identity: every `read_every` s, or once at start
    (None). Without one, it only calls with the `key` it was given (a consumer keyturn cannot see)."""

    def __init__(
        self,
        stack: Stack,
        rotation: Rotation | None,
        *,
        token: str | None = None,
        identity_id: str | None = None,
        key: str | None = None,
        read_every: float | None = None,
        call_every: float = 0.5,
    ):
        self.stack, self.rotation, self.token, self.identity_id = stack, rotation, token, identity_id
        self.key, self.read_every, self.call_every = key, read_every, call_every
        self.reads: list[Read] = []
        self.calls: list[Call] = []
        self.read_errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="e2e-consumer", daemon=True)

    def start(self) -> Consumer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(15)

    def _run(self) -> None:
        next_read = 0.0
        with httpx.Client(timeout=10) as http:
            while not self._stop.is_set():
                if self.token is not None and (
                    self.key is None or (self.read_every is not None and time.time() >= next_read)
                ):
                    self._read(http)
                    next_read = time.time() + (self.read_every or 0)
                if self.key is not None:
                    started = time.time()
                    status = self.stack.chat(self.key, http)
                    self.calls.append(Call(started, time.time(), self.key, status))
                self._stop.wait(self.call_every)

    def _read(self, http: httpx.Client) -> None:
        assert self.rotation is not None and self.token is not None
        started = time.time()
        try:
            response = http.get(
                f"{self.stack.url}/api/v3/secrets/raw/{self.rotation.secret_name}",
                params={"workspaceId": self.stack.project["id"], "environment": "dev", "secretPath": "/"},
                headers=bearer(self.token),
            )
        except httpx.HTTPError as exc:
            self.read_errors.append(type(exc).__name__)
            return
        if response.status_code != 200:
            self.read_errors.append(f"{response.status_code} {response.text[:200]}")
            return
        secret = response.json()["secret"]
        self.reads.append(Read(started, time.time(), secret["secretValue"], secret["version"]))
        self.key = secret["secretValue"]

    # --- what it saw ---------------------------------------------------------------------------

    def first_success(self) -> Call | None:
        return next((c for c in list(self.calls) if c.status == 200), None)

    def first_read_other_than(self, value: str) -> Read | None:
        return next((r for r in list(self.reads) if r.value != value), None)

    def last_read_start(self, value: str) -> float:
        return max(r.started for r in self.reads if r.value == value)

    def statuses(self) -> dict[int, int]:
        counts: dict[int, int] = {}
        for call in self.calls:
            counts[call.status] = counts.get(call.status, 0) + 1
        return counts


@dataclass
class Rotation:
    """One rotation created through the API, and the admin's view of it."""

    stack: Stack
    id: str
    type: str
    secret_name: str

    @property
    def path(self) -> str:
        return f"{BASE}/{self.type}/{self.id}"

    def rotate(self, body: dict | None = None, headers: dict | None = None) -> httpx.Response:
        """R9 rotate-now (with an emergency body when given), as the admin token unless `headers` say else."""
        kwargs: dict[str, Any] = {"headers": headers or {}}
        if body is not None:
            kwargs["json"] = body
        return self.stack.api.post(f"{self.path}/rotate-secrets", **kwargs)

    def object(self) -> dict:
        response = self.stack.api.get(self.path)
        assert response.status_code == 200, response.text
        return response.json()["secretRotation"]

    def history(self) -> list[dict]:
        response = self.stack.api.get(f"{self.path}/history")
        assert response.status_code == 200, response.text
        return response.json()["history"]

    def entry(self, generation: int) -> dict:
        return next(e for e in self.history() if e["generation"] == generation)

    def active_generation(self) -> int | None:
        return next((e["generation"] for e in self.history() if e["state"] == "active"), None)

    def consumers(self) -> dict:
        response = self.stack.api.get(f"{self.path}/consumers")
        assert response.status_code == 200, response.text
        return response.json()

    def admin_value(self) -> tuple[str, int]:
        """The published key and its version, read with the admin token (which is no consumer)."""
        response = self.stack.api.get(
            f"/api/v3/secrets/raw/{self.secret_name}",
            params={"workspaceId": self.stack.project["id"], "environment": "dev", "secretPath": "/"},
        )
        assert response.status_code == 200, response.text
        secret = response.json()["secret"]
        return secret["secretValue"], secret["version"]


@dataclass
class Stack:
    """A running `keyturn serve` (admin client `api`), one provider's emulator, a project and a connection."""

    url: str
    api: httpx.Client
    spec: ProviderSpec
    emulator: EmulatorServer
    project: dict
    connection: dict
    database_url: str
    policy: Policy = field(default_factory=Policy)
    _consumers: list[Consumer] = field(default_factory=list)
    _rotations: int = 0

    @property
    def chat_url(self) -> str:
        # OpenRouter's base URL ends in /api/v1; ARouter's seed contract serves /v1 under its root.
        path = "/chat/completions" if self.spec.app == "open-router" else "/v1/chat/completions"
        return self.emulator.base_url + path

    def chat(self, api_key: str, http: httpx.Client | None = None) -> int:
        """One chat completion with `api_key` at the provider (charged to the key); its HTTP status."""
        response = (http or self.api).post(self.chat_url, json=CHAT_BODY, headers=bearer(api_key))
        return response.status_code

    def key_works(self, api_key: str) -> bool:
        return self.emulator.key_works(api_key)

    def rotation(self, name: str, *, mode: str, enabled: bool = True, **revocation: Any) -> Rotation:
        """A rotation of the provider's type with the issue's policy (`revocation` overrides fields of it)."""
        self._rotations += 1
        secret_name = f"{self.spec.secret_name}_{self._rotations}"
        response = self.api.post(
            f"{BASE}/{self.spec.rotation_type}",
            json={
                "name": name,
                "projectId": self.project["id"],
                "connectionId": self.connection["id"],
                "environment": "dev",
                "secretPath": "/",
                "isAutoRotationEnabled": enabled,
                "rotationInterval": self.policy.interval,
                "parameters": {**self.spec.parameters, "name": name},
                "secretsMapping": {"apiKey": secret_name},
                "revocation": self.policy.block(mode, **revocation),
            },
        )
        assert response.status_code == 200, response.text
        created = response.json()["secretRotation"]
        return Rotation(self, created["id"], created["type"], secret_name)

    def identity(self, name: str, role: str = "viewer") -> tuple[str, str]:
        """A new identity with universal auth, holding `role` in the project: (identity id, access token)."""
        machine = make_machine(self.api, name)
        grant(self.api, self.project["id"], machine.identity_id, role)
        return machine.identity_id, token_for(self.api, machine)

    def consumer(self, rotation: Rotation, name: str, *, read_every: float | None, call_every: float = 0.5) -> Consumer:
        """A started consumer reading `rotation`'s secret as a new viewer identity called `name`."""
        identity_id, token = self.identity(name)
        consumer = Consumer(
            self, rotation, token=token, identity_id=identity_id, read_every=read_every, call_every=call_every
        )
        self._consumers.append(consumer)
        return consumer.start()

    def outsider(self, key: str, call_every: float = 0.5) -> Consumer:
        """A started caller of the provider with `key` that never reads through keyturn."""
        consumer = Consumer(self, None, key=key, call_every=call_every)
        self._consumers.append(consumer)
        return consumer.start()

    def audit_log(self) -> list[dict]:
        """The newest 100 audit entries."""
        response = self.api.get("/api/v1/audit-logs", params={"limit": 100})
        assert response.status_code == 200, response.text
        return response.json()["auditLogs"]

    def stop_consumers(self) -> None:
        for consumer in self._consumers:
            consumer.stop()


def _server_env(database_url: str, openrouter: EmulatorServer, arouter: EmulatorServer, policy: Policy) -> dict:
    return {
        "KEYTURN_DATABASE_URL": database_url,
        "KEYTURN_ROOT_KEY": ROOT_KEY,
        "KEYTURN_ADMIN_TOKEN": ADMIN_TOKEN,
        "KEYTURN_OPENROUTER_BASE_URL": openrouter.base_url,
        "KEYTURN_AROUTER_BASE_URL": arouter.base_url,
        "KEYTURN_WORKER": "embedded",
        "KEYTURN_ROTATION_INTERVAL_UNIT": "seconds",
        "KEYTURN_WORKER_POLL_SECONDS": str(policy.poll),
        "KEYTURN_WEB_WORKERS": "1",  # two cores shared with the test process and another test
        "KEYTURN_CLIENT_SECRET_HASH_COST": "low",
        "KEYTURN_HTTP_TIMEOUT_SECONDS": "5",
    }


@contextmanager
def _stack(app: str, database_url: str, openrouter, arouter, tmp_path: Path) -> Iterator[Stack]:
    spec = SPECS[app]
    emulator = {"open-router": openrouter, "arouter": arouter}[app]
    policy = Policy()
    log = tmp_path / "keyturn.log"
    try:
        with keyturn_server(_server_env(database_url, openrouter, arouter, policy), tmp_path, log=log) as (url, _):
            api = httpx.Client(base_url=url, headers=bearer(ADMIN_TOKEN), timeout=30)
            project = api.post("/api/v1/projects", json={"projectName": "e2e"}).json()["project"]
            response = api.post(
                f"/api/v1/app-connections/{spec.app}",
                json={
                    "name": f"e2e-{spec.app}",
                    "method": "api-key",
                    "projectId": project["id"],
                    "credentials": {"apiKey": emulator.create_management_key()},
                },
            )
            assert response.status_code == 200, response.text
            stack = Stack(url, api, spec, emulator, project, response.json()["appConnection"], database_url, policy)
            try:
                yield stack
            finally:
                stack.stop_consumers()
                api.close()
    finally:
        if log.exists():  # pytest shows it only for a failed test
            print("--- keyturn serve log (tail) ---")
            print("\n".join(log.read_text().splitlines()[-LOG_TAIL_LINES:]))


@pytest.fixture(params=PROVIDERS)
def stack(request, db_url, openrouter, arouter, tmp_path) -> Iterator[Stack]:
    """`keyturn serve` on `db_url`, with a project and a connection to one provider's emulator (each test runs
    once per provider and database)."""
    with _stack(request.param, db_url, openrouter, arouter, tmp_path) as running:
        yield running


@pytest.fixture
def openrouter_stack(db_url, openrouter, arouter, tmp_path) -> Iterator[Stack]:
    """As `stack`, for OpenRouter only (key lifetimes exist only there)."""
    with _stack("open-router", db_url, openrouter, arouter, tmp_path) as running:
        yield running
