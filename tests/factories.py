"""Builders the tests share: identities and tokens, the role matrix, rotations (through the API and through
the engine), one provider as the engine tests see it, a canned HTTP server, real processes on loopback, and
waits on them.

Fixtures live in conftest.py files; test modules import builders from here and never from each other.
"""

from __future__ import annotations

import base64
import collections
import fcntl
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any, TypeVar

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from app import db
from app.models import Environment, RotationCredential, Secret, SecretRotation
from app.models.credential import CredentialState
from app.models.sealed import ROTATION_MESSAGE
from app.rotation import engine
from app.rotation.intents import key_name
from app.store import secrets as secrets_store
from app.timeutil import utcnow
from emulators import arouter as arouter_emulator
from emulators import openrouter as openrouter_emulator
from emulators.server import EmulatorServer

ROOT = Path(__file__).resolve().parent.parent
ROOT_KEY = "k1:" + base64.b64encode(b"\x01" * 32).decode()
ADMIN_TOKEN = "test-admin-token-" + "a" * 40


# --- identities, tokens and memberships ------------------------------------------------------


@dataclass
class Machine:
    """An identity with universal auth and one client secret."""

    identity_id: str
    client_id: str
    client_secret: str
    client_secret_id: str
    tokens: list[str] = field(default_factory=list)


def create_identity(client: TestClient, name: str = "billing-api", **extra) -> str:
    response = client.post("/api/v1/identities", json={"name": name, **extra})
    assert response.status_code == 200, response.text
    return response.json()["identity"]["id"]


def make_machine(client: TestClient, name: str = "billing-api", ua: dict | None = None) -> Machine:
    identity_id = create_identity(client, name)
    response = client.post(f"/api/v1/auth/universal-auth/identities/{identity_id}", json=ua or {})
    assert response.status_code == 200, response.text
    client_id = response.json()["identityUniversalAuth"]["clientId"]
    response = client.post(f"/api/v1/auth/universal-auth/identities/{identity_id}/client-secrets", json={})
    assert response.status_code == 200, response.text
    body = response.json()
    return Machine(identity_id, client_id, body["clientSecret"], body["clientSecretData"]["id"])


def login(anon: TestClient, machine: Machine, secret: str | None = None):
    return anon.post(
        "/api/v1/auth/universal-auth/login",
        json={
            "clientId": machine.client_id,
            "clientSecret": machine.client_secret if secret is None else secret,
        },
        headers={"Authorization": ""},
    )


def token_for(anon: TestClient, machine: Machine) -> str:
    response = login(anon, machine)
    assert response.status_code == 200, response.text
    return response.json()["accessToken"]


def grant(
    client: TestClient, project_id: str, identity_id: str, roles: list[str] | str, scope: dict | None = None
) -> dict:
    roles = [roles] if isinstance(roles, str) else roles
    body = {"roles": [{"role": r, "isTemporary": False} for r in roles]}
    if scope is not None:
        body["scope"] = scope
    response = client.post(f"/api/v1/projects/{project_id}/memberships/identities/{identity_id}", json=body)
    assert response.status_code == 200, response.text
    return response.json()["identityMembership"]


def assert_rate_limited(response, *, limit: int, longest: int) -> int:
    """Infisical's refusal, exactly as clients parse it (docs/contracts.md, consumer §8); returns Retry-After."""
    assert response.status_code == 429, response.text
    assert response.headers["content-type"] == "application/json"
    retry_after = int(response.headers["Retry-After"])  # whole seconds: the operator parses an integer
    assert 1 <= retry_after <= longest
    assert response.headers["x-ratelimit-limit"] == str(limit)
    assert response.headers["x-ratelimit-remaining"] == "0"
    assert response.headers["x-ratelimit-reset"] == str(retry_after)
    body = response.json()
    assert body.keys() == {"reqId", "statusCode", "message", "error"} and body["reqId"].startswith("req-")
    assert (body["statusCode"], body["error"]) == (429, "RateLimitExceeded")
    assert body["message"] == f"Rate limit exceeded. Please try again in {retry_after} seconds"
    return retry_after


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def as_identity(client, project, roles, scope=None, name="billing-api") -> dict:
    """Headers of a new identity holding `roles` (optionally scoped) in `project`."""
    machine = make_machine(client, name)
    grant(client, project["id"], machine.identity_id, roles, scope)
    return {"Authorization": f"Bearer {token_for(client, machine)}"}


# --- the role matrix (identity §8.2), written from the spec, not from the code --------------

ROLES = ("admin", "member", "viewer", "no-access")

# (subject, action): the roles allowed
MATRIX = {
    ("secrets", "describeSecret"): {"admin", "member", "viewer"},
    ("secrets", "read"): {"admin", "member", "viewer"},
    ("secrets", "readValue"): {"admin", "member", "viewer"},
    ("secrets", "create"): {"admin"},
    ("secrets", "edit"): {"admin"},
    ("secrets", "delete"): {"admin"},
    ("secret-rotation", "read"): {"admin", "member", "viewer"},
    ("secret-rotation", "rotate-secrets"): {"admin", "member"},
    ("secret-rotation", "revoke-superseded"): {"admin"},  # keyturn's emergency rotation (rotation §14l)
    ("secret-rotation", "read-generated-credentials"): {"admin"},
    ("secret-rotation", "create"): {"admin"},
    ("secret-rotation", "edit"): {"admin"},
    ("secret-rotation", "delete"): {"admin"},
    ("app-connections", "read"): {"admin"},
    ("app-connections", "connect"): {"admin"},
    ("app-connections", "create"): {"admin"},
    ("app-connections", "edit"): {"admin"},
    ("app-connections", "delete"): {"admin"},
    ("project", "read"): {"admin", "member", "viewer"},
    ("environments", "read"): {"admin", "member", "viewer"},
}


# --- rotations through the API ---------------------------------------------------------------

BASE = "/api/v2/secret-rotations"
OR = f"{BASE}/open-router-api-key"


def seed_body(project: dict, connection: dict, **overrides) -> dict:
    """The rotation §5.5 example request, pointed at the test project and connection."""
    body = {
        "name": "my-open-router-rotation",
        "projectId": project["id"],
        "description": "OpenRouter API key rotation",
        "connectionId": connection["id"],
        "environment": "dev",
        "secretPath": "/",
        "isAutoRotationEnabled": True,
        "rotationInterval": 30,
        "rotateAtUtc": {"hours": 0, "minutes": 0},
        "parameters": {"name": "my-app-key", "limit": 100, "limitReset": "monthly", "includeByokInLimit": False},
        "secretsMapping": {"apiKey": "OPEN_ROUTER_API_KEY"},
    }
    body.update(overrides)
    return body


def insert_rotation(
    project: dict,
    connection: dict,
    *,
    rotation_type: str = "open-router-api-key",
    name: str = "stored",
    failure: str | None = "boom",
) -> str:
    """A rotation row written straight to the database, for look-ups and refusals that need no provider;
    with `failure`, its last attempt failed with that (sealed) message."""
    with db.unit_of_work() as session:
        env = session.exec(
            select(Environment).where(Environment.project_id == project["id"], Environment.slug == "dev")
        ).one()
        now = utcnow()
        row = SecretRotation(
            project_id=project["id"],
            environment_id=env.id,
            secret_path="/",
            name=name,
            type=rotation_type,
            connection_id=connection["id"],
            parameters={"name": "k"},
            secrets_mapping={"apiKey": "K"},
            rotation_interval=30,
            last_rotation_attempted_at=now,
            last_rotated_at=now,
        )
        if failure is not None:
            row.rotation_status = "failed"
            row.last_rotation_message = ROTATION_MESSAGE.seal(row.id, failure)
        session.add(row)
        return row.id


def post_rotation(client, project, connection, **overrides) -> dict:
    """An OpenRouter rotation created through the API from the seed request; its secretRotation object."""
    response = client.post(OR, json=seed_body(project, connection, **overrides))
    assert response.status_code == 200, response.text
    return response.json()["secretRotation"]


# --- secrets written straight to the store, for the read API's tests ------------------------


def put_secret(project_id: str, key: str, value: str, *, environment: str = "prod", path: str = "/") -> str:
    """A secret no rotation owns, at (environment slug, path); its id."""
    with db.unit_of_work() as session:
        env_id = session.exec(
            select(Environment.id).where(Environment.project_id == project_id, Environment.slug == environment)
        ).one()
        row = secrets_store.create_secret(
            session, project_id=project_id, environment_id=env_id, path=path, key=key, value=value
        )
        return row.id


def set_secret_value(secret_id: str, value: str) -> None:
    """Publish a new value, as a rotation does: a new version and updatedAt."""
    with db.unit_of_work() as session:
        secrets_store.set_value(session, session.get(Secret, secret_id), value)


def delete_secret(secret_id: str) -> None:
    with db.unit_of_work() as session:
        session.delete(session.get(Secret, secret_id))


# --- one provider as the engine tests see it -------------------------------------------------
# Its emulator, a connection made through the API, its rotation type and parameters, and where its faults
# go. The `provider_case` fixture (tests/conftest.py) runs a test once per provider, so a provider
# difference shows up as a failing engine test, not as a copy of one.

PROVIDERS = ["open-router", "arouter"]


@dataclass(frozen=True)
class ProviderSpec:
    """What differs between providers, as data."""

    app: str  # app-connection slug
    display_name: str  # as it appears in messages ("Failed to create OpenRouter API key: ...")
    rotation_type: str
    parameters: dict[str, Any]  # valid parameters for the rotation type, camelCase as the API takes them
    secret_name: str
    paths: dict[str, tuple[str, str]]  # operation -> (method, path regex) for fault injection
    id_field: str  # the key id in the emulator's list form
    limit_field: str  # where the emulator's list form shows the spending limit
    key_prefix: str  # how a minted (non-admin) key starts: never in a log line
    messages: dict[int, str]  # the emulator's default error text per status


SPECS = {
    "open-router": ProviderSpec(
        app="open-router",
        display_name="OpenRouter",
        rotation_type="open-router-api-key",
        parameters={"name": "my-app-key", "limit": 100, "limitReset": "monthly", "includeByokInLimit": False},
        secret_name="OPEN_ROUTER_API_KEY",
        paths={
            "mint": ("POST", r"/keys$"),
            "verify": ("GET", r"/key$"),
            "revoke": ("DELETE", r"/keys/"),
            "list": ("GET", r"/keys$"),
        },
        id_field="hash",
        limit_field="limit",
        key_prefix="sk-or-v1-",
        messages=openrouter_emulator.MESSAGES,
    ),
    "arouter": ProviderSpec(
        app="arouter",
        display_name="ARouter",
        rotation_type="arouter-api-key",
        parameters={"name": "my-app-key", "allowedProviders": ["openai", "anthropic"], "spendingLimit": 50},
        secret_name="AROUTER_API_KEY",
        paths={
            "mint": ("POST", r"/v1/keys$"),
            "verify": ("GET", r"/v1/models$"),
            "revoke": ("DELETE", r"/v1/keys/"),
            "list": ("GET", r"/v1/keys$"),
        },
        id_field="id",
        limit_field="spending_limit",
        key_prefix="lr_live_",
        messages=arouter_emulator.MESSAGES,
    ),
}


@dataclass
class ProviderCase:
    spec: ProviderSpec
    emulator: EmulatorServer
    project: dict
    connection: dict  # the API's appConnection object
    management_key: str = field(repr=False)

    @property
    def app(self) -> str:
        return self.spec.app

    @property
    def display_name(self) -> str:
        return self.spec.display_name

    @property
    def rotation_type(self) -> str:
        return self.spec.rotation_type

    @property
    def parameters(self) -> dict[str, Any]:
        return dict(self.spec.parameters)

    @property
    def secret_name(self) -> str:
        return self.spec.secret_name

    @property
    def key_prefix(self) -> str:
        return self.spec.key_prefix

    def fault(self, operation: str, **options: Any) -> None:
        """Inject a fault into one provider operation: "mint", "verify", "revoke" or "list"."""
        method, path_regex = self.spec.paths[operation]
        self.emulator.add_fault(method, path_regex, **options)

    def live_keys(self) -> list[dict]:
        return self.emulator.live_keys()

    def live_ids(self) -> set[str]:
        return {k[self.spec.id_field] for k in self.emulator.live_keys()}

    def live_names(self) -> set[str]:
        return {k["name"] for k in self.emulator.live_keys()}

    def key_works(self, api_key: str) -> bool:
        return self.emulator.key_works(api_key)

    @property
    def create_count(self) -> int:
        return self.emulator.create_count

    def error(self, operation: str, status: int) -> str:
        """The message the engine stores for a provider operation that the emulator answered `status`."""
        prefix = {
            "mint": f"Failed to create {self.display_name} API key",
            "verify": f"{self.display_name} API key verification failed",
            "revoke": f"Failed to delete {self.display_name} API key",
        }[operation]
        return f"{prefix}: {self.spec.messages[status]}"


# --- rotations through the engine, and their rows --------------------------------------------
# Real rows, real emulator state. Set-up takes a ProviderCase, so the same builder makes an OpenRouter or
# an ARouter rotation.


def new_rotation(
    case: ProviderCase,
    *,
    name: str = "my-rotation",
    interval: int = 30,
    enabled: bool = True,
    key_name: str = "my-app-key",
) -> SecretRotation:
    """An unsaved rotation of the case's type, with the type's full parameters (the key name overridable)."""
    project_id = case.project["id"]
    with Session(db.engine()) as session:
        env = session.exec(
            select(Environment).where(Environment.project_id == project_id, Environment.slug == "dev")
        ).one()
        env_id = env.id
    return SecretRotation(
        id=str(uuid.uuid4()),
        project_id=project_id,
        environment_id=env_id,
        secret_path="/",
        name=name,
        type=case.rotation_type,
        connection_id=case.connection["id"],
        parameters={**case.parameters, "name": key_name},
        secrets_mapping={"apiKey": case.secret_name},
        is_auto_rotation_enabled=enabled,
        rotation_interval=interval,
        rotate_at_hours=0,
        rotate_at_minutes=0,
        last_rotation_attempted_at=None,
        last_rotated_at=None,
    )


def create_draft(case: ProviderCase, draft: SecretRotation, recheck=lambda session: None) -> SecretRotation:
    return engine.create_rotation(draft, secret_name=case.secret_name, recheck=recheck)


def create_rotation(case: ProviderCase, **kwargs) -> SecretRotation:
    """A rotation of the case's type created by the engine (its first key minted and published)."""
    return create_draft(case, new_rotation(case, **kwargs))


def credentials(rotation_id: str) -> list[RotationCredential]:
    with Session(db.engine()) as session:
        return list(
            session.exec(
                select(RotationCredential)
                .where(RotationCredential.rotation_id == rotation_id)
                .order_by(RotationCredential.generation)
            ).all()
        )


def states(rotation_id: str) -> dict[int, str]:
    return {c.generation: c.state for c in credentials(rotation_id)}


def row(rotation_id: str) -> SecretRotation | None:
    with Session(db.engine()) as session:
        return session.get(SecretRotation, rotation_id)


def secret(rotation_id: str) -> Secret:
    with Session(db.engine()) as session:
        return session.exec(select(Secret).where(Secret.rotation_id == rotation_id)).one()


def published_key(rotation_id: str) -> str:
    return secrets_store.decrypt_value(secret(rotation_id))


def update_row(rotation_id: str, **values) -> None:
    with Session(db.engine()) as session:
        rotation = session.get(SecretRotation, rotation_id)
        for field, value in values.items():
            setattr(rotation, field, value)
        session.add(rotation)
        session.commit()


def update_credential(credential_id: str, **values) -> None:
    with Session(db.engine()) as session:
        credential = session.get(RotationCredential, credential_id)
        for field, value in values.items():
            setattr(credential, field, value)
        session.add(credential)
        session.commit()


# --- a canned HTTP server --------------------------------------------------------------------


class CannedServer:
    """A loopback HTTP server that answers every request with one fixed response: for provider answers
    the emulator cannot produce (non-JSON bodies, malformed successes)."""

    def __init__(self, status: int = 200, body: bytes = b"<html>hello</html>", content_type: str = "text/html"):
        self.status, self.body, self.content_type = status, body, content_type
        canned = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                self.send_response(canned.status)
                self.send_header("Content-Type", canned.content_type)
                self.send_header("Content-Length", str(len(canned.body)))
                self.end_headers()
                self.wfile.write(canned.body)

            do_GET = do_POST = do_DELETE = do_PATCH = _answer

            def log_message(self, *args):
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/api/v1"

    def __enter__(self) -> CannedServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


# --- real processes on loopback: the OpenRouter emulator and `keyturn serve` ---------------------


# Ports for the servers the tests start. A port from bind(0) is free only until the server binds it, seconds later,
# and another xdist worker (or another pytest run) could be handed the same one meanwhile: its server would then
# answer our readiness probe, and our requests would go to another test's server until that test stopped it (the
# CI failure of 2026-12-01). So each port is also claimed, with a lock file only one process can hold, and a
# claim is kept for the next CLAIMS_KEPT picks: by then the test that used it, and its server, are long gone.
PORT_CLAIMS = Path(tempfile.gettempdir()) / "keyturn-test-ports"
CLAIMS_KEPT = 64
_claims: collections.deque[IO[str]] = collections.deque()


def free_port() -> int:
    """A loopback port nobody listens on, which no other pytest process on this machine is handed meanwhile."""
    PORT_CLAIMS.mkdir(exist_ok=True)
    for _ in range(100):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        claim = open(PORT_CLAIMS / str(port), "w")  # noqa: SIM115 - held open: the lock lives as long as the file
        try:
            fcntl.flock(claim, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            claim.close()  # another process's server has it, or is about to
            continue
        _claims.append(claim)
        if len(_claims) > CLAIMS_KEPT:
            _claims.popleft().close()
        return port
    raise RuntimeError("no port could be claimed in 100 tries")


@contextmanager
def emulator_process(management_key_file: Path) -> Iterator[str]:
    """The OpenRouter emulator as its own process; yields its base URL."""
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "emulators",
            "openrouter",
            "--port",
            str(port),
            "--management-key-file",
            str(management_key_file),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert "listening" in process.stdout.readline()
        yield f"http://127.0.0.1:{port}/api/v1"
    finally:
        process.terminate()
        process.wait(timeout=30)


@contextmanager
def keyturn_server(
    env: dict[str, str | None], cwd: Path, log: Path | None = None
) -> Iterator[tuple[str, subprocess.Popen]]:
    """Migrate, then run `keyturn serve` with `env` (None removes a variable) on a free port; yields
    (base URL, process). The process's stderr (its log) is readable after the block, or written to `log`:
    a pipe nobody reads fills up and stalls a server that runs for a minute."""
    port = free_port()
    merged = {**os.environ, **env, "KEYTURN_PORT": str(port)}
    env = {name: value for name, value in merged.items() if value is not None}
    subprocess.run([sys.executable, "-m", "app.cli", "migrate"], env=env, cwd=cwd, check=True, capture_output=True)
    stderr = open(log, "w") if log is not None else subprocess.PIPE  # noqa: SIM115 - closed with the process
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve"],
        env=env,
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=stderr,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        # Generous: on a loaded two-core machine a cold start of Python, FastAPI and the app can take tens of
        # seconds, and a status probe more than a second.
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, "keyturn exited during start-up"
            try:
                if httpx.get(f"{url}/api/status", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "keyturn did not start"
            time.sleep(0.2)
        yield url, process
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        if log is not None:
            stderr.close()


# --- waiting on real processes ------------------------------------------------------------------

T = TypeVar("T")


def ts(value: str) -> float:
    """A timestamp keyturn reported (ISO 8601, `Z`) as epoch seconds."""
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def wait_until(predicate: Callable[[], T], timeout: float, what: str, interval: float = 0.1) -> T:
    """Poll `predicate` until it returns something truthy (returned); fail naming `what` after `timeout` s."""
    deadline = time.time() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.time() >= deadline:
            pytest.fail(f"timed out after {timeout:.1f} s waiting for {what}")
        time.sleep(interval)


def holds_for(predicate: Callable[[], bool], until: float, what: str, interval: float = 0.1) -> None:
    """Check `predicate` until the wall-clock time `until`; fail at the first moment it is false."""
    while time.time() < until:
        assert predicate(), f"{what} stopped holding {until - time.time():.1f} s early"
        time.sleep(interval)


def new_intent(
    *,
    rotation_id: str,
    connection_id: str,
    provider: str,
    generation: int,
    base_name: str,
    now: datetime,
    credential_fingerprint: str,
) -> RotationCredential:
    """A pending intent as an unsaved ORM row, for tests that plant one in a state of their choosing (the engine
    writes its intents with intents.insert_intent)."""
    return RotationCredential(
        rotation_id=rotation_id,
        connection_id=connection_id,
        provider=provider,
        generation=generation,
        key_name=key_name(base_name, rotation_id, generation, now),
        state=CredentialState.PENDING,
        created_at=now,
        credential_fingerprint=credential_fingerprint,
    )


@contextmanager
def served(app) -> Iterator[str]:
    """`app` served by uvicorn on a free loopback port, in a thread of this process; yields its base URL."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "keyturn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{server.config.port}"
    finally:
        server.should_exit = True
        thread.join(10)


class EventStream:
    """A project-events subscription read by a real HTTP client in a thread: its frames as they arrive, each
    {"event", "id", "data"} (data parsed as JSON when present), and whether the server ended it."""

    PATH = "/api/v1/events/subscribe/project-events"

    def __init__(self, url: str, token: str, body: dict):
        self.frames: list[dict] = []
        self.ended = threading.Event()
        self._client = httpx.Client(base_url=url, timeout=httpx.Timeout(10, read=None))
        request = self._client.build_request("POST", self.PATH, json=body, headers=bearer(token))
        self.response = self._client.send(request, stream=True)
        if self.response.status_code == 200:
            threading.Thread(target=self._read, daemon=True).start()
        else:
            self.response.read()
            self.close()

    def _read(self) -> None:
        frame: dict = {}
        try:
            for line in self.response.iter_lines():
                if line == "":
                    if frame:
                        self.frames.append(frame)
                    frame = {}
                    continue
                name, _, value = line.partition(": ")
                frame[name] = json.loads(value) if name == "data" else value
        except httpx.HTTPError:
            pass  # closed by this side
        self.ended.set()

    def named(self, event: str) -> list[dict]:
        return [f for f in list(self.frames) if f.get("event") == event]

    def pings(self) -> int:
        return len(self.named("ping"))

    def changes(self) -> list[dict]:
        """The `data` of every secret change frame."""
        return [f["data"] for f in self.named("secret-manager")]

    def close(self) -> None:
        self.response.close()
        self._client.close()


# --- a webhook receiver ---------------------------------------------------------------------------


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict:
        import json

        return json.loads(self.body)

    def signature_valid(self, secret_key: str) -> bool:
        """Checks `x-infisical-signature: t=<timestamp>;<hex>` as a receiver would: HMAC-SHA256 of the raw body,
        and the same timestamp as the body's."""
        import hashlib
        import hmac

        stamp, _, digest = self.headers.get("x-infisical-signature", "").partition(";")
        expected = hmac.new(secret_key.encode(), self.body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(digest, expected) and stamp == f"t={self.json['timestamp']}"


class WebhookReceiver:
    """A loopback HTTP server that records every POST and answers `status` (after `delay` seconds). `stop()` closes
    the port (the receiver is down: connections are refused); `start()` opens the same port again."""

    def __init__(self, status: int = 200, delay: float = 0.0):
        self.status, self.delay = status, delay
        self.received: list[Received] = []
        self.arrived = 0  # requests whose body was read, answered or not
        self.port = free_port()
        self._httpd: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> WebhookReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.arrived += 1
                time.sleep(receiver.delay)
                receiver.received.append(Received({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self._httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def events(self, name: str) -> list[Received]:
        return [r for r in self.received if r.json.get("event") == name]

    def event_ids(self) -> set[str]:
        return {r.json["eventId"] for r in self.received}

    def __enter__(self) -> WebhookReceiver:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def create_webhook(client, project: dict, url: str, **overrides) -> dict:
    """A webhook on the project's `dev` environment, every path, signed with `whsec-test-key`."""
    body = {
        "projectId": project["id"],
        "environment": "dev",
        "webhookUrl": url,
        "webhookSecretKey": "whsec-test-key",
        "secretPath": "/**",
        **overrides,
    }
    response = client.post("/api/v1/webhooks", json=body)
    assert response.status_code == 200, response.text
    return response.json()["webhook"]


def queued_events(name: str | None = None) -> list[dict]:
    """The bodies in the webhook outbox (every delivery, sent or not), oldest first; only `name`'s when given."""
    import json

    from app.models import WebhookDelivery

    with Session(db.engine()) as session:
        rows = session.exec(select(WebhookDelivery).order_by(WebhookDelivery.occurred_at_ms)).all()
    bodies = [json.loads(row.body) for row in rows]
    return [body for body in bodies if name is None or body["event"] == name]
