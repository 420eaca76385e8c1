"""Content hashes of the loaded tables: what the manifest promises and a receiving party re-computes.

Per entity and branch: the row count and the SHA-256 over the SHA-256 of every stored row (every column
of the model, ciphertexts included, as PostgreSQL's row text; which run loaded it and when left out), in
key order under the "C" collation. Computed in the database, so a verifier needs nothing but a connection — and any changed
byte of any stored value changes it.
"""

from __future__ import annotations

from psycopg2 import sql

from handover import canonical
from handover.store.tables import vault_columns

HASHED_BOOKKEEPING = ("key_id", "row_hash", "source_file", "source_line")


def content_hash(conn, entity: str, branch_id: str) -> dict:
    model = canonical.entity(entity)
    columns = [c for c, _ in vault_columns(model)] + list(HASHED_BOOKKEEPING)
    query = sql.SQL("""
        SELECT count(*), encode(sha256(coalesce(string_agg(
                   sha256(convert_to(ROW({columns})::text, 'UTF8')), ''::bytea
                   ORDER BY t.{key} COLLATE "C"), ''::bytea)), 'hex')
        FROM {table} t WHERE branch_id = %s
    """).format(columns=sql.SQL(", ").join(sql.Identifier("t", c) for c in columns),
                key=sql.Identifier(model.key), table=sql.Identifier("vault", entity))
    with conn.cursor() as cur:
        cur.execute(query, (branch_id,))
        rows, digest = cur.fetchone()
    return {"rows": rows, "sha256": digest}


def content_hashes(connect, entities, branch_id: str) -> dict[str, dict]:
    """Every entity's hash, each on its own connection from `connect()` and its own thread (the database
    does the work, so they run side by side on the server's cores)."""
    from concurrent.futures import ThreadPoolExecutor

    def one(entity: str) -> dict:
        conn = connect()
        try:
            return content_hash(conn, entity, branch_id)
        finally:
            conn.close()

    entities = list(entities)
    with ThreadPoolExecutor(max_workers=max(1, len(entities))) as pool:
        return dict(zip(entities, pool.map(one, entities), strict=True))
