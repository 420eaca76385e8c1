"""Re-tokenising the analytics tier under a new pseudonym key, on the transferred sample: every token re-made
(none of the old ones left, anywhere), the rows, the joins between the tables, k-anonymity's classes and the
insights as they were; erasure still finds a customer's analytics rows through the vault; a token in free text
re-made too (or made a tag); a re-run is a no-op, a killed one changed nothing, a dry run only counts; a later
transfer of the same export writes no row."""

from __future__ import annotations

import datetime as dt
import re

import psycopg2
import pytest
from handover import audit_trail, canonical, incident, insights, local_run, retokenise
from handover.analytics import record_domain
from handover.anonymity import QUASI_IDENTIFIERS
from handover.pii.values import pseudonym
from handover.purge import erasure
from handover.store import connect, keys, roles

from tests.support.stores import AFTER_AML, SAMPLE_BRANCH, analytics_rows, run_context

BRANCH = SAMPLE_BRANCH
AS_OF = dt.date(2025, 3, 31)
TOKEN = re.compile(r"tok_[0-9a-f]{16}")
# (child, its token column, parent, the parent's key token): every reference between analytics tables
JOINS = [("accounts", "customer_token", "customers", "customer_token"),
         ("cards", "account_token", "accounts", "account_token"),
         ("cards", "customer_token", "customers", "customer_token"),
         ("transactions", "account_token", "accounts", "account_token"),
         ("transactions", "customer_token", "customers", "customer_token"),
         ("interactions", "customer_token", "customers", "customer_token")]


@pytest.fixture
def store(transferred, pg_admin_dsn):
    from psycopg2.extensions import parse_dsn

    ctx = transferred[0]
    with psycopg2.connect(ctx.dsn) as conn:
        roles.ensure_roles(conn, parse_dsn(ctx.dsn)["dbname"])  # the insights run as the analyst
    return ctx


def _tier(dsn: str) -> dict[str, dict[bytes, tuple]]:
    """Every analytics row by its vault link (row_hash): its text columns."""
    out = {}
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        for entity in canonical.ENTITIES.values():
            names = [c.name for c in retokenise.token_columns(entity)]
            cur.execute(f"SELECT row_hash, {', '.join(names)} FROM analytics.{entity.name}")
            out[entity.name] = {bytes(r[0]): dict(zip(names, r[1:], strict=True)) for r in cur.fetchall()}
    return out


def _tokens(tier: dict) -> set[str]:
    return {t for rows in tier.values() for row in rows.values() for v in row.values() if v for t in TOKEN.findall(v)}


def _joined(dsn: str) -> list[int]:
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        counts = []
        for child, column, parent, key in JOINS:
            cur.execute(f"SELECT count(*) FROM analytics.{child} c JOIN analytics.{parent} p "
                        f"ON p.branch_id = c.branch_id AND p.{key} = c.{column}")
            counts.append(cur.fetchone()[0])
        return counts


def _classes(dsn: str) -> list[tuple]:
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        qi = ", ".join(QUASI_IDENTIFIERS)
        cur.execute(f"SELECT {qi}, count(*) FROM analytics.customers GROUP BY {qi} ORDER BY {qi}")
        return cur.fetchall()


def _insights(dsn: str) -> list[tuple]:
    with connect(dsn, "test") as conn:
        insights.compute(conn, as_of=AS_OF, min_k=3, computed_by="test")
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT branch_id, region, dimension, segment, customers, suppressed FROM insights.segments "
                    "WHERE as_of = %s ORDER BY 1, 2, 3, 4", (AS_OF,))
        return cur.fetchall()


def _retokenise(ctx, reference="INC-T-1", dry_run=False) -> dict:
    with psycopg2.connect(ctx.dsn) as conn:
        return incident.retokenise_analytics(conn, reference, ctx.master_key, dry_run=dry_run, actor="test")


def _key_id(dsn: str) -> str:
    with psycopg2.connect(dsn) as conn:
        return keys.key_id(conn, keys.PSEUDONYM)


def test_every_token_remade_and_every_join_kept(store):
    before, joins, classes, cells = _tier(store.dsn), _joined(store.dsn), _classes(store.dsn), _insights(store.dsn)
    old_key = _key_id(store.dsn)
    done = _retokenise(store)
    after = _tier(store.dsn)

    assert done["retokenised"] and done["old_left"] == 0 and done["unresolved"] == 0
    assert done["old_pseudonym_key_id"] == old_key != done["new_pseudonym_key_id"] == _key_id(store.dsn)
    old_tokens, new_tokens = _tokens(before), _tokens(after)
    assert len(old_tokens) > 1000 and len(new_tokens) == len(old_tokens)  # one to one
    assert not old_tokens & new_tokens  # no old token is left anywhere in the tier
    assert done["token_cells"] == sum(n for t in done["tables"].values() for n in t["tokens"].values()) > 0
    # the same rows (by their vault link), each cell that held a token now another one, the others as they were
    remade: dict[str, str] = {}
    for entity, rows in before.items():
        assert after[entity].keys() == rows.keys()
        for row_hash, row in rows.items():
            for column, value in row.items():
                now = after[entity][row_hash][column]
                if value is not None and TOKEN.fullmatch(value):
                    assert TOKEN.fullmatch(now) and remade.setdefault(value, now) == now  # one old, one new
                else:
                    assert now == value
    assert _joined(store.dsn) == joins and sum(joins) > 1000  # every reference still finds its row (no cards here)
    assert _classes(store.dsn) == classes  # k-anonymity's classes (quasi-identifiers) untouched
    assert _insights(store.dsn) == cells  # the aggregates the analysts read: the same

    # the new tokens are what the new key makes of the vault's values (a later transfer agrees)
    with psycopg2.connect(store.dsn) as conn, conn.cursor() as cur:
        new = keys.hasher(conn, store.master_key, keys.PSEUDONYM, create=False)
        cipher = keys.branch_cipher(conn, store.master_key, BRANCH)
        cur.execute("SELECT v.customer_id, v.mobile_enc, a.customer_token, a.mobile_token FROM vault.customers v "
                    "JOIN analytics.customers a USING (branch_id, row_hash) WHERE v.mobile_enc IS NOT NULL LIMIT 20")
        for customer, mobile, token, mobile_token in cur.fetchall():
            assert pseudonym(new, record_domain("customers", BRANCH), customer) == token
            assert pseudonym(new, "CN_MOBILE", cipher.decrypt(mobile, "vault.customers.mobile")) == mobile_token
        cur.execute("SELECT count(*) FROM ops.audit WHERE action = 'incident.analytics_retokenised'")
        assert cur.fetchone() == (1,)
        verdict = audit_trail.verify(conn)  # the entry written inside the transaction is chained as any other
        assert verdict.ok, verdict.problems


def test_erasure_finds_the_analytics_rows_after_retokenising(store):
    _retokenise(store)
    with psycopg2.connect(store.dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT v.customer_id FROM vault.customers v JOIN vault.accounts a USING (branch_id, customer_id) "
                    "JOIN analytics.customers x ON x.branch_id = v.branch_id AND x.row_hash = v.row_hash LIMIT 1")
        customer, = cur.fetchone()
    assert analytics_rows(store.dsn, customer) > 1
    with psycopg2.connect(store.dsn) as conn:
        bidx = keys.hasher(conn, store.master_key, keys.BLIND_INDEX, create=False)
        erasure.file_request(conn, bidx, "customer_id", customer, branch_id=BRANCH, basis="individual_request",
                             requested_by="dpo")
        outcome, = erasure.carry_out(conn, bidx, AFTER_AML)
    assert outcome["state"] == "done" and outcome["customers"] == 1
    assert analytics_rows(store.dsn, customer) == 0
    with psycopg2.connect(store.dsn) as conn, conn.cursor() as cur:  # and only theirs
        cur.execute("SELECT count(*) FROM analytics.accounts a LEFT JOIN analytics.customers c "
                    "USING (branch_id, customer_token) WHERE c.customer_token IS NULL")
        assert cur.fetchone() == (0,)


def test_a_token_in_free_text_is_remade_and_an_unknown_one_becomes_a_tag(store):
    with psycopg2.connect(store.dsn) as conn, conn.cursor() as cur:
        old = keys.hasher(conn, store.master_key, keys.PSEUDONYM, create=False)
        cur.execute("SELECT c.name_token, i.interaction_token FROM analytics.interactions i JOIN analytics.customers c "
                    "USING (branch_id, customer_token) WHERE c.name_token IS NOT NULL LIMIT 1")
        name_token, interaction = cur.fetchone()
        stranger = pseudonym(old, "PERSON", "路人甲")  # someone the vault does not hold
        cur.execute("UPDATE analytics.interactions SET note_masked = %s WHERE interaction_token = %s",
                    (f"客户{name_token}来电，代{stranger}咨询", interaction))
        cur.execute("SELECT row_hash FROM analytics.interactions WHERE interaction_token = %s", (interaction,))
        row_hash = bytes(cur.fetchone()[0])
    done = _retokenise(store)
    assert done["tables"]["interactions"]["texts"] == 1
    with psycopg2.connect(store.dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT i.note_masked, c.name_token FROM analytics.interactions i JOIN analytics.customers c "
                    "USING (branch_id, customer_token) WHERE i.row_hash = %s", (row_hash,))
        note, new_name_token = cur.fetchone()
    assert note == f"客户{new_name_token}来电，代<个人信息>咨询" and new_name_token != name_token


def test_a_rerun_is_a_no_op_and_a_killed_run_changed_nothing(store, monkeypatch):
    before, key = _tier(store.dsn), _key_id(store.dsn)
    calls = []
    real = retokenise._update

    def killed_after_two_tables(conn, entity, columns):
        calls.append(entity)
        if len(calls) == 3:
            conn.close()  # as if the worker died mid-transaction: the server rolls it back
            raise psycopg2.OperationalError("server closed the connection unexpectedly")
        return real(conn, entity, columns)

    monkeypatch.setattr(retokenise, "_update", killed_after_two_tables)
    with pytest.raises(psycopg2.Error):
        _retokenise(store)
    assert _tier(store.dsn) == before and _key_id(store.dsn) == key  # nothing changed, nothing half-done
    monkeypatch.setattr(retokenise, "_update", real)

    first = _retokenise(store)
    after, new_key = _tier(store.dsn), _key_id(store.dsn)
    assert after != before and new_key != key
    again = _retokenise(store)
    assert again["already_done"] and again["new_pseudonym_key_id"] == first["new_pseudonym_key_id"]
    assert _tier(store.dsn) == after and _key_id(store.dsn) == new_key


def test_a_dry_run_counts_and_changes_nothing(store):
    before, key = _tier(store.dsn), _key_id(store.dsn)
    done = _retokenise(store, dry_run=True)
    assert not done["retokenised"] and done["token_cells"] > 1000
    assert done["tables"]["customers"]["tokens"]["customer_token"] == done["tables"]["customers"]["rows"]
    assert _tier(store.dsn) == before and _key_id(store.dsn) == key


def test_a_transfer_after_retokenising_writes_no_row(store, master_key_text, sample_contract, sample_export,
                                                     tmp_path):
    _retokenise(store)
    after = _tier(store.dsn)
    folder, _ = sample_export
    local_run.run_all(run_context(store.dsn, master_key_text, sample_contract, folder, tmp_path / "again",
                                  "run-after-retokenise", recipient="受让方数据部 D-07"))
    assert _tier(store.dsn) == after  # the same keys under the new key: every row found, none rewritten


def test_refused_while_a_transfer_runs_and_nothing_changed(store):
    before, key = _tier(store.dsn), _key_id(store.dsn)
    with psycopg2.connect(store.dsn) as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO ops.runs (run_id, branch_id, contract_sha256, mode, status) "
                    "VALUES ('run-live', %s, 'x', 'full', 'running')", (BRANCH,))
    with pytest.raises(incident.IncidentError, match="run-live"):
        _retokenise(store)
    assert _tier(store.dsn) == before and _key_id(store.dsn) == key


def test_in_small_chunks_every_token_is_remade_too(store):
    """Chunks of 7 vault rows (and texts): the map is built across many fetches, the texts updated in several
    batches — the result holds as in one chunk."""
    before, joins = _tier(store.dsn), _joined(store.dsn)
    with psycopg2.connect(store.dsn) as conn, conn.cursor() as cur:
        old = keys.hasher(conn, store.master_key, keys.PSEUDONYM, create=False)
        cur.execute("UPDATE analytics.interactions i SET note_masked = '见' || c.name_token FROM analytics.customers c "
                    "WHERE c.branch_id = i.branch_id AND c.customer_token = i.customer_token "
                    "AND c.name_token IS NOT NULL")
        texts = cur.rowcount
    assert texts > 20 and old is not None
    with psycopg2.connect(store.dsn) as conn:
        done = retokenise.retokenise(conn, store.master_key, chunk=7)
        conn.commit()
    assert done["old_left"] == done["unresolved"] == 0 and done["tables"]["interactions"]["texts"] == texts
    assert not _tokens(before) & _tokens(_tier(store.dsn)) and _joined(store.dsn) == joins
    with psycopg2.connect(store.dsn) as conn, conn.cursor() as cur:  # each note names its customer's new token
        cur.execute("SELECT count(*) FROM analytics.interactions i JOIN analytics.customers c USING "
                    "(branch_id, customer_token) WHERE i.note_masked = '见' || c.name_token")
        assert cur.fetchone() == (texts,)
