"""`customer_archive` through Airflow (`dag.test()`), on a real PostgreSQL and the local S3 server: inactive
customers leave the hot tables for the archive (Object Lock and GLACIER_IR recorded), the report and XCom hold
counts only; the same month again changes nothing; an erasure by `retention_purge` takes an archived customer
out of the object at the next run; the restore drill checks the archive against its index."""

from __future__ import annotations

import datetime as dt
import json

import psycopg2
import pytest
from handover import local_run
from handover.purge import erasure
from handover.purge.store import refresh_activity
from handover.store import keys

from tests.support.stores import run_context as _ctx


@pytest.fixture(scope="module")
def s3(s3_server):
    """The loopback S3 server with the archive's bucket (Object Lock on): (client, endpoint URL)."""
    client, endpoint = s3_server
    client.create_bucket(Bucket="handover-cold", ObjectLockEnabledForBucket=True)
    return client, endpoint


def _hot(dsn: str) -> dict[str, int]:
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        out = {}
        for table in ("vault.customers", "vault.accounts", "vault.transactions", "analytics.customers"):
            cur.execute(f"SELECT count(*) FROM {table}")
            out[table] = cur.fetchone()[0]
        return out


def test_customer_archive_archives_reruns_unchanged_and_follows_an_erasure(
        dags, target, master_key_text, signing_key_text, sample_contract, sample_export, tmp_path, monkeypatch, s3,
        caplog):
    from handover.crypto import MasterKey

    _, endpoint = s3
    folder, _ = sample_export
    local_run.run_all(_ctx(target, master_key_text, sample_contract, folder, tmp_path, "run-1",
                          signing_key_text=signing_key_text))
    monkeypatch.setenv("AIRFLOW_CONN_HANDOVER_COLD_ARCHIVE", json.dumps(
        {"conn_type": "aws", "login": "test", "password": "test",
         "extra": {"bucket": "handover-cold", "prefix": "e2e/", "endpoint_url": endpoint, "lock_mode": "GOVERNANCE",
                   "retain_days": 1}}))
    with psycopg2.connect(target) as conn, conn.cursor() as cur:
        cur.execute("SELECT DISTINCT branch_id FROM vault.customers")
        (branch,) = cur.fetchone()
        refresh_activity(cur, branch)
        cur.execute("SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY last_activity) FROM ops.activity")
        median = cur.fetchone()[0]
    as_of = dt.date(median.year + 2, median.month, 28).isoformat()
    before = _hot(target)
    dag = dags.get_dag("customer_archive")
    run = dag.test(run_conf={"as_of": as_of, "contract": str(sample_contract)})
    assert run.get_state() == "success"
    after = _hot(target)
    with psycopg2.connect(target) as conn, conn.cursor() as cur:
        cur.execute("SELECT object_id, state, customers, storage FROM control.cold_archive_objects")
        ((object_id, state, customers, storage),) = cur.fetchall()
        # one whose account is still open: never wholly due, so only his erasure takes him out
        cur.execute("SELECT customer_id FROM control.cold_archive_index WHERE anchors->>'relationship_ended' = 'false' "
                    "ORDER BY customer_id LIMIT 1")
        (victim,) = cur.fetchone()
    assert state == "complete" and customers > 10
    assert storage == {"where": "s3", "storage_class": "GLACIER_IR", "refused": [],
                       "lock": {"mode": "GOVERNANCE", "until": storage["lock"]["until"]}}
    assert after["vault.customers"] == before["vault.customers"] - customers
    report = json.loads(next((tmp_path / "output" / "cold_archive").glob("*.json")).read_text())
    assert report["archived"][0]["customers"] == customers and report["checked"]["customers"] == customers
    assert victim not in json.dumps(report)  # counts and object ids, never a customer
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        xcoms = [x.value for x in session.query(XComModel).filter(XComModel.dag_id == "customer_archive")]
    assert xcoms and victim not in json.dumps(xcoms, default=str)  # nor in XCom
    assert "archive object" in caplog.text or "customer(s) in" in caplog.text
    assert victim not in caplog.text  # nor in the logs

    again = dag.test(run_conf={"as_of": as_of, "contract": str(sample_contract)})  # the same month: nothing
    assert again.get_state() == "success" and _hot(target) == after

    master = MasterKey.from_text(master_key_text)
    with psycopg2.connect(target) as conn:
        erasure.file_request(conn, keys.hasher(conn, master), "customer_id", victim, branch_id=branch,
                             basis="individual_request", requested_by="dpo")
    purge = dags.get_dag("retention_purge").test(run_conf={"as_of": "2040-01-01"})
    assert purge.get_state() == "success"
    with psycopg2.connect(target) as conn, conn.cursor() as cur:
        cur.execute("SELECT state FROM control.erasure_requests")
        assert cur.fetchone()[0] == "done"
        cur.execute("SELECT object_id, state, wrapped_key IS NULL FROM control.cold_archive_objects ORDER BY 1")
        objects = cur.fetchall()
        cur.execute("SELECT count(*) FROM control.cold_archive_index WHERE customer_id = %s", (victim,))
        assert cur.fetchone()[0] == 0
    # the nightly purge rewrote the object without him (the purge at 2040 also took out who was wholly due)
    assert objects[0] == (object_id, "replaced", True)

    # the restore drill covers the archive: the backup holds none of its customers, the archive opens
    from handover.backup import ledger, snapshot
    from handover.crypto import signing_key

    monkeypatch.setenv("AIRFLOW_CONN_HANDOVER_BACKUP", json.dumps(
        {"conn_type": "fs", "extra": {"path": str(tmp_path / "backups")}}))
    backups = snapshot.LocalFolder(tmp_path / "backups")
    hot = _hot(target)
    with psycopg2.connect(target) as conn:
        manifest = snapshot.take(conn, backups, master, signing_key(signing_key_text))
        ledger.record_backup(conn, manifest, str(backups), 1.0)
    drill = dags.get_dag("restore_drill").test()
    assert drill.get_state() == "success"
    with psycopg2.connect(target) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM control.cold_archive_index WHERE state = 'archived'")
        archived = cur.fetchone()[0]
        cur.execute("SELECT ok, detail FROM control.backup_checks WHERE kind = 'cold_archive'")
        ((ok, detail),) = cur.fetchall()
    assert ok and detail["customers"] == archived > 0 and detail["objects"] == 1
    assert manifest["objects"]["vault.customers.csv.z.enc"]["rows"] == hot["vault.customers"]
