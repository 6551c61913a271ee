"""Turn Settings into the process-wide engine, keyring and admin token, failing with one clear line."""

from __future__ import annotations

import logging

from app import catalogue, clock_skew, crypto, db
from app.auth.admin import install_admin_token
from app.config import Settings, install_settings, load_admin_token, load_root_keys
from app.logcontext import RequestIdFilter
from app.logformat import TEXT_FORMAT, JsonFormatter

log = logging.getLogger("keyturn")


def configure_logging(settings: Settings) -> None:
    """Log lines in the configured format (text, or JSON on every handler of the root logger), with their context."""
    logging.basicConfig(level=settings.log_level.upper(), format=TEXT_FORMAT)
    # httpx logs every request at INFO; keyturn logs provider calls itself, by key id.
    logging.getLogger("httpx").setLevel(max(logging.WARNING, logging.getLogger().level))
    for handler in logging.getLogger().handlers:
        if settings.log_format == "json":
            handler.setFormatter(JsonFormatter())
        if not any(isinstance(f, RequestIdFilter) for f in handler.filters):
            handler.addFilter(RequestIdFilter())


def configure(settings: Settings) -> None:
    configure_logging(settings)
    catalogue.check_settings(settings)
    install_settings(settings)
    crypto.install_keyring(crypto.Keyring(load_root_keys(settings)))
    install_admin_token(load_admin_token(settings))
    db.install_engine(db.make_engine(settings.database_url))
    # Leases follow the database's clock, but a far-off process clock still skews what it writes: say so.
    clock_skew.check_at_start()
