"""Customer insights on the transferred sample: the segment counts the SQL models publish equal those computed
here, independently, in Python from the analytics rows; small cells are suppressed (and the cells that would
give them away); objectors are left out; the models run as the analyst and cannot read the vault; the CSV
download is neutralised."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections import Counter, defaultdict

import psycopg2
import pytest
from handover import insights
from handover.errors import StoreError
from handover.insights import Thresholds, models, store, suppression
from handover.insights.suppression import ALL, PARTITIONS, Cell
from handover.store import connect, roles

AS_OF = dt.date(2025, 3, 31)  # the sample's transactions are of 2024, its contacts of 2025: every class occurs
REGION = re.compile(r"^(.+?(?:省|自治区|特别行政区|市))")


@pytest.fixture
def store_dsn(transferred, pg_admin_dsn):
    from psycopg2.extensions import parse_dsn

    ctx = transferred[0]
    with psycopg2.connect(ctx.dsn) as conn:
        roles.ensure_roles(conn, parse_dsn(ctx.dsn)["dbname"])
    return ctx.dsn


def _compute(dsn: str, k: int, as_of: dt.date = AS_OF, thresholds: Thresholds | None = None) -> dict:
    with connect(dsn, "test") as conn:
        return insights.compute(conn, as_of=as_of, min_k=k, thresholds=thresholds, computed_by="test")


def _published(dsn: str, as_of: dt.date = AS_OF) -> dict[tuple, tuple[int | None, bool]]:
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT branch_id, region, dimension, segment, customers, suppressed FROM insights.segments "
                    "WHERE as_of = %s", (as_of,))
        return {tuple(r[:4]): (r[4], r[5]) for r in cur.fetchall()}


# -- the expected counts, from the analytics rows ------------------------------------------------------

def expected_cells(dsn: str, as_of: dt.date, t: Thresholds | None = None) -> dict[tuple, int]:
    """Customers per (branch, region, dimension, segment), computed in Python from the rows of analytics."""
    t = t or Thresholds()
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT branch_id, customer_token, address_general, last_activity FROM analytics.customers")
        customers = cur.fetchall()
        cur.execute("SELECT branch_id, account_token, customer_token, account_type FROM analytics.accounts")
        accounts = cur.fetchall()
        cur.execute("SELECT branch_id, account_token, customer_token, card_type FROM analytics.cards")
        cards = cur.fetchall()
        cur.execute("SELECT branch_id, account_token, customer_token, occurred_at, amount, channel "
                    "FROM analytics.transactions")
        transactions = cur.fetchall()
        cur.execute("SELECT branch_id, customer_token, occurred_at, channel FROM analytics.interactions")
        interactions = cur.fetchall()
    owner = {(b, a): c for b, a, c, _ in accounts}
    window_start = as_of - dt.timedelta(days=t.window_days)
    seen: dict[tuple, list[dt.date]] = defaultdict(list)
    frequency: Counter = Counter()
    monetary: Counter = Counter()
    channels: dict[tuple, set] = defaultdict(set)
    for b, a, c, at, amount, channel in transactions:
        who = (b, c or owner.get((b, a)))
        day = at.date()
        if who[1] is None or day > as_of:
            continue
        seen[who].append(day)
        if day > window_start:
            frequency[who] += 1
            monetary[who] += abs(amount)
            channels[who].add(channel or "unknown")
    for b, c, at, channel in interactions:
        if at is None or at.date() > as_of:
            continue
        seen[(b, c)].append(at.date())
        if at.date() > window_start:
            channels[(b, c)].add(channel or "unknown")
    products: dict[tuple, set] = defaultdict(set)
    for b, _, c, kind in accounts:
        products[(b, c)].add(f"account:{kind or 'unknown'}")
    for b, a, c, kind in cards:
        who = c or owner.get((b, a))
        if who:
            products[(b, who)].add(f"card:{kind or 'unknown'}")

    counts: Counter = Counter()
    for b, c, address, last_activity in customers:
        who = (b, c)
        m = REGION.match(address or "")
        region = m[1] if m else "unknown"
        days = seen[who] + ([last_activity] if last_activity and last_activity <= as_of else [])
        since = (as_of - max(days)).days if days else None
        r = 1 if since is None else 3 if since <= t.recent_days else 2 if since <= t.lapsed_days else 1
        f = 3 if frequency[who] >= t.frequent else 2 if frequency[who] >= 1 else 1
        m_ = 3 if monetary[who] >= t.high_value else 2 if monetary[who] >= t.mid_value else 1
        named = ("champions" if r == 3 and f == 3 else "loyal" if r >= 2 and f >= 2 else
                 "new_or_returning" if r == 3 else "at_risk" if r == 1 and f >= 2 else "lost" if r == 1 else
                 "needs_attention")
        activity = ("active" if since is not None and since <= t.active_days else
                    "churn_risk" if since is not None and since <= t.dormant_days else "dormant")
        segments = [("customers", "all"), ("activity", activity), ("rfm_segment", named),
                    ("rfm", f"R{r}F{f}M{m_}"), ("recency", f"R{r}"), ("frequency", f"F{f}"),
                    ("monetary", f"M{m_}")]
        segments += [("product", p) for p in products[who]] + [("channel", ch) for ch in channels[who]]
        for dimension, segment in segments:
            counts[(b, region, dimension, segment)] += 1
            counts[(b, ALL, dimension, segment)] += 1
    return dict(counts)


# -- the behaviour --------------------------------------------------------------------------------------

def test_segment_counts_equal_those_computed_from_the_analytics_rows(store_dsn):
    summary = _compute(store_dsn, k=1)
    published = _published(store_dsn)
    expected = expected_cells(store_dsn, AS_OF)
    assert {place: n for place, (n, _) in published.items()} == expected
    assert summary["suppressed"] == 0 and summary["customers"] == expected[("SH-PD-0042", ALL, "customers", "all")]
    activity = {seg: n for (_, region, dim, seg), n in expected.items() if region == ALL and dim == "activity"}
    assert set(activity) == {"active", "churn_risk", "dormant"}  # the as-of day gives every class
    assert {dim for _, _, dim, _ in expected} == {"customers", "activity", "rfm_segment", "rfm", "recency",
                                                   "frequency", "monetary", "product", "channel"}
    # by region, not only the branch (the sample's customers live in Shanghai; the rest had their address
    # generalised away by k-anonymity)
    assert {region for _, region, _, _ in expected} == {ALL, "上海市", "unknown"}


def test_other_thresholds_and_days_move_the_counts_the_same_way(store_dsn):
    tight = Thresholds(recent_days=30, lapsed_days=120, frequent=3, high_value=20_000, mid_value=1_000,
                       active_days=30, dormant_days=60, window_days=180)
    later = dt.date(2025, 9, 30)
    _compute(store_dsn, k=1, as_of=later, thresholds=tight)
    assert {p: n for p, (n, _) in _published(store_dsn, later).items()} == expected_cells(store_dsn, later, tight)


@pytest.mark.parametrize("k", [2, 10])
def test_small_cells_are_suppressed_in_every_published_aggregate(store_dsn, k):
    summary = _compute(store_dsn, k=k)
    published = _published(store_dsn)
    expected = expected_cells(store_dsn, AS_OF)
    assert set(published) == set(expected)
    shown = {p: n for p, (n, hidden) in published.items() if not hidden}
    hidden = {p for p, (_, h) in published.items() if h}
    assert all(n >= k for n in shown.values())  # primary
    assert {p for p, n in expected.items() if n < k} <= hidden
    assert all(shown[p] == expected[p] for p in shown)  # what is shown is true
    assert all(published[p][0] is None for p in hidden)
    assert summary["suppressed"] == len(hidden) > 0
    # secondary: no published total less its published parts leaves exactly one suppressed cell to solve for
    for total, parts in _addends(expected):
        if total in shown:
            assert sum(p in hidden for p in parts) != 1, (total, parts)


def _addends(cells: dict) -> list[tuple[tuple, list[tuple]]]:
    groups: dict[tuple, list] = defaultdict(list)
    for b, region, dim, seg in cells:
        if region != ALL:
            groups[((b, ALL, dim, seg), "regions")].append((b, region, dim, seg))
        if dim in PARTITIONS:
            groups[((b, region, "customers", "all"), dim)].append((b, region, dim, seg))
    return [(total, parts) for (total, _), parts in groups.items()]


def test_a_customer_who_objected_is_left_out_even_if_his_analytics_rows_came_back(store_dsn):
    """Objections remove analytics rows when they arrive; here the row is back (an analytics tier restored
    from before it), and the insights remove it again before counting."""
    with psycopg2.connect(store_dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT c.customer_id, a.customer_token FROM vault.customers c JOIN analytics.customers a "
                    "USING (branch_id, row_hash) ORDER BY c.customer_id LIMIT 1")
        customer, token = cur.fetchone()
        cur.execute("INSERT INTO control.objections (branch_id, customer_id, kind, source, received_by) "
                    "VALUES ('SH-PD-0042', %s, 'withdrawal', 'letter', 'test')", (customer,))
    before = expected_cells(store_dsn, AS_OF)
    summary = _compute(store_dsn, k=1)
    after = expected_cells(store_dsn, AS_OF)  # computed from what is left in analytics
    with psycopg2.connect(store_dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM analytics.customers WHERE customer_token = %s", (token,))
        assert cur.fetchone()[0] == 0
    total = ("SH-PD-0042", ALL, "customers", "all")
    assert after[total] == before[total] - 1 == summary["customers"]
    assert summary["objectors_rows_removed"] >= 1
    assert {p: n for p, (n, _) in _published(store_dsn).items()} == after


def test_the_models_run_as_the_analyst_and_cannot_read_the_vault(store_dsn, tmp_path):
    (tmp_path / "10_peek.sql").write_text("SELECT branch_id, 'all', 'x', 'y', count(*) FROM vault.customers "
                                          "GROUP BY 1", encoding="utf-8")
    with pytest.raises(StoreError, match="insufficient_privilege.*schema vault"), connect(store_dsn, "test") as conn:
        models.run(conn, Thresholds().params(AS_OF), folder=tmp_path)
    (tmp_path / "10_peek.sql").write_text("SELECT 'b', current_user::text, 'x', 'y', 1", encoding="utf-8")
    with connect(store_dsn, "test") as conn:
        assert models.run(conn, Thresholds().params(AS_OF), folder=tmp_path)[0].region == roles.ANALYST


def test_a_second_run_of_a_day_replaces_the_first(store_dsn):
    first = _compute(store_dsn, k=2)
    second = _compute(store_dsn, k=2)
    with psycopg2.connect(store_dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT id FROM insights.runs WHERE as_of = %s", (AS_OF,))
        assert [r[0] for r in cur.fetchall()] == [second["insight_run"]] != [first["insight_run"]]
        cur.execute("SELECT count(*) FROM insights.segments")
        assert cur.fetchone()[0] == second["cells"]


def test_the_csv_download_is_neutralised_and_shows_no_small_count(store_dsn):
    with psycopg2.connect(store_dsn) as conn, conn.cursor() as cur:  # a channel the branch wrote like a formula
        cur.execute("UPDATE analytics.interactions SET channel = '=HYPERLINK(\"x\")' WHERE occurred_at::date "
                    "BETWEEN '2025-01-01' AND '2025-03-31'")
    _compute(store_dsn, k=2)
    with psycopg2.connect(store_dsn) as conn:
        text = store.csv_text(conn)
    rows = list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff"))))
    assert rows and {r["segment"] for r in rows if r["dimension"] == "channel"} >= {"'=HYPERLINK(\"x\")"}
    assert not [r for r in rows if r["customers"] and int(r["customers"]) < 2]
    assert all(r["customers"] == "" for r in rows if r["suppressed"] == "yes")


@pytest.mark.parametrize("cells, k, hidden", [
    # one small region: its neighbour goes too, or the branch's total would give it away
    ([("b", "all", "customers", "all", 30), ("b", "甲省", "customers", "all", 27), ("b", "乙省", "customers", "all", 3)],
     5, {("b", "甲省", "customers", "all"), ("b", "乙省", "customers", "all")}),
    # two small ones hide each other
    ([("b", "all", "customers", "all", 30), ("b", "甲省", "customers", "all", 26), ("b", "乙省", "customers", "all", 2),
      ("b", "丙省", "customers", "all", 2)], 5, {("b", "乙省", "customers", "all"), ("b", "丙省", "customers", "all")}),
    # a partition: one small class hides the smallest other
    ([("b", "all", "customers", "all", 30), ("b", "all", "activity", "active", 20), ("b", "all", "activity", "dormant", 7),
      ("b", "all", "activity", "churn_risk", 3)], 5,
     {("b", "all", "activity", "churn_risk"), ("b", "all", "activity", "dormant")}),
    # nothing small: nothing hidden
    ([("b", "all", "customers", "all", 30), ("b", "甲省", "customers", "all", 30)], 5, set()),
])
def test_suppression_hides_small_cells_and_those_that_give_them_away(cells, k, hidden):
    out = suppression.suppress([Cell(*c) for c in cells], k)
    assert {c.place for c in out if c.suppressed} == hidden
    assert all(c.published is None for c in out if c.suppressed)
