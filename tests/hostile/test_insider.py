"""The insider (issue 15): someone with the pipeline's login, or with the handed-over files, tries to change
what the store or the manifest says happened.

With real logins on a real store — an ``etl`` login in ``handover_operator``, an analyst in
``handover_analyst``, a vault reader, an administrator in ``handover_owner`` — the sample branch is
transferred end to end *as the runner* (leak scan included); then the runner is refused everything that
would rewrite history (the audit log, the tables themselves, the trigger that makes partitions, the owner's
role), the analyst reads the analytics tier and nothing else, and the runner's other steps (erasure, purge,
backup) work with what it was granted — while a full restore, which replaces the audit log, is the owner's.
A manifest signed again with another key is never "verified" without the signer the receiving party was
told of, and what was not checked is named.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import hashlib
import io
import json
import os
import uuid
from pathlib import Path
from types import SimpleNamespace

import psycopg2
import pytest
from handover import cli, local_run, transfer
from handover import manifest as manifest_mod
from handover.backup import ledger, snapshot
from handover.backup.snapshot import LocalFolder
from handover.crypto import Hasher, MasterKey, public_pem, signing_key
from handover.errors import HandoverError
from handover.purge import erasure, rules
from handover.purge import store as purge_store
from handover.store import partitions, roles
from handover.store.keys import get_or_create
from psycopg2.extensions import parse_dsn

from tests.conftest import scratch_database
from tests.hostile.checks import assert_balanced, assert_no_leak
from tests.support.roles import logins, refused
from tests.support.stores import SIGNING_KEY
from tests.support.stores import run_context as _ctx

BRANCH = "SH-PD-0042"
LATER = dt.date(2031, 1, 1)  # the sample's records are from 2024–2025: much is due by then, AML retention run
OTHER_KEY = base64.b64encode(bytes(range(100, 132))).decode()  # the insider's own signing key


def _people(folder: Path) -> list[dict]:
    return list(csv.DictReader(io.StringIO((folder / "客户信息.csv").read_bytes().decode("gb18030"))))


def _secrets(people: list[dict]) -> list[str]:
    return [v.strip() for p in people for v in (p["姓名"], p["证件号码"], p["手机号码"]) if len(v.strip()) >= 2]


@pytest.fixture(scope="module")
def insider(pg_admin_dsn, sample_export, sample_contract, tmp_path_factory):
    """A store set up by the administrator (`handover roles`), its logins, and the sample transferred by the
    runner's login — `run_all`, then the leak scan, as the DAG does."""
    folder, planted = sample_export
    tmp = tmp_path_factory.mktemp("insider")
    master_text = base64.b64encode(os.urandom(32)).decode()
    with scratch_database(pg_admin_dsn, f"handover_test_insider_{uuid.uuid4().hex[:10]}") as admin_dsn:
        assert cli.main(["roles", "--dsn", admin_dsn]) == 0
        with logins(admin_dsn, etl=roles.OPERATOR, analyst=roles.ANALYST, reader=roles.VAULT_READER,
                    dba=roles.OWNER) as dsns:
            ctx = _ctx(dsns["etl"], master_text, sample_contract, folder, tmp, "insider-run-1")
            result = local_run.run_all(ctx)
            scan = transfer.scan_for_leaks(ctx)
            yield SimpleNamespace(admin=admin_dsn, dsns=dsns, ctx=ctx, tmp=tmp, planted=planted, scan=scan,
                                  manifest_path=Path(result["manifest"]), fingerprint=result["signer_fingerprint"],
                                  people=_people(folder), master=MasterKey.from_text(master_text))


def _rows(dsn: str, query: str, params=None) -> list[tuple]:
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute(query, params)
        out = cur.fetchall()
    conn.close()
    return out


def _audit_digest(dsn: str) -> tuple[int, str]:
    rows = _rows(dsn, "SELECT id, at, run_id, branch_id, actor, action, detail::text FROM ops.audit ORDER BY id")
    return len(rows), hashlib.sha256(repr(rows).encode()).hexdigest()


# -- the transfer, as the runner ----------------------------------------------------------------------

def test_the_runner_transfers_the_branch_end_to_end_owning_nothing(insider):
    manifest = json.loads(insider.manifest_path.read_text())
    assert_balanced(manifest)
    for entity, expected in insider.planted["expected"].items():
        assert {k: manifest["counts"][entity][k] for k in expected} == expected, entity
    assert insider.scan["hits"] == 0 and insider.scan["scanned"]["tables"] > 0  # read what the analyst reads
    etl = parse_dsn(insider.dsns["etl"])["user"]
    owners = _rows(insider.admin, "SELECT n.nspname, c.relname, pg_get_userbyid(c.relowner) FROM pg_class c "
                                  "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = ANY(%s) "
                                  "AND c.relkind IN ('r', 'p', 'S', 'f', 'v', 'm')",
                   (list(roles.PIPELINE_SCHEMAS),))
    assert {o for _, _, o in owners} == {roles.OWNER}, [r for r in owners if r[2] != roles.OWNER]
    made = {t for s, t, _ in owners if s == "vault" and t.endswith(partitions.partition_name("", BRANCH))}
    assert made == {partitions.partition_name(e, BRANCH) for e in ("customers", "accounts", "cards", "transactions",
                                                                  "interactions")}
    actions = {a for (a,) in _rows(insider.admin, "SELECT DISTINCT action FROM ops.audit")}
    assert {"run_started", "vault_loaded", "manifest_published", "leak_scan"} <= actions
    assert etl not in {u for (u,) in _rows(insider.admin, "SELECT DISTINCT pg_get_userbyid(proowner) FROM pg_proc "
                                                         "p JOIN pg_namespace n ON n.oid = p.pronamespace "
                                                         "WHERE n.nspname = ANY(%s)", (list(roles.PIPELINE_SCHEMAS),))}


AUDIT_ATTACKS = [
    "ALTER TABLE ops.audit DISABLE TRIGGER ALL",
    "ALTER TABLE ops.audit DISABLE TRIGGER audit_append_only",
    "DROP TRIGGER audit_append_only ON ops.audit",
    "DELETE FROM ops.audit",
    "DELETE FROM ops.audit WHERE action = 'leak_scan'",
    "UPDATE ops.audit SET detail = '{}'",
    "UPDATE ops.audit SET actor = 'someone else' WHERE action = 'run_started'",
    "TRUNCATE ops.audit",
    "ALTER TABLE ops.audit OWNER TO CURRENT_USER",
    "ALTER TABLE ops.audit OWNER TO handover_operator",
    "ALTER TABLE ops.audit RENAME TO audit_old",
    "DROP TABLE ops.audit",
    ("CREATE OR REPLACE FUNCTION ops.audit_is_append_only() RETURNS trigger LANGUAGE plpgsql AS "
     "$$ BEGIN RETURN NULL; END $$"),
    "SELECT setval(pg_get_serial_sequence('ops.audit', 'id'), 1)",
]


@pytest.mark.parametrize("statement", AUDIT_ATTACKS)
def test_the_runner_cannot_disable_delete_rewrite_or_truncate_the_audit_log(insider, statement):
    before = _audit_digest(insider.admin)
    assert refused(insider.dsns["etl"], statement), statement
    assert _audit_digest(insider.admin) == before


def test_the_runner_may_only_append_to_the_audit_log(insider):
    assert not refused(insider.dsns["etl"], "INSERT INTO ops.audit (actor, action) VALUES ('etl', 'probe')")
    assert not refused(insider.dsns["etl"], "SELECT count(*) FROM ops.audit")  # the backup reads it


def _structure_attacks() -> list[str]:
    part = partitions.partition_name("customers", BRANCH)
    return [
        "DROP TABLE vault.customers",
        "DROP TABLE vault.customers CASCADE",
        f"DROP TABLE vault.{part}",
        "DROP TABLE analytics.customers",
        f"DROP TABLE analytics.{part}",
        f"ALTER TABLE vault.customers DETACH PARTITION vault.{part}",
        "ALTER TABLE vault.customers ADD COLUMN planted text",
        "ALTER TABLE vault.customers OWNER TO CURRENT_USER",
        f"ALTER TABLE vault.{part} OWNER TO CURRENT_USER",
        "ALTER TABLE vault.accounts DROP CONSTRAINT accounts_branch_id_customer_id_fkey",
        "CREATE INDEX planted ON vault.customers (customer_id)",
        "TRUNCATE vault.customers",
        "TRUNCATE ops.quarantine",
        "DROP SCHEMA vault CASCADE",
        "ALTER SCHEMA ops RENAME TO ops_old",
        "CREATE SCHEMA planted",
        "CREATE TABLE vault.planted (x int)",
        "CREATE TABLE ops.planted (x int)",
        "CREATE FUNCTION analytics.planted() RETURNS int LANGUAGE sql AS 'SELECT 1'",
        "ALTER TABLE ops.runs DISABLE TRIGGER runs_make_branch_partitions",
        "DROP TRIGGER runs_make_branch_partitions ON ops.runs",
        ("CREATE OR REPLACE FUNCTION ops.partition_name(entity text, branch text) RETURNS text "
         "LANGUAGE sql RETURN 'x'"),
        "ALTER FUNCTION ops.make_branch_partitions() OWNER TO CURRENT_USER",
        "DELETE FROM ops.keys",
        "UPDATE ops.keys SET wrapped = '\\x00'",
        "DELETE FROM ops.manifests",
        "UPDATE ops.schema_version SET fingerprint = 'x'",
        "DELETE FROM control.tombstones",
        "DELETE FROM control.erasure_requests",
        "DELETE FROM control.backups",
        "SET ROLE handover_owner",
        "CREATE ROLE planted LOGIN",
        "GRANT handover_owner TO CURRENT_USER",
    ]


@pytest.mark.parametrize("statement", _structure_attacks())
def test_the_runner_cannot_drop_alter_or_give_away_the_stores_tables(insider, statement):
    assert refused(insider.dsns["etl"], statement), statement


def test_the_runner_cannot_become_the_owner(insider):
    (member,) = _rows(insider.dsns["etl"], "SELECT pg_has_role(current_user, %s, 'MEMBER')", (roles.OWNER,))[0]
    assert member is False


# -- the analyst --------------------------------------------------------------------------------------

def test_the_analyst_reads_analytics_and_insights_and_nothing_in_vault_ops_staging_or_control(insider):
    assert not refused(insider.dsns["etl"], "CREATE UNLOGGED TABLE staging.probe_run (x int)")  # a run's staging
    tables = _rows(insider.admin, "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n "
                                  "ON n.oid = c.relnamespace WHERE n.nspname = ANY(%s) AND c.relkind IN ('r', 'p') "
                                  "ORDER BY 1, 2", (list(roles.PIPELINE_SCHEMAS),))
    assert {s for s, _ in tables} == set(roles.PIPELINE_SCHEMAS)
    analyst = insider.dsns["analyst"]
    for schema, table in tables:
        statement = f'SELECT * FROM "{schema}"."{table}" LIMIT 1'
        if schema in ("analytics", "insights"):  # insights: the aggregates made of analytics
            assert not refused(analyst, statement), (schema, table)  # partitions named directly too
        else:
            assert refused(analyst, statement), (schema, table)
    (rows,) = _rows(analyst, "SELECT count(*) FROM analytics.customers")[0]
    assert rows == json.loads(insider.manifest_path.read_text())["counts"]["customers"]["loaded"]
    assert refused(analyst, "INSERT INTO analytics.customers (branch_id, customer_token) VALUES ('x', 'tok_x')")
    assert refused(analyst, "DELETE FROM insights.segments")  # published by the runner only
    assert not refused(insider.dsns["etl"], "DROP TABLE staging.probe_run")


# -- the runner's other steps ---------------------------------------------------------------------------

def test_erasure_purge_and_backup_run_as_the_runner(insider):
    """Each with what the runner was granted (dry runs where the store would change: the manifest tests below
    compare it with the manifest)."""
    etl, master = insider.dsns["etl"], insider.master
    loaded = {c for (c,) in _rows(insider.admin, "SELECT customer_id FROM vault.customers "
                                                 "WHERE mobile_bidx IS NOT NULL")}
    person = next(p for p in insider.people if p["客户编号"].strip() in loaded)
    with psycopg2.connect(etl) as conn:
        hasher = Hasher(get_or_create(conn, master, "blind_index")[1])
        erasure.file_request(conn, hasher, "mobile", person["手机号码"], branch_id=None,
                             basis="individual_request", requested_by="dpo")
        decided = erasure.carry_out(conn, hasher, LATER, dry_run=True)  # carried out, then rolled back
        records = purge_store.purge_vault(conn, LATER, held_branches=set(), held_customers=set(), dry_run=True)
        conn.rollback()
        housekeeping = purge_store.purge_ops(conn, LATER, rules.housekeeping({}), held_branches=set(),
                                             dry_run=True)
        conn.rollback()
        backup = snapshot.take(conn, LocalFolder(insider.tmp / "backups"), master, signing_key(SIGNING_KEY))
        ledger.record_backup(conn, backup, str(insider.tmp / "backups"), 1.0)
    conn.close()
    assert [(d["state"], d["erased"]["vault.customers"]) for d in decided] == [("done", 1)]
    assert sum(r.get("deleted", 0) for r in records) > 0 and housekeeping
    assert backup["objects"]["ops.audit.csv.z.enc"]["rows"] > 0


def test_the_vault_upkeep_runs_as_the_runner(insider):
    """The month's survey (decrypting with the store's keys), its record twice (a re-run replaces its list)
    and its remediation items, with what the runner was granted."""
    from handover import upkeep

    with psycopg2.connect(insider.dsns["etl"]) as conn:
        for day in (dt.date(2026, 3, 1), dt.date(2026, 3, 2)):
            found = upkeep.survey(conn, insider.master, day, chunk_rows=500)
            run_id = upkeep.record(conn, found, requested_by="tests")
            upkeep.remediate(conn, run_id, found.counts, None, day)
    conn.close()
    assert found.counts["revalidation"]["checked"] > 1000
    assert _rows(insider.admin, "SELECT count(*) FROM control.upkeep_runs") == [(1,)]


def test_a_restore_that_replaces_the_audit_log_is_the_owners(insider):
    dest = LocalFolder(insider.tmp / "restore-backups")
    with psycopg2.connect(insider.dsns["etl"]) as conn:
        backup_id = snapshot.take(conn, dest, insider.master, signing_key(SIGNING_KEY))["backup_id"]
    conn.close()
    before = _audit_digest(insider.admin)
    with psycopg2.connect(insider.dsns["etl"]) as conn, pytest.raises(HandoverError) as err:
        ledger.restore(conn, dest, backup_id, insider.master, overwrite=True, target="handover_target",
                       requested_by="etl")
    conn.close()
    assert "the restore failed and was rolled back" in str(err.value) and "audit" in str(err.value)
    after = _audit_digest(insider.admin)
    assert after[0] == before[0] + 1  # nothing of the audit log replaced; its failure appended
    with psycopg2.connect(insider.dsns["dba"]) as conn:  # an administrator's login, a member of the owner
        result = ledger.restore(conn, dest, backup_id, insider.master, overwrite=True, target="handover_target",
                                requested_by="dba")
    conn.close()
    assert result["tables"] > 10


# -- the manifest, signed again by the insider -----------------------------------------------------------

def _resigned(insider, tmp: Path, change) -> Path:
    """The run's manifest changed by ``change(doc)`` and signed again with the insider's key (its public key
    beside it, as the original's was)."""
    doc = json.loads(insider.manifest_path.read_text())
    change(doc)
    folder = tmp / "resigned"
    manifest_mod.write(doc, folder, signing_key(OTHER_KEY))
    return folder / "manifest.json"


def _verify(capsys, *argv: str) -> tuple[int, str]:
    capsys.readouterr()
    code = cli.main(["manifest", "verify", *argv])
    return code, capsys.readouterr().out


def _more_loaded(doc: dict) -> None:
    doc["counts"]["customers"]["loaded"] += 1


def test_a_manifest_signed_again_with_another_key_is_not_verified_without_a_trusted_signer(insider, tmp_path,
                                                                                          capsys):
    forged = _resigned(insider, tmp_path, _more_loaded)
    code, out = _verify(capsys, str(forged))
    assert code == 1
    assert "signature: valid" in out  # by the insider's key, which sits beside it
    assert "signer: unknown" in out and "--fingerprint" in out and "--trusted-key" in out
    assert "store: not compared — no --dsn" in out
    assert "manifest verified" not in out and out.rstrip().endswith("manifest NOT verified")


def test_the_pinned_fingerprint_or_a_trusted_key_unmasks_the_insiders_signature(insider, tmp_path, capsys):
    forged = _resigned(insider, tmp_path, _more_loaded)
    code, out = _verify(capsys, str(forged), "--fingerprint", insider.fingerprint)
    assert code == 1 and "signer: NOT the pinned fingerprint" in out and "manifest NOT verified" in out
    trusted = tmp_path / "transferring-party.pub.pem"
    trusted.write_bytes(public_pem(signing_key(SIGNING_KEY)))
    code, out = _verify(capsys, str(forged), "--trusted-key", str(trusted))
    assert code == 1 and "signature: INVALID" in out and "manifest NOT verified" in out
    # The genuine manifest, against the same trusted key, verifies (the store not compared, and said so).
    code, out = _verify(capsys, str(insider.manifest_path), "--trusted-key", str(trusted))
    assert code == 0 and f"signer: the trusted key {trusted}" in out and "store: not compared — no --dsn" in out
    assert out.rstrip().endswith("manifest verified")


def test_content_hashes_removed_and_signed_again_are_named_not_skipped(insider, tmp_path, capsys):
    forged = _resigned(insider, tmp_path, lambda doc: doc.pop("content"))
    reader = insider.dsns["reader"]  # the receiving party reads the vault, nothing more
    code, out = _verify(capsys, str(forged), "--dsn", reader)
    assert code == 1
    assert "content hashes: not checked — the manifest has none" in out and "signer: unknown" in out
    assert "content hash matches" not in out and "manifest verified" not in out
    # The genuine one, pinned and compared with the store through the reader's login: everything checked.
    code, out = _verify(capsys, str(insider.manifest_path), "--fingerprint", insider.fingerprint, "--dsn", reader)
    assert code == 0, out
    assert out.count("content hash matches") == 4 and "not checked" not in out and "not compared" not in out


def test_no_customer_value_in_what_verify_says(insider, tmp_path, capsys):
    forged = _resigned(insider, tmp_path, _more_loaded)
    _, out = _verify(capsys, str(forged), "--dsn", insider.dsns["reader"])
    assert_no_leak(out, _secrets(insider.people))
