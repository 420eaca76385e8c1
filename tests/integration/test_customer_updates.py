"""Contact updates (更新信息) against a real PostgreSQL on the transferred sample: a change file's every row
applied, quarantined with a reason, excluded or a no-op; earlier values kept encrypted in
``vault.customer_history`` with valid_from/valid_to; blind indexes, masks and the analytics tier recomputed;
a changed mobile or e-mail confirmed to the old and the new contact through the outbox — delivered to real
servers on loopback; the same file again changes nothing; a run killed between batches and run again ends
as a clean run; erasure and the retention purge reach the history."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import psycopg2
import pytest
from handover import updates
from handover.contract import load_contract
from handover.crypto import MasterKey
from handover.errors import SourceError
from handover.notices import deliver
from handover.notices.channels import SmsGateway, SmsSettings, SmtpChannel, SmtpSettings
from handover.purge import erasure
from handover.store.keys import Keyring

from tests.conftest import snapshot
from tests.support.changes import sample_change_file, sample_people
from tests.support.mailserver import SmsGatewayServer, SmtpServer

BRANCH = "SH-PD-0042"
SECRET = "updates-secret"
FAST = deliver.DeliverySettings(batch=10, per_second=0, backoff=(0.0, 0.0))
TABLES = ("vault.customers", "vault.customer_history", "analytics.customers", "control.outbox", "ops.quarantine")


def _context(ctx, path: Path, run_id: str, **kw) -> updates.UpdateContext:
    return updates.UpdateContext(run_id=run_id, contract_path=ctx.contract_path, dsn=ctx.dsn,
                                 master_key=ctx.master_key, work_root=ctx.work_root, change_file=str(path),
                                 today=dt.date(2026, 12, 3), **kw)


def _rows(dsn: str, run_id: str) -> dict[int, tuple]:
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT source_line, disposition, fields, reasons FROM ops.update_rows WHERE run_id = %s",
                    (run_id,))
        return {r[0]: tuple(r[1:]) for r in cur.fetchall()}


def test_change_file_applied_with_history_blind_indexes_analytics_and_confirmations(transferred, tmp_path):
    ctx, _, _ = transferred
    people = sample_people(ctx)
    path = sample_change_file(tmp_path, people)
    counts = updates.run_all(_context(ctx, path, "upd-1"))
    assert {k: counts[k] for k in updates.DISPOSITIONS} == {"applied": 3, "quarantined": 4, "excluded": 0,
                                                            "unchanged": 1, "duplicate": 1}
    assert counts["rows"] == 9 and counts["fields_changed"] == {"address": 1, "email": 1, "mobile": 2}
    rows = _rows(ctx.dsn, "upd-1")
    assert rows[5][2] == ["unknown_customer"] and rows[7][1:] == rows[8][1:] == ([], ["update_conflict"])
    assert rows[6][0] == "quarantined" and rows[6][2] and rows[10][0] == "duplicate" and rows[4][0] == "unchanged"
    with psycopg2.connect(ctx.dsn) as conn:
        keys = Keyring(conn, ctx.master_key, BRANCH)
        with conn.cursor() as cur:
            cur.execute("SELECT customer_id, version, mobile_enc, email_enc, valid_from, valid_to, changed_by_run "
                        "FROM vault.customer_history ORDER BY 1")
            history = {r[0]: r[1:] for r in cur.fetchall()}
            cur.execute("SELECT customer_id, mobile_enc, mobile_bidx, mobile_mask, email_enc, email_bidx, row_hash "
                        "FROM vault.customers WHERE customer_id = ANY(%s)", ([p["id"] for p in people],))
            now = {r[0]: r[1:] for r in cur.fetchall()}
            cur.execute("SELECT q.record_key, q.reasons FROM ops.quarantine q WHERE entity = 'customer_updates'")
            quarantined = cur.fetchall()
            cur.execute("SELECT a.row_hash FROM analytics.customers a WHERE a.branch_id = %s", (BRANCH,))
            analytics_hashes = {bytes(r[0]) for r in cur.fetchall()}
            cur.execute("SELECT o.customer_id, o.channel, o.contact_version IS NOT NULL, n.kind FROM control.outbox o "
                        "JOIN control.notices n ON n.id = o.notice_id ORDER BY 1, 3")
            messages = cur.fetchall()
    first, second, fifth = people[0], people[1], people[5]
    assert set(history) == {first["id"], second["id"], fifth["id"]}
    version, old_mobile, _old_email, valid_from, valid_to, run = history[first["id"]]
    assert version == 1 and run == "upd-1" and valid_from <= valid_to
    assert keys.cipher.decrypt(old_mobile, "vault.customers.mobile") == first["mobile"]  # the earlier value, sealed
    assert keys.cipher.decrypt(history[second["id"]][2], "vault.customers.email") == second["email"]
    mobile, bidx, mask = now[first["id"]][:3]
    assert keys.cipher.decrypt(mobile, "vault.customers.mobile") == "13900000001"
    assert bytes(bidx) == keys.blind_index.digest("mobile", "13900000001") and mask == "139****0001"
    assert keys.cipher.decrypt(now[second["id"]][3], "vault.customers.email") == "upd1@example.cn"
    assert bytes(now[second["id"]][4]) == keys.blind_index.digest("email", "upd1@example.cn")
    assert keys.cipher.decrypt(now[people[2]["id"]][0], "vault.customers.mobile") == people[2]["mobile"]
    # the analytics rows follow their vault rows (same content hash: an erasure finds them)
    assert all(bytes(now[p["id"]][5]) in analytics_hashes for p in (first, second, fifth))
    assert sorted((c, ch, old) for c, ch, old, _ in messages) == sorted(
        [(first["id"], "sms", False), (first["id"], "sms", True), (second["id"], "email", False),
         (second["id"], "email", True), (fifth["id"], "sms", False), (fifth["id"], "sms", True)])
    assert {k for *_, k in messages} == {"contact_change"}
    assert len(quarantined) == 4 and sorted(k for k, r in quarantined if r == ["update_conflict"]) == [
        people[4]["id"]] * 2 and ("NOPE-999", ["unknown_customer"]) in quarantined
    assert not Path(ctx.work_root, "upd-upd-1").exists()  # the plaintext work area is gone
    from handover import overview
    from handover_airflow.ui import render_page

    with psycopg2.connect(ctx.dsn) as conn:
        data = overview.overview(conn)
    seen = data["customers"]["updates"]
    assert seen["rows"] == {"applied": 3, "duplicate": 1, "quarantined": 4, "unchanged": 1}
    assert seen["earlier_versions"] == 3 and sum(seen["confirmations"].values()) == 6
    assert not data["customers"]["notices"]  # confirmations are not transfer notices
    page = render_page(data)
    assert "Contact updates" in page and not [v for p in people for v in (p["mobile"], p["email"]) if v in page]


def test_confirmations_reach_the_old_and_the_new_contact_once(transferred, tmp_path):
    ctx, _, _ = transferred
    people = sample_people(ctx)
    updates.run_all(_context(ctx, sample_change_file(tmp_path, people), "upd-1"))
    smtp, gateway = SmtpServer(), SmsGatewayServer(SECRET)
    try:
        contract = load_contract(ctx.contract_path)
        with psycopg2.connect(ctx.dsn) as conn:
            channels = {"email": SmtpChannel(SmtpSettings("127.0.0.1", smtp.port, sender="notice@bank.example.cn")),
                        "sms": SmsGateway(SmsSettings(gateway.url, SECRET))}
            counts = deliver.Deliverer(conn, deliver.ciphers(conn, ctx.master_key),
                                       deliver.RunFacts(conn, {BRANCH: contract}), channels, FAST,
                                       sleep=lambda s: None).drain()
            again = deliver.Deliverer(conn, deliver.ciphers(conn, ctx.master_key),
                                      deliver.RunFacts(conn, {BRANCH: contract}), channels, FAST,
                                      sleep=lambda s: None).drain()
        texts = {m["to"]: m for m in gateway.messages.values()}
        assert set(texts) == {people[0]["mobile"], "13900000001", people[5]["mobile"], "13900000005"}
        assert sorted(a.recipients[0] for a in smtp.arrived) == sorted([people[1]["email"], "upd1@example.cn"])
        assert counts["sms_sent"] + counts.get("sms_delivered", 0) == 4 and again.get("pending") == 0
        assert len(gateway.sends()) == 4 and len(smtp.arrived) == 2  # nothing twice
        assert all("变更" in m["text"] or "设为" in m["text"] for m in gateway.messages.values())
    finally:
        smtp.stop()
        gateway.stop()


def test_the_same_change_file_twice_changes_nothing(transferred, tmp_path):
    ctx, _, _ = transferred
    path = sample_change_file(tmp_path, sample_people(ctx))
    updates.run_all(_context(ctx, path, "upd-1"))
    before = snapshot(ctx.dsn, TABLES)
    counts = updates.run_all(_context(ctx, path, "upd-2"))
    assert snapshot(ctx.dsn, TABLES) == before
    assert (counts["applied"], counts["unchanged"], counts["duplicate"], counts["quarantined"]) == (0, 4, 1, 4)


def test_a_run_killed_between_batches_and_run_again_ends_as_a_clean_run(transferred, tmp_path, master_key_text):
    ctx, _, _ = transferred
    path = sample_change_file(tmp_path, sample_people(ctx))
    env = {**os.environ, "HANDOVER_MASTER_KEY": master_key_text, "HANDOVER_KILL_AT": "updates.after_batch",
           "HANDOVER_KILL_AFTER": "2"}
    cmd = [sys.executable, "-m", "handover.cli", "update", ctx.contract_path, str(path), "--dsn", ctx.dsn,
           "--batch", "2", "--run-id", "upd-k", "--state-dir", str(tmp_path / "state")]
    killed = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert killed.returncode == -9, killed.stderr
    assert 0 < len(_rows(ctx.dsn, "upd-k")) < 9  # some batches decided, not all
    env.pop("HANDOVER_KILL_AT")
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    rows = _rows(ctx.dsn, "upd-k")
    assert len(rows) == 9 and sorted(d for d, *_ in rows.values()).count("applied") == 3
    with psycopg2.connect(ctx.dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM vault.customer_history")
        assert cur.fetchone()[0] == 3
        cur.execute("SELECT count(*) FROM control.outbox")
        assert cur.fetchone()[0] == 6  # each confirmation once


def test_erasure_and_the_retention_purge_reach_the_history(transferred, tmp_path):
    from handover.purge.store import purge_vault

    ctx, _, _ = transferred
    people = sample_people(ctx)
    updates.run_all(_context(ctx, sample_change_file(tmp_path, people), "upd-1"))
    with psycopg2.connect(ctx.dsn) as conn:
        keys = Keyring(conn, ctx.master_key, BRANCH)
        request = erasure.file_request(conn, keys.blind_index, "customer_id", people[0]["id"], branch_id=BRANCH,
                                       basis="individual_request", requested_by="test")
        [outcome] = erasure.carry_out(conn, keys.blind_index, dt.date(2026, 12, 3), only=[request])
        assert outcome["state"] == "done" and outcome["erased"]["vault.customer_history"] == 1
        with conn.cursor() as cur:
            cur.execute("SELECT customer_id FROM vault.customer_history ORDER BY 1")
            assert [r[0] for r in cur.fetchall()] == sorted([people[1]["id"], people[5]["id"]])
            cur.execute("SELECT count(*) FROM ops.update_rows WHERE customer_id = %s", (people[0]["id"],))
            assert cur.fetchone()[0] == 0
        # an earlier version is kept as long as its customer's class keeps records, from the day it was replaced
        kept = purge_vault(conn, dt.date(2031, 12, 2), held_branches=set(), held_customers=set(), dry_run=False)
        due = purge_vault(conn, dt.date(2031, 12, 4), held_branches=set(), held_customers=set(), dry_run=True)
    [history] = [r for r in kept if r.get("entity") == "customer_history"]
    [would] = [r for r in due if r.get("entity") == "customer_history"]
    assert history["deleted"] == 0 and would["deleted"] == history["remaining"] == 2


def test_a_change_file_with_a_column_that_may_not_change_is_refused_before_anything_is_read(transferred, tmp_path):
    ctx, _, _ = transferred
    path = tmp_path / "changes.csv"
    path.write_text("客户编号,证件号码,手机号码\nC1,110101199003077777,13900000001\n", encoding="utf-8")
    with pytest.raises(SourceError, match="证件号码 \\(id_number\\) cannot be changed"):
        updates.run_all(_context(ctx, path, "upd-x"))
    path.write_text("手机号码\n13900000001\n", encoding="utf-8")
    with pytest.raises(SourceError, match="the key column 客户编号 is missing"):
        updates.run_all(_context(ctx, path, "upd-y"))


def test_an_xlsx_change_file_takes_the_same_path(transferred, tmp_path):
    from openpyxl import Workbook

    ctx, _, _ = transferred
    person = sample_people(ctx, 1)[0]
    book = Workbook()
    sheet = book.active
    sheet.title = "变更"
    sheet.append(["客户编号", "联系地址", "电子邮箱"])
    sheet.append([person["id"], "上海市静安区南京西路1号", "not-an-address"])
    sheet.append([person["id"], "上海市静安区南京西路1号", None])
    path = tmp_path / "客户信息变更.xlsx"
    book.save(path)
    counts = updates.run_all(_context(ctx, path, "upd-xlsx"))
    assert (counts["rows"], counts["applied"], counts["quarantined"]) == (2, 1, 1)
    assert counts["reasons"] == {"invalid_email": 1} and counts["fields_changed"] == {"address": 1}


def test_master_key_is_never_in_the_context_repr(tmp_path):
    ctx = updates.UpdateContext(run_id="r", contract_path="c", dsn="d", master_key=MasterKey(os.urandom(32)),
                                work_root=str(tmp_path), change_file="f.csv")
    assert "master_key=" not in repr(ctx)


def test_a_change_file_is_not_applied_beside_a_transfer_of_the_branch_nor_a_transfer_beside_it(transferred, tmp_path):
    """Both write the same customers' rows: whichever holds the branch first, the other is refused, saying
    why, and changes nothing; the change file goes on from where it was refused once the branch is free."""
    from handover.store import ops, runlock
    from handover.store.connection import open_connection

    ctx, _, _ = transferred
    path = sample_change_file(tmp_path, sample_people(ctx))
    before = snapshot(ctx.dsn, TABLES)
    connect = lambda: open_connection(ctx.dsn)
    # a transfer's task is running (its shared hold of the branch)
    with runlock.task_guard(connect, BRANCH, "dag-run-7"), \
            pytest.raises(runlock.BranchBusy, match=f"branch {BRANCH} is being transferred"):
        updates.run_all(_context(ctx, path, "upd-busy"))
    assert snapshot(ctx.dsn, TABLES) == before and _rows(ctx.dsn, "upd-busy") == {}
    # a DAG run between two of its tasks: nobody holds the lock, but its heartbeat is inside the lease
    with psycopg2.connect(ctx.dsn) as conn:
        ops.start_run(conn, "dag-run-8", BRANCH, "0" * 64, "transfer", driver="airflow")
        conn.commit()
    with pytest.raises(runlock.BranchBusy, match="dag-run-8"):
        updates.run_all(_context(ctx, path, "upd-busy-2"))
    assert snapshot(ctx.dsn, TABLES) == before
    with psycopg2.connect(ctx.dsn) as conn, conn.cursor() as cur:
        cur.execute("UPDATE ops.runs SET status = 'failed', finished_at = now() WHERE run_id = 'dag-run-8'")
    # while a change file holds the branch, a transfer's task is refused, naming the change file's run
    with psycopg2.connect(ctx.dsn) as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO ops.update_runs (run_id, branch_id, file, sha256, contract_sha256, fields) "
                    "VALUES ('upd-holding', %s, 'f.csv', '', '', '{}')", (BRANCH,))
    with runlock.excluding_transfers(connect, BRANCH, "upd-holding"), \
            pytest.raises(runlock.BranchBusy, match="a change file is being applied by run upd-holding"), \
            runlock.task_guard(connect, BRANCH, "dag-run-9"):
        pass
    # free again: the change file applies
    counts = updates.run_all(_context(ctx, path, "upd-free"))
    assert counts["applied"] == 3
