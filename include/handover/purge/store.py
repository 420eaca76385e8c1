"""The retention purge over the target store: what is due by :mod:`handover.purge.rules` is deleted from
``vault`` and its ``analytics`` rows with it, in bounded batches, each batch one transaction — a purge
killed at any point has deleted whole batches only, and a re-run finds and finishes the rest (nothing not
due is ever touched). Children go before their parents; a parent whose children are still retained waits.

A **dry run** does the same work in one transaction and rolls it back: what it reports is exactly what a
real run would delete, cascades included.

Nothing here reads or returns a customer value: counts per branch, entity and class, the rule and its
cutoff day.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path

from psycopg2 import sql

from handover import canonical
from handover.progress import Progress
from handover.purge.rules import CLOSED_STATUSES, Keep, RetentionClass, cutoff, housekeeping

DATE_COLUMN = {"customers": "opened_on", "accounts": "opened_on", "cards": "issued_on", "transactions": "occurred_at",
               "interactions": "occurred_at"}
CHILDREN_FIRST = ("transactions", "interactions", "cards", "accounts", "customers")
BATCH = 5_000
EXCLUSION_REASONS = ("no_consent", "parent_excluded", "erased")


def bind_classes(conn, contract) -> dict[str, str]:
    """Record which retention class each of the branch's entities follows (its key column's class), with
    the rule as the contract states it: the purge reads the store, not contract files."""
    bound = {}
    with conn.cursor() as cur:
        for name, spec in contract.entities.items():
            key = next((c for c in spec.columns if c.key), None)
            class_name = key.retention if key else None
            if not class_name or class_name not in contract.retention:
                continue
            rule = contract.retention[class_name]
            RetentionClass.from_rule(class_name, rule)  # checked before it is recorded
            cur.execute("""
                INSERT INTO ops.retention_classes (branch_id, entity, class, keep, after, basis, contract_sha256)
                VALUES (%s, %s, %s, %s, %s, %s, %s)
                ON CONFLICT (branch_id, entity) DO UPDATE SET class = EXCLUDED.class, keep = EXCLUDED.keep,
                    after = EXCLUDED.after, basis = EXCLUDED.basis, contract_sha256 = EXCLUDED.contract_sha256,
                    bound_at = now()
            """, (contract.branch_id, name, class_name, rule["keep"], rule.get("after", "created"),
                  rule.get("basis"), contract.sha256))
            bound[name] = class_name
    conn.commit()
    return bound


def classes(cur) -> dict[tuple[str, str], RetentionClass]:
    cur.execute("SELECT branch_id, entity, class, keep, after, basis FROM ops.retention_classes")
    return {(b, e): RetentionClass.from_rule(c, {"keep": k, "after": a, "basis": basis})
            for b, e, c, k, a, basis in cur.fetchall()}


def refresh_activity(cur, branch_id: str) -> None:
    """Each customer's latest activity, never lowered: computed from what the vault holds now and kept as
    the greatest ever seen (purging old transactions must not make a customer's last activity older)."""
    cur.execute("""
        INSERT INTO ops.activity (branch_id, customer_id, last_activity)
        SELECT c.branch_id, c.customer_id,
               coalesce(greatest(c.opened_on, c.last_activity, a.last, t.last, i.last), c.loaded_at::date)
        FROM vault.customers c
        LEFT JOIN (SELECT customer_id, max(opened_on) AS last FROM vault.accounts WHERE branch_id = %(b)s
                   GROUP BY 1) a ON a.customer_id = c.customer_id
        -- a transaction is its customer's (when it names one) or its account's customer's
        LEFT JOIN (SELECT coalesce(tx.customer_id, acc.customer_id) AS customer_id,
                          max(tx.occurred_at)::date AS last FROM vault.transactions tx
                   LEFT JOIN vault.accounts acc ON acc.branch_id = tx.branch_id AND acc.account_id = tx.account_id
                   WHERE tx.branch_id = %(b)s GROUP BY 1) t ON t.customer_id = c.customer_id
        LEFT JOIN (SELECT customer_id, max(occurred_at)::date AS last FROM vault.interactions
                   WHERE branch_id = %(b)s GROUP BY 1) i ON i.customer_id = c.customer_id
        WHERE c.branch_id = %(b)s
        ON CONFLICT (branch_id, customer_id) DO UPDATE
            SET last_activity = greatest(ops.activity.last_activity, EXCLUDED.last_activity)
    """, {"b": branch_id})


def _customer_of(entity: str) -> str:
    return "coalesce(r.customer_id, acc.customer_id)" if entity in ("transactions", "cards") else "r.customer_id"


def _anchor(entity: str, rule: RetentionClass) -> str:
    own = f"coalesce(r.{DATE_COLUMN[entity]}::date, r.loaded_at::date)"
    ended = ("NOT EXISTS (SELECT 1 FROM vault.accounts x WHERE x.branch_id = r.branch_id "
             f"AND x.customer_id = {_customer_of(entity)} "
             "AND coalesce(lower(x.status), '') <> ALL(%(closed)s))")
    if rule.after == "created" or (rule.after == "transaction" and entity != "transactions"):
        return own
    if rule.after == "transaction":
        return "r.occurred_at::date"
    if rule.after == "last_activity":
        return "act.last_activity"
    return f"CASE WHEN {ended} THEN act.last_activity END"  # relationship_end


_CHILDREN = {
    "accounts": [f"NOT EXISTS (SELECT 1 FROM vault.{child} c WHERE c.branch_id = r.branch_id "
                 "AND c.account_id = r.account_id)" for child in ("cards", "transactions")],
    "customers": [f"NOT EXISTS (SELECT 1 FROM vault.{child} c WHERE c.branch_id = r.branch_id "
                  "AND c.customer_id = r.customer_id)"
                  for child in ("accounts", "cards", "interactions", "transactions")],
}


def due_query(entity: str, rule: RetentionClass) -> str:
    """The keys of ``entity``'s due rows in one branch: anchor ≤ cutoff, customer not held, no child
    retained. (Run once per entity into a temporary table that the batches then drain: each batch finds
    its keys by primary key instead of scanning the partition again.)"""
    key = canonical.ENTITIES[entity].key
    joins = ("LEFT JOIN vault.accounts acc ON acc.branch_id = r.branch_id AND acc.account_id = r.account_id "
             if entity in ("transactions", "cards") else "")
    joins += (f"LEFT JOIN ops.activity act ON act.branch_id = r.branch_id "
              f"AND act.customer_id = {_customer_of(entity)} ")
    where = ["r.branch_id = %(branch)s", f"{_anchor(entity, rule)} <= %(cutoff)s",
             (f"NOT EXISTS (SELECT 1 FROM purge_held h WHERE h.branch_id = r.branch_id "
             f"AND h.customer_id = {_customer_of(entity)})"), *_CHILDREN.get(entity, [])]
    return f"SELECT r.branch_id, r.{key} FROM vault.{entity} r {joins}WHERE " + " AND ".join(where)


def _next_batch(entity: str) -> str:
    """The next ``%(batch)s`` keys taken out of ``purge_due`` (in the same statement that deletes them)."""
    key = canonical.ENTITIES[entity].key
    return (f"DELETE FROM purge_due WHERE ctid IN (SELECT ctid FROM purge_due LIMIT %(batch)s) "
            f"RETURNING branch_id, {key}")


def delete_rows(cur, entity: str, keys_query: str, params: dict) -> int:
    """Delete the vault rows ``keys_query`` names (branch_id, key) and their analytics rows (same content
    hash); the count of vault rows."""
    key = canonical.ENTITIES[entity].key
    cur.execute(sql.SQL("WITH due AS ({}) DELETE FROM {} v USING due WHERE v.branch_id = due.branch_id "
                        "AND v.{} = due.{} RETURNING v.branch_id, v.row_hash, v.{}").format(
        sql.SQL(keys_query), sql.Identifier("vault", entity), sql.Identifier(key), sql.Identifier(key),
        sql.Identifier(key)), params)
    gone = cur.fetchall()
    by_branch: dict[str, list] = {}
    for branch, row_hash, record_key in gone:
        by_branch.setdefault(branch, []).append((row_hash, record_key))
    for branch, rows in by_branch.items():
        cur.execute(sql.SQL("DELETE FROM {} WHERE branch_id = %s AND row_hash = ANY(%s)").format(
            sql.Identifier("analytics", entity)), (branch, [h for h, _ in rows]))
        if entity == "customers":
            cur.execute("DELETE FROM ops.activity WHERE branch_id = %s AND customer_id = ANY(%s)",
                        (branch, [k for _, k in rows]))
            # a purged customer's earlier versions (handover.updates) go with the record
            cur.execute("DELETE FROM vault.customer_history WHERE branch_id = %s AND customer_id = ANY(%s)",
                        (branch, [k for _, k in rows]))
    return len(gone)


# A batch of a branch's earlier customer versions that are due: an earlier version is kept as long as its
# customer's class keeps a record, counted from the day the version was replaced (``valid_to``, in Shanghai)
# — a legal minimum never cut short by a change of mobile — and never while the customer is held.
HISTORY_DUE = ("DELETE FROM vault.customer_history h USING (SELECT branch_id, customer_id, version FROM "
               "vault.customer_history x WHERE x.branch_id = %(branch)s AND (x.valid_to AT TIME ZONE 'Asia/Shanghai')::date "
               "<= %(cutoff)s AND NOT EXISTS (SELECT 1 FROM purge_held p WHERE p.branch_id = x.branch_id "
               "AND p.customer_id = x.customer_id) LIMIT %(batch)s) d WHERE (h.branch_id, h.customer_id, h.version) "
               "= (d.branch_id, d.customer_id, d.version)")


def _held(cur, held: set[tuple[str, str]]) -> None:
    cur.execute("CREATE TEMP TABLE IF NOT EXISTS purge_held (branch_id text, customer_id text)")
    cur.execute("TRUNCATE purge_held")
    if held:
        cur.executemany("INSERT INTO purge_held VALUES (%s, %s)", sorted(held))


def purge_vault(conn, today: dt.date, *, held_branches: set[str], held_customers: set[tuple[str, str]],
                dry_run: bool, batch: int = BATCH) -> list[dict]:
    """Every branch's due records, children first, in batches (committed unless ``dry_run``)."""
    out = []
    with conn.cursor() as cur:
        rules = classes(cur)
        branches = sorted({b for b, _ in rules})
        _held(cur, held_customers)
        for branch in branches:
            if branch in held_branches:
                out.append({"branch_id": branch, "held": "legal hold on the branch"})
                continue
            refresh_activity(cur, branch)
            if not dry_run:
                conn.commit()
            for entity in CHILDREN_FIRST:
                rule = rules.get((branch, entity))
                if rule is None:
                    continue
                bound = cutoff(today, rule.keep)
                params = {"branch": branch, "cutoff": bound, "batch": batch, "closed": list(CLOSED_STATUSES)}
                cur.execute("DROP TABLE IF EXISTS purge_due")
                cur.execute(f"CREATE TEMP TABLE purge_due AS {due_query(entity, rule)}", params)
                if not dry_run:
                    conn.commit()
                query = _next_batch(entity)
                deleted = 0
                progress = Progress(f"purge {branch} {entity}", unit="rows deleted")
                while True:
                    n = delete_rows(cur, entity, query, params)
                    deleted += n
                    progress.add(n)
                    if not dry_run:
                        conn.commit()
                    if n < batch:
                        break
                progress.finish()
                cur.execute(f"SELECT count(*) FROM vault.{entity} WHERE branch_id = %s", (branch,))
                remaining = cur.fetchone()[0]
                out.append({"branch_id": branch, "entity": entity, "class": rule.name,
                            "rule": f"keep {rule.keep} after {rule.after}", "cutoff": bound.isoformat(),
                            "deleted": deleted, "remaining": remaining})
            rule = rules.get((branch, "customers"))
            if rule is not None:
                out.append(_purge_history(conn, cur, branch, rule, today, dry_run, batch))
    return out


def _purge_history(conn, cur, branch: str, rule: RetentionClass, today: dt.date, dry_run: bool,
                   batch: int) -> dict:
    bound = cutoff(today, rule.keep)
    params = {"branch": branch, "cutoff": bound, "batch": batch}
    deleted = 0
    while True:
        cur.execute(HISTORY_DUE, params)
        deleted += cur.rowcount
        if not dry_run:
            conn.commit()
        if cur.rowcount < batch:
            break
    cur.execute("SELECT count(*) FROM vault.customer_history WHERE branch_id = %s", (branch,))
    return {"branch_id": branch, "entity": "customer_history", "class": rule.name,
            "rule": f"keep {rule.keep} after the version was replaced", "cutoff": bound.isoformat(),
            "deleted": deleted, "remaining": cur.fetchone()[0]}


def _shanghai_date(column: str) -> str:
    return f"({column} AT TIME ZONE 'Asia/Shanghai')::date"


def purge_ops(conn, today: dt.date, keep: dict[str, Keep], *, held_branches: set[str], dry_run: bool,
              batch: int = BATCH) -> list[dict]:
    """Quarantine rows after their run; exclusions (no consent, and what went with such a customer) once
    the branch's transfer has completed; archived originals (row and file)."""
    out = []
    holds = sorted(held_branches)
    with conn.cursor() as cur:
        q_cut = cutoff(today, keep["quarantine"])
        deleted = 0
        while True:
            cur.execute(f"""
                DELETE FROM ops.quarantine q USING (
                    SELECT branch_id, entity, source_file, source_line FROM ops.quarantine
                    WHERE {_shanghai_date('quarantined_at')} <= %s AND branch_id <> ALL(%s) LIMIT %s) d
                WHERE (q.branch_id, q.entity, q.source_file, q.source_line)
                    = (d.branch_id, d.entity, d.source_file, d.source_line)""", (q_cut, holds, batch))
            deleted += cur.rowcount
            if not dry_run:
                conn.commit()
            if cur.rowcount < batch:
                break
        out.append({"class": "quarantine", "rule": f"keep {keep['quarantine']} after the run",
                    "cutoff": q_cut.isoformat(), "deleted": deleted})

        e_cut = cutoff(today, keep["excluded_no_consent"])
        deleted = 0
        while True:
            cur.execute(f"""
                DELETE FROM ops.exclusions x USING (
                    SELECT e.branch_id, e.entity, e.source_file, e.source_line FROM ops.exclusions e
                    WHERE e.reasons && %s AND e.branch_id <> ALL(%s) AND EXISTS (
                        SELECT 1 FROM ops.runs r WHERE r.branch_id = e.branch_id AND r.status = 'success'
                        AND r.mode <> 'dry_run' AND {_shanghai_date('r.finished_at')} <= %s)
                    LIMIT %s) d
                WHERE (x.branch_id, x.entity, x.source_file, x.source_line)
                    = (d.branch_id, d.entity, d.source_file, d.source_line)""",
                        (list(EXCLUSION_REASONS), holds, e_cut, batch))
            deleted += cur.rowcount
            if not dry_run:
                conn.commit()
            if cur.rowcount < batch:
                break
        out.append({"class": "excluded_no_consent", "rule": f"keep {keep['excluded_no_consent']} after the "
                    "transfer completed", "cutoff": e_cut.isoformat(), "deleted": deleted})

        a_cut = cutoff(today, keep["archives"])
        cur.execute(f"SELECT branch_id, sha256, archive_path FROM ops.archives WHERE "
                    f"{_shanghai_date('archived_at')} <= %s AND branch_id <> ALL(%s)", (a_cut, holds))
        archives = cur.fetchall()
        for branch, sha, path in archives:
            cur.execute("DELETE FROM ops.archives WHERE branch_id = %s AND sha256 = %s", (branch, sha))
            if not dry_run:
                conn.commit()  # the row first: a file without its row is found by nothing; the reverse would lie
                _remove(path)
        out.append({"class": "archives", "rule": f"keep {keep['archives']} after archiving",
                    "cutoff": a_cut.isoformat(), "deleted": len(archives)})
    return out


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


def purge_work_areas(work_root: str | Path, today: dt.date, keep: Keep, running: set[str],
                     dry_run: bool) -> dict:
    """Run work areas (plaintext) left behind, older than ``keep`` and not of a running run."""
    root = Path(work_root)
    bound = cutoff(today, keep)
    removed = 0
    if root.is_dir():
        for area in root.iterdir():
            if not area.is_dir() or area.name in running:
                continue
            written = dt.datetime.fromtimestamp(area.stat().st_mtime, dt.UTC)
            if written.astimezone(dt.timezone(dt.timedelta(hours=8))).date() <= bound:
                removed += 1
                if not dry_run:
                    shutil.rmtree(area, ignore_errors=True)
    return {"class": "work_areas", "rule": f"keep {keep} after last written", "cutoff": bound.isoformat(),
            "deleted": removed}


__all__ = ["bind_classes", "housekeeping", "purge_ops", "purge_vault", "purge_work_areas"]
