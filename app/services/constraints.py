"""A constraint the database enforces, answered with the domain's own error.

Services check for a duplicate (or a dependent row) before writing, but a concurrent writer can slip one in
between the check and the write. `violation_as` runs the writes in a savepoint and flushes them there: a
violation undoes only those writes and becomes the same 400 the check gives, and the request's transaction
stays usable (PostgreSQL would otherwise refuse every later statement in it).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from app.errors import AppError


@contextmanager
def violation_as(session: Session, error: AppError) -> Iterator[None]:
    """Flush the block's writes in a savepoint; an IntegrityError rolls back to it and raises `error`."""
    _open_sqlite_transaction(session)
    try:
        with session.begin_nested():
            yield
    except IntegrityError:
        raise error from None


def _open_sqlite_transaction(session: Session) -> None:
    """pysqlite opens its transaction lazily, just before the first INSERT/UPDATE/DELETE. A SAVEPOINT sent before
    that starts a transaction of its own, and releasing it would commit the request's writes on the spot; so
    the real transaction is opened first."""
    connection = session.connection()
    if connection.dialect.name != "sqlite":
        return
    driver = connection.connection.driver_connection
    if driver is not None and not driver.in_transaction:
        connection.exec_driver_sql("BEGIN")
