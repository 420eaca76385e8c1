"""Real PostgreSQL logins for the store's roles: made for a test, dropped after it."""

from __future__ import annotations

import contextlib
import uuid

import psycopg2
from psycopg2 import errors, sql
from psycopg2.extensions import make_dsn


@contextlib.contextmanager
def logins(admin_dsn: str, **members: str):
    """Login roles for a test: ``name=group role`` → {name: DSN of a login of that role}. Roles are cluster-wide,
    so each name gets a random suffix; afterwards what they own or were granted in the database goes
    (REASSIGN OWNED, DROP OWNED) and then the roles."""
    suffix = uuid.uuid4().hex[:8]
    users = {name: f"ho_test_{name}_{suffix}" for name in members}
    admin = psycopg2.connect(admin_dsn)
    try:
        with admin.cursor() as cur:
            for name, group in members.items():
                cur.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD %s IN ROLE {}").format(
                    sql.Identifier(users[name]), sql.Identifier(group)), (uuid.uuid4().hex,))
        admin.commit()
        yield {name: make_dsn(admin_dsn, user=user) for name, user in users.items()}
    finally:
        admin.rollback()
        server = psycopg2.connect(make_dsn(admin_dsn, dbname="postgres"))
        server.autocommit = True
        with server.cursor() as cur:
            cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = ANY(%s)",
                        (list(users.values()),))
        with admin.cursor() as cur:
            for user in users.values():
                cur.execute(sql.SQL("REASSIGN OWNED BY {} TO CURRENT_USER").format(sql.Identifier(user)))
                cur.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(user)))
        admin.commit()
        admin.close()
        with server.cursor() as cur:
            for user in users.values():
                cur.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(user)))
        server.close()


def refused(dsn: str, statement: str, params=None) -> bool:
    """Run one statement as the login: True when PostgreSQL refuses it for lack of privilege (42501),
    False when it runs. Any other error is raised."""
    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute(statement, params)
        conn.commit()
        return False
    except errors.InsufficientPrivilege:
        return True
    finally:
        conn.close()
