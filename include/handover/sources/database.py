"""A source database: tables of the old branch's system behind connection ``handover_source`` (PostgreSQL).

All of a transfer's tables are read in ONE read-only REPEATABLE READ transaction, so they come from one
consistent snapshot even while the branch's system keeps writing; each table is read with a server-side
(named) cursor in batches, so memory does not grow with the table. Each table is dumped as UTF-8 CSV into
the run's private work area; from there on it is a source file like any other — archived encrypted with
its SHA-256 as the branch's original, then extracted, verified and loaded the same way.
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import re
from pathlib import Path

from handover import private_files
from handover.contract import Contract, EntitySpec
from handover.errors import SourceError

FETCH_ROWS = 50_000
_TABLE = re.compile(r"^(?:([A-Za-z_][A-Za-z0-9_]*)\.)?([A-Za-z_][A-Za-z0-9_]*)$")


def table_specs(contract: Contract) -> list[EntitySpec]:
    return [s for s in contract.entities.values() if s.source.format == "table"]


def dump_name(spec: EntitySpec) -> str:
    return f"{spec.name}.csv"


def _split(table: str) -> tuple[str, str]:
    match = _TABLE.match(table)
    if not match:
        raise SourceError(table, "not a table name: use schema.table or table (letters, digits, _)")
    return match.group(1) or "public", match.group(2)


def _connect(dsn: str | None):
    import psycopg2

    if not dsn:
        raise SourceError("handover_source", "the contract reads tables from a source database but connection "
                          "handover_source is not configured", hint="add the connection, e.g. "
                          "AIRFLOW_CONN_HANDOVER_SOURCE=postgresql://user:pw@host:5432/db")
    try:
        return psycopg2.connect(dsn, application_name="handover-source")
    except psycopg2.Error as exc:
        raise SourceError("handover_source", f"cannot connect to the source database ({type(exc).__name__})",
                          hint="check connection handover_source") from None


def inspect_tables(dsn: str | None, specs: list[EntitySpec]) -> None:
    """Every declared table and column exists in the source database; else one error naming them all."""
    if not specs:
        return
    conn = _connect(dsn)
    problems = []
    try:
        with conn.cursor() as cur:
            for spec in specs:
                schema, table = _split(spec.source.file)
                cur.execute("SELECT column_name FROM information_schema.columns WHERE table_schema = %s "
                            "AND table_name = %s", (schema, table))
                found = {r[0] for r in cur.fetchall()}
                if not found:
                    problems.append(f"table {schema}.{table} (entities.{spec.name}) does not exist or is not readable")
                    continue
                for col in spec.columns:
                    if col.header not in found:
                        problems.append(f"column {col.header} of table {schema}.{table} does not exist")
    finally:
        conn.close()
    if problems:
        raise SourceError("handover_source", "; ".join(problems), hint="correct the contract's tables and columns")


def _text(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None).isoformat(sep=" ")
    if isinstance(value, (dt.date, decimal.Decimal, int, float)):
        return str(value)
    if isinstance(value, memoryview | bytes):
        return bytes(value).hex()
    return str(value)


def dump_tables(dsn: str | None, specs: list[EntitySpec], out_dir: Path, fetch_rows: int = FETCH_ROWS,
                after_table=None) -> dict:
    """Dump every table from one snapshot; return {entity: {"file", "rows", "snapshot"}}.

    `after_table(entity)` is called after each table (tests use it to write to the source meanwhile)."""
    from psycopg2 import sql

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    conn = _connect(dsn)
    result = {}
    try:
        conn.set_session(isolation_level="REPEATABLE READ", readonly=True)
        with conn.cursor() as cur:
            cur.execute("SELECT pg_current_snapshot()::text, now()")
            snapshot, taken_at = cur.fetchone()
        for spec in specs:
            schema, table = _split(spec.source.file)
            headers = [c.header for c in spec.columns]
            query = sql.SQL("SELECT {} FROM {}").format(sql.SQL(", ").join(map(sql.Identifier, headers)),
                                                        sql.Identifier(schema, table))
            path = out_dir / dump_name(spec)
            rows = 0
            with private_files.written(path, "w", replace=True, encoding="utf-8", newline="") as fh, \
                    conn.cursor(name=f"handover_{spec.name}") as cur:
                cur.itersize = fetch_rows
                cur.execute(query)
                writer = csv.writer(fh, lineterminator="\n")
                writer.writerow(headers)
                while batch := cur.fetchmany(fetch_rows):
                    writer.writerows([_text(v) for v in row] for row in batch)
                    rows += len(batch)
            result[spec.name] = {"file": path.name, "table": f"{schema}.{table}", "rows": rows,
                                 "snapshot": snapshot, "taken_at": taken_at.isoformat()}
            if after_table:
                after_table(spec.name)
        conn.rollback()  # read-only: nothing to keep; ends the snapshot
    finally:
        conn.close()
    return result
