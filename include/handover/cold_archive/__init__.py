"""The cold archive of inactive customers (归档与存档): customers without activity for the period the
retention schedule's class ``archive_inactive`` names leave the hot tables — ``vault`` and ``analytics``,
the customer and every row of his (accounts, cards, transactions, interactions, earlier versions) — for
one sealed object per branch and month (`handover.cold_archive.sealed`), indexed in the store
(``control.cold_archive_index``: the customer's keyed hashes, the blind index's) so that he is found
without opening anything.

- **Archive** (:func:`archive_branch`): the object is written and indexed first (``written``); then the
  hot rows go, in one transaction that checks they are exactly the rows archived (``complete``). Killed in
  between, a re-run finds the written object and only finishes the deletion; the same month again finds
  the complete object and changes nothing.
- **Restore** (:func:`restore`): one customer, or every archived customer of a branch, back into the vault
  and the analytics tier in one transaction, counts reconciled with the index. A restored customer is
  active again: not archived before the period has run once more since the restore (his retention
  anchors are not moved: a restore is no activity of his). A customer a tombstone names never comes back;
  one whose processing stopped comes back to the vault only.
- **Erasure and retention** (:func:`mark_erased`, :func:`purge_due`, :func:`rewrite`): an archived customer
  is found by erasure requests through the index (`handover.purge.erasure`), and by the retention purge
  when his whole record is due; he is marked, and the next :func:`rewrite` (nightly, after the erasures)
  writes the object again without him under a new key and shreds the old key (the old parts are deleted
  where Object Lock allows it; otherwise they stay, unreadable). Restored customers leave the object the
  same way: what the archive holds is never also in the hot tables, so never in a backup as well.
- **Check** (:func:`verify`): every object opens with its key, every part's SHA-256 matches, the index
  and the objects agree customer by customer, and each object's key beside its parts opens — the restore
  drill's check of the archive. After the loss of the store's ``control``, :func:`rebuild_index` makes the
  objects' records and the index again from the destination alone.

Nothing here returns or logs a customer value: counts, object ids, dates.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json

from psycopg2 import sql

from handover.cold_archive.sealed import (
    DEFAULT_STORAGE_CLASS,
    ColdArchiveError,
    delete,
    from_parquet,
    put,
    seal,
    to_parquet,
    unseal,
)
from handover.crypto import new_key
from handover.purge.rules import RetentionClass, cutoff, due_date, latest_wait

CLASS = "archive_inactive"  # the retention schedule's class naming the period (keep … after last_activity)
PARENTS_FIRST = ("customers", "accounts", "cards", "transactions", "interactions")
ACCOUNT_LINKED = ("transactions", "cards")  # their customer: their own, else their account's
TABLES = tuple(f"vault.{e}" for e in PARENTS_FIRST) + ("vault.customer_history",) + tuple(
    f"analytics.{e}" for e in PARENTS_FIRST)
OWNER = "_customer"  # the column every part carries: whose row it is
DATE_COLUMN = {"customers": "opened_on", "accounts": "opened_on", "cards": "issued_on", "transactions": "occurred_at",
               "interactions": "occurred_at"}
CLOSED = ("closed", "销户", "已销户", "注销", "已注销", "清户", "结清")

__all__ = ["CLASS", "ColdArchiveError", "archive_branch", "find", "forget", "legal_wait", "mark_erased", "period_rule", "purge_due", "rebuild_index",
           "resolve", "restore", "rewrite", "verify"]


def period_rule(retention: dict[str, dict]) -> RetentionClass:
    """The schedule's ``archive_inactive`` class (a contract's ``retention`` classes): keep hot ``keep``
    after the customer's ``last_activity``."""
    if CLASS not in retention:
        raise ColdArchiveError(f"the retention schedule names no class {CLASS} (keep: how long a customer "
                               "without activity stays in the hot tables; after: last_activity)")
    rule = RetentionClass.from_rule(CLASS, retention[CLASS])
    if rule.after != "last_activity":
        raise ColdArchiveError(f"retention class {CLASS}: after must be last_activity, not {rule.after}")
    return rule


def _columns(cur, table: str) -> list[tuple[str, str]]:
    cur.execute("SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = %s::regclass "
                "AND attnum > 0 AND NOT attisdropped ORDER BY attnum", (table,))
    return cur.fetchall()


def _owner(entity: str) -> str:
    return "coalesce(r.customer_id, acc.customer_id)" if entity in ACCOUNT_LINKED else "r.customer_id"


def _join(entity: str) -> str:
    return ("LEFT JOIN vault.accounts acc ON acc.branch_id = r.branch_id AND acc.account_id = r.account_id "
            if entity in ACCOUNT_LINKED else "")


def _picked(table: str) -> tuple[str, str]:
    """(FROM … WHERE, owner expression) selecting ``table``'s rows of the customers in ``cold_pick``."""
    schema, name = table.split(".")
    if name == "customer_history":
        return ("vault.customer_history r WHERE r.branch_id = %(b)s AND r.customer_id IN "
                "(SELECT customer_id FROM cold_pick)"), "r.customer_id"
    if schema == "analytics":
        return (f"analytics.{name} r JOIN cold_hashes h ON h.entity = '{name}' AND h.row_hash = r.row_hash "
                "WHERE r.branch_id = %(b)s"), "h.customer_id"
    return (f"vault.{name} r {_join(name)}WHERE r.branch_id = %(b)s AND {_owner(name)} IN "
            "(SELECT customer_id FROM cold_pick)"), _owner(name)


def _pick(cur, branch: str, customers: list[str]) -> None:
    cur.execute("CREATE TEMP TABLE IF NOT EXISTS cold_pick (customer_id text COLLATE \"C\" PRIMARY KEY)")
    cur.execute("CREATE TEMP TABLE IF NOT EXISTS cold_hashes (entity text, row_hash bytea, customer_id text)")
    cur.execute("TRUNCATE cold_pick, cold_hashes")
    if customers:
        cur.execute("INSERT INTO cold_pick SELECT unnest(%s::text[])", (customers,))
    for entity in PARENTS_FIRST:  # the analytics rows are the vault rows' (same content hash)
        cur.execute(f"INSERT INTO cold_hashes SELECT %(e)s, r.row_hash, {_owner(entity)} FROM vault.{entity} r "
                    f"{_join(entity)}WHERE r.branch_id = %(b)s AND {_owner(entity)} IN (SELECT customer_id FROM cold_pick)",
                    {"e": entity, "b": branch})


def _key_id(object_id: str, key: bytes) -> str:
    return hashlib.sha256(b"handover/cold-archive\x00" + object_id.encode() + hashlib.sha256(key).digest()).hexdigest()[:16]


def _purpose(object_id: str) -> str:
    return f"cold_archive:{object_id}"


def _part_name(object_id: str, table: str) -> str:
    return f"cold/{object_id}/{table}.parquet.enc"


def _key_name(object_id: str) -> str:
    return f"keys/cold/{object_id}.key"


def wrapped_keys(cur, *, lock: bool = False) -> list[tuple[str, str, bytes]]:
    """(object, purpose, wrapped key) of every object not shredded — for a rotation of the master key."""
    cur.execute("SELECT object_id, wrapped_key FROM control.cold_archive_objects WHERE wrapped_key IS NOT NULL "
                "ORDER BY 1" + (" FOR UPDATE" if lock else ""))
    return [(o, _purpose(o), bytes(w)) for o, w in cur.fetchall()]


def put_key(dest, object_id: str, wrapped: bytes) -> None:
    """The object's wrapped key beside its parts (never locked: it must stay deletable to shred the object)."""
    put(dest, _key_name(object_id), wrapped, storage_class=None, lock_mode=None)


def _inactive(cur, branch: str, bound: dt.date, held: set[tuple[str, str]]) -> list[str]:
    """The branch's customers whose last activity is on or before ``bound`` — not held, not in the archive
    already, not restored since ``bound``."""
    cur.execute("""
        SELECT a.customer_id FROM ops.activity a
        JOIN vault.customers c ON c.branch_id = a.branch_id AND c.customer_id = a.customer_id
        WHERE a.branch_id = %(b)s AND a.last_activity <= %(bound)s
          AND NOT EXISTS (SELECT 1 FROM control.cold_archive_index i WHERE i.branch_id = a.branch_id
                          AND i.customer_id = a.customer_id AND (i.state = 'archived' OR (i.state = 'restored'
                          AND (i.restored_at AT TIME ZONE 'Asia/Shanghai')::date > %(bound)s)))
        ORDER BY 1""", {"b": branch, "bound": bound})
    return [c for (c,) in cur.fetchall() if (branch, c) not in held]


def _anchors(cur, branch: str) -> dict[str, dict]:
    """Per picked customer: what the retention rules anchor on — each entity's latest own date, whether
    the relationship has ended (no open account) — so that the purge and erasures can decide about him
    without opening the object."""
    out: dict[str, dict] = {}
    for entity in PARENTS_FIRST:
        column = DATE_COLUMN[entity]
        cur.execute(f"SELECT {_owner(entity)}, max(coalesce(r.{column}::date, r.loaded_at::date)), count(*) "
                    f"FROM vault.{entity} r {_join(entity)}WHERE r.branch_id = %(b)s AND {_owner(entity)} IN "
                    "(SELECT customer_id FROM cold_pick) GROUP BY 1", {"b": branch})
        for customer, latest, _ in cur.fetchall():
            out.setdefault(customer, {})[entity] = latest.isoformat() if latest else None
    cur.execute("SELECT p.customer_id, NOT EXISTS (SELECT 1 FROM vault.accounts x WHERE x.branch_id = %(b)s AND "
                "x.customer_id = p.customer_id AND coalesce(lower(x.status), '') <> ALL(%(closed)s)) FROM cold_pick p",
                {"b": branch, "closed": list(CLOSED)})
    for customer, ended in cur.fetchall():
        out.setdefault(customer, {})["relationship_ended"] = ended
    return out


def _read_parts(cur, branch: str) -> dict[str, tuple[list[tuple[str, str]], list[tuple]]]:
    parts = {}
    for table in TABLES:
        columns = _columns(cur, table)
        source, owner = _picked(table)
        select = ", ".join(f"r.{n}" if t == "bytea" else f"r.{n}::text" for n, t in columns)
        cur.execute(f"SELECT {owner}, {select} FROM {source} ORDER BY 1, 2, 3", {"b": branch})
        parts[table] = ([(OWNER, "text"), *columns], cur.fetchall())
    return parts


def _seal_parts(dest, object_id: str, key: bytes, parts: dict, storage: dict) -> tuple[dict, dict]:
    """Every part (a table's columns and rows) as Parquet, sealed under the object's key and stored: what
    each part is (its seal's facts, name, rows) and where the last one went."""
    described, where = {}, {}
    for table, (columns, rows) in parts.items():
        name = _part_name(object_id, table)
        cipher, info = seal(to_parquet(columns, rows), key, object_id, name)
        where = put(dest, name, cipher, **storage)
        described[table] = info | {"name": name, "rows": len(rows)}
    return described, where


def _write_object(conn, dest, master, object_id: str, branch: str, key: bytes,
                  parts: dict, index: list[tuple], storage: dict) -> None:
    """Seal and store every part, then record the parts and the index (state ``written``)."""
    described, where = _seal_parts(dest, object_id, key, parts, storage)
    put_key(dest, object_id, master.wrap(key, _purpose(object_id)))
    with conn.cursor() as cur:
        cur.executemany("INSERT INTO control.cold_archive_index (object_id, branch_id, customer_id, customer_digest, "
                        "mobile_bidx, id_number_bidx, state, last_activity, anchors, rows) VALUES "
                        "(%s, %s, %s, %s, %s, %s, 'archived', %s, %s, %s) ON CONFLICT DO NOTHING", index)
        cur.execute("UPDATE control.cold_archive_objects SET state = 'written', parts = %s, customers = %s, "
                    "storage = %s, next_due_on = %s WHERE object_id = %s",
                    (json.dumps(described), len(index), json.dumps(where), None, object_id))
    conn.commit()


def _counts(parts: dict) -> dict[str, dict[str, int]]:
    per: dict[str, dict[str, int]] = {}
    for table, (_, rows) in parts.items():
        for row in rows:
            per.setdefault(row[0], {}).setdefault(table, 0)
            per[row[0]][table] += 1
    return per


def _delete_hot(cur, branch: str, expected: dict[str, int]) -> dict[str, int]:
    """Delete the picked customers' hot rows, children first; each table's count must be the archived one."""
    gone: dict[str, int] = {}
    for table in [f"analytics.{e}" for e in reversed(PARENTS_FIRST)] + ["vault.customer_history"] + [
            f"vault.{e}" for e in reversed(PARENTS_FIRST)]:
        cur.execute(_delete_statement(table), {"b": branch})
        gone[table] = cur.rowcount
    cur.execute("DELETE FROM ops.activity WHERE branch_id = %(b)s AND customer_id IN (SELECT customer_id FROM cold_pick)",
                {"b": branch})
    wrong = sorted(t for t in set(gone) | set(expected) if gone.get(t, 0) != expected.get(t, 0))
    if wrong:
        raise ColdArchiveError(f"branch {branch}: the hot rows of the archived customers are not the rows archived "
                               f"({', '.join(f'{t}: {gone.get(t, 0)} here, {expected.get(t, 0)} archived' for t in wrong)}); "
                               "nothing was deleted — they changed since the object was written: run the archive again")
    return gone


def _delete_statement(table: str) -> str:
    schema, name = table.split(".")
    if name == "customer_history":
        return ("DELETE FROM vault.customer_history WHERE branch_id = %(b)s AND customer_id IN "
                "(SELECT customer_id FROM cold_pick)")
    if schema == "analytics":
        return (f"DELETE FROM analytics.{name} r USING cold_hashes h WHERE r.branch_id = %(b)s AND "
                f"h.entity = '{name}' AND h.row_hash = r.row_hash")
    if name in ACCOUNT_LINKED:
        return (f"DELETE FROM vault.{name} r USING (SELECT r.branch_id, r.{_key(name)} FROM vault.{name} r "
                f"{_join(name)}WHERE r.branch_id = %(b)s AND {_owner(name)} IN (SELECT customer_id FROM cold_pick)) d "
                f"WHERE r.branch_id = d.branch_id AND r.{_key(name)} = d.{_key(name)}")
    return f"DELETE FROM vault.{name} r WHERE r.branch_id = %(b)s AND r.customer_id IN (SELECT customer_id FROM cold_pick)"


def _key(entity: str) -> str:
    from handover import canonical

    return canonical.ENTITIES[entity].key


def _finish(conn, object_id: str, branch: str) -> dict[str, int]:
    """The second step: the archived customers' hot rows out, in one transaction, reconciled."""
    with conn.cursor() as cur:
        cur.execute("SELECT state FROM control.cold_archive_objects WHERE object_id = %s FOR UPDATE", (object_id,))
        (state,) = cur.fetchone()
        if state != "written":
            conn.rollback()
            return {}
        cur.execute("SELECT customer_id, rows FROM control.cold_archive_index WHERE object_id = %s AND state = 'archived'",
                    (object_id,))
        index = cur.fetchall()
        customers = [c for c, _ in index]
        cur.execute("SELECT count(*) FROM vault.customers WHERE branch_id = %s AND customer_id = ANY(%s)",
                    (branch, customers))
        present = cur.fetchone()[0]
        gone: dict[str, int] = {}
        if present:  # a run killed before this step, or a backup restored since: their hot rows go now
            _pick(cur, branch, customers)
            expected: dict[str, int] = {}
            for _, rows in index:
                for table, n in rows.items():
                    expected[table] = expected.get(table, 0) + n
            cur.execute("SAVEPOINT finish")
            try:
                gone = _delete_hot(cur, branch, expected)
            except ColdArchiveError:
                # some changed since the object was written (a load in between): they stay hot and leave the
                # object at the next rewrite, as a restored customer does; the others go now
                cur.execute("ROLLBACK TO SAVEPOINT finish")
                gone = _one_by_one(cur, object_id, branch, index)
        cur.execute("UPDATE control.cold_archive_objects SET state = 'complete', completed_at = clock_timestamp() "
                    "WHERE object_id = %s", (object_id,))
    conn.commit()
    return gone


def _one_by_one(cur, object_id: str, branch: str, index: list[tuple[str, dict]]) -> dict[str, int]:
    gone: dict[str, int] = {"changed_since_written": 0}
    for customer, rows in index:
        cur.execute("SAVEPOINT one")
        _pick(cur, branch, [customer])
        try:
            for table, n in _delete_hot(cur, branch, rows).items():
                gone[table] = gone.get(table, 0) + n
        except ColdArchiveError:
            cur.execute("ROLLBACK TO SAVEPOINT one")
            cur.execute("UPDATE control.cold_archive_index SET state = 'restored', restored_at = clock_timestamp() "
                        "WHERE object_id = %s AND customer_id = %s", (object_id, customer))
            gone["changed_since_written"] += 1
    return gone


def archive_branch(conn, dest, master, hasher, branch: str, rule: RetentionClass, today: dt.date, *,
                   held: set[tuple[str, str]] | frozenset = frozenset(), storage: dict | None = None,
                   stop_after_write: bool = False) -> dict:
    """Archive the branch's inactive customers of ``today``'s month (one object: ``<branch>/<YYYY-MM>``).
    Counts only. ``stop_after_write``: leave the object written and the hot rows in place (what a run
    killed between the two steps leaves; tests)."""
    from handover.purge.store import refresh_activity

    period = today.strftime("%Y-%m")
    storage = {"storage_class": DEFAULT_STORAGE_CLASS} | (storage or {})
    with conn.cursor() as cur:
        cur.execute("SELECT object_id, state FROM control.cold_archive_objects WHERE branch_id = %s AND period = %s "
                    "ORDER BY generation", (branch, period))
        existing = cur.fetchall()
    settled = _settle_reappeared(conn, branch)
    for object_id, state in existing:
        if state == "writing":  # killed while writing: its parts may be half there; start over
            _drop_object(conn, dest, object_id)
        elif state == "written":
            gone = {} if stop_after_write else _finish(conn, object_id, branch)
            return {"branch_id": branch, "period": period, "object": object_id, "resumed": True,
                    "deleted": gone, "customers": _customers(conn, object_id), "settled": settled}
        else:
            return {"branch_id": branch, "period": period, "object": object_id, "unchanged": not settled,
                    "customers": _customers(conn, object_id), "settled": settled}
    bound = cutoff(today, rule.keep)
    with conn.cursor() as cur:
        refresh_activity(cur, branch)
        conn.commit()
        customers = _inactive(cur, branch, bound, set(held))
        if not customers:
            return {"branch_id": branch, "period": period, "object": None, "customers": 0,
                    "cutoff": bound.isoformat(), "settled": settled}
        object_id = f"{branch}/{period}/g1"
        key = new_key()
        cur.execute("INSERT INTO control.cold_archive_objects (object_id, branch_id, period, generation, state, key_id, "
                    "wrapped_key, master_key_id) VALUES (%s, %s, %s, 1, 'writing', %s, %s, %s)",
                    (object_id, branch, period, _key_id(object_id, key), master.wrap(key, _purpose(object_id)),
                     master.key_id))
        conn.commit()  # the key is recorded before any part exists: no part is ever written under a lost key
        _pick(cur, branch, customers)
        parts = _read_parts(cur, branch)
        anchors = _anchors(cur, branch)
        cur.execute("SELECT c.customer_id, c.mobile_bidx, c.id_number_bidx, a.last_activity FROM vault.customers c "
                    "JOIN ops.activity a ON a.branch_id = c.branch_id AND a.customer_id = c.customer_id "
                    "WHERE c.branch_id = %s AND c.customer_id = ANY(%s)", (branch, customers))
        found = {c: (m, i, la) for c, m, i, la in cur.fetchall()}
        conn.rollback()  # the reads only (temp tables stay)
    per = _counts(parts)
    digests = dict(zip(customers, hasher.digest_many("customer_id", [f"{branch}\x1f{c}" for c in customers]),
                       strict=True))
    index = []
    for c in customers:
        mobile, id_number, last = found[c]
        index.append((object_id, branch, c, digests[c], mobile, id_number, last,
                      json.dumps(anchors.get(c, {})), json.dumps(per.get(c, {}))))
    _write_object(conn, dest, master, object_id, branch, key, parts, index, storage)
    from handover.purge.store import classes

    with conn.cursor() as cur:
        entries = {c: (found[c][2], anchors.get(c, {})) for c in customers}
        cur.execute("UPDATE control.cold_archive_objects SET next_due_on = %s WHERE object_id = %s",
                    (_next_row_due(parts, classes(cur), branch, entries, None), object_id))
    conn.commit()
    from handover import faults

    faults.point("cold_archive.after_write")
    out = {"branch_id": branch, "period": period, "object": object_id, "customers": len(customers),
           "cutoff": bound.isoformat(), "rows": {t: len(rows) for t, (_, rows) in parts.items()}, "settled": settled}
    if not stop_after_write:
        out["deleted"] = _finish(conn, object_id, branch)
    return out


def _settle_reappeared(conn, branch: str) -> dict[str, int]:
    """Archived customers back in the hot tables without a restore — a backup taken before they were archived
    has been restored: their hot rows go again. Only where they are the rows archived: one loaded again with
    other rows stays where he is, counted as a conflict for a person to settle (restore or erase)."""
    with conn.cursor() as cur:
        cur.execute("SELECT i.object_id, i.customer_id, i.rows FROM control.cold_archive_index i JOIN "
                    "control.cold_archive_objects o USING (object_id) WHERE o.state = 'complete' AND i.branch_id = %s "
                    "AND i.state = 'archived' AND EXISTS (SELECT 1 FROM vault.customers c WHERE c.branch_id = i.branch_id "
                    "AND c.customer_id = i.customer_id)", (branch,))
        back = cur.fetchall()
        settled = 0
        for _, customer, rows in back:  # one at a time: one whose rows changed does not hold up the rest
            cur.execute("SAVEPOINT settle")
            _pick(cur, branch, [customer])
            try:
                _delete_hot(cur, branch, rows)
                settled += 1
            except ColdArchiveError:  # loaded again with other rows: he stays hot and archived, counted
                cur.execute("ROLLBACK TO SAVEPOINT settle")
    conn.commit()
    return {"settled": settled, "conflicts": len(back) - settled} if back else {}


def _customers(conn, object_id: str) -> int:
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM control.cold_archive_index WHERE object_id = %s AND state = 'archived'",
                    (object_id,))
        return cur.fetchone()[0]


def _due_on(rules: dict, branch: str, last_activity: dt.date | None, anchors: dict) -> dt.date | None:
    """The day every record of an archived customer is due by his branch's classes (the latest of his
    entities' due days); None while one never is (an open account under relationship_end)."""
    latest = None
    for entity in PARENTS_FIRST:
        if entity not in anchors:
            continue
        rule = rules.get((branch, entity))
        if rule is None:
            return None
        if rule.after in ("last_activity", "relationship_end"):
            if rule.after == "relationship_end" and not anchors.get("relationship_ended"):
                return None
            anchor = last_activity
        else:
            anchor = dt.date.fromisoformat(anchors[entity]) if anchors[entity] else None
        if anchor is None:
            return None
        day = due_date(anchor, rule.keep)
        latest = day if latest is None or day > latest else latest
    return latest


def legal_wait(rules: dict, branch: str, last_activity: dt.date | None, anchors: dict,
               today: dt.date) -> tuple[str, dt.date] | None:
    """As `handover.purge.erasure`'s for a hot customer: a class with a legal basis whose period has not
    run for this archived customer — (why, the day it has)."""
    waits = []
    for entity in PARENTS_FIRST:
        rule = rules.get((branch, entity))
        if entity not in anchors or rule is None or not rule.basis:
            continue
        if rule.after == "relationship_end" and not anchors.get("relationship_ended"):
            return rule.open_relationship_wait(today)
        anchor = last_activity if rule.after in ("last_activity", "relationship_end") else (
            dt.date.fromisoformat(anchors[entity]) if anchors[entity] else None)
        waits.append(rule.legal_wait(entity, anchor, today))
    return latest_wait(waits)


def resolve(cur, kind: str, wanted: bytes, branch: str | None) -> list[dict]:
    """The archived customers a keyed hash names (the blind index's digests): branch, customer, object,
    and what the retention rules need — never opening an object."""
    column = {"customer_id": "customer_digest", "mobile": "mobile_bidx", "id_number": "id_number_bidx"}[kind]
    cur.execute(f"SELECT branch_id, customer_id, object_id, last_activity, anchors, rows, archived_at "
                f"FROM control.cold_archive_index WHERE state = 'archived' AND {column} = %s"
                + (" AND branch_id = %s" if branch else "") + " ORDER BY 1, 2",
                (bytes(wanted), branch) if branch else (bytes(wanted),))
    names = ("branch_id", "customer_id", "object_id", "last_activity", "anchors", "rows", "archived_at")
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def find(conn, hasher, kind: str, value: str, branch: str | None = None) -> list[dict]:
    """Archived customers by identifier (as `handover erase` takes it), through the index alone."""
    from handover.purge import erasure

    with conn.cursor() as cur:
        found = resolve(cur, kind, erasure.digest(hasher, kind, value, branch), branch)
    conn.rollback()
    return [{"branch_id": f["branch_id"], "customer_id": f["customer_id"], "object": f["object_id"],
             "archived_on": f["archived_at"].date().isoformat(),
             "last_activity": f["last_activity"].isoformat() if f["last_activity"] else None,
             "rows": sum(f["rows"].values())} for f in found]


def identifiers(cur, branch: str, customer: str) -> list[tuple[str, bytes]]:
    cur.execute("SELECT customer_digest, mobile_bidx, id_number_bidx FROM control.cold_archive_index WHERE "
                "branch_id = %s AND customer_id = %s AND state = 'archived'", (branch, customer))
    out = set()
    for digest, mobile, id_number in cur.fetchall():
        out |= {("customer_id", bytes(digest))} | ({("mobile", bytes(mobile))} if mobile else set()) | (
            {("id_number", bytes(id_number))} if id_number else set())
    return sorted(out)


def mark_erased(cur, branch: str, customer: str, state: str = "erased") -> int:
    """An archived customer erased (or purged): out of the index's findings now, out of the object at the
    next :func:`rewrite`. Does not commit (the erasure's transaction)."""
    cur.execute("UPDATE control.cold_archive_index SET state = %s WHERE branch_id = %s AND customer_id = %s "
                "AND state = 'archived'", (state, branch, customer))
    return cur.rowcount


def forget(cur, branch: str, customer: str) -> int:
    """An erased customer, archived or restored from the archive: every index row of his goes, or — where an
    object still holds him — is marked erased, so that the next :func:`rewrite` writes the object without him
    and then drops the row. Does not commit."""
    cur.execute("DELETE FROM control.cold_archive_index i USING control.cold_archive_objects o WHERE "
                "o.object_id = i.object_id AND o.state = 'replaced' AND i.branch_id = %s AND i.customer_id = %s",
                (branch, customer))
    n = cur.rowcount
    cur.execute("UPDATE control.cold_archive_index SET state = 'erased' WHERE branch_id = %s AND customer_id = %s "
                "AND state IN ('archived', 'restored')", (branch, customer))
    return n + cur.rowcount


def purge_due(conn, today: dt.date, *, held_branches: set[str] = frozenset(),
              held_customers: set[tuple[str, str]] = frozenset(), dry_run: bool = False) -> dict:
    """Archived customers whose every record is due today by their branch's classes: marked purged (the
    next :func:`rewrite` takes them out of their object). Only objects whose ``next_due_on`` has come are
    looked at."""
    from handover.purge.store import classes

    n = 0
    with conn.cursor() as cur:
        rules = classes(cur)
        cur.execute("SELECT i.branch_id, i.customer_id, i.last_activity, i.anchors FROM control.cold_archive_index i "
                    "JOIN control.cold_archive_objects o USING (object_id) WHERE i.state = 'archived' "
                    "AND o.next_due_on <= %s", (today,))
        for branch, customer, last, anchors in cur.fetchall():
            day = _due_on(rules, branch, last, anchors)
            if day is not None and day <= today and branch not in held_branches \
                    and (branch, customer) not in held_customers:
                n += mark_erased(cur, branch, customer, "purged")
    if dry_run:
        conn.rollback()
    else:
        conn.commit()
    return {"class": "cold_archive", "rule": "an archived customer goes when all his records are due",
            "deleted": n}


def _open(conn, dest, master, object_id: str) -> tuple[bytes, dict]:
    with conn.cursor() as cur:
        cur.execute("SELECT wrapped_key, parts FROM control.cold_archive_objects WHERE object_id = %s", (object_id,))
        row = cur.fetchone()
    if row is None or row[0] is None:
        raise ColdArchiveError(f"archive object {object_id}: its key is shredded or it is unknown")
    from handover.crypto import KeyringError

    try:
        return master.unwrap(bytes(row[0]), _purpose(object_id)), row[1]
    except KeyringError as exc:
        raise ColdArchiveError(f"archive object {object_id}: {exc}") from None


def _load(dest, key: bytes, object_id: str, part: dict) -> tuple[list[tuple[str, str]], list[tuple]]:
    return from_parquet(unseal(dest, key, object_id, part["name"], part["plain_sha256"]))


def restore(conn, dest, master, hasher, *, branch: str, customer: str | None = None,
            stones: list[tuple[str, bytes]] | None = None) -> dict:
    """Bring one archived customer (or all of ``branch``'s) back into the vault and analytics, in one
    transaction, each table's count checked against the index. Tombstoned customers stay out (and are
    marked erased); stopped ones get no analytics rows."""
    with conn.cursor() as cur:
        cur.execute("SELECT object_id, customer_id, rows, customer_digest, mobile_bidx, id_number_bidx "
                    "FROM control.cold_archive_index WHERE branch_id = %s AND state = 'archived'"
                    + (" AND customer_id = %s" if customer else "") + " ORDER BY 1, 2",
                    (branch, customer) if customer else (branch,))
        entries = cur.fetchall()
        if customer and not entries:
            raise ColdArchiveError(f"branch {branch}: that customer is not in the archive (`handover archive find` "
                                   "finds archived customers by identifier)")
        cur.execute("SELECT kind, digest FROM control.tombstones")
        erased = {(k, bytes(d)) for k, d in cur.fetchall()} | set(stones or [])
        cur.execute("SELECT customer_id FROM control.processing_stopped WHERE branch_id = %s", (branch,))
        stopped = {c for (c,) in cur.fetchall()}
        by_object: dict[str, list] = {}
        refused = []
        for object_id, c, rows, digest, mobile, id_number in entries:
            ids = {("customer_id", bytes(digest))} | ({("mobile", bytes(mobile))} if mobile else set()) | (
                {("id_number", bytes(id_number))} if id_number else set())
            if ids & erased:
                refused.append(c)
                mark_erased(cur, branch, c)
            else:
                by_object.setdefault(object_id, []).append((c, rows))
        restored: dict[str, int] = {}
        cur.execute("SELECT count(*) FROM vault.customers WHERE branch_id = %s AND customer_id = ANY(%s)",
                    (branch, sorted({c for v in by_object.values() for c, _ in v})))
        if cur.fetchone()[0]:
            conn.rollback()
            raise ColdArchiveError(f"branch {branch}: a customer to restore is in the hot tables already (loaded "
                                   "again since he was archived): nothing was restored — the next customer_archive "
                                   "run settles a customer a backup restore brought back")
        for object_id, wanted in by_object.items():
            key, parts = _open(conn, dest, master, object_id)
            names = {c for c, _ in wanted}
            expected: dict[str, int] = {}
            for c, rows in wanted:
                for table, n in rows.items():
                    if not (table.startswith("analytics.") and c in stopped):
                        expected[table] = expected.get(table, 0) + n
            for table in TABLES:  # parents first
                columns, rows = _load(dest, key, object_id, parts[table])
                mine = [r[1:] for r in rows if r[0] in names and not (table.startswith("analytics.") and r[0] in stopped)]
                if mine:
                    types = dict(_columns(cur, table))
                    cols = [c for c, _ in columns[1:]]
                    template = sql.SQL("({})").format(sql.SQL(", ").join(
                        sql.SQL("%s::{}").format(sql.SQL(types[c])) for c in cols))
                    from psycopg2.extras import execute_values

                    execute_values(cur, sql.SQL("INSERT INTO {} ({}) VALUES %s").format(
                        sql.SQL(table), sql.SQL(", ").join(map(sql.Identifier, cols))).as_string(conn),
                        mine, template=template.as_string(conn), page_size=1000)
                restored[table] = restored.get(table, 0) + len(mine)
            wrong = [t for t in TABLES if restored.get(t, 0) < expected.get(t, 0)]
            if wrong:
                conn.rollback()
                raise ColdArchiveError(f"archive object {object_id}: it holds fewer rows than its index counts "
                                       f"({', '.join(wrong)}); nothing was restored")
            cur.execute("INSERT INTO ops.activity (branch_id, customer_id, last_activity) SELECT branch_id, "
                        "customer_id, last_activity FROM control.cold_archive_index WHERE object_id = %s AND "
                        "customer_id = ANY(%s) AND last_activity IS NOT NULL ON CONFLICT (branch_id, customer_id) "
                        "DO UPDATE SET last_activity = greatest(ops.activity.last_activity, EXCLUDED.last_activity)",
                        (object_id, sorted(names)))
            cur.execute("UPDATE control.cold_archive_index SET state = 'restored', restored_at = clock_timestamp() "
                        "WHERE object_id = %s AND customer_id = ANY(%s) AND state = 'archived'",
                        (object_id, sorted(names)))
        # expected == restored, table by table (checked above per object)
    conn.commit()
    return {"branch_id": branch, "customers": sum(len(v) for v in by_object.values()), "rows": restored,
            "refused_erased": len(refused)}


def _drop_object(conn, dest, object_id: str) -> None:
    with conn.cursor() as cur:
        cur.execute("SELECT parts FROM control.cold_archive_objects WHERE object_id = %s", (object_id,))
        for table in TABLES:
            delete(dest, _part_name(object_id, table))
        delete(dest, _key_name(object_id))
        cur.execute("DELETE FROM control.cold_archive_index WHERE object_id = %s", (object_id,))
        cur.execute("DELETE FROM control.cold_archive_objects WHERE object_id = %s", (object_id,))
    conn.commit()


def _due_day(rules: dict, branch: str, table: str, idx: dict[str, int], row: tuple,
             entry: tuple[dt.date | None, dict]) -> dt.date | None:
    """The day an archived row is due by its branch's classes, as `handover.purge.store` decides for a hot
    one (None: never, as things stand); analytics rows go with their vault rows."""
    schema, name = table.split(".")
    if schema != "vault":
        return None
    last, anchors = entry
    if name == "customer_history":  # kept as its customer's class keeps a record, from the day it was replaced
        rule = rules.get((branch, "customers"))
        value = row[idx["valid_to"]]
        return due_date(dt.date.fromisoformat(value[:10]), rule.keep) if rule and value else None
    rule = rules.get((branch, name))
    if rule is None:
        return None
    if rule.after == "relationship_end":
        anchor = last if anchors.get("relationship_ended") else None
    elif rule.after == "last_activity":
        anchor = last
    else:
        column = "occurred_at" if rule.after == "transaction" and name == "transactions" else DATE_COLUMN[name]
        value = row[idx[column]] or row[idx["loaded_at"]]
        anchor = dt.date.fromisoformat(value[:10]) if value else None
    return due_date(anchor, rule.keep) if anchor else None


def _drop_due(content: dict, rules: dict, branch: str, entries: dict, today: dt.date,
              held: set[str] = frozenset()) -> int:
    """Take out of ``content`` (table → (columns, rows), in place) the rows due ``today``: children first, a
    parent only once none of its children is left, a customer's earlier versions with him; the analytics
    rows of every vault row that goes. The count of vault rows taken out."""
    idx = {t: {c: i for i, (c, _) in enumerate(cols)} for t, (cols, _) in content.items()}
    gone: dict[str, set] = {}
    dropped = 0

    def due(table: str, row: tuple) -> bool:
        if row[0] in held:
            return False
        day = _due_day(rules, branch, table, idx[table], row, entries[row[0]])
        return day is not None and day <= today

    for entity in ("transactions", "interactions", "cards", "accounts", "customers"):
        table = f"vault.{entity}"
        cols, rows = content[table]
        if entity == "accounts":
            parents = {r[idx[f"vault.{c}"]["account_id"]] for c in ("cards", "transactions")
                       for r in content[f"vault.{c}"][1]}
        elif entity == "customers":
            parents = {r[0] for c in ("accounts", "cards", "interactions", "transactions") for r in content[f"vault.{c}"][1]}
        kept = []
        for r in rows:
            if due(table, r) and not (entity == "accounts" and r[idx[table]["account_id"]] in parents) \
                    and not (entity == "customers" and r[0] in parents):
                gone.setdefault(entity, set()).add(r[idx[table]["row_hash"]])
            else:
                kept.append(r)
        dropped += len(rows) - len(kept)
        content[table] = (cols, kept)
    left = {r[0] for r in content["vault.customers"][1]}
    cols, rows = content["vault.customer_history"]
    content["vault.customer_history"] = (cols, [r for r in rows if r[0] in left and not due("vault.customer_history", r)])
    dropped += len(rows) - len(content["vault.customer_history"][1])
    for entity in PARENTS_FIRST:
        table = f"analytics.{entity}"
        cols, rows = content[table]
        content[table] = (cols, [r for r in rows if r[idx[table]["row_hash"]] not in gone.get(entity, set())])
    return dropped


def _next_row_due(content: dict, rules: dict, branch: str, entries: dict, after: dt.date | None) -> dt.date | None:
    """The first day after ``after`` on which a row of ``content`` falls due (:func:`rewrite` opens no object
    before it)."""
    days = []
    for table, (cols, rows) in content.items():
        idx = {c: i for i, (c, _) in enumerate(cols)}
        days += [d for r in rows if r[0] in entries and (d := _due_day(rules, branch, table, idx, r, entries[r[0]]))
                 and (after is None or d > after)]
    return min(days) if days else None


def _entries(cur, object_id: str) -> dict[str, tuple[dt.date | None, dict]]:
    cur.execute("SELECT customer_id, last_activity, anchors FROM control.cold_archive_index WHERE object_id = %s "
                "AND state = 'archived'", (object_id,))
    return {c: (last, anchors) for c, last, anchors in cur.fetchall()}


def rewrite(conn, dest, master, hasher=None, *, storage: dict | None = None, today: dt.date | None = None,
            held_branches: set[str] | frozenset = frozenset(),
            held_customers: set[tuple[str, str]] | frozenset = frozenset()) -> list[dict]:
    """Every complete object that holds a customer no longer archived (erased, purged, restored) or — given
    ``today`` — a row due by its branch's retention classes (from the object's ``next_due_on``): written
    again without them under a new key (the next generation), the index moved to it and recounted, the old
    key shredded (in the store and beside the parts) and the old parts deleted where the bucket lets us.
    Killed midway: the new generation is dropped and made again by the next run; the old one stays until the
    switch, which is one transaction. Legal holds (a branch, a customer) keep their rows however due."""
    from handover.purge.store import classes

    storage = {"storage_class": DEFAULT_STORAGE_CLASS} | (storage or {})
    out = []
    with conn.cursor() as cur:
        rules = classes(cur)
        cur.execute("SELECT o.object_id, o.branch_id, o.period, o.generation, EXISTS (SELECT 1 FROM "
                    "control.cold_archive_index i WHERE i.object_id = o.object_id AND i.state <> 'archived') "
                    "FROM control.cold_archive_objects o WHERE o.state = 'complete' AND (EXISTS (SELECT 1 FROM "
                    "control.cold_archive_index i WHERE i.object_id = o.object_id AND i.state <> 'archived') OR "
                    "o.next_due_on <= %s::date) ORDER BY 1", (today,))
        todo = cur.fetchall()
        cur.execute("SELECT object_id FROM control.cold_archive_objects WHERE state = 'writing' AND generation > 1")
        stale = [r[0] for r in cur.fetchall()]
    conn.rollback()
    for object_id in stale:
        _drop_object(conn, dest, object_id)
    for object_id, branch, period, generation, departed in todo:
        key, parts = _open(conn, dest, master, object_id)
        with conn.cursor() as cur:
            entries = _entries(cur, object_id)
        conn.rollback()
        content = {}
        for table in TABLES:
            columns, rows = _load(dest, key, object_id, parts[table])
            content[table] = (columns, [r for r in rows if r[0] in entries])
        held = {c for c in entries if branch in held_branches or (branch, c) in held_customers}
        dropped = _drop_due(content, rules, branch, entries, today, held) if today else 0
        if not departed and not dropped:  # due rows waiting for their children: look again on the next day due
            with conn.cursor() as cur:
                cur.execute("UPDATE control.cold_archive_objects SET next_due_on = %s WHERE object_id = %s",
                            (_next_row_due(content, rules, branch, entries, today), object_id))
            conn.commit()
            continue
        keep = {r[0] for r in content["vault.customers"][1]}
        per = _counts(content)
        new_id = None
        if keep:
            new_id = f"{branch}/{period}/g{generation + 1}"
            new = new_key()
            with conn.cursor() as cur:
                cur.execute("INSERT INTO control.cold_archive_objects (object_id, branch_id, period, generation, state, "
                            "key_id, wrapped_key, master_key_id) VALUES (%s, %s, %s, %s, 'writing', %s, %s, %s)",
                            (new_id, branch, period, generation + 1, _key_id(new_id, new),
                             master.wrap(new, _purpose(new_id)), master.key_id))
            conn.commit()
            described, where = _seal_parts(dest, new_id, new, content, storage)
            put_key(dest, new_id, master.wrap(new, _purpose(new_id)))
        with conn.cursor() as cur:
            # customers whose every row fell due: purged with the rest
            cur.execute("UPDATE control.cold_archive_index SET state = 'purged' WHERE object_id = %s AND "
                        "state = 'archived' AND NOT (customer_id = ANY(%s))", (object_id, sorted(keep)))
            if new_id:
                cur.execute("UPDATE control.cold_archive_objects SET state = 'complete', parts = %s, customers = %s, "
                            "storage = %s, completed_at = clock_timestamp(), next_due_on = %s WHERE object_id = %s",
                            (json.dumps(described), len(keep), json.dumps(where),
                             _next_row_due(content, rules, branch, entries, today), new_id))
                for customer in sorted(keep):
                    cur.execute("UPDATE control.cold_archive_index SET object_id = %s, rows = %s WHERE object_id = %s "
                                "AND customer_id = %s AND state = 'archived'",
                                (new_id, json.dumps(per.get(customer, {})), object_id, customer))
            cur.execute("SELECT state, count(*) FROM control.cold_archive_index WHERE object_id = %s GROUP BY 1",
                        (object_id,))
            left = dict(cur.fetchall())
            # the erased and purged go from the index (their tombstones keep what must be kept); the restored
            # stay, so that they are not archived again before the period has run since
            cur.execute("DELETE FROM control.cold_archive_index WHERE object_id = %s AND state IN ('erased', 'purged')",
                        (object_id,))
            cur.execute("UPDATE control.cold_archive_objects SET state = 'replaced', replaced_by = %s, "
                        "wrapped_key = NULL, shredded_at = clock_timestamp() WHERE object_id = %s", (new_id, object_id))
        conn.commit()
        deleted = [delete(dest, _part_name(object_id, t)) for t in TABLES]  # every one tried
        removed = all(deleted)
        delete(dest, _key_name(object_id))
        out.append({"object": object_id, "replaced_by": new_id, "kept": len(keep), "left": left,
                    "rows_due": dropped, "old_parts_deleted": removed})
    return out


def rebuild_index(conn, dest, master, hasher) -> dict:
    """After the loss of the store's ``control`` (a recovery onto a new server): the objects and the index
    made again from the destination alone — each object that still has its key beside its parts (a shredded
    one has none), opened with the master key, its customers indexed from what it holds (keyed hashes, rows
    per table, the dates the retention rules anchor on; the last activity as the latest of those dates, which
    may be earlier than the one the lost store had seen). Objects the store knows already are left as they
    are. Counts."""
    from handover.purge.store import classes

    prefix = "keys/cold/"
    objects = customers = 0
    with conn.cursor() as cur:
        rules = classes(cur)
        cur.execute("SELECT object_id FROM control.cold_archive_objects")
        known = {r[0] for r in cur.fetchall()}
    for name in dest.list(prefix):
        object_id = name[len(prefix):-len(".key")]
        if not name.endswith(".key") or object_id in known:
            continue
        from handover.crypto import KeyringError
        wrapped = dest.get(name)
        try:
            key = master.unwrap(wrapped, _purpose(object_id))
        except KeyringError as exc:
            raise ColdArchiveError(f"archive object {object_id}: {exc}") from None
        branch, period, generation = object_id.rsplit("/", 2)
        content, described = {}, {}
        for table in TABLES:
            part = _part_name(object_id, table)
            data = unseal(dest, key, object_id, part)
            content[table] = from_parquet(data)
            described[table] = {"name": part, "rows": len(content[table][1]),
                                "plain_sha256": hashlib.sha256(data).hexdigest()}
        cols, rows = content["vault.customers"]
        idx = {c: i for i, (c, _) in enumerate(cols)}
        per = _counts(content)
        dates: dict[str, dict] = {}
        for entity in PARENTS_FIRST:
            e_cols, e_rows = content[f"vault.{entity}"]
            e_idx = {c: i for i, (c, _) in enumerate(e_cols)}
            for r in e_rows:
                value = r[e_idx[DATE_COLUMN[entity]]] or r[e_idx["loaded_at"]]
                day = value[:10] if value else None
                mine = dates.setdefault(r[0], {})
                if day and (mine.get(entity) is None or day > mine[entity]):
                    mine[entity] = day
        a_cols, a_rows = content["vault.accounts"]
        a_idx = {c: i for i, (c, _) in enumerate(a_cols)}
        open_accounts = {r[0] for r in a_rows if (r[a_idx["status"]] or "").lower() not in CLOSED}
        index = []
        digests = hasher.digest_many("customer_id", [f"{branch}\x1f{r[0]}" for r in rows])
        for r, digest in zip(rows, digests, strict=True):
            anchors = dates.get(r[0], {}) | {"relationship_ended": r[0] not in open_accounts}
            days = [d for k, d in anchors.items() if k != "relationship_ended" and d]
            last = dt.date.fromisoformat(max(days)) if days else None
            index.append((object_id, branch, r[0], digest, r[idx["mobile_bidx"]], r[idx["id_number_bidx"]], last,
                          json.dumps(anchors), json.dumps(per.get(r[0], {}))))
        entries = {i[2]: (i[6], json.loads(i[7])) for i in index}
        with conn.cursor() as cur:
            cur.execute("INSERT INTO control.cold_archive_objects (object_id, branch_id, period, generation, state, "
                        "key_id, wrapped_key, master_key_id, parts, customers, storage, next_due_on, completed_at) "
                        "VALUES (%s, %s, %s, %s, 'complete', %s, %s, %s, %s, %s, %s, %s, clock_timestamp())",
                        (object_id, branch, period, int(generation[1:]), _key_id(object_id, key), wrapped,
                         master.key_id, json.dumps(described), len(index), json.dumps({"rebuilt": True}),
                         _next_row_due(content, rules, branch, entries, None)))
            cur.executemany("INSERT INTO control.cold_archive_index (object_id, branch_id, customer_id, "
                            "customer_digest, mobile_bidx, id_number_bidx, state, last_activity, anchors, rows) "
                            "VALUES (%s, %s, %s, %s, %s, %s, 'archived', %s, %s, %s)", index)
        conn.commit()
        objects += 1
        customers += len(index)
    return {"objects": objects, "customers": customers}


def verify(conn, dest, master) -> dict:
    """Every complete object opened with its key; each part's SHA-256 and count; the index and the objects
    agree, customer by customer and table by table. Counts; a :class:`ColdArchiveError` naming the object
    otherwise."""
    checked = customers = rows = 0
    with conn.cursor() as cur:
        cur.execute("SELECT object_id FROM control.cold_archive_objects WHERE state = 'complete' ORDER BY 1")
        objects = [r[0] for r in cur.fetchall()]
        for object_id in objects:
            key, parts = _open(conn, dest, master, object_id)
            held: dict[str, dict[str, int]] = {}
            for table in TABLES:
                _, content = _load(dest, key, object_id, parts[table])
                if len(content) != parts[table]["rows"]:
                    raise ColdArchiveError(f"archive object {object_id}: {table} holds {len(content)} rows, its "
                                           f"record says {parts[table]['rows']}")
                for r in content:
                    held.setdefault(r[0], {}).setdefault(table, 0)
                    held[r[0]][table] += 1
                rows += len(content)
            cur.execute("SELECT customer_id, state, rows FROM control.cold_archive_index WHERE object_id = %s",
                        (object_id,))
            index = {c: (s, r) for c, s, r in cur.fetchall()}
            archived = {c: r for c, (s, r) in index.items() if s == "archived"}
            for c, counts in archived.items():
                if held.get(c, {}) != {t: n for t, n in counts.items() if n}:
                    raise ColdArchiveError(f"archive object {object_id}: a customer's rows differ from the index")
            unindexed = set(held) - set(index)
            if unindexed:
                raise ColdArchiveError(f"archive object {object_id}: {len(unindexed)} customer(s) in it are not in "
                                       "the index")
            checked += 1
            customers += len(archived)
    conn.rollback()
    # what a recovery without this store's control would need (rebuild_index): each object's key beside it
    beside = {n[len("keys/cold/"):-len(".key")] for n in dest.list("keys/cold/") if n.endswith(".key")}
    from handover.crypto import KeyringError

    for object_id in objects:
        if object_id not in beside:
            raise ColdArchiveError(f"archive object {object_id}: its key is missing beside its parts (a recovery "
                                   "without the store could not open it)")
        try:
            master.unwrap(dest.get(_key_name(object_id)), _purpose(object_id))
        except KeyringError as exc:
            raise ColdArchiveError(f"archive object {object_id}: the key beside its parts: {exc}") from None
    return {"objects": checked, "customers": customers, "rows": rows, "keys_beside": len(objects),
            "orphan_keys": len(beside - set(objects))}
