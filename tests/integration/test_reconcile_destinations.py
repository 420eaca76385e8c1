"""The reconciliation's look into the target: a branch's first load is checked by summaries of the content
hashes (count, sum, xor) instead of a join, and any row missing, added or changed there is still found."""

from __future__ import annotations

import psycopg2
import pytest
from handover import transfer
from handover.reconcile import verify_destinations

from tests.support.stores import run_context


@pytest.fixture
def loaded(pg_dsn, master_key_text, sample_contract, sample_export, tmp_path):
    """The sample's run up to its load, staging kept (what the reconciliation reads)."""
    folder, _ = sample_export
    ctx = run_context(pg_dsn, master_key_text, sample_contract, folder, tmp_path, "run-1")
    transfer.open_work_area(ctx)
    transfer.check_contract(ctx)
    transfer.prepare_store(ctx)
    transfer.archive_original(ctx)
    refs = [r for e in ctx.contract().entities for r in transfer.extract_source(ctx, e)]
    transfer.prepare_chunks(ctx)
    for ref in refs:
        transfer.stage_chunk(ctx, transfer.protect_chunk(ctx, transfer.verify_chunk(ctx, ref)))
    transfer.settle(ctx)
    transfer.load_vault(ctx)
    yield ctx
    transfer.close_work_area(ctx)


def _both(ctx, entity):
    with psycopg2.connect(ctx.dsn) as conn:
        return verify_destinations(conn, entity, ctx.tag, ctx.contract().branch_id), \
            verify_destinations(conn, entity, ctx.tag)


def _tamper(ctx, statement):
    with psycopg2.connect(ctx.dsn) as conn, conn.cursor() as cur:
        cur.execute("SET session_replication_role = replica")  # past the audit's triggers, as an intruder
        cur.execute(statement)


def test_summaries_count_what_the_join_counts(loaded):
    for entity in loaded.contract().entities:
        by_summary, by_join = _both(loaded, entity)
        assert by_summary == by_join and by_summary["loaded"] > 0


@pytest.mark.parametrize("statement", [
    "DELETE FROM vault.transactions WHERE ctid = (SELECT min(ctid) FROM vault.transactions)",
    "UPDATE vault.transactions SET row_hash = sha256(row_hash) WHERE ctid = (SELECT min(ctid) FROM vault.transactions)",
    "DELETE FROM analytics.transactions WHERE ctid = (SELECT min(ctid) FROM analytics.transactions)",
])
def test_a_row_missing_or_changed_in_the_target_is_counted_as_missing(loaded, statement):
    before, _ = _both(loaded, "transactions")
    _tamper(loaded, statement)
    by_summary, by_join = _both(loaded, "transactions")
    assert by_summary == by_join
    assert by_summary["loaded"] + by_summary["analytics"] == before["loaded"] + before["analytics"] - 1


def test_a_row_added_to_the_target_sends_the_check_to_the_join(loaded):
    before, _ = _both(loaded, "customers")
    _tamper(loaded, "INSERT INTO vault.customers SELECT (c).* FROM (SELECT c FROM vault.customers c LIMIT 1) x "
                    "ON CONFLICT DO NOTHING")  # nothing added: the key is there; a changed copy is:
    _tamper(loaded, "CREATE TEMP TABLE x AS SELECT * FROM vault.customers LIMIT 1; "
                    "UPDATE x SET customer_id = customer_id || 'X', row_hash = sha256(row_hash); "
                    "INSERT INTO vault.customers SELECT * FROM x")
    by_summary, by_join = _both(loaded, "customers")
    assert by_summary == by_join == before
