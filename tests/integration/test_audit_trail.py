"""The audit trail that shows tampering (`handover.audit_trail`): the chain the store writes, parallel writers,
and an edited, deleted or inserted entry found — each done as the store's owner, who may disable triggers."""

from __future__ import annotations

import base64
import threading

import psycopg2
import pytest
from handover import audit_trail, cli
from handover.backup import ledger, snapshot
from handover.backup.snapshot import LocalFolder
from handover.crypto import MasterKey, fingerprint, public_pem, signing_key
from handover.store import ops, roles, schema

from tests.support.stores import SIGNING_KEY

SIGNER = signing_key(SIGNING_KEY)
TRUSTED = {fingerprint(public_pem(SIGNER))}


@pytest.fixture
def store(pg_dsn):
    """A store with 30 entries written, its roles applied (so an owner exists), and a signed checkpoint."""
    from psycopg2.extensions import parse_dsn

    with psycopg2.connect(pg_dsn) as conn:
        schema.ensure_schema(conn)
        roles.ensure_roles(conn, parse_dsn(pg_dsn)["dbname"])
        for i in range(30):
            ops.audit(conn, "test.step", run_id=f"r{i % 3}", branch_id="B1" if i % 2 else None, actor="test",
                      step=i, note="第几步")
    return pg_dsn


def _verify(dsn, checkpoints=None):
    with psycopg2.connect(dsn) as conn:
        found = audit_trail.recorded(conn) if checkpoints is None else checkpoints
        return audit_trail.verify(conn, found, trusted=TRUSTED)


def _as_owner(dsn, *statements):
    """Statements run as handover_owner (the tables' owner), with the audit's triggers disabled."""
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("SET ROLE handover_owner")
        cur.execute("ALTER TABLE ops.audit DISABLE TRIGGER audit_append_only")
        for statement in statements:
            cur.execute(statement)
        cur.execute("ALTER TABLE ops.audit ENABLE TRIGGER audit_append_only")


def _checkpoint(dsn):
    with psycopg2.connect(dsn) as conn:
        return audit_trail.checkpoint(conn, SIGNER)


def test_every_entry_chains_to_the_one_before_and_the_check_recomputes_the_same_hashes(store):
    with psycopg2.connect(store) as conn, conn.cursor() as cur:
        cur.execute("SELECT seq, prev_hash, hash FROM ops.audit ORDER BY seq")
        rows = [(s, bytes(p), bytes(h)) for s, p, h in cur.fetchall()]
    assert [s for s, _, _ in rows] == list(range(1, 31))
    assert rows[0][1] == audit_trail.GENESIS
    assert all(rows[i][1] == rows[i - 1][2] for i in range(1, 30))
    cp = _checkpoint(store)
    verdict = _verify(store)
    assert verdict.ok, verdict.lines
    assert verdict.entries == 30 and verdict.counts["checkpoints_matched"] == 1
    assert cp["seq"] == 30


def test_entries_written_by_parallel_writers_still_form_one_chain(store):
    def write(n):
        with psycopg2.connect(store) as conn:
            for i in range(25):
                ops.audit(conn, "parallel", run_id=f"w{n}", branch_id=None, actor="test", i=i)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    verdict = _verify(store, [])
    assert verdict.ok, verdict.lines
    assert verdict.entries == 30 + 8 * 25


def test_an_entry_edited_by_the_owner_is_found(store):
    _checkpoint(store)
    _as_owner(store, "UPDATE ops.audit SET detail = detail || '{\"step\": 99}' WHERE seq = 12")
    verdict = _verify(store)
    assert not verdict.ok
    assert verdict.counts["edited"] == 1
    assert any("entry 12 was changed" in p for p in verdict.problems)


def test_an_entry_deleted_by_the_owner_is_found(store):
    _checkpoint(store)
    _as_owner(store, "DELETE FROM ops.audit WHERE seq = 7")
    verdict = _verify(store)
    assert not verdict.ok and verdict.counts["deleted"] == 1
    assert any("entries 7–7 are missing" in p for p in verdict.problems)


def test_entries_deleted_from_the_end_with_the_head_set_back_are_found_by_the_checkpoint(store):
    _checkpoint(store)
    _as_owner(store, "DELETE FROM ops.audit WHERE seq > 25",
              "UPDATE ops.audit_head SET seq = 25, hash = (SELECT hash FROM ops.audit WHERE seq = 25)")
    verdict = _verify(store)
    assert not verdict.ok
    assert any("checkpoint at entry 30: the entry is gone" in p for p in verdict.problems)
    assert _verify(store, []).ok  # without its checkpoint, a cut tail cannot be told from a short trail


def test_an_entry_inserted_by_the_owner_is_found(store):
    _checkpoint(store)
    # with the chain's trigger off too: an entry slipped in without a place
    _as_owner(store, "ALTER TABLE ops.audit DISABLE TRIGGER audit_chain",
              "INSERT INTO ops.audit (actor, action) VALUES ('mallory', 'backdated')",
              "ALTER TABLE ops.audit ENABLE TRIGGER audit_chain")
    verdict = _verify(store)
    assert not verdict.ok and verdict.counts["unchained"] == 1


def test_an_entry_inserted_in_the_middle_with_the_later_ones_renumbered_is_found(store):
    # the owner makes room at place 10 (every later entry moved up one) and writes a well-formed entry there
    _as_owner(store, "ALTER TABLE ops.audit DISABLE TRIGGER audit_chain",
              "UPDATE ops.audit SET seq = -seq WHERE seq >= 10", "UPDATE ops.audit SET seq = 1 - seq WHERE seq < 0",
              "INSERT INTO ops.audit (seq, actor, action, at, prev_hash, hash) SELECT 10, 'mallory', 'backdated', "
              "a.at, a.hash, ops.audit_entry_hash(a.hash, 10, a.at, NULL, NULL, 'mallory', 'backdated', '{}') "
              "FROM ops.audit a WHERE a.seq = 9",
              "ALTER TABLE ops.audit ENABLE TRIGGER audit_chain")
    verdict = _verify(store, [])
    assert not verdict.ok and verdict.counts["edited"] >= 1 and verdict.counts["inserted"] == 1
    assert any("entry 11 does not follow entry 10" in p for p in verdict.problems)


def test_a_chain_rewritten_by_the_owner_from_the_edit_on_is_found_only_by_its_signed_checkpoint(store):
    _checkpoint(store)
    # edit entry 5 and recompute every hash from there with the store's own function: a consistent chain
    _as_owner(store, "UPDATE ops.audit SET detail = '{\"step\": 4, \"note\": \"nothing\"}' WHERE seq = 5", """
        DO $$ DECLARE r record; prev bytea;
        BEGIN
            SELECT hash INTO prev FROM ops.audit WHERE seq = 4;
            FOR r IN SELECT * FROM ops.audit WHERE seq >= 5 ORDER BY seq LOOP
                UPDATE ops.audit SET prev_hash = prev, hash = ops.audit_entry_hash(prev, r.seq, r.at, r.run_id,
                    r.branch_id, r.actor, r.action, r.detail) WHERE seq = r.seq RETURNING hash INTO prev;
            END LOOP;
            UPDATE ops.audit_head SET hash = prev;
        END $$""")
    assert _verify(store, []).ok  # the chain alone is consistent again
    verdict = _verify(store)
    assert not verdict.ok and verdict.counts["rewritten"] == 1


def test_a_checkpoint_signed_by_another_key_does_not_count(store):
    other = signing_key(base64.b64encode(bytes(range(1, 33))).decode())
    with psycopg2.connect(store) as conn:
        audit_trail.checkpoint(conn, other)
    verdict = _verify(store)
    assert not verdict.ok and any("unknown key" in p for p in verdict.problems)


def test_checkpoints_beside_the_backups_survive_the_loss_of_control_and_a_restore_supersedes_later_ones(
        store, tmp_path, master_key_text):
    dest = LocalFolder(tmp_path / "backups")
    master = MasterKey.from_text(master_key_text)
    with psycopg2.connect(store) as conn:
        manifest = snapshot.take(conn, dest, master, SIGNER)
        audit_trail.checkpoint(conn, SIGNER, dest)
        for i in range(5):
            ops.audit(conn, "after.backup", run_id=None, branch_id=None, actor="test", i=i)
        audit_trail.checkpoint(conn, SIGNER, dest)
        ledger.restore(conn, dest, manifest["backup_id"], master, public_key_pem=public_pem(SIGNER),
                       overwrite=True, target="test", requested_by="test")
        ops.audit(conn, "after.restore", run_id=None, branch_id=None, actor="test")
        cur = conn.cursor()
        cur.execute("DELETE FROM control.audit_checkpoints")  # a new server: only what is beside the backups
        conn.commit()
    stored = audit_trail.stored(dest)
    assert len(stored) == 2
    verdict = _verify(store, stored)
    assert verdict.ok, verdict.lines
    assert verdict.counts["checkpoints_matched"] == 1 and verdict.counts["checkpoints_superseded"] == 1


def test_handover_audit_verify_exits_1_on_a_tampered_trail(store, monkeypatch, capsys):
    monkeypatch.setenv("HANDOVER_SIGNING_KEY", SIGNING_KEY)
    assert cli.main(["audit", "checkpoint", "--dsn", store]) == 0
    assert cli.main(["audit", "verify", "--dsn", store]) == 0
    assert "the chain intact" in capsys.readouterr().out
    _as_owner(store, "DELETE FROM ops.audit WHERE seq = 3")
    assert cli.main(["audit", "verify", "--dsn", store]) == 1
    out = capsys.readouterr().out
    assert "BROKEN" in out and "第几步" not in out
