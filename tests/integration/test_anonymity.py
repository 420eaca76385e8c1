"""k-anonymity of the analytics customers: the coarsening steps, and the SQL measure and enforcement on
small tables whose answers are worked out by hand (a real PostgreSQL, a database per test)."""

from __future__ import annotations

import psycopg2
import pyarrow as pa
import pytest
from handover import analytics, anonymity
from handover.crypto import Hasher
from handover.store import partitions, tables
from psycopg2.extras import execute_values

BRANCH, OTHER = "BR-K", "BR-OTHER"
QI = anonymity.QUASI_IDENTIFIERS  # birth band, gender, region, generalised ID, customer type


@pytest.mark.parametrize(("step", "value", "coarser"), [
    (anonymity.birth_decade, "1990-1994", "1990-1999"),
    (anonymity.birth_decade, "1995-1999", "1990-1999"),
    (anonymity.birth_decade, "1987", "1980-1989"),
    (anonymity.birth_decade, "1980-1989", "1980-1989"),
    (anonymity.birth_decade, "<出生日期>", "<出生日期>"),
    (anonymity.id_decade, "440305/1990/M", "440000/1990-1999/M"),
    (anonymity.id_decade, "440000/1990-1999/M", "440000/1990-1999/M"),
    (anonymity.id_decade, "<身份证号>", "<身份证号>"),
    (anonymity.address_province, "广东省深圳市", "广东省"),
    (anonymity.address_province, "广东省", "广东省"),
    (anonymity.address_province, "北京市", "北京市"),
    (anonymity.address_province, "*", "*"),
    (anonymity.address_province, "深圳市", "<地址>"),
])
def test_each_step_is_one_step_coarser_and_idempotent(step, value, coarser):
    assert step(value) == coarser
    assert step(coarser) == coarser


# (token, birth band, gender, region, generalised ID, customer type)
ROWS = [
    ("tok_a", "1990-1994", "M", "广东省深圳市", "440000/1990/M", "individual"),
    ("tok_b", "1990-1994", "M", "广东省深圳市", "440000/1990/M", "individual"),  # a and b: k = 2
    ("tok_c", "1995-1999", "F", "广东省广州市", "440000/1996/F", "individual"),  # alone; c and d meet at
    ("tok_d", "1990-1994", "F", "广东省深圳市", "440000/1992/F", "individual"),  # 1990-1999 F 广东省
    ("tok_e", "1960-1964", "M", "北京市", "110000/1962/M", "individual"),  # alone even coarsened
    ("tok_f", None, None, "深圳市", None, "corporate"),  # alone
]


@pytest.fixture
def conn(pg_dsn):
    conn = psycopg2.connect(pg_dsn)
    with conn.cursor() as cur:
        cur.execute(tables.analytics_ddl())
        for branch in (BRANCH, OTHER):
            partitions.ensure_analytics_partition(cur, "customers", branch)
        for branch in (BRANCH, OTHER):
            execute_values(cur, f"INSERT INTO analytics.customers (branch_id, customer_token, {', '.join(QI)}) "
                                "VALUES %s", [(branch, *row) for row in ROWS])
    conn.commit()
    yield conn
    conn.close()


def qis(conn, branch: str = BRANCH) -> dict[str, tuple]:
    with conn.cursor() as cur:
        cur.execute(f"SELECT customer_token, {', '.join(QI)} FROM analytics.customers WHERE branch_id = %s", (branch,))
        return {row[0]: row[1:] for row in cur.fetchall()}


def test_without_a_minimum_k_the_run_measures_and_changes_nothing(conn):
    before = qis(conn)
    report = anonymity.enforce(conn, BRANCH, None)
    conn.commit()
    assert report.as_dict() == {
        "k_required": None, "rows": 6, "classes": 5, "min_k": 1, "min_k_before": 1, "rows_below_k_before": 0,
        "coarsened": 0, "suppressed": 0, "suppressed_total": 0,
        "distribution": {"1": 4, "2": 2, "3-4": 0, "5-9": 0, "10-19": 0, "20+": 0}}
    assert qis(conn) == before


def test_minimum_k_coarsens_first_then_suppresses(conn):
    report = anonymity.enforce(conn, BRANCH, 2)
    conn.commit()
    assert (report.rows_below_k_before, report.coarsened, report.suppressed) == (4, 2, 2)
    assert (report.min_k_before, report.min_k, report.rows, report.classes) == (1, 2, 4, 2)
    after = qis(conn)
    assert after["tok_a"] == ROWS[0][1:] and after["tok_b"] == ROWS[1][1:]  # k was 2 already: untouched
    assert after["tok_c"] == ("1990-1999", "F", "广东省", "440000/1990-1999/F", "individual")
    assert after["tok_d"] == after["tok_c"]
    assert after["tok_e"] == after["tok_f"] == ("*",) * 5
    assert qis(conn, OTHER) == {row[0]: row[1:] for row in ROWS}  # one branch at a time


def test_a_second_run_finds_nothing_to_do(conn):
    anonymity.enforce(conn, BRANCH, 2)
    conn.commit()
    once = qis(conn)
    report = anonymity.enforce(conn, BRANCH, 2)
    conn.commit()
    assert qis(conn) == once
    assert (report.rows_below_k_before, report.coarsened, report.suppressed, report.min_k,
            report.suppressed_total) == (0, 0, 0, 2, 2)


def test_a_minimum_k_no_class_can_reach_suppresses_every_row(conn):
    report = anonymity.enforce(conn, BRANCH, 7)
    conn.commit()
    assert (report.suppressed, report.coarsened, report.rows, report.min_k) == (6, 0, 0, None)


def test_a_minimum_k_below_one_is_refused(conn):
    with pytest.raises(ValueError, match="at least 1"):
        anonymity.enforce(conn, BRANCH, 0)


def test_reloading_unchanged_rows_keeps_what_was_coarsened(pg_dsn):
    """analytics_chunk → upsert → enforce → the same chunk again: the coarsened rows stay coarsened."""
    customers = {"customer_id": ["C1", "C2", "C3"], "customer_type": ["individual"] * 3, "gender": ["F", "F", "F"],
                 "birth_date": ["1991-01-01", "1992-02-02", "1996-03-03"],
                 "address": ["广东省深圳市南山区", "广东省深圳市福田区", "广东省深圳市宝安区"],
                 "consent_transfer": ["true"] * 3, "row_hash": [b"\x01", b"\x02", b"\x03"]}
    rows = analytics.analytics_chunk("customers", pa.table(customers), None, Hasher(bytes(32)), branch_id=BRANCH)
    conn = psycopg2.connect(pg_dsn)
    upsert = tables.upsert_sql("customers")

    def load() -> None:
        with conn.cursor() as cur:
            values = [(*row.values(), "run-1") for row in rows.to_pylist()]
            execute_values(cur, upsert.as_string(conn), values)
        conn.commit()

    with conn.cursor() as cur:
        cur.execute(tables.analytics_ddl())
        partitions.ensure_analytics_partition(cur, "customers", BRANCH)
    load()
    report = anonymity.enforce(conn, BRANCH, 3)
    conn.commit()
    assert (report.rows_below_k_before, report.coarsened, report.suppressed, report.min_k) == (3, 3, 0, 3)
    load()
    assert set(qis(conn).values()) == {("1990-1999", "F", "广东省深圳市", None, "individual")}
    conn.close()
