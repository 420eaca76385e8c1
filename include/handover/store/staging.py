"""Staging: a run's protected rows in PostgreSQL, where checks across the whole dataset are made.

Each chunk is COPYed into an unlogged table of the run (``staging.<entity>_<run tag>``) inside one
transaction that first deletes that chunk's rows, so a retried or killed chunk leaves no duplicates.
`settle` then gives every staged row exactly one disposition — ``loaded``, ``quarantined``, ``excluded``
or ``duplicate`` — with its final reason codes, entity by entity, parents first:

1. exact duplicates (same key, same content hash) collapse to the first row;
2. rows left with one key but different content conflict (``conflicting_duplicate``);
3. customers without consent to the transfer are excluded (``no_consent``);
4. children follow their parent: an excluded parent excludes them (``parent_excluded``), a quarantined
   one holds them (``parent_quarantined``), a missing one makes them orphans (``orphan_reference``);
5. a row with any reason is quarantined; the rest are loaded.

Staging holds ciphertext, blind indexes and keyed hashes only — never a plaintext customer value.
"""

from __future__ import annotations

import io
from pathlib import Path

from psycopg2 import sql

from handover import canonical, faults
from handover.contract import Contract
from handover.store.schema import vault_columns
from handover.workarea import read_table

EXTRA_COLUMNS = [("key_id", "text"), ("row_hash", "bytea"), ("source_file", "text"), ("source_line", "integer"),
                 ("_reasons", "text[]"), ("_chunk", "integer")]


def table_name(entity: str, tag: str) -> sql.Identifier:
    return sql.Identifier("staging", f"{entity}_{tag}")


def staged_columns(entity: canonical.Entity) -> list[tuple[str, str]]:
    return vault_columns(entity) + EXTRA_COLUMNS


def create_tables(conn, contract: Contract, tag: str) -> None:
    with conn.cursor() as cur:
        for name in contract.entities:
            cols = [sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(t))
                    for c, t in staged_columns(canonical.entity(name))]
            cols += [sql.SQL("_disposition text"), sql.SQL("_final text[]")]
            cur.execute(sql.SQL("CREATE UNLOGGED TABLE IF NOT EXISTS {} ({})").format(
                table_name(name, tag), sql.SQL(", ").join(cols)))
        cur.execute(sql.SQL("CREATE UNLOGGED TABLE IF NOT EXISTS {} (entity text, source_line integer, "
                            "payload bytea, payload_hash bytea, PRIMARY KEY (entity, source_line))")
                    .format(payload_table(tag)))
    conn.commit()


def payload_table(tag: str) -> sql.Identifier:
    """Sealed payloads of the run's quarantined rows (made only for them, after `settle`)."""
    return sql.Identifier("staging", f"payloads_{tag}")


def quarantined_lines(conn, entity: str, tag: str) -> dict[int, list[int]]:
    with conn.cursor() as cur:
        cur.execute(sql.SQL("SELECT _chunk, source_line FROM {} WHERE _disposition = 'quarantined'")
                    .format(table_name(entity, tag)))
        out: dict[int, list[int]] = {}
        for chunk, line in cur.fetchall():
            out.setdefault(chunk, []).append(line)
    return out


def stage_payloads(conn, entity: str, tag: str, payloads: list[tuple]) -> None:
    with conn.cursor() as cur:
        cur.execute(sql.SQL("DELETE FROM {} WHERE entity = %s").format(payload_table(tag)), (entity,))
        buf = io.StringIO()
        for line, sealed, digest in payloads:
            buf.write(f"{entity}\t{line}\t\\\\x{sealed.hex()}\t\\\\x{digest.hex()}\n")
        buf.seek(0)
        cur.copy_expert(sql.SQL("COPY {} (entity, source_line, payload, payload_hash) FROM STDIN")
                        .format(payload_table(tag)).as_string(conn), buf)
    conn.commit()


def drop_tables(conn, tag: str) -> int:
    with conn.cursor() as cur:
        cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'staging' AND right(tablename, %s) = %s",
                    (len(tag) + 1, f"_{tag}"))
        names = [r[0] for r in cur.fetchall()]
        for name in names:
            cur.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier("staging", name)))
    conn.commit()
    return len(names)


def _hex(values: list) -> list:
    return [None if v is None else "\\x" + v.hex() for v in values]


def copy_csv(table) -> io.BytesIO:
    """An Arrow table as COPY … (FORMAT csv) input: every string quoted, so an empty string stays empty and
    nothing a branch wrote (\\N, tabs, newlines, quotes) can pose as NULL; NULL is unquoted-empty."""
    import pyarrow.csv as pacsv

    raw = io.BytesIO()
    pacsv.write_csv(table, raw, pacsv.WriteOptions(include_header=False, quoting_style="needed"))
    raw.seek(0)
    return raw


def stage_chunk(conn, entity: str, tag: str, ref: dict) -> int:
    """COPY one protected chunk (CSV written by Arrow: strings quoted, NULL unquoted-empty)."""
    import pyarrow as pa

    model = canonical.entity(entity)
    columns = staged_columns(model)
    table = read_table(Path(ref["path"]))
    arrays = []
    for name, sqltype in columns:
        col = table.column(name)
        if sqltype == "bytea":
            col = pa.array(_hex(col.to_pylist()), pa.string())
        elif sqltype == "text[]":
            col = pa.array([None if v is None else "{" + ",".join(v) + "}" for v in col.to_pylist()], pa.string())
        arrays.append(col)
    raw = copy_csv(pa.table(arrays, names=[c for c, _ in columns]))
    size = len(raw.getbuffer())
    target = table_name(entity, tag)
    with conn.cursor() as cur:
        cur.execute(sql.SQL("DELETE FROM {} WHERE _chunk = %s").format(target), (ref["chunk"],))
        cur.copy_expert(sql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT csv)").format(
            target, sql.SQL(", ").join(sql.Identifier(c) for c, _ in columns)).as_string(conn),
            faults.wrap(raw, size, "stage.during_copy"))
    conn.commit()
    return table.num_rows


def settle(conn, contract: Contract, tag: str) -> None:
    """Give every staged row its disposition and final reasons (one transaction, re-runnable)."""
    with conn.cursor() as cur:
        for name in contract.entities:
            model = canonical.entity(name)
            t = table_name(name, tag)
            key = sql.Identifier(model.key)
            cur.execute(sql.SQL("UPDATE {} SET _disposition = NULL, _final = _reasons").format(t))
            cur.execute(sql.SQL("""
                WITH d AS (SELECT ctid, row_number() OVER (PARTITION BY {key}, row_hash
                                                           ORDER BY source_line) AS n
                           FROM {t} WHERE {key} IS NOT NULL)
                UPDATE {t} s SET _disposition = 'duplicate' FROM d WHERE s.ctid = d.ctid AND d.n > 1
            """).format(t=t, key=key))
            cur.execute(sql.SQL("""
                UPDATE {t} SET _final = array_append(_final, 'conflicting_duplicate')
                WHERE _disposition IS NULL AND {key} IN (
                    SELECT {key} FROM {t} WHERE _disposition IS NULL AND {key} IS NOT NULL
                    GROUP BY {key} HAVING count(*) > 1)
            """).format(t=t, key=key))
            if name == "customers":
                cur.execute(sql.SQL("UPDATE {t} SET _disposition = 'excluded', _final = ARRAY['no_consent'] "
                                    "WHERE _disposition IS NULL AND consent_transfer = false").format(t=t))
            for parent_field in model.parents:
                if parent_field not in {c.name for c in contract.entities[name].fields}:
                    continue
                _follow_parent(cur, contract, model, parent_field, tag)
            if name == "transactions" and {"customer_id", "account_id"} <= {
                    c.name for c in contract.entities[name].fields} and "accounts" in contract.entities:
                cur.execute(sql.SQL("""
                    UPDATE {t} s SET _final = array_append(s._final, 'parent_mismatch')
                    FROM {acc} a
                    WHERE s._disposition IS NULL AND a._disposition IS DISTINCT FROM 'duplicate'
                      AND a.account_id = s.account_id AND s.customer_id IS NOT NULL
                      AND a.customer_id IS DISTINCT FROM s.customer_id
                """).format(t=t, acc=table_name("accounts", tag)))
            cur.execute(sql.SQL("UPDATE {t} SET _disposition = 'quarantined' "
                                "WHERE _disposition IS NULL AND cardinality(_final) > 0").format(t=t))
            cur.execute(sql.SQL("UPDATE {t} SET _disposition = 'loaded' WHERE _disposition IS NULL").format(t=t))
    conn.commit()


def _follow_parent(cur, contract: Contract, model: canonical.Entity, parent_field: str, tag: str) -> None:
    parent_entity, parent_key = model.field(parent_field).references.split(".")
    t = table_name(model.name, tag)
    pf = sql.Identifier(parent_field)
    if parent_entity in contract.entities:
        staged_parent = sql.SQL("""
            SELECT {pk} AS k, CASE WHEN bool_or(_disposition = 'loaded') THEN 'loaded'
                                   WHEN bool_or(_disposition = 'excluded') THEN 'excluded'
                                   ELSE 'quarantined' END AS status
            FROM {pt} WHERE _disposition IS DISTINCT FROM 'duplicate' AND {pk} IS NOT NULL GROUP BY {pk}
        """).format(pk=sql.Identifier(parent_key), pt=table_name(parent_entity, tag))
    else:
        staged_parent = sql.SQL("SELECT NULL::text AS k, NULL::text AS status WHERE false")
    query = sql.SQL("""
        WITH parent AS ({staged}
                        UNION ALL
                        SELECT {pk}, 'loaded' FROM {vault} WHERE branch_id = %s),
             status AS (SELECT k, CASE WHEN bool_or(status = 'loaded') THEN 'loaded'
                                       WHEN bool_or(status = 'excluded') THEN 'excluded'
                                       ELSE 'quarantined' END AS status FROM parent GROUP BY k)
        UPDATE {t} s SET
            _disposition = CASE WHEN st.status = 'excluded' THEN 'excluded' END,
            _final = CASE WHEN st.status = 'excluded' THEN ARRAY['parent_excluded']
                          WHEN st.status = 'quarantined' THEN array_append(s._final, 'parent_quarantined')
                          WHEN st.status IS NULL THEN array_append(s._final, 'orphan_reference')
                          ELSE s._final END
        FROM {t} s2 LEFT JOIN status st ON st.k = s2.{pf}
        WHERE s.ctid = s2.ctid AND s._disposition IS NULL AND s.{pf} IS NOT NULL
    """).format(staged=staged_parent, pk=sql.Identifier(parent_key),
                vault=sql.Identifier("vault", parent_entity), t=t, pf=pf)
    cur.execute(query, (contract.branch_id,))


def disposition_counts(conn, contract: Contract, tag: str) -> dict[str, dict]:
    out: dict[str, dict] = {}
    with conn.cursor() as cur:
        for name in contract.entities:
            t = table_name(name, tag)
            cur.execute(sql.SQL("SELECT _disposition, count(*) FROM {} GROUP BY 1").format(t))
            counts = {d or "unsettled": n for d, n in cur.fetchall()}
            cur.execute(sql.SQL("SELECT r, count(*) FROM {}, unnest(_final) r "
                                "WHERE _disposition IN ('quarantined', 'excluded') GROUP BY 1 ORDER BY 1").format(t))
            reasons = dict(cur.fetchall())
            out[name] = {"staged": sum(counts.values()), "loaded": counts.get("loaded", 0),
                         "quarantined": counts.get("quarantined", 0), "excluded": counts.get("excluded", 0),
                         "duplicates": counts.get("duplicate", 0), "unsettled": counts.get("unsettled", 0),
                         "reasons": reasons}
    return out
