"""Merge a settled run into the vault, the analytics tier and ops — one transaction, parents first,
idempotent.

A branch's first load builds its vault partitions in bulk (`handover.store.partitions`). After that,
loaded rows are upserted by (branch, key) and only rewritten when their content hash changed, so a
re-run of the same transfer writes nothing (fresh nonces would otherwise change every ciphertext).
Quarantined rows keep their sealed payload and reason codes; excluded rows keep blind indexes only.
"""

from __future__ import annotations

import logging

from psycopg2 import sql

from handover import analytics, anonymity, canonical, faults
from handover.contract import Contract
from handover.progress import Progress
from handover.store import partitions, staging
from handover.store.staging import WORK_MEM, payload_table
from handover.store.tables import rows_from_staging, vault_columns

log = logging.getLogger(__name__)


def _loaded_rows(model: canonical.Entity, tag: str) -> tuple[list[str], sql.Composable]:
    """The vault columns (bookkeeping included) and the query giving a run's loaded rows in that order."""
    cols = [c for c, _ in vault_columns(model)] + ["key_id", "row_hash", "source_file", "source_line"]
    rows = sql.SQL("SELECT {}, %(run)s FROM {} s").format(
        sql.SQL(", ").join(map(sql.Identifier, cols)), staging.loaded(model.name, tag))
    return cols + ["loaded_run_id"], rows


def _tier_rows(schema: str, model: canonical.Entity, tag: str) -> tuple[list[str], sql.Composable]:
    if schema == "analytics":
        return rows_from_staging(model, staging.loaded(model.name, tag))
    return _loaded_rows(model, tag)


def prebuild_partitions(connect, contract: Contract, tag: str, run_id: str,
                        workers: int = 2) -> dict[tuple[str, str], int]:
    """Before the merge, on a branch's first load: build each entity's vault and analytics partitions
    (not attached yet), each on its own connection, side by side. Returns the rows of each partition
    built, by (schema, entity)."""
    from concurrent.futures import ThreadPoolExecutor

    def one(job: tuple[str, str]) -> int | None:
        schema, name = job
        conn = connect()
        try:
            with conn.cursor() as cur:
                cur.execute(sql.SQL("SET maintenance_work_mem = {}").format(sql.Literal(WORK_MEM)))
                cols, rows = _tier_rows(schema, canonical.entity(name), tag)
                built = partitions.prebuild(cur, canonical.entity(name), contract.branch_id, cols, rows,
                                            {"run": run_id}, schema)
            conn.commit()
            return built
        finally:
            conn.close()

    jobs = [(schema, name) for name in contract.entities for schema in partitions.TIERS]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        built = dict(zip(jobs, pool.map(one, jobs), strict=True))
    return {job: rows for job, rows in built.items() if rows is not None}


def _load_tier(cur, schema: str, model: canonical.Entity, contract: Contract, tag: str, run_id: str,
               prebuilt: dict[tuple[str, str], int]) -> int:
    """A run's loaded rows into the branch's partition of ``schema``: the partition prebuilt for it
    attached, or (a partition there already) upserted — a row rewritten only when its content hash
    changed — or (neither) built here. Returns the rows written."""
    cols, rows = _tier_rows(schema, model, tag)
    found = partitions.state(cur, model.name, contract.branch_id, schema)
    if found == "attached":
        key = model.key if schema == "vault" else analytics.token_name(model.name)
        updates = sql.SQL(", ").join(sql.SQL("{c} = EXCLUDED.{c}").format(c=sql.Identifier(c))
                                     for c in cols if c not in ("branch_id", key))
        cur.execute(sql.SQL("""
            INSERT INTO {table} ({cols}) {rows}
            ON CONFLICT (branch_id, {key}) DO UPDATE SET {updates}, loaded_at = now()
            WHERE {table}.row_hash IS DISTINCT FROM EXCLUDED.row_hash
        """).format(table=sql.Identifier(schema, model.name), cols=sql.SQL(", ").join(map(sql.Identifier, cols)),
                    rows=rows, key=sql.Identifier(key), updates=updates), {"run": run_id})
        return cur.rowcount
    if found == "built" and (schema, model.name) in prebuilt:
        partitions.attach(cur, model, contract.branch_id, schema)
        return prebuilt[(schema, model.name)]
    # not prebuilt by this run (or left by a killed one): built here, in the transaction
    return partitions.build(cur, model, contract.branch_id, cols, rows, {"run": run_id}, schema)


def merge(conn, contract: Contract, tag: str, run_id: str,
          prebuilt: dict[tuple[str, str], int] | None = None) -> dict[str, dict]:
    """The run into vault, analytics and ops, in one transaction; then the analytics customers' k-anonymity
    measured (and enforced, with the contract's ``min_k``) before it commits. Returns the rows written per
    entity, and the k-anonymity report under ``"anonymity"``."""
    prebuilt = prebuilt or {}
    written: dict[str, dict] = {}
    with conn.cursor() as cur:
        cur.execute(sql.SQL("SET LOCAL work_mem = {}").format(sql.Literal(WORK_MEM)))
        cur.execute(sql.SQL("SET LOCAL maintenance_work_mem = {}").format(sql.Literal(WORK_MEM)))
        progress = Progress("load", len(contract.entities), unit="entities", every=0)
        for name in contract.entities:
            model = canonical.entity(name)
            t = staging.exceptions(name, tag)
            loaded = _load_tier(cur, "vault", model, contract, tag, run_id, prebuilt)
            tier = _load_tier(cur, "analytics", model, contract, tag, run_id, prebuilt)
            faults.point("merge.during")
            cur.execute(sql.SQL("""
                INSERT INTO ops.quarantine (branch_id, entity, source_file, source_line, record_key, reasons,
                                            payload_enc, payload_hash, key_id, first_run_id, last_run_id)
                SELECT s.branch_id, %(entity)s, s.source_file, s.source_line, s.{key}, s._final, p.payload,
                       p.payload_hash, s.key_id, %(run)s, %(run)s
                FROM {t} s JOIN {payloads} p ON p.entity = %(entity)s AND p.source_line = s.source_line
                WHERE s._disposition = 'quarantined'
                ON CONFLICT (branch_id, entity, source_file, source_line) DO UPDATE SET
                    record_key = EXCLUDED.record_key, reasons = EXCLUDED.reasons,
                    payload_enc = EXCLUDED.payload_enc, payload_hash = EXCLUDED.payload_hash,
                    key_id = EXCLUDED.key_id, last_run_id = EXCLUDED.last_run_id, quarantined_at = now(),
                    resolved_run_id = NULL, resolved_at = NULL
                WHERE ops.quarantine.payload_hash IS DISTINCT FROM EXCLUDED.payload_hash
                   OR ops.quarantine.reasons IS DISTINCT FROM EXCLUDED.reasons
            """).format(t=t, key=sql.Identifier(model.key), payloads=payload_table(tag)),
                {"entity": name, "run": run_id})
            quarantined = cur.rowcount
            has = {c for c, _ in vault_columns(model)}
            bidx = [sql.Identifier(c) if c in has else sql.SQL("NULL") for c in ("id_number_bidx", "mobile_bidx")]
            cur.execute(sql.SQL("""
                INSERT INTO ops.exclusions (branch_id, entity, source_file, source_line, record_key, reasons,
                                            id_number_bidx, mobile_bidx, first_run_id)
                SELECT branch_id, %(entity)s, source_file, source_line, {key}, _final, {b0}, {b1}, %(run)s
                FROM {t} s WHERE _disposition = 'excluded'
                ON CONFLICT (branch_id, entity, source_file, source_line) DO NOTHING
            """).format(t=t, key=sql.Identifier(model.key), b0=bidx[0], b1=bidx[1]),
                {"entity": name, "run": run_id})
            excluded = cur.rowcount
            progress.add(1)
            log.info("load %s: %d vault rows, %d analytics rows written (%s)", name, loaded, tier, progress.line())
            written[name] = {"vault_rows_written": loaded, "analytics_rows_written": tier,
                             "quarantine_rows_written": quarantined,
                             "exclusion_rows_written": excluded,
                             "quarantine_rows_resolved": _resolve_repaired(cur, contract, model, tag, run_id)}
    from handover.notices.objections import keep_out_of_analytics

    with conn.cursor() as cur:  # customers who objected or withdrew consent: never analysed again
        written["objections"] = {"analytics_rows_removed": keep_out_of_analytics(cur, contract.branch_id)}
    written["anonymity"] = anonymity.enforce(conn, contract.branch_id, contract.min_k).as_dict()
    faults.point("merge.before_commit")
    with conn.cursor() as cur:  # fresh statistics for the reconciliation's joins
        cur.execute("ANALYZE ops.quarantine, ops.exclusions")
    conn.commit()
    return written


def _resolve_repaired(cur, contract: Contract, model: canonical.Entity, tag: str, run_id: str) -> int:
    """Quarantine entries of earlier runs whose key this run loads were repaired by the branch: resolved.
    (Nothing to look for on a branch's first load, so the run's loaded rows are not read then.)"""
    params = {"entity": model.name, "run": run_id, "branch": contract.branch_id}
    cur.execute("SELECT EXISTS (SELECT FROM ops.quarantine WHERE branch_id = %(branch)s AND entity = %(entity)s "
                "AND resolved_at IS NULL AND last_run_id <> %(run)s)", params)
    if not cur.fetchone()[0]:
        return 0
    cur.execute(sql.SQL("""
        UPDATE ops.quarantine q SET resolved_run_id = %(run)s, resolved_at = now()
        FROM {loaded} s
        WHERE q.branch_id = %(branch)s AND q.entity = %(entity)s AND q.resolved_at IS NULL
          AND q.last_run_id <> %(run)s AND q.record_key COLLATE "C" = s.{key}
    """).format(loaded=staging.loaded(model.name, tag), key=sql.Identifier(model.key)), params)
    return cur.rowcount
