"""A PostgreSQL change feed that cannot reach its database says so once per outage, not at every retry."""

from __future__ import annotations

import logging
import time

from app.reads.change_feed import PostgresFeed


def test_an_outage_is_logged_once_while_the_feed_retries_every_second(caplog):
    caplog.set_level(logging.INFO, logger="keyturn")
    feed = PostgresFeed("postgresql://nobody@127.0.0.1:1/none")  # port 1: refused at once, every attempt
    try:
        time.sleep(2.6)  # the first attempt and at least two retries
        assert feed.stamp() is None  # nothing is served from cache meanwhile
    finally:
        feed.stop()
    said = [r.getMessage() for r in caplog.records if "change feed" in r.getMessage()]
    assert said == ["change feed disconnected (OperationalError); read cache off until it reconnects"], said
