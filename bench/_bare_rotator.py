"""A bare rotator: the least work any rotator must do for a round of `bench.rotation_throughput`, as its own process,
so that the bench can print keyturn's worker CPU per rotation as a multiple of a baseline measured in the same run.

    python -m bench._bare_rotator setup  --database-url URL --base-url URL --management-key-file F --n N
    python -m bench._bare_rotator rotate --database-url URL --base-url URL --management-key-file F [--wait-for-go]

`setup` (re)creates the table `bare_rotation(id, generation, key_hash, prev_hash, sealed)` with N rows, each holding
a first key minted at the provider. `rotate` rotates every row once with a pool of `--concurrency` threads, fed by
batches of rows read with one SELECT each. Per rotation: POST /keys with the management key (mint), GET /key with
the new key (verify), DELETE /keys/{hash} of the key from two generations back when the row has one (the first
round after setup has none: 2 calls per rotation, later rounds 3), then the new key sealed with AES-256-GCM (bound to
its row) and written with one UPDATE and a commit. Nothing more: no leases, intents, audit, webhooks, retries or
ORM, and a crash loses keys. The libraries are keyturn's: its shared provider HTTP client (httpx's transport,
app.providers.http), cryptography's AESGCM, and SQLAlchemy Core over psycopg (PostgreSQL) or sqlite3.

Each command prints one JSON line and exits: {"n", "calls", "creates", "revokes", "cpu_s", "wall_s",
"peak_rss_mib"}. `cpu_s` is this process's time.process_time() over the round alone: imports, the engine, the
HTTP client and the database connections come before it, as they do for a keyturn worker started beforehand.
With --wait-for-go, `rotate` prints "ready" once set up and starts when a line arrives on stdin, so the caller
starts its own meters at the same moment. The sealing key is BARE_ROOT_KEY (base64 of 32 bytes), else random.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import resource
import sys
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

if __package__ in (None, ""):  # run as `python bench/<name>.py`: make the repo root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Column, Integer, MetaData, String, Table, Text, bindparam, create_engine, select, update
from sqlalchemy.engine import Engine, make_url

from app.db import normalise_url
from app.providers.http import ProviderHttp

metadata = MetaData()
bare_rotation = Table(
    "bare_rotation",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("generation", Integer, nullable=False),
    Column("key_hash", String(128), nullable=False),
    Column("prev_hash", String(128)),
    Column("sealed", Text, nullable=False),
)
T = bare_rotation.c
PUBLISH = (
    update(bare_rotation)
    .where(T.id == bindparam("row_id"))
    .values(
        generation=bindparam("new_generation"),
        key_hash=bindparam("new_hash"),
        prev_hash=bindparam("old_hash"),
        sealed=bindparam("new_sealed"),
    )
)


def _aad(row_id: int) -> bytes:
    return f"bare/bare_rotation/sealed/{row_id}".encode()


def seal(cipher: AESGCM, api_key: str, row_id: int) -> str:
    nonce = os.urandom(12)
    return base64.b64encode(nonce + cipher.encrypt(nonce, api_key.encode(), _aad(row_id))).decode()


def unseal(cipher: AESGCM, token: str, row_id: int) -> str:
    raw = base64.b64decode(token)
    return cipher.decrypt(raw[:12], raw[12:], _aad(row_id)).decode()


def make_engine(url: str, pool_size: int) -> Engine:
    url = normalise_url(url)
    if make_url(url).get_backend_name() == "sqlite":  # the connect arguments keyturn gives sqlite3
        return create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, pool_size=pool_size)
    return create_engine(url, pool_size=pool_size, max_overflow=0)


class BareRotator:
    def __init__(self, *, database_url: str, base_url: str, management_key: str, concurrency: int, root_key: bytes):
        self.engine = make_engine(database_url, concurrency)
        self.base_url = base_url
        self.management = {"Authorization": f"Bearer {management_key}"}
        self.concurrency = concurrency
        self.cipher = AESGCM(root_key)
        self.client = ProviderHttp(10.0)

    def warm(self) -> None:
        """Open the pool's database connections before the round (a keyturn worker holds its own already)."""
        connections = [self.engine.connect() for _ in range(self.concurrency)]
        for connection in connections:
            connection.close()

    def mint(self, name: str) -> tuple[str, str]:
        response = self.client.post(f"{self.base_url}/keys", headers=self.management, json={"name": name})
        response.raise_for_status()
        body = response.json()
        return body["key"], body["data"]["hash"]

    def verify(self, api_key: str) -> None:
        self.client.get(f"{self.base_url}/key", headers={"Authorization": f"Bearer {api_key}"}).raise_for_status()

    def revoke(self, key_hash: str) -> None:
        response = self.client.delete(f"{self.base_url}/keys/{quote(key_hash, safe='')}", headers=self.management)
        if response.status_code != 404:  # already gone counts as revoked
            response.raise_for_status()

    def setup(self, n: int) -> dict:
        metadata.drop_all(self.engine)
        metadata.create_all(self.engine)

        def first_key(row_id: int) -> dict:
            api_key, key_hash = self.mint(f"bare-k{row_id}-g1")
            return {"id": row_id, "generation": 1, "key_hash": key_hash, "sealed": seal(self.cipher, api_key, row_id)}

        with ThreadPoolExecutor(self.concurrency) as pool:
            rows = list(pool.map(first_key, range(1, n + 1)))
        with self.engine.begin() as conn:
            conn.execute(bare_rotation.insert(), rows)
        return {"n": n, "calls": n, "creates": n, "revokes": 0}

    def rotate_one(self, row_id: int, generation: int, key_hash: str, prev_hash: str | None) -> int:
        api_key, new_hash = self.mint(f"bare-k{row_id}-g{generation + 1}")
        self.verify(api_key)
        if prev_hash is not None:
            self.revoke(prev_hash)
        values = {
            "row_id": row_id,
            "new_generation": generation + 1,
            "new_hash": new_hash,
            "old_hash": key_hash,
            "new_sealed": seal(self.cipher, api_key, row_id),
        }
        with self.engine.begin() as conn:
            conn.execute(PUBLISH, values)
        return 2 if prev_hash is None else 3

    def rotate_all(self) -> dict:
        """Every row once: batches of `concurrency` rows (one SELECT each, in id order), at most twice that many
        in flight, as a keyturn worker claims as many due rotations as it has free slots."""
        free = threading.BoundedSemaphore(2 * self.concurrency)
        futures: list[Future[int]] = []
        batch = select(T.id, T.generation, T.key_hash, T.prev_hash).order_by(T.id).limit(self.concurrency)

        def run(*row) -> int:
            try:
                return self.rotate_one(*row)
            finally:
                free.release()

        last = 0
        with ThreadPoolExecutor(self.concurrency) as pool:
            while True:
                with self.engine.connect() as conn:
                    rows = conn.execute(batch.where(T.id > last)).all()
                if not rows:
                    break
                for row in rows:
                    free.acquire()
                    futures.append(pool.submit(run, *row))
                last = rows[-1].id
            calls = sum(f.result() for f in futures)
        n = len(futures)
        return {"n": n, "calls": calls, "creates": n, "revokes": calls - 2 * n}

    def close(self) -> None:
        self.client.close()
        self.engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench._bare_rotator", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["setup", "rotate"])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--base-url", required=True, help="the provider's API root, e.g. http://host:port/api/v1")
    parser.add_argument("--management-key-file", required=True)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--n", type=int, help="rows to create (setup)")
    parser.add_argument("--wait-for-go", action="store_true", help="print 'ready', start on a line from stdin")
    args = parser.parse_args(argv)
    if args.command == "setup" and not args.n:
        parser.error("setup needs --n")
    root_key = base64.b64decode(os.environ["BARE_ROOT_KEY"]) if os.environ.get("BARE_ROOT_KEY") else os.urandom(32)
    rotator = BareRotator(
        database_url=args.database_url,
        base_url=args.base_url.rstrip("/"),
        management_key=Path(args.management_key_file).read_text().strip(),
        concurrency=args.concurrency,
        root_key=root_key,
    )
    try:
        rotator.warm()
        if args.wait_for_go:
            print("ready", flush=True)
            sys.stdin.readline()
        cpu, started = time.process_time(), time.monotonic()
        result = rotator.setup(args.n) if args.command == "setup" else rotator.rotate_all()
        result["cpu_s"] = round(time.process_time() - cpu, 4)
        result["wall_s"] = round(time.monotonic() - started, 3)
    finally:
        rotator.close()
    result["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
