"""Chaos suite: several `keyturn worker` processes on one fresh PostgreSQL database, hundreds of
rotations on a seconds interval, the emulator injecting 500s, 429s, latency, dropped connections and
applied-then-failed answers, workers SIGKILLed and restarted at random, and consumers calling the
provider with the key they read through the secrets API. When the faults stop it settles and checks
that every invariant counter is 0.

    .venv/bin/python -m bench.chaos                      # the long run (defaults below)
    .venv/bin/python -m bench.chaos --rotations 40 --workers 2 --duration 35 --interval 8   # short

Needs PostgreSQL: KEYTURN_TEST_POSTGRES_URL (default postgresql://postgres@127.0.0.1:5432/test).
Exit status 0 when every counter is 0 and no consumer call failed with 401.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

if __package__ in (None, ""):  # run as `python bench/<name>.py`: make the repo root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._checks import ZERO_COUNTERS, Target, disable_all, rotations_completed, settle
from bench._harness import (
    DEFAULT_POSTGRES_URL,
    ApiError,
    ApiServer,
    Emulator,
    FreshPostgres,
    Keyturn,
    KeyturnConfig,
    ManagedProcess,
    WorkerPool,
    create_rotations,
    log,
    migrate,
)

ENVIRONMENT = "dev"
SECRET_PATH = "/chaos"


@dataclass
class ChaosConfig:
    postgres_url: str = DEFAULT_POSTGRES_URL
    workers: int = 3
    rotations: int = 300
    interval: int = 40  # seconds (KEYTURN_ROTATION_INTERVAL_UNIT=seconds)
    duration: float = 300.0  # seconds of faults and kills
    kill_min: float = 4.0  # seconds between kills, drawn uniformly
    kill_max: float = 14.0
    restart_min: float = 0.5
    restart_max: float = 3.0
    fault_scale: float = 1.0  # multiplies every fault probability
    consumers: int = 12  # secrets watched by the consumer process
    # Issue 10 (A8): after the last fault and kill no orphan outlives lease + 30 s (90 s at the default lease), so
    # the whole state, pending intents included, must settle within 90 s.
    settle_timeout: float = 90.0
    lease_seconds: float = 5.0
    seed: int = 7
    keep: bool = False


def fault_plan(scale: float) -> list[dict]:
    """The mix, per provider operation. Rules are tried in order; the first that fires wins."""
    p = lambda x: min(1.0, x * scale)  # noqa: E731
    rules = []
    for method, path in (
        ("POST", r"^/api/v1/keys$"),
        ("DELETE", r"^/api/v1/keys/"),
        ("GET", r"^/api/v1/key$"),
        ("GET", r"^/api/v1/keys$"),
    ):
        rules += [
            {"method": method, "path_regex": path, "kind": "status", "status": 500, "probability": p(0.05)},
            {
                "method": method,
                "path_regex": path,
                "kind": "status",
                "status": 429,
                "retry_after": 1,
                "probability": p(0.05),
            },
            {"method": method, "path_regex": path, "kind": "drop", "probability": p(0.03)},
            {"method": method, "path_regex": path, "kind": "latency", "delay": 0.8, "probability": p(0.05)},
        ]
        if method != "GET":  # the operations with a side effect can also succeed and then fail
            rules += [
                {
                    "method": method,
                    "path_regex": path,
                    "kind": "applied_then_failed",
                    "status": 502,
                    "probability": p(0.04),
                },
                {"method": method, "path_regex": path, "kind": "applied_then_drop", "probability": p(0.02)},
                # Longer than the HTTP timeout: an ambiguous timeout after the provider acted.
                {"method": method, "path_regex": path, "kind": "latency", "delay": 4.0, "probability": p(0.01)},
            ]
    for rule in rules:
        rule["times"] = None
    return rules


def consumer_token(api: Keyturn, admin_token: str, project_id: str) -> tuple[str, str]:
    """An access token for a viewer identity (universal auth); the admin token when identities are not served."""
    try:
        org_id = api.call("GET", "/api/v1/organization")["organizations"][0]["id"]
        identity_id = api.call(
            "POST", "/api/v1/identities", json={"name": "chaos-consumer", "organizationId": org_id, "role": "no-access"}
        )["identity"]["id"]
        client_id = api.call("POST", f"/api/v1/auth/universal-auth/identities/{identity_id}", json={})[
            "identityUniversalAuth"
        ]["clientId"]
        client_secret = api.call(
            "POST", f"/api/v1/auth/universal-auth/identities/{identity_id}/client-secrets", json={}
        )["clientSecret"]
        api.call(
            "POST",
            f"/api/v1/projects/{project_id}/memberships/identities/{identity_id}",
            json={"roles": [{"role": "viewer", "isTemporary": False}]},
        )
        login = httpx.post(
            api.url + "/api/v1/auth/universal-auth/login",
            json={"clientId": client_id, "clientSecret": client_secret},
            timeout=10,
        )
        login.raise_for_status()
        return "identity (universal auth, viewer)", login.json()["accessToken"]
    except (ApiError, httpx.HTTPError, KeyError, IndexError) as exc:
        log(f"identities not usable ({str(exc)[:120]}); consumers use the admin token")
        return "admin token", admin_token


def run_chaos(cfg: ChaosConfig, workdir: Path | None = None) -> dict:
    rng = random.Random(cfg.seed)
    workdir = Path(workdir or tempfile.mkdtemp(prefix="keyturn-chaos-"))
    log_dir = workdir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    log(
        f"chaos: {cfg.rotations} rotations every {cfg.interval}s, {cfg.workers} workers, "
        f"{cfg.duration:.0f}s of faults; logs in {log_dir}"
    )
    db = FreshPostgres(cfg.postgres_url, prefix="keyturn_chaos")
    emulator = api_server = pool = consumer = None
    report: dict = {"config": asdict(cfg), "workdir": str(workdir)}
    try:
        emulator = Emulator(log_dir, seed=cfg.seed)
        config = KeyturnConfig(
            database_url=db.url,
            openrouter_base_url=emulator.base_url,
            lease_seconds=cfg.lease_seconds,
            http_timeout_seconds=3.0,
            provider_rate_per_second=50.0,
            provider_burst=20,
            # Retry backoffs scaled to a seconds interval (the defaults suit days).
            extra={
                "KEYTURN_ROTATION_RETRY_BASE_SECONDS": "1",
                "KEYTURN_ROTATION_RETRY_MAX_SECONDS": str(max(2, cfg.interval // 4)),
                "KEYTURN_REVOKE_RETRY_BASE_SECONDS": "1",
                "KEYTURN_REVOKE_RETRY_MAX_SECONDS": "8",
                # Pending intents of killed workers are first listed after this long (the
                # default, lease + 10 HTTP timeouts, is 35 s here), still far longer than a
                # create can take to land with a 3 s timeout; one with no key is abandoned
                # after 3 scans a third of it apart (25 s). Minted ones need no grace.
                "KEYTURN_INTENT_GRACE_SECONDS": "15",
            },
        )
        migrate(config)
        api_server = ApiServer(config, log_dir)
        api = Keyturn(api_server.url, config.admin_token)
        project = api.create_project("chaos")
        connection = api.create_connection(project["id"], emulator.management_key)
        started = time.monotonic()
        rotations = create_rotations(
            api,
            project_id=project["id"],
            connection_id=connection["id"],
            count=cfg.rotations,
            interval=cfg.interval,
            secret_path=SECRET_PATH,
            prefix="chaos",
            parallel=6,
        )
        log(f"created {len(rotations)} rotations in {time.monotonic() - started:.1f}s")
        targets = [
            Target(r["id"], f"KEY_{i}", project["id"], ENVIRONMENT, SECRET_PATH) for i, r in enumerate(rotations)
        ]

        consumer_kind, token = consumer_token(api, config.admin_token, project["id"])
        report["consumer_auth"] = consumer_kind
        token_file = workdir / "consumer.token"
        token_file.write_text(token)
        token_file.chmod(0o600)
        watched = rng.sample(targets, min(cfg.consumers, len(targets)))
        (workdir / "targets.json").write_text(
            json.dumps(
                [
                    {
                        "name": t.secret_name,
                        "projectId": t.project_id,
                        "environment": t.environment,
                        "secretPath": t.secret_path,
                    }
                    for t in watched
                ]
            )
        )
        consumer_out = workdir / "consumer.json"
        consumer = ManagedProcess(
            "consumer",
            [
                sys.executable,
                "-m",
                "bench._consumer",
                "--api",
                api_server.url,
                "--token-file",
                str(token_file),
                "--emulator",
                emulator.base_url,
                "--targets",
                str(workdir / "targets.json"),
                "--refresh",
                str(max(1.0, cfg.interval / 4)),
                "--out",
                str(consumer_out),
            ],
            dict(os.environ),
            log_dir,
        ).start()

        pool = WorkerPool(config, log_dir, cfg.workers)
        pool.start()
        for rule in fault_plan(cfg.fault_scale):
            emulator.add_fault(**rule)
        log(f"faults on, workers {[w.pid for w in pool.workers]}")

        chaos_end = time.monotonic() + cfg.duration
        next_kill = time.monotonic() + rng.uniform(cfg.kill_min, cfg.kill_max)
        restarts: list[tuple[float, int]] = []
        while time.monotonic() < chaos_end:
            now = time.monotonic()
            for when, index in list(restarts):
                if now >= when:
                    pool.restart(index)
                    restarts.remove((when, index))
            if now >= next_kill:
                index = rng.randrange(cfg.workers)
                if pool.workers[index].alive:
                    pool.kill(index)
                    restarts.append((now + rng.uniform(cfg.restart_min, cfg.restart_max), index))
                    log(f"SIGKILL worker-{index} (kill #{pool.kills})")
                next_kill = now + rng.uniform(cfg.kill_min, cfg.kill_max)
            pool.sample_memory()
            pool.check_alive()
            time.sleep(0.2)

        emulator.clear_faults()
        pool.start()
        log(f"faults off after {pool.kills} kills; disabling auto-rotation and settling")
        disabled = disable_all(api, targets, timeout=cfg.settle_timeout)
        report["disabled"] = disabled
        result = settle(api, emulator, db.url, targets, timeout=cfg.settle_timeout)
        consumer.stop()
        consumer_counts = json.loads(consumer_out.read_text()) if consumer_out.exists() else {}
        report.update(result)
        report.update(rotations_completed(api, targets))
        report["kills"] = pool.kills
        report["faults_injected"] = sum(result["faults_fired"].values())
        report["consumer"] = consumer_counts
        report["consumer_calls"] = consumer_counts.get("calls", 0)
        report["consumer_failed_401"] = consumer_counts.get("failed_401", 0)
        report["worker_peak_rss_mib"] = [round(kib / 1024, 1) for kib in pool.sample_memory()]
        report["elapsed_seconds"] = round(time.monotonic() - started, 1)
        report["passed"] = bool(
            result["settled"]
            and report["consumer_failed_401"] == 0
            and report["consumer_calls"] > 0
            and disabled == len(targets)
            and all(result[n] == 0 for n in ZERO_COUNTERS)
        )
        api.close()
        return report
    finally:
        for part in (consumer, pool, api_server):
            if part is not None:
                part.stop()
        if emulator is not None:
            emulator.stop()
        db.drop()
        if not cfg.keep and report.get("passed"):
            shutil.rmtree(workdir, ignore_errors=True)


def print_report(report: dict) -> None:
    lines = [
        ("orphaned keys at the provider", report["orphaned_keys"]),
        ("  of which unknown to keyturn", report.get("untracked_keys")),
        ("rotations whose published key fails", report["published_key_fails"]),
        ("rotations with more than two live keys", report["over_two_live_keys"]),
        ("double mints for one generation", report["double_mints"]),
        ("revocations still pending", report["pending_revocations"]),
        ("consumer calls failed with 401", report["consumer_failed_401"]),
        ("consumer calls made", report["consumer_calls"]),
        ("consumer auth", report.get("consumer_auth")),
        ("faults injected", f"{report['faults_injected']} {report['faults_fired']}"),
        ("worker kills (SIGKILL)", report["kills"]),
        ("rotations completed (new key published)", report["rotations_completed"]),
        ("rotations never rotated", report["rotations_never_rotated"]),
        ("final rotation status", report["final_status"]),
        ("provider creates / live keys at end", f"{report['provider_creates']} / {report['live_keys']}"),
        ("settled within", f"{report['settle_seconds']}s (settled={report['settled']})"),
        ("worker peak RSS (MiB)", report["worker_peak_rss_mib"]),
        ("elapsed", f"{report['elapsed_seconds']}s"),
    ]
    print("\n=== keyturn chaos result ===")
    for label, value in lines:
        print(f"  {label:<42} {value}")
    if report.get("orphan_names"):
        print(f"  orphan key names (first 10): {report['orphan_names']}")
    print("  RESULT:", "PASS" if report["passed"] else f"FAIL (logs kept in {report['workdir']})", flush=True)


def main(argv: list[str] | None = None) -> int:
    defaults = ChaosConfig()
    parser = argparse.ArgumentParser(prog="python -m bench.chaos", description=__doc__.splitlines()[0])
    parser.add_argument("--postgres-url", default=os.environ.get("KEYTURN_TEST_POSTGRES_URL", defaults.postgres_url))
    for name in ("workers", "rotations", "interval", "consumers", "seed"):
        parser.add_argument(f"--{name}", type=int, default=getattr(defaults, name))
    for name in ("duration", "kill_min", "kill_max", "fault_scale", "settle_timeout", "lease_seconds"):
        parser.add_argument(f"--{name.replace('_', '-')}", type=float, default=getattr(defaults, name))
    parser.add_argument("--keep", action="store_true", help="keep the logs even when the run passes")
    parser.add_argument("--json", help="also write the full report here")
    args = parser.parse_args(argv)
    cfg = ChaosConfig(
        postgres_url=args.postgres_url,
        workers=args.workers,
        rotations=args.rotations,
        interval=args.interval,
        duration=args.duration,
        kill_min=args.kill_min,
        kill_max=args.kill_max,
        fault_scale=args.fault_scale,
        consumers=args.consumers,
        settle_timeout=args.settle_timeout,
        lease_seconds=args.lease_seconds,
        seed=args.seed,
        keep=args.keep,
    )
    report = run_chaos(cfg)
    print_report(report)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2, default=str))
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
