"""The end-of-run invariants, measured from the outside: the emulator's keys, keyturn's API, and the
database only for pending revocations.

- orphaned keys: live at the provider but not one of any rotation's generated credentials;
- published key fails: the key the secrets API serves does not work at the provider;
- more than two live keys: a rotation owning more than two live keys at the provider;
- double mints: more than one key ever created under one name (name = rotation + generation);
- pending revocations: credential rows still `pending` or `revoking`.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass

import httpx
from sqlalchemy import create_engine, text

from app.db import normalise_url
from bench._harness import KEY_NAME, ApiError, Emulator, Keyturn, log, parallel_map, sql_scalar

PENDING_SQL = "SELECT count(*) FROM rotation_credential WHERE state IN ('pending', 'revoking')"
MINTED_SQL = "SELECT count(*) FROM rotation_credential WHERE state = 'minted'"
LEASED_SQL = "SELECT count(*) FROM secret_rotation WHERE lease_owner IS NOT NULL AND lease_expires_at > now()"


@dataclass
class Target:
    rotation_id: str
    secret_name: str
    project_id: str
    environment: str
    secret_path: str


def disable_all(api: Keyturn, targets: list[Target], timeout: float) -> int:
    """Turn auto-rotation off everywhere (the update waits for or is refused by the lease: retry)."""
    deadline = time.monotonic() + timeout

    def one(target: Target) -> int:
        while True:
            try:
                api.update_rotation(target.rotation_id, isAutoRotationEnabled=False)
                return 1
            except (ApiError, httpx.TransportError) as exc:
                if time.monotonic() > deadline:
                    log(f"could not disable {target.rotation_id}: {exc}")
                    return 0
                time.sleep(0.3)

    return sum(parallel_map(one, targets, parallel=4))


def _tracked_key_ids(db_url: str) -> set[str]:
    engine = create_engine(normalise_url(db_url))
    try:
        with engine.connect() as conn:
            return set(conn.execute(text("SELECT key_id FROM rotation_credential WHERE key_id IS NOT NULL")).scalars())
    finally:
        engine.dispose()


def _owned_hashes(api: Keyturn, target: Target) -> set[str]:
    creds = api.generated_credentials(target.rotation_id)["generatedCredentials"]
    return {c["keyHash"] for c in creds if c}


def measure(api: Keyturn, emulator: Emulator, db_url: str, targets: list[Target]) -> dict:
    owned = parallel_map(lambda t: _owned_hashes(api, t), targets, parallel=8)
    owned_all = set().union(*owned) if owned else set()
    live = emulator.state()["live_keys"]
    created = emulator.created()
    by_rotation = Counter()
    for key in live:
        match = KEY_NAME.search(key["name"])
        if match:
            by_rotation[match.group(2)] += 1
    orphans = [k for k in live if k["hash"] not in owned_all]
    tracked = _tracked_key_ids(db_url)

    def published_fails(target: Target) -> int:
        try:
            value = api.read_secret(
                project_id=target.project_id,
                environment=target.environment,
                secret_path=target.secret_path,
                name=target.secret_name,
            )
        except ApiError:
            return 1
        return 0 if emulator.key_works(value) else 1

    return {
        "orphaned_keys": len(orphans),
        # Live keys keyturn has no record of at all (worse than a queued revocation): must stay 0 throughout.
        "untracked_keys": sum(1 for k in orphans if k["hash"] not in tracked),
        "published_key_fails": sum(parallel_map(published_fails, targets, parallel=8)),
        "over_two_live_keys": sum(1 for n in by_rotation.values() if n > 2),
        "double_mints": sum(1 for n in created["created"].values() if n > 1),
        "pending_revocations": int(sql_scalar(db_url, PENDING_SQL)),
        "minted_unpublished": int(sql_scalar(db_url, MINTED_SQL)),
        "live_keys": len(live),
        "provider_creates": created["create_count"],
        "faults_fired": created.get("faults_fired", {}),
        "orphan_names": [k["name"] for k in orphans][:10],
    }


ZERO_COUNTERS = ("orphaned_keys", "published_key_fails", "over_two_live_keys", "double_mints", "pending_revocations")


def settle(api: Keyturn, emulator: Emulator, db_url: str, targets: list[Target], timeout: float) -> dict:
    """Poll until every zero-counter is 0 (and nothing is mid-flight), or until `timeout`; return the last
    measurement with the time it took."""
    started = time.monotonic()
    while True:
        result = measure(api, emulator, db_url, targets)
        settled = all(result[name] == 0 for name in ZERO_COUNTERS) and result["minted_unpublished"] == 0
        result["settle_seconds"] = round(time.monotonic() - started, 1)
        result["settled"] = settled
        if settled or time.monotonic() - started > timeout:
            return result
        log(
            "settling: "
            + ", ".join(f"{n}={result[n]}" for n in (*ZERO_COUNTERS, "minted_unpublished", "untracked_keys"))
        )
        time.sleep(2)


def rotations_completed(api: Keyturn, targets: list[Target]) -> dict:
    """Rotations that published a new key (beyond generation 1), and the final statuses."""

    def one(target: Target) -> tuple[int, str]:
        history = api.history(target.rotation_id)
        published = sum(1 for h in history if h.get("publishedAt"))
        status = api.rotation(target.rotation_id)["rotationStatus"]
        return max(0, published - 1), status

    results = parallel_map(one, targets, parallel=8)
    return {
        "rotations_completed": sum(n for n, _ in results),
        "rotations_never_rotated": sum(1 for n, _ in results if n == 0),
        "final_status": dict(Counter(s for _, s in results)),
    }
