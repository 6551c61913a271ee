"""`keyturn serve | worker | migrate | openapi`."""

from __future__ import annotations

import argparse
import faulthandler
import logging
import signal
import sys

from app.config import ConfigError, get_settings


def _check_database(database_url: str) -> None:
    from app.migrate import ensure_current

    ensure_current(database_url)


def _serve(args) -> None:
    from app.serve import serve

    settings = get_settings()
    _check_database(settings.database_url)
    serve(settings, workers=args.workers)


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return number


def _worker(_args) -> None:
    from app import metrics
    from app.bootstrap import configure
    from app.rotation.worker import Worker

    settings = get_settings()
    _check_database(settings.database_url)
    configure(settings)
    metrics.start_flushing()
    worker = Worker(settings)
    if settings.worker_metrics_port is not None:
        from app import metrics_server

        metrics_server.start(settings, settings.worker_metrics_port)

    def _on_signal(signum, _frame):
        logging.getLogger("keyturn.worker").info("signal %s: stopping", signum)
        worker.request_stop()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    worker.run()


def _migrate(_args) -> None:
    from app.migrate import upgrade

    upgrade(get_settings().database_url)
    print("database is at the latest migration")


def _openapi(args) -> None:
    from app.openapi import write_openapi

    path = write_openapi(args.output)
    print(f"wrote {path}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="keyturn", description="Zero-downtime API key rotation.")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the API (with the embedded worker unless KEYTURN_WORKER=off)")
    serve.add_argument(
        "--workers",
        type=_positive,
        default=None,
        help="web processes (default: KEYTURN_WEB_WORKERS, else the CPUs available to this process)",
    )
    commands.add_parser("worker", help="run the rotation worker alone")
    commands.add_parser("migrate", help="apply database migrations")
    openapi = commands.add_parser("openapi", help="write openapi/openapi.json from the app")
    openapi.add_argument("--output", default=None)
    args = parser.parse_args(argv)
    # A process that dies of SIGSEGV, SIGBUS, SIGFPE, SIGABRT or SIGILL writes every thread's Python stack to stderr
    # first, so its log says where (serve's forks and its rotation worker inherit this).
    faulthandler.enable()
    handlers = {"serve": _serve, "worker": _worker, "migrate": _migrate, "openapi": _openapi}
    try:
        handlers[args.command](args)
    except ConfigError as exc:
        print(f"keyturn: configuration error: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
