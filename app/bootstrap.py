"""Turn Settings into the process-wide engine, keyring and admin token, failing with one clear line."""

from __future__ import annotations

import logging

from app import catalogue, clock_skew, crypto, db
from app.auth.admin import install_admin_token
from app.config import Settings, install_settings, load_admin_token, load_root_keys
from app.logcontext import RequestIdFilter

log = logging.getLogger("keyturn")


def configure(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s [%(reqId)s] %(message)s",
    )
    # httpx logs every request at INFO; keyturn logs provider calls itself, by key id.
    logging.getLogger("httpx").setLevel(max(logging.WARNING, logging.getLogger().level))
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RequestIdFilter) for f in handler.filters):
            handler.addFilter(RequestIdFilter())
    catalogue.check_settings(settings)
    install_settings(settings)
    crypto.install_keyring(crypto.Keyring(load_root_keys(settings)))
    install_admin_token(load_admin_token(settings))
    db.install_engine(db.make_engine(settings.database_url))
    # Leases follow the database's clock, but a far-off process clock still skews what it writes: say so.
    clock_skew.check_at_start()
