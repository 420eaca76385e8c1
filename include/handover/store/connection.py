"""The one way into the target store: :func:`connect` for every entry point (the CLI, the DAG tasks, the
Handover page), and :func:`translated` for the same translation around a connection made elsewhere.

A psycopg2 error never leaves as itself: PostgreSQL's message and DETAIL can quote a row's values (a
unique violation shows the key, a check violation the row), so it becomes a :class:`~handover.errors.
StoreError` that names the place — table, column, constraint, SQLSTATE — and, when the caller says so,
what the step had and had not committed (:func:`handover.errors.store_error`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg2

from handover.errors import store_error

APPLICATION = "handover"


def open_connection(dsn: str, *, application_name: str = APPLICATION, **options):
    """A plain connection to the target store (errors untranslated: for callers that translate them, such
    as the run's lock holders). JIT compilation is off: on the run's big one-off queries it cost more than
    it saved (2.6 s of a 4.2 s settle query at 500,000 rows)."""
    return psycopg2.connect(dsn, application_name=application_name, options="-c jit=off", **options)


@contextmanager
def translated(step: str, *, committed: str | None = None, retry: str | None = None, conn=None) -> Iterator[None]:
    """Inside: a psycopg2 error becomes a :class:`StoreError` for ``step`` (``conn``, if given, is rolled
    back first, when it is still open)."""
    try:
        yield
    except psycopg2.Error as exc:
        if conn is not None and not conn.closed:
            try:
                conn.rollback()
            except psycopg2.Error:
                pass  # the connection is gone (terminated by the server): nothing to roll back from here
        raise store_error(exc, step, committed=committed, retry=retry) from None


@contextmanager
def connect(dsn: str, step: str = "store", *, committed: str | None = None, retry: str | None = None,
            application_name: str = APPLICATION, readonly: bool = False, **options):
    """A connection to the target store for ``step``, closed afterwards. Connecting and everything inside
    raise :class:`StoreError` (never a psycopg2 error); ``committed`` says what a failure leaves behind,
    ``retry`` what to do when a retry can clear the error."""
    try:
        conn = open_connection(dsn, application_name=application_name, **options)
        if readonly:
            conn.set_session(readonly=True)
    except psycopg2.Error as exc:
        raise store_error(exc, f"{step}: cannot connect to the target store") from None
    try:
        with translated(step, committed=committed, retry=retry, conn=conn):
            yield conn
    finally:
        conn.close()
