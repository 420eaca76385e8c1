"""Content hashes of the loaded tables: what the manifest promises and a receiving party re-computes.

Per entity and branch: the row count and the SHA-256 over the SHA-256 of every stored row (every column
of the model, ciphertexts included; which run loaded it and when left out), in key order under the "C"
collation. Computed in the database, so a verifier needs nothing but a connection — and any changed byte of
any stored value changes it. How a row becomes bytes is the hash's version, which the manifest names
(``content_hash_version``; a manifest without it is version 1):

1. PostgreSQL's row text, ``ROW(…)::text`` (bytea as hex);
2. PostgreSQL's binary row, ``record_send(ROW(…))`` — each column's type, length and binary value, the
   format of ``COPY … (FORMAT binary)``: the same bytes on every server, and no text to make of the
   ciphertexts (the row text of a row is ~2× its bytes, in hex).
"""

from __future__ import annotations

from psycopg2 import sql

from handover import canonical
from handover.store.tables import vault_columns

HASHED_BOOKKEEPING = ("key_id", "row_hash", "source_file", "source_line")
VERSION = 2  # the version new manifests are written with
VERSIONS = (1, 2)
# the sort of (key, row digest) pairs in memory rather than on disk: ~60 bytes a row, 5,000,000 rows
WORK_MEM = "512MB"


def _row_bytes(version: int, row: sql.Composable) -> sql.Composable:
    if version == 1:
        return sql.SQL("convert_to({}::text, 'UTF8')").format(row)
    if version == 2:
        return sql.SQL("record_send({})").format(row)
    raise ValueError(f"content hash version {version} is not one of {VERSIONS}")


def content_hash(conn, entity: str, branch_id: str, version: int = VERSION) -> dict:
    model = canonical.entity(entity)
    columns = [c for c, _ in vault_columns(model)] + list(HASHED_BOOKKEEPING)
    row = sql.SQL("ROW({})").format(sql.SQL(", ").join(sql.Identifier("t", c) for c in columns))
    query = sql.SQL("""
        SELECT count(*), encode(sha256(coalesce(string_agg(
                   sha256({row}), ''::bytea ORDER BY t.{key} COLLATE "C"), ''::bytea)), 'hex')
        FROM {table} t WHERE branch_id = %s
    """).format(row=_row_bytes(version, row), key=sql.Identifier(model.key), table=sql.Identifier("vault", entity))
    with conn.cursor() as cur:
        cur.execute(sql.SQL("SET work_mem = {}").format(sql.Literal(WORK_MEM)))
        cur.execute(query, (branch_id,))
        rows, digest = cur.fetchone()
        cur.execute("RESET work_mem")
    return {"rows": rows, "sha256": digest}


def content_hashes(connect, entities, branch_id: str, version: int = VERSION) -> dict[str, dict]:
    """Every entity's hash, each on its own connection from `connect()` and its own thread (the database
    does the work, so they run side by side on the server's cores)."""
    from concurrent.futures import ThreadPoolExecutor

    def one(entity: str) -> dict:
        conn = connect()
        try:
            return content_hash(conn, entity, branch_id, version)
        finally:
            conn.close()

    entities = list(entities)
    with ThreadPoolExecutor(max_workers=max(1, len(entities))) as pool:
        return dict(zip(entities, pool.map(one, entities), strict=True))
