"""Shared by the integration tests: the transferred sample with the people behind its rows."""

from __future__ import annotations

import csv
import io

import psycopg2
import pytest
from handover.crypto import Hasher
from handover.store.keys import get_or_create


@pytest.fixture
def store_and_people(transferred, sample_export):
    """The loaded store, its blind-index hasher, and customers as the export wrote them (loaded ones with a
    mobile and an ID number that the vault indexed)."""
    ctx, _, _ = transferred
    folder, _ = sample_export
    rows = list(csv.DictReader(io.StringIO((folder / "客户信息.csv").read_bytes().decode("gb18030"))))
    with psycopg2.connect(ctx.dsn) as conn, conn.cursor() as cur:
        hasher = Hasher(get_or_create(conn, ctx.master_key, "blind_index")[1])
        cur.execute("SELECT customer_id FROM vault.customers WHERE mobile_bidx IS NOT NULL "
                    "AND id_number_bidx IS NOT NULL")
        indexed = {r[0] for r in cur.fetchall()}
    people = [r for r in rows if r["客户编号"].strip() in indexed]
    assert len(people) > 10
    return ctx, hasher, people
