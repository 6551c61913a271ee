"""Settings, read from KEYTURN_* environment variables and validated at start-up."""

from __future__ import annotations

import base64
import binascii
import logging
import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

log = logging.getLogger("keyturn.config")

DATA_DIR = Path(".keyturn")
PLACEHOLDER_TOKENS = {"changeme", "change-me", "admin", "password", "secret", "token", "test"}
INTERVAL_UNIT_SECONDS = {"days": 86400, "hours": 3600, "minutes": 60, "seconds": 1}
# URL schemes keyturn runs on (SQLAlchemy's dialect names; `postgres` is the common alias).
DATABASE_SCHEMES = {"sqlite": "sqlite", "postgresql": "postgresql", "postgres": "postgresql"}

# Bounds of the revocation policy (issue 12). A rotation's own `revocation` block (app.schemas.revocation_policy)
# and the KEYTURN_REVOCATION_* defaults for new rotations share them, so a default is always a value the API takes.
DAY_SECONDS = 86400
RevocationMode = Literal["scheduled", "when-unused"]
REVOCATION_MODES: tuple[str, ...] = get_args(RevocationMode)
MAX_MIN_OVERLAP_SECONDS = 7 * DAY_SECONDS
MIN_QUIET_SECONDS, MAX_QUIET_SECONDS = 1, DAY_SECONDS
MAX_HOLD_SECONDS = 30 * DAY_SECONDS
MAX_KEY_LIFETIME_SECONDS = 3650 * DAY_SECONDS  # ten years, as the longest rotation interval


class ConfigError(Exception):
    """A setting is unusable; the message is one line meant for the operator."""


ENV_PREFIX = "KEYTURN_"
# prometheus-client's multiprocess mode counts in this directory (app.metrics); `keyturn serve` sets it (app.serve).
METRICS_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


class ProviderSettings(PydanticBaseSettingsSource):
    """Every KEYTURN_* variable that is not a field of Settings, by its lower-case name, kept as an extra.

    Provider settings (a base URL, a wire-format choice) are declared by their entries in app.catalogue,
    which reads them from `Settings.model_extra`; so adding a provider never edits this module."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # fields are the environment source's job

    def __call__(self) -> dict[str, Any]:
        fields = self.settings_cls.model_fields
        extras = {}
        for env_name, value in os.environ.items():
            name = env_name[len(ENV_PREFIX) :].lower()
            if env_name.upper().startswith(ENV_PREFIX) and name and name not in fields:
                extras[name] = value
        return extras


class Settings(BaseSettings):
    # `extra="allow"`: provider settings arrive as extras, from the environment or as keyword arguments.
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="allow")

    database_url: str = f"sqlite:///{DATA_DIR}/keyturn.db"
    root_key: SecretStr | None = None
    root_key_file: Path | None = None
    admin_token: SecretStr | None = None
    host: str = "127.0.0.1"
    port: int = 8080
    # The reverse proxies whose X-Forwarded-For / X-Forwarded-Proto are believed (comma-separated IPs or
    # networks). Unset: those headers are ignored, so no client can claim another address.
    forwarded_allow_ips: str | None = None
    # Serve the OpenAPI document at /openapi.json (no token needed). On for the embedded default; the compose
    # file turns it off. No HTML docs are served: they would load scripts from a CDN.
    docs: bool = True
    worker: Literal["embedded", "off"] = "embedded"
    worker_poll_seconds: float = Field(5.0, gt=0)
    worker_concurrency: int = Field(4, ge=1, le=256)
    lease_seconds: float = Field(60.0, gt=1)
    # Leases and ages follow the database's clock; a process clock further off than this is reported at start
    # and in /api/status, since the timestamps it writes (next rotation, audit times) are off by as much.
    clock_skew_limit_seconds: float = Field(5.0, gt=0)
    rotation_interval_unit: Literal["days", "hours", "minutes", "seconds"] = "days"
    http_timeout_seconds: float = Field(15.0, gt=0)
    # Provider limits, per app connection and per process (app.rotation.limits).
    provider_max_concurrency: int = Field(4, ge=1, le=256)
    provider_rate_per_second: float = Field(10.0, ge=0)  # 0 turns the rate limit off
    provider_burst: int = Field(10, ge=1, le=10000)
    # Backoff of failed scheduled rotation attempts and of failed revocations (exponential, jittered, capped).
    rotation_retry_base_seconds: float = Field(30.0, gt=0)
    rotation_retry_max_seconds: float = Field(1800.0, gt=0)
    revoke_retry_base_seconds: float = Field(30.0, gt=0)
    revoke_retry_max_seconds: float = Field(3600.0, gt=0)
    # How old an open intent must be before the worker reconciles it without holding its lease; unset means
    # lease_seconds plus ten HTTP timeouts (longer than any create or rotation keeps an intent open, limiter waits
    # included).
    intent_grace_seconds: float | None = Field(None, gt=0)
    # argon2id cost for client-secret hashes: `default` is argon2-cffi's (RFC 9106 low-memory profile);
    # `low` is for tests only. Existing hashes stay verifiable either way (parameters are encoded in them).
    client_secret_hash_cost: Literal["default", "low"] = "default"
    # Threads that run client-secret hash checks (logins), apart from the pool reads use. Each argon2id check
    # holds 64 MiB while it runs, so this also bounds login memory. Unset: 2, or 1 on a one-CPU machine.
    login_hash_workers: int | None = Field(None, ge=1, le=64)
    # Rate limits (KEYTURN_RATE_LIMIT_*): token buckets per process, a burst refilled at a rate; a rate of 0
    # turns that limit off. A refusal is Infisical's 429: Retry-After in whole seconds, x-ratelimit-* headers.
    # Logins, checked before any database or hash work, per client id and per client IP (the proxy's, unless
    # KEYTURN_FORWARDED_ALLOW_IPS names it). Per client id: a burst of 60 lets a 50-pod deployment sharing one
    # client id start at once, and 1/s holds a login loop (a pod logs in once per token lifetime). Per IP: a burst
    # of 20 covers the pods of one node behind its address; 0.5/s caps what one address can spend on hashes and
    # failure audit rows.
    rate_limit_login_client_id_burst: int = Field(60, ge=1, le=100_000)
    rate_limit_login_client_id_per_second: float = Field(1.0, ge=0)
    rate_limit_login_ip_burst: int = Field(20, ge=1, le=100_000)
    rate_limit_login_ip_per_second: float = Field(0.5, ge=0)
    # Secret reads (v3 and v4, one and list), per identity (the admin token is one more): off by default, since a
    # fleet of services sharing one identity can rightly read thousands of times a second.
    rate_limit_reads_burst: int = Field(100, ge=1, le=1_000_000)
    rate_limit_reads_per_second: float = Field(0.0, ge=0)
    log_level: str = "INFO"
    # `json`: one JSON object per log line, for log shippers (app.logformat); `text` stays readable by people.
    log_format: Literal["text", "json"] = "text"
    # GET /metrics is open without it only while keyturn listens on loopback alone (app.metrics_access).
    metrics_token: SecretStr | None = None
    # A separate `keyturn worker` serves its own work metrics on this port (on KEYTURN_HOST); unset: it does not.
    worker_metrics_port: int | None = Field(None, ge=1, le=65535)
    # Request bodies over these sizes are refused with 413 before they are read whole (login and token
    # routes under /api/v1/auth/ take the smaller limit: they are reachable without a token).
    max_body_bytes: int = Field(1024 * 1024, ge=1024)
    max_auth_body_bytes: int = Field(64 * 1024, ge=1024)
    # Defaults of the revocation policy of new rotations (issue 12), not floors: each rotation keeps its own copy
    # (its `revocation` block), which wins down to 0. Changing one changes no existing rotation.
    revocation_mode: RevocationMode = "scheduled"
    # A key that stopped being published is revoked no sooner than this after, so a consumer that read it a
    # moment before keeps a working key however quickly rotations follow each other. Seconds-scale tests and
    # demos set 0.
    revocation_min_overlap_seconds: int = Field(300, ge=0, le=MAX_MIN_OVERLAP_SECONDS)
    revocation_hold_while_in_use: bool = True
    revocation_quiet_seconds: int = Field(600, ge=MIN_QUIET_SECONDS, le=MAX_QUIET_SECONDS)
    revocation_max_hold_seconds: int = Field(86400, ge=0, le=MAX_HOLD_SECONDS)
    # Unset: keys do not expire. Applies only to rotation types whose provider can expire a key (app.catalogue).
    revocation_key_lifetime_seconds: int | None = Field(None, ge=1, le=MAX_KEY_LIFETIME_SECONDS)
    # Project events (server-sent events, clients §7): a ping on every stream this often (the Kubernetes operator
    # reopens a stream after 2 minutes without one); each stream's token and memberships checked again at least
    # this often (an error frame and the end when they fail); at most this many streams per (project, caller) in
    # each web process (Infisical allows 5).
    events_ping_seconds: float = Field(15.0, gt=0, le=60)
    events_recheck_seconds: float = Field(60.0, gt=0, le=60)
    events_streams_per_caller: int = Field(5, ge=1, le=10_000)
    # Webhooks (app.webhooks): targets on private, loopback or shared address ranges are refused unless this is
    # true (link-local and cloud metadata addresses always are). A failed delivery is retried after a backoff from
    # the base, doubling up to the cap, until 24 h after its event.
    webhook_allow_private: bool = False
    webhook_retry_base_seconds: float = Field(10.0, gt=0)
    webhook_retry_max_seconds: float = Field(900.0, gt=0)
    # Web processes `keyturn serve` starts; unset: the CPUs available to it (affinity and cgroup quota).
    web_workers: int | None = Field(None, ge=1, le=256)

    @field_validator("database_url")
    @classmethod
    def _supported_database(cls, value: str) -> str:
        # Only the scheme is named in the message: the rest of the URL may hold a password.
        scheme = value.partition(":")[0].partition("+")[0].lower()
        if scheme not in DATABASE_SCHEMES:
            raise ValueError(
                f"unsupported database {scheme!r}: use sqlite:///PATH (the default) or postgresql://USER@HOST/NAME"
            )
        return value

    @field_validator("metrics_token")
    @classmethod
    def _random_metrics_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not is_random_token(value.get_secret_value()):
            raise ValueError("must be a random string of at least 32 characters")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Keyword arguments win over the environment, as they do for fields.
        return init_settings, env_settings, ProviderSettings(settings_cls), dotenv_settings, file_secret_settings

    @property
    def interval_unit_seconds(self) -> int:
        return INTERVAL_UNIT_SECONDS[self.rotation_interval_unit]

    @property
    def intent_grace(self) -> float:
        if self.intent_grace_seconds is not None:
            return self.intent_grace_seconds
        return self.lease_seconds + 10 * self.http_timeout_seconds

    @property
    def data_dir(self) -> Path:
        """Where generated keys live: beside the SQLite file, else ./.keyturn."""
        prefix = "sqlite:///"
        if self.database_url.startswith(prefix) and ":memory:" not in self.database_url:
            return Path(self.database_url[len(prefix) :]).parent
        return DATA_DIR

    @property
    def login_hash_threads(self) -> int:
        if self.login_hash_workers is not None:
            return self.login_hash_workers
        return min(2, os.cpu_count() or 1)


def is_random_token(token: str) -> bool:
    """Long enough, and not a placeholder: what a bearer token set by an operator must be."""
    return len(token) >= 32 and token.lower() not in PLACEHOLDER_TOKENS


def parse_root_keys(raw: str) -> list[tuple[str, bytes]]:
    """Parse `kid:base64key,...` (or one bare base64 key, kid `k1`); the first entry encrypts."""
    entries = [part.strip() for part in raw.split(",") if part.strip()]
    if not entries:
        raise ConfigError("KEYTURN_ROOT_KEY is empty")
    keys: list[tuple[str, bytes]] = []
    for entry in entries:
        kid, sep, encoded = entry.partition(":")
        if not sep:
            kid, encoded = "k1", entry
        try:
            material = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise ConfigError(f"root key {kid!r} is not valid base64") from None
        if len(material) != 32:
            raise ConfigError(f"root key {kid!r} must decode to 32 bytes, got {len(material)}")
        if not kid or any(k == kid for k, _ in keys):
            raise ConfigError(f"root key id {kid!r} is empty or repeated")
        keys.append((kid, material))
    return keys


def _read_or_generate(path: Path, generate, what: str) -> str:
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    value = generate()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")
    log.warning("No %s configured: generated one into %s (mode 0600). Keep this file safe.", what, path)
    return value


def load_root_keys(settings: Settings) -> list[tuple[str, bytes]]:
    if settings.root_key is not None:
        return parse_root_keys(settings.root_key.get_secret_value())
    if settings.root_key_file is not None:
        try:
            return parse_root_keys(settings.root_key_file.read_text().strip())
        except OSError as exc:
            raise ConfigError(f"cannot read KEYTURN_ROOT_KEY_FILE: {exc.strerror}") from None
    generated = _read_or_generate(
        settings.data_dir / "root.key",
        lambda: "k1:" + base64.b64encode(secrets.token_bytes(32)).decode(),
        "root key",
    )
    return parse_root_keys(generated)


def load_admin_token(settings: Settings) -> str:
    if settings.admin_token is not None:
        token = settings.admin_token.get_secret_value().strip()
    else:
        token = _read_or_generate(settings.data_dir / "admin-token", lambda: secrets.token_hex(32), "admin token")
    if not is_random_token(token):
        raise ConfigError("KEYTURN_ADMIN_TOKEN must be a random string of at least 32 characters")
    return token


_installed: Settings | None = None


def install_settings(settings: Settings) -> None:
    """Make these the process-wide settings (start-up and tests); otherwise they come from the environment."""
    global _installed
    _installed = settings


def get_settings() -> Settings:
    return _installed if _installed is not None else _from_environment()


# Settings whose names changed: still set, they would be read as provider extras and silently do nothing.
RENAMED = {
    f"{ENV_PREFIX}LOGIN_{name}": f"{ENV_PREFIX}RATE_LIMIT_LOGIN_{name}"
    for name in ("CLIENT_ID_BURST", "CLIENT_ID_PER_SECOND", "IP_BURST", "IP_PER_SECOND")
}


@lru_cache
def _from_environment() -> Settings:
    renamed = [f"{old} is now {new}" for old, new in RENAMED.items() if old in os.environ]
    if renamed:
        raise ConfigError("; ".join(renamed))
    try:
        return Settings()
    except ValidationError as exc:
        raise ConfigError(describe(exc)) from None


def describe(error: ValidationError) -> str:
    """One line naming each bad variable, without echoing its value (it may be a secret)."""
    problems = []
    for item in error.errors():
        name = "KEYTURN_" + "_".join(str(part) for part in item["loc"]).upper()
        problems.append(f"{name}: {item['msg'].removeprefix('Value error, ')}")
    return "; ".join(problems)
