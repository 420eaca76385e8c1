"""`branch_backup` through Airflow (`dag.test()`): after a transfer, a backup is taken into the folder of
connection `handover_backup`, verified, kept by the retention policy — and it restores to the same content."""

from __future__ import annotations

import json

import psycopg2
import pytest
from handover import local_run
from handover.backup import snapshot
from handover.backup.snapshot import LocalFolder
from handover.crypto import MasterKey

from tests.conftest import scratch_database
from tests.support.stores import run_context as _ctx


@pytest.fixture
def backup_dag(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    from tests.conftest import ROOT

    return DagBag(dag_folder=str(ROOT / "dags")).get_dag("branch_backup")


def test_a_nightly_backup_through_airflow(backup_dag, target, master_key_text, signing_key_text,
                                          sample_contract, sample_export, tmp_path, monkeypatch, pg_admin_dsn):
    folder, _ = sample_export
    ctx = _ctx(target, master_key_text, sample_contract, folder, tmp_path, "run-1",
               signing_key_text=signing_key_text)
    local_run.run_all(ctx)
    monkeypatch.setenv("AIRFLOW_CONN_HANDOVER_BACKUP", json.dumps(
        {"conn_type": "fs", "extra": {"path": str(tmp_path / "backups")}}))
    monkeypatch.setenv("AIRFLOW_VAR_HANDOVER_BACKUP_RETENTION", json.dumps({"keep-last": 1}))
    first = backup_dag.test()
    assert first.get_state() == "success"
    second = backup_dag.test()
    assert second.get_state() == "success"
    dest = LocalFolder(tmp_path / "backups")
    kept = snapshot.backups(dest)
    assert len(kept) == 1  # keep-last 1: the older one expired, its key first
    assert [n for n in dest.list("keys/")] == [f"keys/{kept[0]}.key"]
    with scratch_database(pg_admin_dsn, "handover_test_restore_dag") as fresh:
        with psycopg2.connect(fresh) as conn:
            restored = snapshot.restore(conn, dest, kept[0], MasterKey.from_text(master_key_text))
        assert restored["vault.customers"] > 100
