"""`backup_verify`, `restore_drill` and `branch_restore` through Airflow (`dag.test()`), on a real
PostgreSQL and a real backup folder: what each DAG records in `control`, that a damaged backup fails the
check and alerts, that a drill finds a manifest that does not match what restores, that a restore is
refused into a store that is not empty and recorded either way."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import psycopg2
import pytest
from handover.backup import ledger, snapshot
from handover.backup.snapshot import LocalFolder
from handover.crypto import MasterKey, sign, signing_key

from tests.conftest import scratch_database
from tests.support.stores import airflow_connection


@pytest.fixture
def backed_up(target, transferred, master_key_text, signing_key_text, tmp_path, monkeypatch):
    """A transferred store (the session's template, copied into the target) and one backup of it in a folder
    that connection `handover_backup` names."""
    monkeypatch.setenv("AIRFLOW_CONN_HANDOVER_BACKUP", json.dumps(
        {"conn_type": "fs", "extra": {"path": str(tmp_path / "backups")}}))
    dest = LocalFolder(tmp_path / "backups")
    with psycopg2.connect(target) as conn:
        manifest = snapshot.take(conn, dest, MasterKey.from_text(master_key_text), signing_key(signing_key_text))
        ledger.record_backup(conn, manifest, str(dest), 1.0)
    return dest, manifest


def _checks(dsn: str) -> list[tuple]:
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT backup_id, kind, ok, detail FROM control.backup_checks ORDER BY id")
        return cur.fetchall()


def _flip_a_byte(dest: LocalFolder, manifest: dict) -> None:
    """One byte changed in every object: whichever rolling subset today's quick check hashes, it finds one."""
    for name in manifest["objects"]:
        path = Path(dest.root) / manifest["backup_id"] / name
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0x01
        path.write_bytes(bytes(data))


def _databases(admin_dsn: str, like: str) -> list[str]:
    with psycopg2.connect(admin_dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT datname FROM pg_database WHERE datname LIKE %s", (like,))
        return [r[0] for r in cur.fetchall()]


def test_backup_verify_checks_every_backup_and_reads_one_whole(dags, backed_up, target, caplog):
    dest, manifest = backed_up
    run = dags.get_dag("backup_verify").test(run_conf={"full_read": True})
    assert run.get_state() == "success"
    kinds = {(kind, ok) for backup_id, kind, ok, _ in _checks(target) if backup_id == manifest["backup_id"]}
    assert kinds == {("quick", True), ("keys", True), ("full", True)}
    full = next(detail for _, kind, _, detail in _checks(target) if kind == "full")
    assert full["hashed"] == full["objects"] == len(manifest["objects"])

    _flip_a_byte(dest, manifest)
    caplog.set_level(logging.ERROR)
    run = dags.get_dag("backup_verify").test(run_conf={"full_read": False})  # (dag.test keeps the last conf)
    assert run.get_state() == "failed"
    failed = [(kind, detail) for _, kind, ok, detail in _checks(target) if not ok]
    assert any(kind == "quick" and "SHA-256 differs" in detail["error"] for kind, detail in failed)
    assert "HANDOVER ALERT" in caplog.text and "check_all_backups" in caplog.text


def test_backup_verify_finds_a_master_key_that_no_longer_opens_the_backups(dags, backed_up, target,
                                                                           monkeypatch):
    monkeypatch.setenv("AIRFLOW_VAR_HANDOVER_MASTER_KEY", "A" * 43 + "=")  # another key: a lost original
    run = dags.get_dag("backup_verify").test()
    assert run.get_state() == "failed"
    failed = [detail["error"] for _, kind, ok, detail in _checks(target) if kind == "keys" and not ok]
    assert failed and "does not open" in failed[0] and "wrapped by master key" in failed[0]


def test_restore_drill_restores_compares_and_drops_its_scratch_database(dags, backed_up, target,
                                                                        pg_admin_dsn):
    _, manifest = backed_up
    run = dags.get_dag("restore_drill").test()
    assert run.get_state() == "success"
    drill = [(b, ok, d) for b, kind, ok, d in _checks(target) if kind == "drill"]
    assert drill == [(manifest["backup_id"], True, drill[0][2])]
    assert drill[0][2]["rows"] == sum(o["rows"] for o in manifest["objects"].values())
    assert drill[0][2]["restore_seconds"] > 0
    assert _databases(pg_admin_dsn, "handover_drill_%") == []


def test_restore_drill_fails_when_what_restores_is_not_what_the_manifest_says(dags, backed_up, target,
                                                                              signing_key_text, caplog):
    """A manifest that lies (as a bug in the backup would make it: here re-signed with the real key) about
    a table's row count: the restore itself succeeds, the drill's comparison does not."""
    dest, manifest = backed_up
    backup_id = manifest["backup_id"]
    lying = json.loads(dest.get(f"{backup_id}/manifest.json"))
    lying["objects"]["vault.accounts.csv.z.enc"]["rows"] += 1
    text = json.dumps(lying, ensure_ascii=False, sort_keys=True, indent=2).encode()
    dest.put(f"{backup_id}/manifest.json", iter([text]))
    dest.put(f"{backup_id}/manifest.json.sig", iter([sign(signing_key(signing_key_text), text).encode()]))
    caplog.set_level(logging.ERROR)
    run = dags.get_dag("restore_drill").test()
    assert run.get_state() == "failed"
    drill = [d for _, kind, ok, d in _checks(target) if kind == "drill" and not ok]
    assert drill and "vault.accounts.csv.z.enc" in drill[0]["error"] and "rows, the manifest says" in drill[0]["error"]
    assert "HANDOVER ALERT" in caplog.text


def _restore_conn(monkeypatch, dsn: str) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_RESTORE_TARGET", airflow_connection(dsn, region=None))


def _differences(dsn: str, manifest: dict) -> list[str]:
    """The store against the manifest, but for the audit log, which has the restore's own entries since (and
    its chain's head, which they moved on)."""
    with psycopg2.connect(dsn) as conn:
        return [m for m in ledger.compare(conn, manifest) if not m.startswith(("ops.audit.", "ops.audit_head."))]


def _restores(dsn: str) -> list[tuple]:
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT backup_id, status, tables, overwrite, error FROM control.restores ORDER BY id")
        return cur.fetchall()


def test_branch_restore_into_a_new_store_then_refuses_to_overwrite_it(dags, backed_up, target,
                                                                     pg_admin_dsn, monkeypatch,
                                                                     master_key_text, signing_key_text):
    _, manifest = backed_up
    restore = dags.get_dag("branch_restore")
    with scratch_database(pg_admin_dsn, "handover_test_branch_restore") as fresh:
        _restore_conn(monkeypatch, fresh)
        run = restore.test(run_conf={"target_conn_id": "restore_target"})  # backup_id: latest
        assert run.get_state() == "success"
        assert _differences(fresh, manifest) == []
        assert _restores(fresh) == [(manifest["backup_id"], "success", None, False, None)]
        with psycopg2.connect(fresh) as conn, conn.cursor() as cur:
            cur.execute("SELECT actor, detail FROM ops.audit WHERE action = 'backup.restored'")
            (actor, detail), = cur.fetchall()
        assert actor == "dag_test" and detail["backup_id"] == manifest["backup_id"]

        # Not empty now: refused, and the refusal recorded.
        run = restore.test(run_conf={"target_conn_id": "restore_target", "backup_id": manifest["backup_id"]})
        assert run.get_state() == "failed"
        assert _restores(fresh)[-1][1] == "failed" and "not empty" in _restores(fresh)[-1][4]

        # Some tables only: their dependents must come too.
        run = restore.test(run_conf={"target_conn_id": "restore_target", "tables": ["vault.customers"],
                                     "overwrite": True})
        assert run.get_state() == "failed"
        assert "vault.accounts (refers to vault.customers)" in _restores(fresh)[-1][4]

        # One schema, overwriting: the analytics tier put back after an analyst's mistake.
        with psycopg2.connect(fresh) as conn, conn.cursor() as cur:
            cur.execute("DELETE FROM analytics.interactions")
        run = restore.test(run_conf={"target_conn_id": "restore_target", "tables": ["analytics"],
                                     "overwrite": True})
        assert run.get_state() == "success"
        assert _differences(fresh, manifest) == []
        assert _restores(fresh)[-1][:4] == (manifest["backup_id"], "success", ["analytics"], True)


def test_branch_restore_names_a_backup_that_does_not_exist(dags, backed_up, target):
    run = dags.get_dag("branch_restore").test(run_conf={"backup_id": "20990101T000000Z-000000"})
    assert run.get_state() == "failed"
    with psycopg2.connect(target) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM control.restores")
        assert cur.fetchone()[0] == 0  # nothing was attempted on the store
