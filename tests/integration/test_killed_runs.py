"""A transfer killed with SIGKILL at any point, then run again, ends exactly where a clean run ends.

Each kill happens in a child process (`handover transfer` with ``HANDOVER_KILL_AT`` naming a fault point);
the re-run is a new run on the same store. The final state is compared with a clean run into another
database by content: every vault row decrypted, every quarantine payload opened, every exclusion — and
no staging table or plaintext work area is left behind.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg2
import pytest
from handover import canonical, faults
from handover.crypto import FieldCipher, MasterKey
from handover.store.keys import data_purpose
from handover.store.tables import vault_columns
from handover.vault import open_payload

from tests.conftest import scratch_database
from tests.support.stores import SIGNING_KEY, approve_pipia

BRANCH = "SH-PD-0042"


@pytest.fixture(scope="module")
def small_export(tmp_path_factory):
    from handover import sample

    folder = tmp_path_factory.mktemp("small")
    sample.generate(folder, customers=60)
    return folder


def _transfer(dsn, contract, folder, state, master_key_text, kill_at=None, run_id=None):
    approve_pipia(dsn, contract, Path(state) / "pipia")  # what a load needs first (idempotent)
    env = {**os.environ, "HANDOVER_MASTER_KEY": master_key_text, "HANDOVER_SIGNING_KEY": SIGNING_KEY}
    env.pop("HANDOVER_KILL_AT", None)
    if kill_at:
        env["HANDOVER_KILL_AT"] = kill_at
    cmd = [sys.executable, "-m", "handover.cli", "transfer", str(contract), "--dsn", dsn, "--source", str(folder),
           "--target-region", "CN", "--chunk-rows", "40", "--state-dir", str(state)]
    if run_id:
        cmd += ["--run-id", run_id]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, check=False)


def plain_state(dsn: str, master_key_text: str) -> dict:
    """The store's content with every key-dependent byte opened or left out: comparable across stores."""
    master = MasterKey.from_text(master_key_text)
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT wrapped FROM ops.keys WHERE purpose = %s", (data_purpose(BRANCH),))
        cipher = FieldCipher(master.unwrap(bytes(cur.fetchone()[0]), data_purpose(BRANCH)), "k")
        state = {}
        for entity in canonical.ENTITIES.values():
            cols = [c for c, _ in vault_columns(entity) if not c.endswith("_bidx")]
            cur.execute(f"SELECT {', '.join(cols)}, source_file, source_line FROM vault.{entity.name}")
            rows = set()
            for row in cur.fetchall():
                opened = []
                for col, value in zip(cols, row, strict=False):
                    if col.endswith("_enc"):
                        value = cipher.decrypt(value, f"vault.{entity.name}.{col[:-4]}")
                    opened.append(str(value))
                opened += [str(v) for v in row[len(cols):]]
                rows.add(tuple(opened))
            state[entity.name] = rows
        cur.execute("SELECT entity, source_file, source_line, record_key, reasons, payload_enc FROM ops.quarantine")
        state["quarantine"] = {(e, f, n, k, tuple(r), json.dumps(open_payload(cipher, bytes(p)), sort_keys=True))
                               for e, f, n, k, r, p in cur.fetchall()}
        cur.execute("SELECT entity, source_file, source_line, record_key, reasons FROM ops.exclusions")
        state["exclusions"] = {(e, f, n, k, tuple(r)) for e, f, n, k, r in cur.fetchall()}
        cur.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'staging'")
        state["staging_tables"] = cur.fetchone()[0]
    return state


@pytest.fixture(scope="module")
def clean_state(pg_admin_dsn, small_export, sample_contract, tmp_path_factory):
    key = "Y2xlYW4tcnVuLWtleS0tLS0tLS0tLS0tLS0tLS0tLS0="  # 32 bytes, base64: the comparison key
    with scratch_database(pg_admin_dsn, "handover_test_clean_killed") as dsn:
        done = _transfer(dsn, sample_contract, small_export, tmp_path_factory.mktemp("clean"), key)
        assert done.returncode == 0, done.stderr[-2000:]
        yield key, plain_state(dsn, key)


@pytest.mark.parametrize("point", faults.TRANSFER_POINTS)
def test_killed_then_rerun_equals_clean_run(point, pg_dsn, clean_state, small_export, sample_contract, tmp_path):
    key, clean = clean_state
    assert clean["customers"] and clean["quarantine"] and clean["exclusions"]  # a comparison with substance
    killed = _transfer(pg_dsn, sample_contract, small_export, tmp_path, key, kill_at=point, run_id="killed-1")
    assert killed.returncode == -9, killed.stderr[-2000:]  # it really died there, by SIGKILL
    with psycopg2.connect(pg_dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM vault.customers")
        assert cur.fetchone()[0] == 0  # nothing is half-loaded: the merge is one transaction
    assert (tmp_path / "work").exists()  # the killed run left its work area behind …

    rerun = _transfer(pg_dsn, sample_contract, small_export, tmp_path, key, run_id="rerun-1")
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert plain_state(pg_dsn, key) == clean
    assert not any((tmp_path / "work").iterdir())  # … which the re-run swept away
    with psycopg2.connect(pg_dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT run_id, status FROM ops.runs ORDER BY run_id")
        assert cur.fetchall() == [("killed-1", "abandoned"), ("rerun-1", "success")]
        cur.execute("SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname = 'vault' AND c.relkind = 'r' AND NOT c.relispartition")
        # no partition a killed run built is left unattached (the history of contact updates is no partition)
        assert {r[0] for r in cur.fetchall()} == {"customer_history"}
