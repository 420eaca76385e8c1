"""`branch_transfer` scaled out: CeleryExecutor, a Redis broker on loopback, PostgreSQL as Airflow's metadata
database, two Celery workers — and the same target store and manifest counts as the LocalExecutor-equivalent
run (`dag.test()`).

Real processes (`tests.support.cluster`): ``airflow api-server``, ``scheduler``, ``dag-processor`` and two
``celery worker``s on an Airflow home of their own. The run is triggered with small chunks, so that the
per-chunk steps (verify_chunk → protect_chunk → stage_chunk, mapped tasks) make many task instances, which
the two workers share; the checks across chunks (settle, reconcile) run after them wherever the scheduler
puts them. Then the same transfer runs with `dag.test()` into a second store that holds the same keys (the
keyring of the first, wrapped under the same master key: blind indexes, row hashes and analytics tokens are
keyed), and the two stores are compared table by table, ciphertexts by what they decrypt to (each has its
own random nonce).

Slow (a few minutes: every task instance is a process of its own — a fork of a worker that preloaded the
steps' libraries, `handover_airflow.celery_worker`); deselect with ``-m "not slow"``.
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import json
import math
import time
import uuid
from pathlib import Path

import psycopg2
import pytest

from tests.conftest import ROOT, scratch_database
from tests.support.cluster import Cluster, ComponentDied, redis_server
from tests.support.stores import airflow_connection, approve_pipia

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("airflow-processes")]  # one at a time: each is a cluster

DAG_ID = "branch_transfer"
BRANCH = "SH-PD-0042"
CHUNK_ROWS = 150  # 13 chunks: 39 mapped task instances over two workers (50 made 102, seven minutes)
MAPPED = ("verify_chunk", "protect_chunk", "stage_chunk")
WORKERS = ("w1", "w2")
RUN_TIMEOUT = 15 * 60
BROKER_DBS = (7, *range(8, 16), *range(1, 7))  # Redis databases to try, 7 first; 0 is everyone's default
CLAIM = "handover:e2e-celery:claim"
NOT_COMPARED = {"loaded_run_id", "loaded_at"}  # which run loaded a row, and when


# -- the broker database -------------------------------------------------------------------------------------

def _claim_redis_db(host: str, port: int) -> tuple[int, str]:
    """A Redis database no other run of this test is using (a claim key, set if absent, marks it), flushed:
    two clusters on one database would take each other's tasks."""
    import redis

    token = uuid.uuid4().hex
    for db in BROKER_DBS:
        client = redis.Redis(host=host, port=port, db=db)
        try:
            if client.set(CLAIM, token, nx=True, ex=3 * 3600):
                client.flushdb()  # what a crashed run left behind
                client.set(CLAIM, token, ex=3 * 3600)
                return db, token
        finally:
            client.close()
    pytest.fail(f"every Redis database of {host}:{port} in {BROKER_DBS} is claimed by another run")


def _release_redis_db(host: str, port: int, db: int, token: str) -> None:
    import redis

    client = redis.Redis(host=host, port=port, db=db)
    try:
        if client.get(CLAIM) in (token.encode(), None):
            client.flushdb()
    finally:
        client.close()


# -- the stores ----------------------------------------------------------------------------------------------

def _copy_keyring(source: str, dest: str) -> None:
    """The store `dest` made with the keyring of `source` (keys wrapped under the same master key)."""
    from handover.store import schema

    with psycopg2.connect(source) as conn, conn.cursor() as cur:
        cur.execute("SELECT purpose, key_id, wrapped, master_key_id FROM ops.keys")
        keys = cur.fetchall()
    conn.close()
    assert keys, "the Celery run left no keyring"
    with psycopg2.connect(dest) as conn:
        schema.ensure_schema(conn)
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO ops.keys (purpose, key_id, wrapped, master_key_id) VALUES (%s, %s, %s, %s)",
                            keys)
    conn.close()


def _plain(value):
    if isinstance(value, memoryview | bytes):
        return bytes(value).hex()
    if isinstance(value, decimal.Decimal | dt.date | dt.datetime | dt.time):
        return str(value)
    return value


def store_contents(dsn: str, master_key_text: str) -> dict[str, dict]:
    """Per table of schemas vault and analytics: its row count, a digest of its rows (order-independent),
    and a digest per column — over every column but `NOT_COMPARED`, ciphertexts (``*_enc``) as what they
    decrypt to under the branch's data key."""
    from handover.crypto import FieldCipher, MasterKey
    from handover.store.keys import data_purpose

    master = MasterKey.from_text(master_key_text)
    out: dict[str, dict] = {}
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT key_id, wrapped FROM ops.keys WHERE purpose = %s", (data_purpose(BRANCH),))
        key_id, wrapped = cur.fetchone()
        cipher = FieldCipher(master.unwrap(bytes(wrapped), data_purpose(BRANCH)), key_id)
        cur.execute("SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname IN ('vault', 'analytics') AND c.relkind IN ('r', 'p') "
                    "AND NOT c.relispartition ORDER BY 1, 2")
        for schema_name, table in cur.fetchall():
            cur.execute("SELECT column_name FROM information_schema.columns WHERE table_schema = %s "
                        "AND table_name = %s ORDER BY ordinal_position", (schema_name, table))
            columns = [c for (c,) in cur.fetchall() if c not in NOT_COMPARED]
            cur.execute("SELECT {} FROM {}.{}".format(", ".join(f'"{c}"' for c in columns), schema_name, table))
            rows = []
            for row in cur.fetchall():
                values = []
                for column, value in zip(columns, row, strict=True):
                    if column.endswith("_enc"):
                        value = cipher.decrypt(value, f"vault.{table}.{column.removesuffix('_enc')}")
                    values.append(json.dumps(_plain(value), sort_keys=True, ensure_ascii=False, default=str))
                rows.append(values)
            out[f"{schema_name}.{table}"] = {
                "rows": len(rows),
                "digest": _digest("\x1e".join(r) for r in rows),
                "columns": {c: _digest(r[i] for r in rows) for i, c in enumerate(columns)},
            }
    conn.close()
    return out


def _digest(items) -> str:
    return hashlib.sha256("\n".join(sorted(items)).encode()).hexdigest()


def _manifest(output_root: Path) -> dict:
    found = sorted((output_root / BRANCH).glob("*/manifest.json"))
    assert len(found) == 1, f"manifests under {output_root}: {found}"
    return json.loads(found[0].read_text())


def _differences(celery: dict, local: dict) -> list[str]:
    """What differs between two `store_contents`, by table and column (no values)."""
    out = []
    for table in sorted(set(celery) | set(local)):
        a, b = celery.get(table), local.get(table)
        if a is None or b is None:
            out.append(f"{table}: only in the {'LocalExecutor' if a is None else 'Celery'} store")
        elif a["digest"] != b["digest"]:
            columns = [c for c in a["columns"] if a["columns"][c] != b["columns"].get(c)]
            out.append(f"{table}: {a['rows']} rows under Celery, {b['rows']} under LocalExecutor; "
                       f"columns differing: {columns or 'none alone (rows combine them differently)'}")
    return out


# -- the test ------------------------------------------------------------------------------------------------

@pytest.fixture
def local_dag(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(ROOT / "dags")).get_dag(DAG_ID)


def test_transfer_on_two_celery_workers_matches_the_local_run(
        local_dag, pg_admin_dsn, sample_export, sample_contract, master_key_text, signing_key_text,
        tmp_path, monkeypatch):
    folder, planted = sample_export
    conf = {"branch_id": BRANCH, "contract": str(sample_contract), "source": str(folder), "chunk_rows": CHUNK_ROWS}
    suffix = uuid.uuid4().hex[:10]
    run_id = f"celery_e2e_{suffix}"
    timings: dict[str, float] = {}
    clock = time.monotonic()

    def lap(stage: str) -> None:
        nonlocal clock
        timings[stage] = round(time.monotonic() - clock, 1)
        clock = time.monotonic()

    celery_roots = {name: tmp_path / "celery" / name for name in ("work", "output", "archive")}
    with (redis_server(tmp_path / "redis") as (redis_host, redis_port),
          scratch_database(pg_admin_dsn, f"handover_e2e_airflow_{suffix}") as metadata,
          scratch_database(pg_admin_dsn, f"handover_e2e_celery_{suffix}") as celery_store):
        broker_db, claim = _claim_redis_db(redis_host, redis_port)
        approve_pipia(celery_store, sample_contract, tmp_path / "pipia")  # as the local run's store has it
        try:
            env = {
                "AIRFLOW_CONN_HANDOVER_TARGET": airflow_connection(celery_store),
                "AIRFLOW_VAR_HANDOVER_MASTER_KEY": master_key_text,
                "AIRFLOW_VAR_HANDOVER_SIGNING_KEY": signing_key_text,
                "HANDOVER_WORK_ROOT": str(celery_roots["work"]),  # one machine: both workers share it
                "HANDOVER_OUTPUT_ROOT": str(celery_roots["output"]),
                "HANDOVER_ARCHIVE_ROOT": str(celery_roots["archive"]),
                "GX_ANALYTICS_ENABLED": "False",
            }
            with Cluster(tmp_path / "airflow", metadata_dsn=metadata, env=env,
                         broker_url=f"redis://{redis_host}:{redis_port}/{broker_db}") as cluster:
                cluster.migrate()
                lap("migrate")
                cluster.start_api_server()
                cluster.start_scheduler()
                cluster.start_dag_processor()
                for name in WORKERS:
                    cluster.start_worker(name, concurrency=2)
                cluster.wait_ready(workers=len(WORKERS))
                cluster.wait_for_dag(DAG_ID)
                lap("start")
                cluster.trigger(DAG_ID, conf, run_id)
                try:
                    state = cluster.wait_for_run(DAG_ID, run_id, timeout=RUN_TIMEOUT)
                except (TimeoutError, ComponentDied) as exc:
                    pytest.fail(f"{exc}\n{cluster.failure_report(DAG_ID, run_id)}")
                lap("celery run")
                assert state == "success", cluster.failure_report(DAG_ID, run_id)
                tis = cluster.task_instances(DAG_ID, run_id)
                nodes = set(cluster.worker_nodes.values())
                logs = list((tmp_path / "airflow" / "logs").rglob("*.log"))
                logs += [c.log for c in cluster.components.values()]
        finally:
            _release_redis_db(redis_host, redis_port, broker_db, claim)

        # The per-chunk steps: one task instance per chunk, all succeeded, spread over both workers.
        chunks = sum(math.ceil(n / CHUNK_ROWS) for n in planted["rows"].values())
        for task_id in MAPPED:
            mapped = [ti for ti in tis if ti["task_id"] == task_id]
            assert len(mapped) == chunks, task_id
            assert {ti["state"] for ti in mapped} == {"success"}, task_id
            assert {ti["hostname"] for ti in mapped} == nodes, f"{task_id} ran on {[ti['hostname'] for ti in mapped]}"
        assert {ti["state"] for ti in tis} == {"success"}
        retried = sorted(f"{ti['task_id']}[{ti['map_index']}]" for ti in tis if ti["try_number"] > 1)
        print(f"task instances: {len(tis)}, retried: {retried or 'none'}")

        # Each worker imported the steps' libraries once, for all its task processes (celery_worker.preload).
        for name in WORKERS:
            assert "Handover's step libraries preloaded" in cluster.components[f"worker-{name}"].log.read_text(), name

        # Nothing secret in what the workers and the other components wrote.
        assert len(logs) > 3 * chunks
        for path in logs:
            text = path.read_text(errors="replace")
            assert master_key_text not in text and signing_key_text not in text, path
        assert not list(celery_roots["work"].glob("*/*"))  # the teardown removed the work area

        # The same transfer, LocalExecutor-equivalent, into a store with the same keys.
        with scratch_database(pg_admin_dsn, f"handover_e2e_local_{suffix}") as local_store:
            _copy_keyring(celery_store, local_store)
            approve_pipia(local_store, sample_contract, tmp_path / "pipia-local")
            local_roots = {name: tmp_path / "local" / name for name in ("work", "output", "archive")}
            monkeypatch.setenv("AIRFLOW_CONN_HANDOVER_TARGET", airflow_connection(local_store))
            monkeypatch.setenv("AIRFLOW_VAR_HANDOVER_MASTER_KEY", master_key_text)
            monkeypatch.setenv("AIRFLOW_VAR_HANDOVER_SIGNING_KEY", signing_key_text)
            for name, path in local_roots.items():
                monkeypatch.setenv(f"HANDOVER_{name.upper()}_ROOT", str(path))
            local = local_dag.test(run_conf=conf)
            lap("local run")
            assert local.state == "success"

            celery_manifest, local_manifest = _manifest(celery_roots["output"]), _manifest(local_roots["output"])
            assert celery_manifest["counts"] == local_manifest["counts"]
            for entity, expected in planted["expected"].items():
                assert {k: celery_manifest["counts"][entity][k] for k in expected} == expected, entity
            assert {e: c["rows"] for e, c in celery_manifest["content"].items()} == \
                   {e: c["rows"] for e, c in local_manifest["content"].items()}

            celery_contents = store_contents(celery_store, master_key_text)
            local_contents = store_contents(local_store, master_key_text)
            lap("compare")
            assert {t: c["rows"] for t, c in celery_contents.items()} == \
                   {t: c["rows"] for t, c in local_contents.items()}
            assert sum(c["rows"] for c in celery_contents.values()) > 0
            assert _differences(celery_contents, local_contents) == []
    print("timings (s):", timings)
