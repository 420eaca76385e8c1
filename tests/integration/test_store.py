"""The store layer on a real PostgreSQL: errors without values, COPY escaping, the append-only audit log."""

from __future__ import annotations

import pytest


def test_store_errors_name_the_place_but_not_the_value(pg_dsn):
    from handover.errors import StoreError
    from handover.transfer import connect

    with pytest.raises(StoreError) as err, connect(pg_dsn, "stage_chunk") as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE t (born date, id text PRIMARY KEY)")
        cur.execute("INSERT INTO t VALUES ('2024-01-01', '11010519491231002X')")
        cur.execute("INSERT INTO t VALUES ('2024-01-01', '11010519491231002X')")
    message = str(err.value)
    assert "stage_chunk" in message and "unique_violation" in message and "t_pkey" in message
    assert "11010519491231002X" not in message
    with pytest.raises(StoreError) as err, connect(pg_dsn, "stage_chunk") as conn, conn.cursor() as cur:
        cur.execute("SELECT %s::date", ("1949-12-31X",))
    assert "1949-12-31X" not in str(err.value) and "invalid_datetime_format" in str(err.value)


def test_audit_log_is_append_only(pg_dsn):
    from handover.errors import StoreError
    from handover.store import ops, schema
    from handover.transfer import connect

    with connect(pg_dsn, "test") as conn:
        schema.ensure_schema(conn)
        ops.audit(conn, "run_started", run_id="r1", branch_id="B1", actor="test", mode="transfer")
    for statement in ("UPDATE ops.audit SET action = 'x'", "DELETE FROM ops.audit", "TRUNCATE ops.audit"):
        with pytest.raises(StoreError) as err, connect(pg_dsn, "tamper") as conn, conn.cursor() as cur:
            cur.execute(statement)
        assert "append-only" in str(err.value)


def test_copy_csv_round_trips_values_that_look_like_copy_syntax(pg_dsn):
    import pyarrow as pa
    from handover.store.staging import copy_csv
    from handover.transfer import connect

    values = ["\\N", "tab\there", "line\nbreak\r\n", "back\\slash", "", '"quoted", comma', "客户张伟 🙂 𠀾", None]
    with connect(pg_dsn, "test") as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE t (v text, n integer)")
        cur.copy_expert("COPY t (v, n) FROM STDIN WITH (FORMAT csv)",
                        copy_csv(pa.table({"v": pa.array(values), "n": pa.array(range(len(values)))})))
        cur.execute("SELECT v FROM t ORDER BY n")
        assert [r[0] for r in cur.fetchall()] == values


def test_bytea_and_array_columns_are_staged_byte_for_byte(pg_dsn):
    import os

    import pyarrow as pa
    from handover.store.staging import array_text, bytea_text, copy_csv
    from handover.transfer import connect

    blobs = [os.urandom(n) for n in (0, 1, 16, 45, 300)] + [None, b"\x00\xff\\x"]
    arrays = [["invalid_resident_id", "orphan_reference"], [], None, ["ragged_row"], [], [], []]
    table = pa.table({"b": pa.array(blobs, pa.binary()), "a": pa.array(arrays, pa.list_(pa.string()))})
    for sliced in (table, table.slice(2, 4)):
        with connect(pg_dsn, "test") as conn, conn.cursor() as cur:
            cur.execute("CREATE TEMP TABLE t (b bytea, a text[], n serial)")
            cur.copy_expert("COPY t (b, a) FROM STDIN WITH (FORMAT csv)", copy_csv(pa.table({
                "b": bytea_text(sliced.column("b")), "a": array_text(sliced.column("a"))})))
            cur.execute("SELECT b, a FROM t ORDER BY n")
            got = [(None if b is None else bytes(b), a) for b, a in cur.fetchall()]
        assert got == list(zip(sliced.column("b").to_pylist(), sliced.column("a").to_pylist(), strict=True))
