"""The analytics tier is scanned before it lands (`transfer.scan_before_load`): a leaking tier is never
committed and no manifest is published for it; a generalised value is matched as what it is.

Each case plants personal data where the masking does not reach — a kept text column (the channel of a
service record) — and runs the whole transfer on a real PostgreSQL: the run fails with a HandoverError that
names the place and says what happened to the data, never the value; the vault and the analytics tier stay
empty; no manifest is written.
"""

from __future__ import annotations

import psycopg2
from handover.leaks import StagedLeakError

from tests.hostile.builders import (
    CUSTOMER_COLUMNS,
    HEADERS,
    INTERACTION_COLUMNS,
    R,
    csv_source,
    customers,
    interaction,
    write_contract,
    write_csv,
)

CHANNEL = {"渠道": {"field": "channel", "pii": "none", "retention": R}}
COLUMNS = {"interactions": {**INTERACTION_COLUMNS, **CHANNEL}}


def _export(export, people, notes):
    write_csv(export / "客户信息.csv", HEADERS["customers"], people)
    write_csv(export / "服务记录.csv", [*HEADERS["interactions"], "渠道"], notes)
    return write_contract(export, {"customers": csv_source("customers"), "interactions": csv_source("interactions")},
                          columns=COLUMNS)


def _nothing_loaded(dsn) -> None:
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        for table in ("vault.customers", "vault.interactions", "analytics.customers", "analytics.interactions"):
            cur.execute(f"SELECT count(*) FROM {table}")
            assert cur.fetchone()[0] == 0, table
        cur.execute("SELECT count(*) FROM ops.manifests")
        assert cur.fetchone()[0] == 0


def test_a_customer_name_in_a_kept_column_stops_the_run_before_the_load(tmp_path, hostile):
    export = tmp_path / "export"
    export.mkdir()
    people = customers(6)
    notes = [interaction(i, f"C{i:04d}", 渠道="柜面") for i in range(1, 7)]
    notes[2]["渠道"] = f"电话（{people[4]['姓名']}转接）"  # a customer's name where no masking looks
    out = hostile(_export(export, people, notes), [people[4]["姓名"]])
    assert isinstance(out.error, StagedLeakError)
    said = str(out.error)
    assert "analytics.interactions.channel" in said and "customer name" in said and "服务记录.csv line 4" in said
    assert "Nothing was loaded" in said and "no manifest" in said
    assert out.manifest is None
    _nothing_loaded(out.dsn)


def test_third_party_phones_the_export_does_not_hold_are_caught_by_the_second_opinion(tmp_path, hostile):
    """No column of the export has these numbers, so the identifier scan cannot know them: the residual
    detector (not the masker) sees them by their grammar."""
    export = tmp_path / "export"
    export.mkdir()
    people = customers(4)
    notes = [interaction(i, f"C{1 + i % 4:04d}", 渠道=f"回拨家属 0571-8702 {3300 + i}") for i in range(1, 9)]
    out = hostile(_export(export, people, notes), [n["渠道"] for n in notes])
    assert isinstance(out.error, StagedLeakError)
    said = str(out.error)
    assert "second opinion" in said and "analytics.interactions.channel" in said and "phone in 8 of 8" in said
    assert "0571" not in said
    _nothing_loaded(out.dsn)


def test_a_false_alarm_can_be_declared_in_the_contract(tmp_path, hostile):
    export = tmp_path / "export"
    export.mkdir()
    people = customers(4)
    notes = [interaction(i, f"C{1 + i % 4:04d}", 渠道=f"回拨家属 0571-8702 {3300 + i}") for i in range(1, 9)]
    path = _export(export, people, notes)
    text = path.read_text(encoding="utf-8").replace("entities:", "analytics:\n  residual:\n    phone: 1.0\nentities:", 1)
    path.write_text(text, encoding="utf-8")
    out = hostile(path)
    assert out.error is None and out.counts("interactions")["loaded"] == 8


def test_a_generalised_place_that_spells_a_customers_name_is_not_a_leak(tmp_path, hostile):
    """A customer called 江门 and an address in 广东省江门市: the generalised address names the city."""
    export = tmp_path / "export"
    export.mkdir()
    people = customers(4)
    people[1]["姓名"] = "江门"
    columns = {"customers": {**CUSTOMER_COLUMNS, "联系地址": {"field": "address", "pii": "direct", "retention": R}}}
    for row in people:
        row["联系地址"] = "广东省江门市蓬江区建设路12号"
    write_csv(export / "客户信息.csv", [*HEADERS["customers"], "联系地址"], people)
    out = hostile(write_contract(export, columns=columns), ["江门"])
    assert out.error is None, out.error
    with psycopg2.connect(out.dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT DISTINCT address_general FROM analytics.customers")
        assert cur.fetchall() == [("广东省江门市",)]
