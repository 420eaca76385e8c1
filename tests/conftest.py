"""Test fixtures with real parts: a real PostgreSQL, a real Airflow home (SQLite metadata), the sample.

PostgreSQL: ``HANDOVER_TEST_PG_DSN`` if set, else the server on 127.0.0.1:5432 if it answers, else an
embedded one (pgserver) started for the test run. Each test that asks for ``pg_dsn`` gets a database of
its own, dropped afterwards; ``transferred`` gets its own copy of a store the sample was transferred into
once per session (a template database: `CREATE DATABASE … TEMPLATE`).

Airflow: the environment below is set before anything imports Airflow; the metadata database is
migrated once per session. Under pytest-xdist each worker is a session of its own (its own Airflow home,
template database and database names: ``WORKER``).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")  # gw0, gw1 … under pytest-xdist
# database names are the session's own: two test sessions on one server (or two xdist workers) never meet
SESSION = f"{WORKER}_{uuid.uuid4().hex[:6]}"
_SESSION_DIR = Path(tempfile.mkdtemp(prefix=f"handover-tests-{WORKER}-"))
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
    # OpenLineage events of every DAG run of the session, to one file (handover_airflow.lineage)
    "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps({"type": "file", "log_file_path": str(_SESSION_DIR / "lineage.jsonl"),
                                                   "append": True}),
    "AIRFLOW__OPENLINEAGE__NAMESPACE": "handover-tests",
    # events emitted from a thread of the task, as docker-compose.yaml and `make run` have it: the default
    # forks the whole process per event (this one holds the suite's libraries; sys time 6 s -> 2 s a run)
    "AIRFLOW__OPENLINEAGE__EXECUTE_IN_THREAD": "True",
})
LINEAGE_EVENTS = _SESSION_DIR / "lineage.jsonl"
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
    """A database made fresh for the block (dropped first if a crashed run left it), dropped after. The
    name is made the worker's own (two xdist workers never share one)."""
    import psycopg2
    from psycopg2.extensions import make_dsn, parse_dsn

    name = f"{name}_{SESSION}"[:63]
    admin = psycopg2.connect(admin_dsn)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
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


@pytest.fixture(scope="module")
def s3_server():
    """(client, endpoint URL) of a real S3 API on loopback: moto's server (it enforces Object Lock; checksums
    are ours), one per test module."""
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                          aws_access_key_id="test", aws_secret_access_key="test")
    yield client, endpoint
    server.stop()


@pytest.fixture(scope="module")
def s3(s3_server):
    """The S3 client of :func:`s3_server`."""
    return s3_server[0]


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


@pytest.fixture(scope="session")
def master_key_text() -> str:
    """The session's master key (the template store is made with it; a test that needs another makes one)."""
    return base64.b64encode(os.urandom(32)).decode()


@pytest.fixture(scope="session")
def signing_key_text() -> str:
    from tests.support.stores import SIGNING_KEY

    return SIGNING_KEY


@dataclass(frozen=True)
class SampleStore:
    template: str  # the template database's name
    folder: Path  # the template run's output and archive folders are under it
    planted: dict
    manifest: dict
    manifest_path: Path
    result: dict


@pytest.fixture(scope="session")
def sample_store(pg_admin_dsn, master_key_text, sample_contract, sample_export, tmp_path_factory) -> SampleStore:
    """The sample transferred once (run ``run-1``, 100-row chunks, a recipient) into a template database."""
    from handover import local_run

    from tests.support.stores import run_context

    folder, planted = sample_export
    home = tmp_path_factory.mktemp("template")
    with scratch_database(pg_admin_dsn, "handover_tpl") as dsn:
        ctx = run_context(dsn, master_key_text, sample_contract, folder, home, "run-1",
                          recipient="受让方数据部 D-07")
        result = local_run.run_all(ctx)  # every connection of the run is closed when it returns
        manifest_path = Path(result["manifest"])
        from psycopg2.extensions import parse_dsn

        yield SampleStore(parse_dsn(dsn)["dbname"], home, planted,
                          json.loads(manifest_path.read_text(encoding="utf-8")), manifest_path, result)


@pytest.fixture
def transferred(sample_store, pg_dsn, pg_admin_dsn, master_key_text, sample_contract, sample_export, tmp_path):
    """(context, planted, manifest) of the sample transferred into the test's own store (``pg_dsn``) — a copy
    of the session's template. The context's work and output folders are the test's."""
    import shutil

    from psycopg2.extensions import parse_dsn

    from tests.support.stores import copy_database, run_context

    copy_database(pg_admin_dsn, sample_store.template, parse_dsn(pg_dsn)["dbname"])
    for part in ("out", "archive"):  # the run's handed-over files and archive, the test's to change
        shutil.copytree(sample_store.folder / part, tmp_path / part, dirs_exist_ok=True)
    folder, _ = sample_export
    return (run_context(pg_dsn, master_key_text, sample_contract, folder, tmp_path, "run-1",
                        recipient="受让方数据部 D-07"), sample_store.planted, sample_store.manifest)


def transferred_files(transferred, sample_store) -> tuple[Path, dict]:
    """The test's copy of the template run's manifest file, and the run's result with its paths."""
    ctx = transferred[0]
    path = Path(ctx.output_root) / sample_store.manifest_path.relative_to(sample_store.folder / "out")
    return path, {**sample_store.result, "manifest": str(path)}


@pytest.fixture
def target(pg_dsn, master_key_text, signing_key_text, monkeypatch, tmp_path):
    """The Airflow connection ``handover_target`` and the key Variables, for a store of the test's own."""
    return airflow_target(pg_dsn, master_key_text, signing_key_text, monkeypatch, tmp_path)


def airflow_target(dsn, master_key_text, signing_key_text, monkeypatch, tmp_path) -> str:
    from tests.support.stores import airflow_connection, approve_pipia

    monkeypatch.setenv("AIRFLOW_CONN_HANDOVER_TARGET", airflow_connection(dsn))

    approve_pipia(dsn, folder=tmp_path / "pipia")  # the sample's impact assessment, approved: a transfer loads
    monkeypatch.setenv("AIRFLOW_VAR_HANDOVER_MASTER_KEY", master_key_text)
    monkeypatch.setenv("AIRFLOW_VAR_HANDOVER_SIGNING_KEY", signing_key_text)
    monkeypatch.setenv("HANDOVER_ARCHIVE_ROOT", str(tmp_path / "archive"))
    monkeypatch.setenv("HANDOVER_WORK_ROOT", str(tmp_path / "work"))
    monkeypatch.setenv("HANDOVER_OUTPUT_ROOT", str(tmp_path / "output"))
    return dsn


@pytest.fixture
def dag(airflow_db):
    """The branch_transfer DAG as Airflow parses it."""
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(ROOT / "dags")).get_dag("branch_transfer")


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
