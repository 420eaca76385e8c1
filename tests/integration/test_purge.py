"""The retention purge on a real store (the sample branch transferred): exactly what is due goes, from the
vault and the analytics tier together; a dry run reports it and changes nothing; a purge killed midway and
re-run ends where a clean one does; legal holds keep records; the audit holds counts only."""

from __future__ import annotations

import datetime as dt

import psycopg2
import pytest
from handover.crypto import Hasher
from handover.purge import erasure, rules, store

BRANCH = "SH-PD-0042"
FIVE_YEARS, THREE_YEARS = rules.Keep.parse("5y"), rules.Keep.parse("3y")


def _keys(conn, entity: str) -> set[str]:
    key = {"customers": "customer_id", "accounts": "account_id", "transactions": "transaction_id",
           "interactions": "interaction_id"}[entity]
    with conn.cursor() as cur:
        cur.execute(f"SELECT {key} FROM vault.{entity}")
        return {r[0] for r in cur.fetchall()}


def _dates(conn, entity: str) -> dict[str, dt.date]:
    key = {"transactions": "transaction_id", "interactions": "interaction_id"}[entity]
    with conn.cursor() as cur:
        cur.execute(f"SELECT {key}, coalesce(occurred_at::date, loaded_at::date) FROM vault.{entity}")
        return dict(cur.fetchall())


def _counts(conn) -> dict[str, int]:
    out = {}
    with conn.cursor() as cur:
        for schema in ("vault", "analytics"):
            for entity in ("customers", "accounts", "transactions", "interactions"):
                cur.execute(f"SELECT count(*) FROM {schema}.{entity}")
                out[f"{schema}.{entity}"] = cur.fetchone()[0]
    return out


def _purge(conn, today, **kw):
    kw.setdefault("held_branches", set())
    kw.setdefault("held_customers", set())
    kw.setdefault("dry_run", False)
    return store.purge_vault(conn, today, **kw)


AS_OF = dt.date(2029, 6, 1)  # sample transactions are from 2024, interactions from 2025


def test_exactly_what_is_due_goes_from_vault_and_analytics(transferred):
    ctx, _, _ = transferred
    with psycopg2.connect(ctx.dsn) as conn:
        tx, notes = _dates(conn, "transactions"), _dates(conn, "interactions")
        before = _counts(conn)
        customers, accounts = _keys(conn, "customers"), _keys(conn, "accounts")
        with conn.cursor() as cur:  # customers who never had an account: the relationship is their activity
            cur.execute("SELECT c.customer_id, coalesce(greatest(c.opened_on, max(i.occurred_at)::date), "
                        "c.loaded_at::date) FROM vault.customers c "
                        "LEFT JOIN vault.interactions i USING (branch_id, customer_id) WHERE NOT EXISTS "
                        "(SELECT FROM vault.accounts a WHERE a.customer_id = c.customer_id) GROUP BY 1, c.opened_on, "
                        "c.loaded_at")
            no_account = dict(cur.fetchall())
        report = _purge(conn, AS_OF)
        tx_due = {k for k, d in tx.items() if rules.due_date(d, FIVE_YEARS) <= AS_OF}
        notes_due = {k for k, d in notes.items() if rules.due_date(d, THREE_YEARS) <= AS_OF}
        assert 0 < len(tx_due) < len(tx) and notes_due == set(notes)  # the calendar splits transactions
        assert _keys(conn, "transactions") == set(tx) - tx_due
        assert _keys(conn, "interactions") == set(notes) - notes_due
        # No account is closed: those relationships go on, and customers and accounts stay — but for
        # customers who never had an account, five years after their last activity.
        gone = {k for k, d in no_account.items() if rules.due_date(d, FIVE_YEARS) <= AS_OF}
        assert no_account and gone
        assert _keys(conn, "customers") == customers - gone and _keys(conn, "accounts") == accounts
        after = _counts(conn)
        for entity in ("customers", "accounts", "transactions", "interactions"):
            assert after[f"analytics.{entity}"] == after[f"vault.{entity}"], entity  # the tier follows
        rows = {r["entity"]: r for r in report}
        assert rows["transactions"]["deleted"] == len(tx_due) == before["vault.transactions"] - after["vault.transactions"]
        assert rows["transactions"]["cutoff"] == "2024-06-01" and rows["transactions"]["rule"] == "keep 5y after transaction"
        # A re-run changes nothing.
        assert all(r["deleted"] == 0 for r in _purge(conn, AS_OF))
        assert _counts(conn) == after


def test_a_dry_run_reports_what_a_real_run_deletes_and_changes_nothing(transferred):
    ctx, _, _ = transferred
    with psycopg2.connect(ctx.dsn) as conn:
        before = _counts(conn)
        dry = _purge(conn, AS_OF, dry_run=True)
        conn.rollback()
        assert _counts(conn) == before
        real = _purge(conn, AS_OF)
        assert [(r["entity"], r["deleted"]) for r in dry] == [(r["entity"], r["deleted"]) for r in real]


def test_a_purge_killed_midway_and_re_run_ends_as_a_clean_one(transferred, monkeypatch):
    ctx, _, _ = transferred
    with psycopg2.connect(ctx.dsn) as conn:
        tx = _dates(conn, "transactions")
        expected = {k for k, d in tx.items() if rules.due_date(d, FIVE_YEARS) > AS_OF}
        real_delete, calls = store.delete_rows, []

        def dies_on_the_third_batch(*args, **kw):
            calls.append(1)
            if len(calls) == 3:
                raise KeyboardInterrupt("killed")
            return real_delete(*args, **kw)

        monkeypatch.setattr(store, "delete_rows", dies_on_the_third_batch)
        with pytest.raises(KeyboardInterrupt):
            _purge(conn, AS_OF, batch=7)
        conn.rollback()
        partway = _keys(conn, "transactions")
        assert expected < partway < set(tx)  # two whole batches went, the third did not
        monkeypatch.setattr(store, "delete_rows", real_delete)
        _purge(conn, AS_OF, batch=7)
        assert _keys(conn, "transactions") == expected
        after = _counts(conn)
        assert after["analytics.transactions"] == after["vault.transactions"]


def test_relationship_end_and_legal_holds(transferred):
    """Close every account of two customers: their relationship has ended; as of five years after their
    last activity they go entirely — unless held."""
    ctx, _, _ = transferred
    with psycopg2.connect(ctx.dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT customer_id FROM vault.accounts GROUP BY 1 HAVING count(*) >= 1 ORDER BY 1 LIMIT 2")
        closing = [r[0] for r in cur.fetchall()]
        cur.execute("UPDATE vault.accounts SET status = '销户' WHERE customer_id = ANY(%s)", (closing,))
        conn.commit()
        far = dt.date(2036, 1, 1)
        _purge(conn, far, held_branches={BRANCH})
        assert set(closing) <= _keys(conn, "customers")  # a held branch: nothing goes
        _purge(conn, far, held_customers={(BRANCH, closing[0])})
        remaining = _keys(conn, "customers")
        assert closing[0] in remaining and closing[1] not in remaining
        cur.execute("SELECT count(*) FROM vault.accounts WHERE customer_id = %s", (closing[1],))
        assert cur.fetchone()[0] == 0
        cur.execute("SELECT count(*) FROM analytics.customers")
        assert cur.fetchone()[0] == len(remaining)
        # Customers whose accounts are open stay, however old.
        assert len(remaining) > 2


def test_customer_activity_never_gets_younger_by_purging(transferred):
    """Purging a customer's old transactions must not move their last activity back."""
    ctx, _, _ = transferred
    with psycopg2.connect(ctx.dsn) as conn, conn.cursor() as cur:
        _purge(conn, dt.date(2026, 12, 1))  # records the activity, deletes nothing of 2024
        cur.execute("SELECT sum(last_activity - '2000-01-01'::date) FROM ops.activity")
        before = cur.fetchone()[0]
        _purge(conn, dt.date(2031, 1, 1))  # every 2024 transaction is due now
        cur.execute("SELECT count(*) FROM vault.transactions")
        assert cur.fetchone()[0] == 0
        cur.execute("SELECT sum(last_activity - '2000-01-01'::date) FROM ops.activity")
        assert cur.fetchone()[0] == before


def test_housekeeping_quarantine_exclusions_and_archives(transferred, tmp_path):
    ctx, _, _ = transferred
    keep = rules.housekeeping()
    today = rules.today_in_shanghai()
    with psycopg2.connect(ctx.dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM ops.quarantine")
        quarantined = cur.fetchone()[0]
        cur.execute("SELECT count(*) FROM ops.exclusions WHERE reasons && ARRAY['no_consent', 'parent_excluded']")
        excluded = cur.fetchone()[0]
        cur.execute("SELECT archive_path FROM ops.archives")
        archives = [r[0] for r in cur.fetchall()]
        assert quarantined and excluded and archives
        day89 = {r["class"]: r["deleted"] for r in store.purge_ops(conn, today + dt.timedelta(days=89), keep,
                                                                    held_branches=set(), dry_run=False)}
        assert day89 == {"quarantine": 0, "excluded_no_consent": excluded, "archives": 0}
        day90 = {r["class"]: r["deleted"] for r in store.purge_ops(conn, today + dt.timedelta(days=90), keep,
                                                                    held_branches=set(), dry_run=False)}
        assert day90["quarantine"] == quarantined
        year = {r["class"]: r["deleted"] for r in store.purge_ops(conn, today + dt.timedelta(days=366), keep,
                                                                   held_branches=set(), dry_run=False)}
        assert year["archives"] == len(archives)
        assert not any(__import__("os").path.exists(p) for p in archives)
        (tmp_path / "work" / "old-run").mkdir(parents=True)
        (tmp_path / "work" / "running").mkdir()
        result = store.purge_work_areas(tmp_path / "work", today + dt.timedelta(days=8), keep["work_areas"],
                                        {"running"}, dry_run=False)
        assert result["deleted"] == 1 and (tmp_path / "work" / "running").exists()


def test_purge_needs_no_plaintext_and_the_audit_holds_counts_only(transferred):
    """The report rows name branches, entities, classes, rules, days and counts — nothing else."""
    ctx, _, _ = transferred
    with psycopg2.connect(ctx.dsn) as conn:
        for row in _purge(conn, AS_OF):
            assert set(row) <= {"branch_id", "entity", "class", "rule", "cutoff", "deleted", "remaining", "held"}


def hasher(ctx) -> Hasher:
    from handover.store.keys import get_or_create

    with psycopg2.connect(ctx.dsn) as conn:
        return Hasher(get_or_create(conn, ctx.master_key, "blind_index")[1])


__all__ = ["erasure", "hasher"]
