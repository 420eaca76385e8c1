"""Erasure requests on a real store: by customer id, mobile and resident ID number, matched through the
blind index and never stored in plaintext; refused for a legal hold or AML retention (processing stopped,
retried on the day the period ends); tombstones that make a restored old backup forget the customer."""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path

import psycopg2
import pytest
from handover.backup import ledger, snapshot
from handover.backup.snapshot import LocalFolder
from handover.crypto import Hasher, signing_key
from handover.purge import erasure, store

from tests.support.stores import AFTER_AML, SAMPLE_BRANCH, SIGNING_KEY, analytics_rows

BRANCH = SAMPLE_BRANCH


def _present(dsn: str, customer_id: str) -> dict[str, int]:
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        out = {}
        for table in ("vault.customers", "vault.accounts", "vault.interactions"):
            cur.execute(f"SELECT count(*) FROM {table} WHERE customer_id = %s", (customer_id,))
            out[table] = cur.fetchone()[0]
        cur.execute("SELECT count(*) FROM vault.transactions t JOIN vault.accounts a USING (branch_id, account_id) "
                    "WHERE a.customer_id = %s", (customer_id,))
        out["vault.transactions"] = cur.fetchone()[0]
        return out


def _analytics_customers(dsn: str) -> int:
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM analytics.customers")
        return cur.fetchone()[0]


@pytest.mark.parametrize(("kind", "column"), [("customer_id", "客户编号"), ("mobile", "手机号码"),
                                              ("id_number", "证件号码")])
def test_erasure_by_each_identifier(store_and_people, kind, column):
    ctx, hasher, people = store_and_people
    person = people[3]
    customer = person["客户编号"].strip()
    assert _present(ctx.dsn, customer)["vault.customers"] == 1
    analytics_before = _analytics_customers(ctx.dsn)
    with psycopg2.connect(ctx.dsn) as conn:
        request = erasure.file_request(conn, hasher, kind, person[column], branch_id=BRANCH,
                                       basis="individual_request", requested_by="dpo")
        with conn.cursor() as cur:  # stored as a keyed hash only
            cur.execute("SELECT row_to_json(r)::text FROM control.erasure_requests r WHERE id = %s", (request,))
            stored = cur.fetchone()[0]
        for value in (person["客户编号"], person["手机号码"], person["证件号码"], person["姓名"]):
            assert value.strip() not in stored
        outcome, = erasure.carry_out(conn, hasher, AFTER_AML)
    assert outcome["state"] == "done" and outcome["customers"] == 1
    assert set(_present(ctx.dsn, customer).values()) == {0}
    assert _analytics_customers(ctx.dsn) == analytics_before - 1
    with psycopg2.connect(ctx.dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT kind FROM control.tombstones WHERE request_id = %s ORDER BY 1", (request,))
        assert [r[0] for r in cur.fetchall()] == ["customer_id", "id_number", "mobile"]
        # Done requests are not carried out again.
        assert erasure.carry_out(conn, hasher, AFTER_AML) == []


def test_a_mobile_written_differently_still_matches(store_and_people):
    ctx, hasher, people = store_and_people
    person = people[4]
    mobile = person["手机号码"].strip()
    with psycopg2.connect(ctx.dsn) as conn:
        erasure.file_request(conn, hasher, "mobile", f"+86 {mobile[:3]}-{mobile[3:7]}-{mobile[7:]}", branch_id=None,
                             basis="consent_withdrawn", requested_by="dpo")
        outcome, = erasure.carry_out(conn, hasher, AFTER_AML)
    assert outcome["state"] == "done" and outcome["customers"] == 1


def test_aml_retention_refuses_stops_processing_and_retries_on_the_day(store_and_people):
    ctx, hasher, _ = store_and_people
    with psycopg2.connect(ctx.dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT a.customer_id, max(t.occurred_at)::date FROM vault.transactions t "
                    "JOIN vault.accounts a USING (branch_id, account_id) GROUP BY 1 ORDER BY 1 LIMIT 1")
        customer, last_tx = cur.fetchone()
        erasure.file_request(conn, hasher, "customer_id", customer, branch_id=BRANCH, basis="individual_request",
                             requested_by="dpo")
        today = dt.date(2026, 12, 1)
        outcome, = erasure.carry_out(conn, hasher, today)
        due = dt.date(last_tx.year + 5, last_tx.month, last_tx.day)  # 2024's 29 Feb would roll to 1 March
        if (last_tx.month, last_tx.day) == (2, 29):
            due = dt.date(last_tx.year + 5, 3, 1)
        assert outcome["state"] == "refused" and outcome["reason"].startswith("aml:")
        assert outcome["retry_after"] == due.isoformat()
        assert outcome["processing_stopped"]["analytics.customers"] == 1
        assert _present(ctx.dsn, customer)["vault.customers"] == 1  # stored, not processed
        cur.execute("SELECT count(*) FROM analytics.transactions t WHERE t.row_hash IN "
                    "(SELECT x.row_hash FROM vault.transactions x JOIN vault.accounts a USING (branch_id, account_id) "
                    "WHERE a.customer_id = %s)", (customer,))
        assert cur.fetchone()[0] == 0
        assert erasure.carry_out(conn, hasher, due - dt.timedelta(days=1)) == []  # not before the day
        outcome, = erasure.carry_out(conn, hasher, due)
        assert outcome["state"] == "done"
    assert set(_present(ctx.dsn, customer).values()) == {0}


def test_a_customer_refused_erasure_for_aml_stays_out_of_analytics_in_later_loads(
        store_and_people, sample_contract, sample_export, tmp_path, master_key_text):
    """Refused because AML keeps the records, the customer's processing stops — and stays stopped: a later load
    of the branch (a re-sent export) leaves them out of the analytics tier, as it does an objecting customer,
    and the reconciliation counts those rows as withheld."""
    from handover import local_run
    from handover.notices import objections

    from tests.support.stores import run_context as _ctx

    ctx, hasher, people = store_and_people
    customer = next(p["客户编号"].strip() for p in people if analytics_rows(ctx.dsn, p["客户编号"].strip()) > 1)
    with psycopg2.connect(ctx.dsn) as conn:
        erasure.file_request(conn, hasher, "customer_id", customer, branch_id=BRANCH, basis="individual_request",
                             requested_by="dpo")
        outcome, = erasure.carry_out(conn, hasher, dt.date(2026, 12, 1))
        assert outcome["state"] == "refused" and outcome["reason"].startswith("aml:")
    assert analytics_rows(ctx.dsn, customer) == 0
    folder, _ = sample_export
    result = local_run.run_all(_ctx(ctx.dsn, master_key_text, sample_contract, folder, tmp_path, "run-again"))
    assert analytics_rows(ctx.dsn, customer) == 0  # still stopped
    manifest = json.loads(Path(result["manifest"]).read_text())
    assert manifest["counts"]["customers"]["loaded"] > 0  # reconciled: the withheld rows counted as such
    with psycopg2.connect(ctx.dsn) as conn, conn.cursor() as cur:
        assert customer not in objections.marketing_audience(cur, BRANCH)  # and offered nothing
        cur.execute("SELECT count(*) FROM vault.customers WHERE customer_id = %s", (customer,))
        assert cur.fetchone()[0] == 1  # stored, as AML requires
        outcome, = erasure.carry_out(conn, hasher, AFTER_AML)
        assert outcome["state"] == "done"
        cur.execute("SELECT count(*) FROM control.processing_stopped WHERE customer_id = %s", (customer,))
        assert cur.fetchone()[0] == 0  # erased: nothing of them is left to keep out


def test_a_legal_hold_refuses_until_released(store_and_people):
    ctx, hasher, people = store_and_people
    person = people[5]
    customer = person["客户编号"].strip()
    with psycopg2.connect(ctx.dsn) as conn:
        hold = erasure.place_hold(conn, hasher, reason="(2026)沪0115民初1234号", placed_by="legal",
                                  kind="mobile", value=person["手机号码"])
        erasure.file_request(conn, hasher, "id_number", person["证件号码"], branch_id=None,
                             basis="individual_request", requested_by="dpo")
        outcome, = erasure.carry_out(conn, hasher, AFTER_AML)
        assert outcome["state"] == "refused" and outcome["reason"] == f"legal hold {hold}"
        assert _present(ctx.dsn, customer)["vault.customers"] == 1
        # The retention purge keeps the held customer too.
        with conn.cursor() as cur:
            branches, customers = erasure.holds(cur, erasure.CustomerIds(cur, hasher))
        assert customers == {(BRANCH, customer): hold} and branches == {}
        erasure.release_hold(conn, hold, "legal")
        outcome, = erasure.carry_out(conn, hasher, AFTER_AML + dt.timedelta(days=1))
        assert outcome["state"] == "done"
    assert _present(ctx.dsn, customer)["vault.customers"] == 0


def test_a_request_that_matches_nobody_leaves_a_tombstone(store_and_people):
    ctx, hasher, _ = store_and_people
    with psycopg2.connect(ctx.dsn) as conn, conn.cursor() as cur:
        erasure.file_request(conn, hasher, "mobile", "13912345678", branch_id=None, basis="individual_request",
                             requested_by="dpo")
        outcome, = erasure.carry_out(conn, hasher, AFTER_AML)
        assert outcome["state"] == "no_match"
        cur.execute("SELECT count(*) FROM control.tombstones")
        assert cur.fetchone()[0] == 1  # a later load or restore of that mobile is erased too


def test_an_old_backup_restored_does_not_bring_an_erased_customer_back(store_and_people, tmp_path, pg_admin_dsn):
    from tests.conftest import scratch_database

    ctx, hasher, people = store_and_people
    dest = LocalFolder(tmp_path / "backups")
    person = people[6]
    customer = person["客户编号"].strip()
    with psycopg2.connect(ctx.dsn) as conn:
        old = snapshot.take(conn, dest, ctx.master_key, signing_key(SIGNING_KEY))["backup_id"]
        erasure.file_request(conn, hasher, "mobile", person["手机号码"], branch_id=None, basis="individual_request",
                             requested_by="dpo")
        erasure.carry_out(conn, hasher, AFTER_AML)
        with conn.cursor() as cur:
            cur.execute("SELECT kind, digest FROM control.tombstones")
            stones = [(k, bytes(d)) for k, d in cur.fetchall()]
    assert _present(ctx.dsn, customer)["vault.customers"] == 0

    # Into the same store, overwriting (its control schema, with the tombstones, is not in the backup) …
    with psycopg2.connect(ctx.dsn) as conn:
        result = ledger.restore(conn, dest, old, ctx.master_key, overwrite=True, target="handover_target",
                                requested_by="ops", before_commit=lambda c: erasure.apply_tombstones(
                                    c, Hasher(_blind_key(c, ctx.master_key))))
    assert result["tombstones"]["customers"] == 1
    assert _present(ctx.dsn, customer)["vault.customers"] == 0
    # … and onto a new server, with the tombstones carried over.
    with scratch_database(pg_admin_dsn, "handover_test_restore_tombstones") as fresh:
        with psycopg2.connect(fresh) as conn:
            ledger.restore(conn, dest, old, ctx.master_key, target="new", requested_by="ops",
                           before_commit=lambda c: erasure.apply_tombstones(c, Hasher(_blind_key(c, ctx.master_key)),
                                                                            stones))
        assert set(_present(fresh, customer).values()) == {0}
        with psycopg2.connect(fresh) as conn, conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM vault.customers")
            assert cur.fetchone()[0] > 100  # everybody else is back


def _blind_key(conn, master) -> bytes:
    with conn.cursor() as cur:  # read inside the restore's transaction: never commit there
        cur.execute("SELECT wrapped FROM ops.keys WHERE purpose = 'blind_index'")
        return master.unwrap(bytes(cur.fetchone()[0]), "blind_index")


def test_the_purge_and_erasures_leave_no_dangling_analytics(store_and_people):
    ctx, hasher, people = store_and_people
    with psycopg2.connect(ctx.dsn) as conn:
        for person in people[7:10]:
            erasure.file_request(conn, hasher, "id_number", person["证件号码"], branch_id=None,
                                 basis="purpose_achieved", requested_by="dpo")
        erasure.carry_out(conn, hasher, AFTER_AML)
        store.purge_vault(conn, AFTER_AML, held_branches=set(), held_customers=set(), dry_run=False)
        with conn.cursor() as cur:
            for entity in ("customers", "accounts", "transactions", "interactions"):
                cur.execute(f"SELECT (SELECT count(*) FROM vault.{entity}), (SELECT count(*) FROM analytics.{entity})")
                vault_rows, analytics_rows = cur.fetchone()
                assert vault_rows == analytics_rows, entity


def test_a_branch_sending_an_erased_customer_again_does_not_bring_them_back(store_and_people, sample_contract,
                                                                            sample_export, tmp_path, master_key_text):
    """The transfer re-run (or the branch sending its export again) after an erasure: the customer is
    excluded with reason `erased`, their children with them, and the counts still reconcile."""
    import json
    from pathlib import Path

    from handover import local_run

    from tests.support.stores import run_context as _ctx

    ctx, hasher, people = store_and_people
    folder, _ = sample_export
    person = people[2]
    customer = person["客户编号"].strip()
    with psycopg2.connect(ctx.dsn) as conn:
        erasure.file_request(conn, hasher, "customer_id", customer, branch_id=BRANCH, basis="individual_request",
                             requested_by="dpo")
        assert erasure.carry_out(conn, hasher, AFTER_AML)[0]["state"] == "done"
    result = local_run.run_all(_ctx(ctx.dsn, master_key_text, sample_contract, folder, tmp_path, "run-again"))
    assert set(_present(ctx.dsn, customer).values()) == {0}
    counts = json.loads(Path(result["manifest"]).read_text())["counts"]
    assert counts["customers"]["reasons"]["erased"] == 1


def test_the_command_line_files_requests_and_holds_without_the_identifier_in_argv(store_and_people, monkeypatch,
                                                                                   capsys, master_key_text):
    import sys

    from handover import cli

    ctx, hasher, people = store_and_people
    person = people[8]
    monkeypatch.setenv("HANDOVER_MASTER_KEY", master_key_text)
    monkeypatch.setattr(sys, "stdin", io.StringIO(person["手机号码"] + "\n"))
    assert cli.main(["hold", "place", "--dsn", ctx.dsn, "--kind", "mobile", "--reason", "case 42"]) == 0
    monkeypatch.setattr(sys, "stdin", io.StringIO(person["证件号码"] + "\n"))
    assert cli.main(["erase", "--dsn", ctx.dsn, "--kind", "id_number", "--basis", "individual_request"]) == 0
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    assert cli.main(["erase", "--dsn", ctx.dsn, "--kind", "mobile", "--basis", "individual_request"]) == 2
    with psycopg2.connect(ctx.dsn) as conn:
        outcome, = erasure.carry_out(conn, hasher, AFTER_AML)
    assert outcome["state"] == "refused" and outcome["reason"].startswith("legal hold")
    capsys.readouterr()
    assert cli.main(["erasures", "--dsn", ctx.dsn]) == 0
    assert cli.main(["hold", "list", "--dsn", ctx.dsn]) == 0
    out = capsys.readouterr().out
    assert "refused" in out and "case 42" in out
    assert person["证件号码"].strip() not in out and person["手机号码"].strip() not in out
