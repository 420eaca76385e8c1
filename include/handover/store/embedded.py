"""An embedded PostgreSQL (the `pgserver` wheel ships a real server) for machines without one.

Used by `make run` when no target connection is configured, and by the tests when neither
``HANDOVER_TEST_PG_DSN`` nor a server on 127.0.0.1:5432 answers. The server keeps running after the
process that started it exits, so the next run finds it (and its data) again.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote


def start(pgdata: Path, keep: bool = True) -> dict:
    """Start (or find) the server in `pgdata`; return its socket folder and port.

    `keep`: leave it running when this process exits (for `make run`); otherwise it stops at exit.
    """
    import logging

    import pgserver

    logging.getLogger("pgserver").setLevel(logging.WARNING)  # it logs from atexit, after streams close
    pgdata = Path(pgdata).resolve()
    pgdata.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(pgdata, cleanup_mode=None if keep else "stop")
    info = server.get_postmaster_info()
    return {"host": str(info.socket_dir), "port": int(info.port or 5432), "user": "postgres"}


def dsn(server: dict, dbname: str) -> str:
    return f"host='{server['host']}' port={server['port']} user={server['user']} dbname='{dbname}'"


def airflow_uri(server: dict, dbname: str) -> str:
    """The same database as an Airflow connection URI (a socket folder as URL-encoded host)."""
    return f"postgresql://{server['user']}@{quote(server['host'], safe='')}:{server['port']}/{dbname}"


def ensure_database(admin_dsn: str, dbname: str) -> None:
    import psycopg2
    from psycopg2 import sql

    conn = psycopg2.connect(admin_dsn)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,))
            if cur.fetchone() is None:
                cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
    finally:
        conn.close()
