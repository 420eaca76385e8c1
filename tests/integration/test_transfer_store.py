"""The transfer's steps against a real PostgreSQL, without Airflow: dispositions, contents, idempotence."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg2
import pytest
from handover import local_run, lookup
from handover.crypto import FieldCipher
from handover.store.keys import data_purpose
from handover.vault import open_payload

from tests.conftest import snapshot
from tests.support.stores import run_context as _ctx

TABLES = ("vault.customers", "vault.accounts", "vault.transactions", "vault.interactions", "analytics.customers",
          "analytics.accounts", "analytics.transactions", "analytics.interactions",
          "ops.quarantine", "ops.exclusions", "ops.keys")




def test_every_source_row_has_the_planted_disposition(transferred):
    _, planted, manifest = transferred
    for entity, expected in planted["expected"].items():
        counts = manifest["counts"][entity]
        assert {k: counts[k] for k in expected} == expected, entity
        assert counts["balanced"]


def test_quarantine_reasons_and_sealed_payloads(transferred, pg_dsn, sample_export):
    ctx, planted, _ = transferred
    with psycopg2.connect(pg_dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT entity, record_key, reasons, source_file, source_line, payload_enc FROM ops.quarantine")
        rows = cur.fetchall()
        cur.execute("SELECT wrapped FROM ops.keys WHERE purpose = %s", (data_purpose("SH-PD-0042"),))
        data_key = ctx.master_key.unwrap(bytes(cur.fetchone()[0]), data_purpose("SH-PD-0042"))
    by_key = {(e, k): set(r) for e, k, r, *_ in rows}
    assert by_key[("customers", planted["planted"]["resident_id_checksum"][0])] == {"invalid_resident_id"}
    assert by_key[("customers", planted["planted"]["gender_mismatch"][0])] == {"gender_mismatch"}
    assert "id_scientific_notation" in by_key[("customers", planted["planted"]["resident_id_scientific"][0])]
    assert by_key[("accounts", planted["planted"]["card_luhn"][0])] == {"invalid_bank_card"}
    assert by_key[("accounts", planted["planted"]["orphan_account"][0])] == {"orphan_reference"}
    assert by_key[("transactions", planted["planted"]["amount_unparseable"][0])] == {"unparseable_amount"}
    conflict = planted["planted"]["conflicting_duplicate"][0]
    assert sum(1 for e, k, *_ in rows if (e, k) == ("customers", conflict)) == 2
    assert any("parent_quarantined" in r for _, _, r, *_ in rows)
    # The payload is the row as the branch sent it, encrypted with the branch's data key.
    _, key, _, file, line, blob = next(r for r in rows if r[1] == planted["planted"]["email_invalid"][0])
    payload = open_payload(FieldCipher(data_key, "x"), bytes(blob))
    assert payload["客户编号"] == key and file == "客户信息.csv" and line > 1
    assert key.encode() not in bytes(blob)


def test_vault_holds_ciphertext_masks_and_blind_indexes(transferred, pg_dsn, sample_export):
    ctx, _, _ = transferred
    folder, _ = sample_export
    first = (folder / "客户信息.csv").read_bytes().decode("gb18030").splitlines()[1].split(",")
    name, id_number, mobile = first[2].strip(), first[6].strip().upper(), first[8]
    with psycopg2.connect(pg_dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT * FROM vault.customers")
        text = json.dumps([[str(v) for v in row if not isinstance(v, memoryview)] for row in cur.fetchall()],
                          ensure_ascii=False)
    assert name not in text and id_number not in text  # no plaintext identifier in any text column
    found = lookup.find_customers(ctx.dsn, ctx.master_key, mobile=mobile)
    assert [f["customer_id"] for f in found] == [first[0]]
    assert found[0]["mobile"].count("*") == 4 and found[0]["name"].startswith(name[0])


def test_second_run_changes_nothing(transferred, pg_dsn, master_key_text, sample_contract, sample_export, tmp_path):
    before = snapshot(pg_dsn, TABLES)
    folder, _ = sample_export
    local_run.run_all(_ctx(pg_dsn, master_key_text, sample_contract, folder, tmp_path, "run-2", chunk_rows=57))
    assert snapshot(pg_dsn, TABLES) == before


def test_dry_run_loads_nothing(pg_dsn, master_key_text, sample_contract, sample_export, tmp_path):
    folder, planted = sample_export
    ctx = _ctx(pg_dsn, master_key_text, sample_contract, folder, tmp_path, "dry-1", dry_run=True)
    manifest = json.loads(Path(local_run.run_all(ctx)["manifest"]).read_text())
    assert manifest["mode"] == "dry_run"
    assert manifest["counts"]["customers"]["loaded"] == planted["expected"]["customers"]["loaded"]
    snap = snapshot(pg_dsn, TABLES)
    assert all(not snap[t] for t in TABLES if t != "ops.keys")


def test_a_bad_source_fails_before_loading_and_leaves_no_work_area(pg_dsn, master_key_text, sample_contract,
                                                                sample_export, tmp_path):
    folder, _ = sample_export
    broken = tmp_path / "broken"
    broken.mkdir()
    for f in folder.iterdir():
        (broken / f.name).write_bytes(f.read_bytes())
    (broken / "交易流水.csv").write_bytes(b"")  # an empty file: no header row
    ctx = _ctx(pg_dsn, master_key_text, sample_contract, broken, tmp_path, "fail-1")
    with pytest.raises(Exception) as err:
        local_run.run_all(ctx)
    assert "交易流水.csv" in str(err.value) and "no header row" in str(err.value)
    assert not ctx.work_dir.exists()
    with psycopg2.connect(pg_dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'staging'")
        assert cur.fetchone()[0] == 0
        # the contract check failed before the run began (the schema is there: the PIPIA was approved in it)
        cur.execute("SELECT count(*) FROM ops.runs")
        assert cur.fetchone() == (0,)
        cur.execute("SELECT count(*) FROM pg_inherits WHERE inhparent = 'vault.customers'::regclass")
        assert cur.fetchone() == (0,)


def test_a_branch_has_its_own_partitions_built_on_first_load(transferred, pg_dsn):
    from handover.store.partitions import partition_name

    with psycopg2.connect(pg_dsn) as conn, conn.cursor() as cur:
        for entity in ("customers", "accounts", "transactions", "interactions"):
            cur.execute("SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
                        "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = %s::regclass",
                        (f"vault.{entity}",))
            assert cur.fetchall() == [(partition_name(entity, "SH-PD-0042"), "FOR VALUES IN ('SH-PD-0042')")]
        # the attached partition enforces the parent's keys
        cur.execute("SELECT count(*) FROM pg_constraint WHERE conrelid = %s::regclass AND contype IN ('p', 'f')",
                    (f"vault.{partition_name('transactions', 'SH-PD-0042')}",))
        assert cur.fetchone()[0] == 3  # primary key + the account and the customer references


def test_a_version_2_store_is_migrated_to_partitions(transferred, pg_dsn, master_key_text, sample_contract,
                                                     sample_export, tmp_path):
    """A store made before partitioning (plain vault tables) is moved into per-branch partitions by the
    next run, rows and content hashes unchanged, and the run then writes nothing."""
    from handover.store import content, schema

    _, _, manifest = transferred
    before = snapshot(pg_dsn, TABLES)
    with psycopg2.connect(pg_dsn) as conn, conn.cursor() as cur:
        # Rebuild the version-2 layout: plain tables with the same rows, keys and references.
        for entity in ("interactions", "transactions", "cards", "accounts", "customers"):
            cur.execute(f"CREATE TABLE public.{entity}_flat AS TABLE vault.{entity}")
            cur.execute(f"DROP TABLE vault.{entity}")
        for entity in ("customers", "accounts", "cards", "transactions", "interactions"):
            cur.execute(f"ALTER TABLE public.{entity}_flat SET SCHEMA vault")
            cur.execute(f"ALTER TABLE vault.{entity}_flat RENAME TO {entity}")
            cur.execute(f"ALTER TABLE vault.{entity} ADD PRIMARY KEY (branch_id, {entity[:-1]}_id)")
        cur.execute("ALTER TABLE vault.accounts ADD FOREIGN KEY (branch_id, customer_id) "
                    "REFERENCES vault.customers (branch_id, customer_id)")
        cur.execute("CREATE INDEX customers_mobile_bidx ON vault.customers (mobile_bidx)")
        cur.execute("UPDATE ops.schema_version SET fingerprint = 'version-2'")
        conn.commit()
        cur.execute("SELECT relkind FROM pg_class WHERE oid = 'vault.customers'::regclass")
        assert cur.fetchone()[0] == "r"
        schema.ensure_schema(conn)
        cur.execute("SELECT relkind FROM pg_class WHERE oid = 'vault.customers'::regclass")
        assert cur.fetchone()[0] == "p"
        cur.execute("SELECT to_regnamespace('vault_v2')")
        assert cur.fetchone()[0] is None
    assert snapshot(pg_dsn, TABLES) == before
    assert content.content_hashes(lambda: psycopg2.connect(pg_dsn), manifest["content"], "SH-PD-0042") \
        == manifest["content"]
    folder, _ = sample_export
    rerun = _ctx(pg_dsn, master_key_text, sample_contract, folder, tmp_path, "run-after-migration")
    local_run.run_all(rerun)
    assert snapshot(pg_dsn, TABLES) == before
