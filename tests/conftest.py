"""Test fixtures with real parts: a real PostgreSQL, a real Airflow home (SQLite metadata), the sample.

PostgreSQL: ``HANDOVER_TEST_PG_DSN`` if set, else the server on 127.0.0.1:5432 if it answers, else an
embedded one (pgserver) started for the test run. Each test that asks for ``pg_dsn`` gets a database of
its own, dropped afterwards.

Airflow: the environment below is set before anything imports Airflow; the metadata database is
migrated once per session.
"""

from __future__ import annotations

import base64
import contextlib
import os
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_SESSION_DIR = Path(tempfile.mkdtemp(prefix="handover-tests-"))
os.environ.update({
    "AIRFLOW_HOME": str(_SESSION_DIR / "airflow"),
    "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
    "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_SESSION_DIR / 'airflow' / 'airflow.db'}",
    "HANDOVER_WORK_ROOT": str(_SESSION_DIR / "work"),
    "HANDOVER_OUTPUT_ROOT": str(_SESSION_DIR / "output"),
    "GX_ANALYTICS_ENABLED": "False",
    # Airflow writes a random one into airflow.cfg when it first creates it; a process that loaded its
    # configuration before that (this one) has none, so the API app could not sign or check a token.
    "AIRFLOW__API_AUTH__JWT_SECRET": os.urandom(32).hex(),
})
(_SESSION_DIR / "airflow").mkdir(parents=True, exist_ok=True)


def _answers(dsn: str) -> bool:
    import psycopg2

    try:
        psycopg2.connect(dsn, connect_timeout=3).close()
        return True
    except psycopg2.Error:
        return False


@pytest.fixture(scope="session")
def pg_admin_dsn() -> str:
    """A superuser DSN on some real PostgreSQL server."""
    configured = os.environ.get("HANDOVER_TEST_PG_DSN")
    if configured:
        return configured
    local = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
    if os.environ.get("HANDOVER_TEST_PG") != "embedded" and _answers(local):
        return local
    from handover.store import embedded

    server = embedded.start(_SESSION_DIR / "pg", keep=False)
    return embedded.dsn(server, "postgres")


@contextlib.contextmanager
def scratch_database(admin_dsn: str, name: str):
    """A database made fresh for the block (dropped first if a crashed run left it), dropped after."""
    import psycopg2
    from psycopg2.extensions import make_dsn, parse_dsn

    admin = psycopg2.connect(admin_dsn)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
        cur.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_dsn(**(parse_dsn(admin_dsn) | {"dbname": name}))
    finally:
        with admin.cursor() as cur:
            cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
            cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.close()


@pytest.fixture
def pg_dsn(pg_admin_dsn: str):
    """A fresh database for one test."""
    with scratch_database(pg_admin_dsn, f"handover_test_{uuid.uuid4().hex[:12]}") as dsn:
        yield dsn


@pytest.fixture(scope="session")
def sample_export(tmp_path_factory) -> tuple[Path, dict]:
    """The bundled sample branch export, and what its generator planted."""
    from handover import sample

    folder = tmp_path_factory.mktemp("sample")
    planted = sample.generate(folder)
    return folder, planted


@pytest.fixture(scope="session")
def sample_contract() -> Path:
    return ROOT / "contracts" / "sample_branch.yaml"


@pytest.fixture
def master_key_text() -> str:
    return base64.b64encode(os.urandom(32)).decode()


@pytest.fixture(scope="session")
def signing_key_text() -> str:
    return base64.b64encode(os.urandom(32)).decode()


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """Migrate the session's Airflow metadata database (SQLite) once."""
    exe = Path(sys.executable).with_name("airflow")
    subprocess.run([str(exe), "db", "migrate"], check=True, capture_output=True, env=os.environ.copy())


def snapshot(dsn: str, tables: tuple[str, ...]) -> dict[str, list[tuple]]:
    """Every row of the given tables, in a stable order: equal snapshots mean nothing changed."""
    import psycopg2

    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        out = {}
        for table in tables:
            cur.execute(f"SELECT * FROM {table} ORDER BY 1, 2, 3")
            out[table] = [tuple(bytes(v) if isinstance(v, memoryview) else v for v in row) for row in cur.fetchall()]
        return out
