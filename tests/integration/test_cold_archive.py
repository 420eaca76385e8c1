"""The cold archive of inactive customers against a real PostgreSQL and a local S3 server (moto): archive →
find → restore gives back the hot tables exactly; an archived customer's erasure takes him out of the object
(rewritten, the old key shredded); the same month again changes nothing; a run killed between writing the
object and deleting the hot rows ends, re-run, where a clean run ends; backups hold no archived row."""

from __future__ import annotations

import datetime as dt

import psycopg2
import pytest
from handover import cold_archive
from handover.backup import snapshot
from handover.cold_archive.sealed import ColdArchiveError
from handover.crypto import MasterKey
from handover.purge import erasure
from handover.purge.rules import RetentionClass
from handover.purge.store import refresh_activity
from handover.store import keys

RULE = RetentionClass.from_rule(cold_archive.CLASS, {"keep": "2y", "after": "last_activity"})
HOT = cold_archive.TABLES + ("ops.activity",)


@pytest.fixture
def store(transferred, pg_dsn, master_key_text):
    """The sample's store, its activity refreshed, and a day on which about half its customers are inactive."""
    ctx = transferred[0]
    with psycopg2.connect(pg_dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT DISTINCT branch_id FROM vault.customers")
        (branch,) = cur.fetchone()
        refresh_activity(cur, branch)
        cur.execute("SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY last_activity) FROM ops.activity")
        median = cur.fetchone()[0]
    today = RULE.keep.after(median)
    return pg_dsn, branch, MasterKey.from_text(master_key_text), today, ctx


def _bucket(s3, name: str, *, lock: bool):
    s3.create_bucket(Bucket=name, ObjectLockEnabledForBucket=lock)
    return snapshot.S3Bucket(s3, name, "cold/", lock_mode="GOVERNANCE" if lock else None, retain_days=1)


def _state(dsn: str) -> dict[str, list]:
    """Every hot row of every table the archive touches, in a stable order."""
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        out = {}
        for table in HOT:
            cur.execute(f"SELECT t::text FROM {table} t ORDER BY 1")
            out[table] = [r[0] for r in cur.fetchall()]
        return out


def _archive(dsn, dest, master, branch, today, **kw):
    with psycopg2.connect(dsn) as conn:
        return cold_archive.archive_branch(conn, dest, master, keys.hasher(conn, master), branch, RULE, today, **kw)


def test_archive_find_restore_round_trip_gives_back_the_hot_tables(store, s3):
    dsn, branch, master, today, _ = store
    dest = _bucket(s3, "cold-round-trip", lock=True)
    before = _state(dsn)
    result = _archive(dsn, dest, master, branch, today)
    assert result["customers"] > 10 and result["object"] == f"{branch}/{today:%Y-%m}/g1"
    after = _state(dsn)
    assert len(after["vault.customers"]) == len(before["vault.customers"]) - result["customers"]
    for table in cold_archive.TABLES:  # the archive holds exactly what left the hot tables
        assert len(before[table]) - len(after[table]) == result["rows"][table], table
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT storage FROM control.cold_archive_objects")
        storage = cur.fetchone()[0]
        cur.execute("SELECT customer_id FROM control.cold_archive_index ORDER BY 1 LIMIT 1")
        (someone,) = cur.fetchone()
        found = cold_archive.find(conn, keys.hasher(conn, master), "customer_id", someone, branch)
        assert cold_archive.verify(conn, dest, master)["customers"] == result["customers"]
    assert storage["storage_class"] == "GLACIER_IR" and storage["lock"]["mode"] == "GOVERNANCE"
    head = s3.head_object(Bucket="cold-round-trip", Key=f"cold/cold/{result['object']}/vault.customers.parquet.enc")
    assert head["StorageClass"] == "GLACIER_IR" and head["ObjectLockMode"] == "GOVERNANCE"
    assert [f["customer_id"] for f in found] == [someone] and found[0]["rows"] >= 1
    # what is stored is ciphertext: no plaintext customer id in any part
    for obj in s3.list_objects_v2(Bucket="cold-round-trip")["Contents"]:
        assert someone.encode() not in s3.get_object(Bucket="cold-round-trip", Key=obj["Key"])["Body"].read()

    with psycopg2.connect(dsn) as conn:  # one customer back, then the rest of the branch
        one = cold_archive.restore(conn, dest, master, keys.hasher(conn, master), branch=branch, customer=someone)
        rest = cold_archive.restore(conn, dest, master, keys.hasher(conn, master), branch=branch)
    assert one["customers"] == 1 and one["customers"] + rest["customers"] == result["customers"]
    assert _state(dsn) == before
    # restored customers are active again: the next month archives none of them (only the newly inactive)
    again = _archive(dsn, dest, master, branch, today + dt.timedelta(days=31))
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM control.cold_archive_index WHERE object_id = %s AND customer_id IN "
                    "(SELECT customer_id FROM control.cold_archive_index WHERE state = 'restored')", (again["object"],))
        assert cur.fetchone()[0] == 0
        # and they leave the first object: nothing is both hot and archived
        rewritten = cold_archive.rewrite(conn, dest, master)
        cur.execute("SELECT object_id, state, wrapped_key IS NULL FROM control.cold_archive_objects ORDER BY 1")
        assert cur.fetchall() == [(result["object"], "replaced", True), (again["object"], "complete", False)]
    assert rewritten == [{"object": result["object"], "replaced_by": None, "kept": 0,
                          "left": {"restored": result["customers"]}, "rows_due": 0,
                          "old_parts_deleted": False}]  # locked


def test_erasing_an_archived_customer_removes_him_from_the_archive(store, s3):
    dsn, branch, master, today, _ = store
    dest = _bucket(s3, "cold-erasure", lock=False)
    result = _archive(dsn, dest, master, branch, today)
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        # a customer whose records are all past their legal periods (no open AML wait): the earliest active one
        hasher = keys.hasher(conn, master)
        cur.execute("SELECT customer_id FROM control.cold_archive_index ORDER BY last_activity, customer_id")
        candidates = [c for (c,) in cur.fetchall()]
        victim = candidates[0]
        erasure.file_request(conn, hasher, "customer_id", victim, branch_id=branch, basis="individual_request",
                             requested_by="test")
        far = today + dt.timedelta(days=365 * 6)  # every legal wait has run
        (outcome,) = erasure.carry_out(conn, hasher, far)
        assert outcome["state"] == "done" and outcome["erased"]["control.cold_archive_index"] == 1
        assert cold_archive.find(conn, hasher, "customer_id", victim, branch) == []
        cold_archive.rewrite(conn, dest, master)
        cur.execute("SELECT object_id, state, wrapped_key IS NULL FROM control.cold_archive_objects ORDER BY 1")
        objects = cur.fetchall()
        cur.execute("SELECT count(*) FROM control.cold_archive_index WHERE customer_id = %s", (victim,))
        assert cur.fetchone()[0] == 0
        assert cold_archive.verify(conn, dest, master)["customers"] == result["customers"] - 1
        # the old generation is shredded and gone; the new one holds everyone else
        assert objects == [(f"{branch}/{today:%Y-%m}/g1", "replaced", True), (f"{branch}/{today:%Y-%m}/g2",
                                                                           "complete", False)]
        names = [o["Key"] for o in s3.list_objects_v2(Bucket="cold-erasure")["Contents"]]
        assert not any("/g1/" in n or n.endswith("g1.key") for n in names)
        # a restore of the whole branch brings everyone back but him, and no tombstoned one
        restored = cold_archive.restore(conn, dest, master, hasher, branch=branch)
        assert restored["customers"] == result["customers"] - 1
        cur.execute("SELECT count(*) FROM vault.customers WHERE branch_id = %s AND customer_id = %s", (branch, victim))
        assert cur.fetchone()[0] == 0


def test_a_tombstone_reaches_an_archive_restored_later(store, s3):
    dsn, branch, master, today, _ = store
    dest = _bucket(s3, "cold-tombstone", lock=False)
    _archive(dsn, dest, master, branch, today)
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT customer_id, customer_digest FROM control.cold_archive_index ORDER BY 1 LIMIT 1")
        victim, digest = cur.fetchone()
        # erased elsewhere (a tombstone from the live store, or mirrored beside the backups)
        restored = cold_archive.restore(conn, dest, master, keys.hasher(conn, master), branch=branch,
                                        stones=[("customer_id", bytes(digest))])
        assert restored["refused_erased"] == 1
        cur.execute("SELECT count(*) FROM vault.customers WHERE customer_id = %s", (victim,))
        assert cur.fetchone()[0] == 0


def test_archiving_the_same_month_again_changes_nothing(store, s3):
    dsn, branch, master, today, _ = store
    dest = _bucket(s3, "cold-rerun", lock=False)
    first = _archive(dsn, dest, master, branch, today)
    state = _state(dsn)
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT object_id, state, parts, wrapped_key FROM control.cold_archive_objects")
        objects = cur.fetchall()
    again = _archive(dsn, dest, master, branch, today + dt.timedelta(days=1))
    assert again["unchanged"] and again["customers"] == first["customers"]
    assert _state(dsn) == state
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT object_id, state, parts, wrapped_key FROM control.cold_archive_objects")
        assert cur.fetchall() == objects


def test_killed_between_writing_and_deleting_then_rerun_equals_a_clean_run(store, s3, pg_admin_dsn, sample_store):
    dsn, branch, master, today, _ = store
    from psycopg2.extensions import parse_dsn

    from tests.conftest import scratch_database
    from tests.support.stores import copy_database

    clean_dest = _bucket(s3, "cold-clean", lock=False)
    killed_dest = _bucket(s3, "cold-killed", lock=False)
    with scratch_database(pg_admin_dsn, "handover_test_cold_clean") as clean:
        copy_database(pg_admin_dsn, parse_dsn(dsn)["dbname"], parse_dsn(clean)["dbname"])
        _archive(clean, clean_dest, master, branch, today)
        written = _archive(dsn, killed_dest, master, branch, today, stop_after_write=True)
        assert "deleted" not in written
        with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
            cur.execute("SELECT state FROM control.cold_archive_objects")
            assert cur.fetchone()[0] == "written"
        resumed = _archive(dsn, killed_dest, master, branch, today)
        assert resumed["resumed"] and sum(resumed["deleted"].values()) > 0
        assert _state(dsn) == _state(clean)
        with psycopg2.connect(dsn) as conn:
            assert cold_archive.verify(conn, killed_dest, master)["customers"] == written["customers"]


def test_backups_hold_no_archived_row(store, s3, tmp_path, signing_key_text):
    dsn, branch, master, today, _ = store
    from handover.crypto import signing_key

    dest = _bucket(s3, "cold-backup", lock=False)
    _archive(dsn, dest, master, branch, today)
    backups = snapshot.LocalFolder(tmp_path / "backups")
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        manifest = snapshot.take(conn, backups, master, signing_key(signing_key_text))
        cur.execute("SELECT count(*) FROM vault.customers")
        hot = cur.fetchone()[0]
        cur.execute("SELECT array_agg(customer_id) FROM control.cold_archive_index")
        archived = set(cur.fetchone()[0])
    assert manifest["objects"]["vault.customers.csv.z.enc"]["rows"] == hot
    assert not any(o.startswith("control.") for o in manifest["objects"])  # the index stays outside the backups
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM vault.customers WHERE customer_id = ANY(%s)", (sorted(archived),))
        assert cur.fetchone()[0] == 0


def test_a_damaged_part_is_named_never_restored(store, s3):
    dsn, branch, master, today, _ = store
    dest = _bucket(s3, "cold-damaged", lock=False)
    result = _archive(dsn, dest, master, branch, today)
    name = f"cold/cold/{result['object']}/vault.accounts.parquet.enc"
    body = bytearray(s3.get_object(Bucket="cold-damaged", Key=name)["Body"].read())
    body[40] ^= 1
    s3.put_object(Bucket="cold-damaged", Key=name, Body=bytes(body))
    with psycopg2.connect(dsn) as conn, pytest.raises(ColdArchiveError, match="does not authenticate"):
        cold_archive.restore(conn, dest, master, keys.hasher(conn, master), branch=branch)


def test_the_command_line_finds_by_mobile_and_restores_one_customer_from_a_folder(store, sample_export, tmp_path,
                                                                                  monkeypatch, capsys,
                                                                                  master_key_text):
    import csv
    import io
    import sys

    from handover import cli

    dsn, branch, master, today, _ = store
    dest = snapshot.LocalFolder(tmp_path / "cold")
    before = _state(dsn)
    result = _archive(dsn, dest, master, branch, today)
    assert result["customers"] > 10
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT customer_id FROM control.cold_archive_index WHERE mobile_bidx IS NOT NULL ORDER BY 1")
        archived = [c for (c,) in cur.fetchall()]
    folder, _ = sample_export
    rows = csv.DictReader(io.StringIO((folder / "客户信息.csv").read_bytes().decode("gb18030")))
    person = next(r for r in rows if r["客户编号"].strip() == archived[0])
    monkeypatch.setenv("HANDOVER_MASTER_KEY", master_key_text)
    monkeypatch.setattr(sys, "stdin", io.StringIO(person["手机号码"] + "\n"))
    assert cli.main(["archive", "find", "--dsn", dsn, "--kind", "mobile"]) == 0
    out = capsys.readouterr().out
    assert f"customer_id={archived[0]}" in out and person["手机号码"] not in out
    monkeypatch.setattr(sys, "stdin", io.StringIO(person["手机号码"] + "\n"))
    assert cli.main(["archive", "restore", "--dsn", dsn, "--dest", str(tmp_path / "cold"), "--branch", branch,
                     "--kind", "mobile"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("restored 1 customer(s)") and person["手机号码"] not in out
    monkeypatch.setattr(sys, "stdin", io.StringIO(person["手机号码"] + "\n"))
    assert cli.main(["archive", "find", "--dsn", dsn, "--kind", "mobile"]) == 1  # hot again, not archived
    assert cli.main(["archive", "restore", "--dsn", dsn, "--dest", str(tmp_path / "cold"), "--branch", branch,
                     "--all"]) == 0
    assert _state(dsn) == before
    assert cli.main(["archive", "restore", "--dsn", dsn, "--branch", branch, "--all"]) == 2  # no --dest: told
    assert "--dest" in capsys.readouterr().err


def test_customers_a_backup_restore_brought_back_are_settled_by_the_next_run(store, s3, tmp_path, signing_key_text):
    dsn, branch, master, today, _ = store
    from handover.crypto import signing_key

    dest = _bucket(s3, "cold-settle", lock=False)
    backups = snapshot.LocalFolder(tmp_path / "backups")
    with psycopg2.connect(dsn) as conn:  # taken before the archive: it holds every customer hot
        manifest = snapshot.take(conn, backups, master, signing_key(signing_key_text))
    first = _archive(dsn, dest, master, branch, today)
    archived = _state(dsn)
    with psycopg2.connect(dsn) as conn:
        snapshot.restore(conn, backups, manifest["backup_id"], master, overwrite=True)
    assert len(_state(dsn)["vault.customers"]) == len(archived["vault.customers"]) + first["customers"]
    again = _archive(dsn, dest, master, branch, today)
    assert again["settled"] == {"settled": first["customers"], "conflicts": 0}
    assert _state(dsn) == archived


def test_a_bucket_without_object_lock_takes_the_parts_unlocked_and_says_so(store, s3):
    dsn, branch, master, today, _ = store
    s3.create_bucket(Bucket="cold-unlocked")  # no Object Lock on this bucket
    dest = snapshot.S3Bucket(s3, "cold-unlocked", "", lock_mode="COMPLIANCE", retain_days=1)
    result = _archive(dsn, dest, master, branch, today)
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT storage FROM control.cold_archive_objects")
        (storage,) = cur.fetchone()
    assert storage["lock"] is None and storage["refused"] == ["lock"] and storage["storage_class"] == "GLACIER_IR"
    assert result["customers"] > 10


_CHILD = """
import datetime as dt, os, sys
import boto3, psycopg2
from handover import cold_archive
from handover.backup.snapshot import S3Bucket
from handover.crypto import MasterKey
from handover.purge.rules import RetentionClass
from handover.store import keys

dsn, endpoint, bucket, branch, today = sys.argv[1:]
client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="test",
                      aws_secret_access_key="test")
master = MasterKey.from_text(os.environ["HANDOVER_MASTER_KEY"])
rule = RetentionClass.from_rule(cold_archive.CLASS, {"keep": "2y", "after": "last_activity"})
with psycopg2.connect(dsn) as conn:
    cold_archive.archive_branch(conn, S3Bucket(client, bucket, "cold/"), master, keys.hasher(conn, master), branch,
                                rule, dt.date.fromisoformat(today))
"""


def test_a_run_killed_by_sigkill_after_writing_reruns_to_the_clean_end(store, s3, master_key_text):
    import os
    import signal
    import subprocess
    import sys

    dsn, branch, master, today, _ = store
    dest = _bucket(s3, "cold-sigkill", lock=False)
    endpoint = s3.meta.endpoint_url
    before = _state(dsn)
    env = {**os.environ, "HANDOVER_MASTER_KEY": master_key_text, "HANDOVER_KILL_AT": "cold_archive.after_write"}
    child = subprocess.run([sys.executable, "-c", _CHILD, dsn, endpoint, "cold-sigkill", branch, today.isoformat()],
                           env=env, capture_output=True, text=True, timeout=300, check=False)
    assert child.returncode == -signal.SIGKILL, child.stderr[-2000:]
    assert _state(dsn) == before  # killed after the object: every hot row still there
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT state, customers FROM control.cold_archive_objects")
        ((state, customers),) = cur.fetchall()
    assert state == "written" and customers > 10
    resumed = _archive(dsn, dest, master, branch, today)  # the re-run finds the index and finishes
    assert resumed["resumed"] and resumed["customers"] == customers
    assert len(_state(dsn)["vault.customers"]) == len(before["vault.customers"]) - customers
    with psycopg2.connect(dsn) as conn:
        assert cold_archive.verify(conn, dest, master)["customers"] == customers
        cold_archive.restore(conn, dest, master, keys.hasher(conn, master), branch=branch)
    assert _state(dsn) == before


def test_a_master_key_rotation_rewraps_the_archive_keys_in_the_store_and_beside_the_parts(store, s3):
    import base64
    import os

    from handover import incident

    dsn, branch, old, today, _ = store
    dest = _bucket(s3, "cold-rotation", lock=False)
    result = _archive(dsn, dest, old, branch, today)
    new = MasterKey.from_text(base64.b64encode(os.urandom(32)).decode())
    with psycopg2.connect(dsn) as conn:
        done = incident.rotate_master_key(conn, "INC-T1", old, new, cold_dest=dest, dry_run=False, actor="test")
        assert done["cold_archive_keys"] == 1 and done["opened_by_old"] == 0
        with pytest.raises(ColdArchiveError):
            cold_archive.verify(conn, dest, old)
        assert cold_archive.verify(conn, dest, new)["customers"] == result["customers"]
    wrapped = s3.get_object(Bucket="cold-rotation", Key=f"cold/keys/cold/{result['object']}.key")["Body"].read()
    assert len(new.unwrap(wrapped, f"cold_archive:{result['object']}")) == 32


def test_an_archived_customer_under_the_aml_period_is_refused_with_processing_stopped(store, s3):
    dsn, branch, master, today, _ = store
    dest = _bucket(s3, "cold-aml", lock=False)
    _archive(dsn, dest, master, branch, today)
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        hasher = keys.hasher(conn, master)
        cur.execute("SELECT customer_id FROM control.cold_archive_index WHERE anchors ? 'transactions' "
                    "AND (rows->>'analytics.customers')::int = 1 ORDER BY 1 LIMIT 1")
        (victim,) = cur.fetchone()
        erasure.file_request(conn, hasher, "customer_id", victim, branch_id=branch, basis="individual_request",
                             requested_by="test")
        (outcome,) = erasure.carry_out(conn, hasher, today)  # the transactions' 5 years have not run
        assert outcome["state"] == "refused" and outcome["reason"].startswith("aml")
        assert cold_archive.find(conn, hasher, "customer_id", victim, branch)  # still archived
        cur.execute("SELECT count(*) FROM control.processing_stopped WHERE customer_id = %s", (victim,))
        assert cur.fetchone()[0] == 1
        restored = cold_archive.restore(conn, dest, master, hasher, branch=branch, customer=victim)
        assert restored["rows"]["vault.customers"] == 1 and restored["rows"]["analytics.customers"] == 0


def test_the_purge_takes_out_archived_customers_whose_records_are_all_due(store, s3):
    dsn, branch, master, today, _ = store
    dest = _bucket(s3, "cold-purge", lock=False)
    result = _archive(dsn, dest, master, branch, today)
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT next_due_on FROM control.cold_archive_objects")
        (next_due,) = cur.fetchone()
        # before the object's first due day nothing is opened; from it, what is due goes
        assert cold_archive.rewrite(conn, dest, master, today=next_due - dt.timedelta(days=1)) == []
        far = dt.date(2060, 1, 1)
        marked = cold_archive.purge_due(conn, far)["deleted"]  # the customers wholly due, marked
        cur.execute("SELECT count(*) FROM control.cold_archive_index WHERE anchors->>'relationship_ended' = 'true'")
        assert marked == cur.fetchone()[0] > 0  # those whose relationship ended; open accounts keep the rest
        (rewritten,) = cold_archive.rewrite(conn, dest, master, today=far)
        assert rewritten["kept"] == result["customers"] - marked and rewritten["rows_due"] > 0
        assert cold_archive.verify(conn, dest, master)["customers"] == result["customers"] - marked


def test_rows_due_inside_the_archive_go_on_their_own_day(store, s3):
    """Service notes are kept 3 years after they were written, also in the archive: a rewrite on a day they
    are due takes them out (and their analytics rows) while their customer stays archived."""
    dsn, branch, master, today, _ = store
    dest = _bucket(s3, "cold-rows-due", lock=False)
    _archive(dsn, dest, master, branch, today)
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT class, keep, after FROM ops.retention_classes WHERE entity = 'interactions'")
        assert cur.fetchone() == ("service_notes", "3y", "created")
        cur.execute("SELECT sum((rows->>'vault.interactions')::int), count(*) FROM control.cold_archive_index")
        interactions, customers = cur.fetchone()
        day = today + dt.timedelta(days=3 * 366)  # every archived note is 3 years old (they were 2 or more)
        (rewritten,) = cold_archive.rewrite(conn, dest, master, today=day)
        cur.execute("SELECT coalesce(sum((rows->>'vault.interactions')::int), 0), count(*) FROM "
                    "control.cold_archive_index WHERE state = 'archived'")
        left, still = cur.fetchone()
        assert interactions > 0 and left == 0 and rewritten["rows_due"] >= interactions
        assert cold_archive.verify(conn, dest, master)["customers"] == still
        restored = cold_archive.restore(conn, dest, master, keys.hasher(conn, master), branch=branch)
        assert restored["rows"]["vault.interactions"] == 0 and restored["rows"]["analytics.interactions"] == 0
        assert restored["customers"] == still <= customers


def test_the_runner_archives_finds_restores_and_rewrites_with_its_grants_and_the_analyst_sees_no_index(store, s3):
    from handover import cli
    from handover.store import roles

    from tests.support.roles import logins

    dsn, branch, master, today, _ = store
    dest = _bucket(s3, "cold-runner", lock=False)
    assert cli.main(["roles", "--dsn", dsn]) == 0
    before = _state(dsn)
    with logins(dsn, etl=roles.OPERATOR, analyst=roles.ANALYST) as dsns:
        result = _archive(dsns["etl"], dest, master, branch, today)
        assert result["customers"] > 10
        with psycopg2.connect(dsns["etl"]) as conn, conn.cursor() as cur:
            hasher = keys.hasher(conn, master)
            cur.execute("SELECT customer_id FROM control.cold_archive_index ORDER BY 1 LIMIT 1")
            (someone,) = cur.fetchone()
            erasure.file_request(conn, hasher, "customer_id", someone, branch_id=branch, basis="individual_request",
                                 requested_by="test")
            (outcome,) = erasure.carry_out(conn, hasher, today + dt.timedelta(days=365 * 6))
            assert outcome["state"] == "done"
            cold_archive.rewrite(conn, dest, master)
            restored = cold_archive.restore(conn, dest, master, hasher, branch=branch)
        assert restored["customers"] == result["customers"] - 1
        with psycopg2.connect(dsns["analyst"]) as conn, conn.cursor() as cur, \
                pytest.raises(psycopg2.errors.InsufficientPrivilege):
            cur.execute("SELECT count(*) FROM control.cold_archive_index")
    after = _state(dsn)
    assert len(after["vault.customers"]) == len(before["vault.customers"]) - 1


def test_a_legal_hold_on_an_archived_customer_keeps_him_from_the_purge_and_erasure(store, s3):
    dsn, branch, master, today, _ = store
    dest = _bucket(s3, "cold-hold", lock=False)
    _archive(dsn, dest, master, branch, today)
    far = dt.date(2060, 1, 1)
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        hasher = keys.hasher(conn, master)
        cur.execute("SELECT customer_id, rows FROM control.cold_archive_index WHERE "
                    "anchors->>'relationship_ended' = 'true' ORDER BY 1 LIMIT 1")
        held, rows = cur.fetchone()
        erasure.place_hold(conn, hasher, reason="case 7", placed_by="test", branch_id=branch, kind="customer_id",
                           value=held)
        _, customers = erasure.holds(cur, erasure.CustomerIds(cur, hasher))
        assert (branch, held) in customers
        cold_archive.purge_due(conn, far, held_customers=set(customers))
        assert cold_archive.find(conn, hasher, "customer_id", held, branch), "purge_due"
        cold_archive.rewrite(conn, dest, master, today=far, held_customers=set(customers))
        assert cold_archive.find(conn, hasher, "customer_id", held, branch), "rewrite"
        erasure.file_request(conn, hasher, "customer_id", held, branch_id=branch, basis="individual_request",
                             requested_by="test")
        (outcome,) = erasure.carry_out(conn, hasher, far)
        assert outcome["state"] == "refused" and outcome["reason"].startswith("legal hold")
        (found,) = cold_archive.find(conn, hasher, "customer_id", held, branch)
        assert found["rows"] == sum(rows.values())  # every row of his kept, however due


def test_a_customer_changed_between_writing_and_deleting_stays_hot_and_leaves_the_object(store, s3):
    dsn, branch, master, today, _ = store
    dest = _bucket(s3, "cold-changed", lock=False)
    written = _archive(dsn, dest, master, branch, today, stop_after_write=True)
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT i.customer_id FROM control.cold_archive_index i WHERE (i.rows->>'vault.interactions')::int > 0 "
                    "ORDER BY 1 LIMIT 1")
        (changed,) = cur.fetchone()
        # a load in between (here: one of his notes went) makes his hot rows differ from the archived ones
        cur.execute("DELETE FROM vault.interactions WHERE ctid = (SELECT ctid FROM vault.interactions WHERE "
                    "branch_id = %s AND customer_id = %s LIMIT 1)", (branch, changed))
    resumed = _archive(dsn, dest, master, branch, today)
    assert resumed["deleted"]["changed_since_written"] == 1
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM vault.customers WHERE customer_id = %s", (changed,))
        assert cur.fetchone()[0] == 1  # still hot
        (rewritten,) = cold_archive.rewrite(conn, dest, master)
        assert rewritten["kept"] == written["customers"] - 1
        assert cold_archive.verify(conn, dest, master)["customers"] == written["customers"] - 1


def test_the_index_is_rebuilt_from_the_destination_after_the_store_lost_its_control(store, s3):
    dsn, branch, master, today, _ = store
    dest = _bucket(s3, "cold-rebuild", lock=True)
    before = _state(dsn)
    result = _archive(dsn, dest, master, branch, today)
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT customer_id, customer_digest, mobile_bidx, id_number_bidx, rows FROM "
                    "control.cold_archive_index ORDER BY 1")
        index = cur.fetchall()
        cur.execute("DELETE FROM control.cold_archive_index")  # the store's control is gone
        cur.execute("DELETE FROM control.cold_archive_objects")
        conn.commit()
        rebuilt = cold_archive.rebuild_index(conn, dest, master, keys.hasher(conn, master))
        assert rebuilt == {"objects": 1, "customers": result["customers"]}
        cur.execute("SELECT customer_id, customer_digest, mobile_bidx, id_number_bidx, rows FROM "
                    "control.cold_archive_index ORDER BY 1")
        assert cur.fetchall() == index
        assert cold_archive.verify(conn, dest, master)["customers"] == result["customers"]
        assert cold_archive.rebuild_index(conn, dest, master, keys.hasher(conn, master))["objects"] == 0
        cold_archive.restore(conn, dest, master, keys.hasher(conn, master), branch=branch)
    after = _state(dsn)
    assert {t: r for t, r in after.items() if t != "ops.activity"} == {
        t: r for t, r in before.items() if t != "ops.activity"}


def test_the_command_line_reindexes_a_folder_archive(store, tmp_path, monkeypatch, capsys, master_key_text):
    from handover import cli

    dsn, branch, master, today, _ = store
    result = _archive(dsn, snapshot.LocalFolder(tmp_path / "cold"), master, branch, today)
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("DELETE FROM control.cold_archive_index")
        cur.execute("DELETE FROM control.cold_archive_objects")
    monkeypatch.setenv("HANDOVER_MASTER_KEY", master_key_text)
    assert cli.main(["archive", "reindex", "--dsn", dsn, "--dest", str(tmp_path / "cold")]) == 0
    assert f"indexed 1 object(s), {result['customers']} customer(s)" in capsys.readouterr().out


def test_a_restore_on_a_new_server_applies_the_tombstones_kept_beside_the_backups(store, tmp_path, monkeypatch,
                                                                                  capsys, master_key_text):
    import json

    from handover import cli

    dsn, branch, master, today, _ = store
    result = _archive(dsn, snapshot.LocalFolder(tmp_path / "cold"), master, branch, today)
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT customer_id, customer_digest FROM control.cold_archive_index ORDER BY 1 LIMIT 1")
        erased, digest = cur.fetchone()
    (tmp_path / "backups" / "tombstones").mkdir(parents=True)
    (tmp_path / "backups" / "tombstones" / "1.json").write_text(json.dumps(
        [{"kind": "customer_id", "digest": bytes(digest).hex()}]))
    monkeypatch.setenv("HANDOVER_MASTER_KEY", master_key_text)
    assert cli.main(["archive", "restore", "--dsn", dsn, "--dest", str(tmp_path / "cold"), "--branch", branch,
                     "--all", "--tombstones-from", str(tmp_path / "backups")]) == 0
    assert f"restored {result['customers'] - 1} customer(s)" in capsys.readouterr().out
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM vault.customers WHERE customer_id = %s", (erased,))
        assert cur.fetchone()[0] == 0
