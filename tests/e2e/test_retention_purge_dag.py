"""`retention_purge` through Airflow (`dag.test()`): a dry run reports and changes nothing; the real run
purges what is due, carries out an erasure request, writes its report and audit entries (counts, no
customer data) and mirrors the tombstones beside the backups; `branch_restore` and `restore_drill` of a
backup taken before the erasure do not bring the customer back."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import psycopg2
from handover import local_run
from handover.backup import ledger, snapshot
from handover.backup.snapshot import LocalFolder
from handover.crypto import Hasher, MasterKey, signing_key
from handover.purge import erasure
from handover.store.keys import get_or_create

from tests.support.stores import run_context as _ctx


def _counts(dsn: str) -> dict[str, int]:
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        out = {}
        for table in ("vault.customers", "vault.transactions", "vault.interactions", "analytics.transactions",
                      "ops.quarantine", "ops.exclusions"):
            cur.execute(f"SELECT count(*) FROM {table}")
            out[table] = cur.fetchone()[0]
        return out


def test_retention_purge_dry_run_then_real_with_an_erasure_that_survives_restores(
        dags, target, master_key_text, signing_key_text, sample_contract, sample_export, tmp_path,
        monkeypatch, caplog):
    folder, _ = sample_export
    local_run.run_all(_ctx(target, master_key_text, sample_contract, folder, tmp_path, "run-1",
                          signing_key_text=signing_key_text))
    monkeypatch.setenv("AIRFLOW_CONN_HANDOVER_BACKUP", json.dumps(
        {"conn_type": "fs", "extra": {"path": str(tmp_path / "backups")}}))
    dest = LocalFolder(tmp_path / "backups")
    master = MasterKey.from_text(master_key_text)
    people = list(csv.DictReader(io.StringIO((folder / "客户信息.csv").read_bytes().decode("gb18030"))))
    with psycopg2.connect(target) as conn, conn.cursor() as cur:
        manifest = snapshot.take(conn, dest, master, signing_key(signing_key_text))  # before the erasure
        ledger.record_backup(conn, manifest, str(dest), 1.0)
        cur.execute("SELECT customer_id FROM vault.customers WHERE mobile_bidx IS NOT NULL ORDER BY 1 LIMIT 1")
        customer = cur.fetchone()[0]
        person = next(p for p in people if p["客户编号"].strip() == customer)
        hasher = Hasher(get_or_create(conn, master, "blind_index")[1])
        erasure.file_request(conn, hasher, "mobile", person["手机号码"], branch_id=None,
                             basis="individual_request", requested_by="dpo")

    purge = dags.get_dag("retention_purge")
    before = _counts(target)
    run = purge.test(run_conf={"dry_run": True, "as_of": "2030-01-01"})
    assert run.get_state() == "success"
    assert _counts(target) == before  # nothing changed
    reports = sorted((tmp_path / "output" / "purge").glob("*.json"))
    dry = json.loads(reports[-1].read_text())
    assert dry["purge"]["dry_run"] is True
    would = dry["purge"]["deleted_per_class"]
    assert would["transaction_records"] == before["vault.transactions"]  # every 2024 transaction by 2030
    assert would["quarantine"] == before["ops.quarantine"]
    assert dry["requests"][0]["state"] == "pending"  # the dry run decided nothing for good

    # (explicit: dag.test() keeps the previous run's conf in the DAG object's params)
    run = purge.test(run_conf={"dry_run": False, "as_of": "2030-01-01"})
    assert run.get_state() == "success"
    after = _counts(target)
    assert after["vault.transactions"] == after["analytics.transactions"] == 0
    # The erased customer, and the two who never had an account and were last active before 2025.
    assert after["vault.customers"] == before["vault.customers"] - 1 - would["relationship"]
    real = json.loads(max((tmp_path / "output" / "purge").glob("*.json")).read_text())
    request = real["requests"][0]
    assert request["state"] == "done" and request["backups_holding"] == 1
    assert request["last_backup_copy_expires"]  # the default policy's max-age after that backup, plus a day
    assert dest.list("tombstones/")  # mirrored beside the backups

    # Audit and report: counts and states, no identifier of any customer.
    with psycopg2.connect(target) as conn, conn.cursor() as cur:
        cur.execute("SELECT action, detail::text FROM ops.audit WHERE action IN ('retention.purged', 'erasure.decided')")
        audit = cur.fetchall()
    assert {a for a, _ in audit} == {"retention.purged", "erasure.decided"}
    text = " ".join(d for _, d in audit) + reports[-1].read_text()
    for p in people[:60]:
        for value in (p["客户编号"], p["手机号码"], p["证件号码"], p["姓名"]):
            if len(value.strip()) >= 4:
                assert value.strip() not in text

    # The backup from before the erasure, restored over the store: the customer stays erased.
    run = dags.get_dag("branch_restore").test(run_conf={"backup_id": manifest["backup_id"], "overwrite": True})
    assert run.get_state() == "success"
    with psycopg2.connect(target) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM vault.customers WHERE customer_id = %s", (customer,))
        assert cur.fetchone()[0] == 0
        cur.execute("SELECT rows FROM control.restores ORDER BY id DESC LIMIT 1")
        assert cur.fetchone()[0]["vault.customers"] == manifest["objects"]["vault.customers.csv.z.enc"]["rows"]
        cur.execute("SELECT detail FROM ops.audit WHERE action = 'backup.restored'")
        assert cur.fetchone()[0]["tombstones"]["customers"] == 1
    # The drill restores it too, compares it with its manifest, and applies the tombstones after.
    run = dags.get_dag("restore_drill").test()
    assert run.get_state() == "success"
    with psycopg2.connect(target) as conn, conn.cursor() as cur:
        cur.execute("SELECT detail FROM control.backup_checks WHERE kind = 'drill'")
        assert cur.fetchone()[0]["tombstones"]["customers"] == 1
    assert Path(reports[-1]).exists()
