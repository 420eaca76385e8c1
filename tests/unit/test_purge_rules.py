"""Retention arithmetic over a synthetic calendar: the exact due day, leap years, month ends, the day in
Asia/Shanghai — and `cutoff` agreeing with `due_date` on every day of eight years."""

from __future__ import annotations

import datetime as dt

import pytest
from handover.purge.rules import (
    Keep,
    RetentionClass,
    RetentionError,
    cutoff,
    due_date,
    housekeeping,
    today_in_shanghai,
)

D = dt.date


@pytest.mark.parametrize(("anchor", "keep", "due"), [
    (D(2021, 3, 10), "5y", D(2026, 3, 10)),     # kept through 2026-03-09, due on the anniversary
    (D(2020, 2, 29), "1y", D(2021, 3, 1)),      # 29 Feb + 1y does not exist: the next month's first
    (D(2020, 2, 29), "4y", D(2024, 2, 29)),     # … but it does four years on
    (D(2019, 2, 28), "1y", D(2020, 2, 28)),
    (D(2021, 1, 31), "1m", D(2021, 3, 1)),      # 31 Jan + 1m: no 31 Feb
    (D(2024, 1, 31), "1m", D(2024, 3, 1)),      # leap year: no 31 Feb either
    (D(2021, 8, 31), "18m", D(2023, 3, 1)),  # 2023-02-31 → 2023-03-01
    (D(2021, 12, 31), "3y", D(2024, 12, 31)),
    (D(2024, 12, 31), "90d", D(2025, 3, 31)),   # days count days: 2025 is not a leap year
    (D(2023, 12, 31), "90d", D(2024, 3, 30)),   # 2024 is
    (D(2026, 11, 30), "0d", D(2026, 11, 30)),   # due at once (excluded customers once the transfer completed)
])
def test_the_due_day(anchor, keep, due):
    assert due_date(anchor, Keep.parse(keep)) == due
    assert cutoff(due, Keep.parse(keep)) >= anchor  # due that day
    assert cutoff(due - dt.timedelta(days=1), Keep.parse(keep)) < anchor  # not the day before


@pytest.mark.parametrize("keep", ["1d", "90d", "1m", "18m", "1y", "3y", "5y"])
def test_cutoff_agrees_with_due_date_on_every_day(keep):
    rule = Keep.parse(keep)
    anchors = [D(2019, 1, 1) + dt.timedelta(days=i) for i in range(8 * 366)]
    for today in (D(2024, 2, 29), D(2024, 3, 1), D(2025, 2, 28), D(2025, 3, 1), D(2026, 1, 31), D(2026, 12, 31)):
        bound = cutoff(today, rule)
        for anchor in anchors:
            assert (anchor <= bound) == (due_date(anchor, rule) <= today), (keep, today, anchor)


@pytest.mark.parametrize(("utc", "shanghai"), [
    (dt.datetime(2026, 3, 9, 15, 59, 59, tzinfo=dt.UTC), D(2026, 3, 9)),   # 23:59:59 in Shanghai
    (dt.datetime(2026, 3, 9, 16, 0, 0, tzinfo=dt.UTC), D(2026, 3, 10)),    # 00:00 in Shanghai: the next day
    (dt.datetime(2024, 2, 28, 16, 0, tzinfo=dt.UTC), D(2024, 2, 29)),
])
def test_today_is_the_day_in_shanghai(utc, shanghai):
    assert today_in_shanghai(utc) == shanghai


def test_a_record_is_due_on_its_shanghai_anniversary_not_its_utc_one():
    """Anchored 2021-03-10 and kept 5y: at 2026-03-09 16:00 UTC it is already 10 March in Shanghai."""
    rule = Keep.parse("5y")
    assert D(2021, 3, 10) > cutoff(today_in_shanghai(dt.datetime(2026, 3, 9, 15, 59, tzinfo=dt.UTC)), rule)
    assert D(2021, 3, 10) <= cutoff(today_in_shanghai(dt.datetime(2026, 3, 9, 16, 0, tzinfo=dt.UTC)), rule)


def test_rules_refuse_what_they_cannot_apply():
    with pytest.raises(RetentionError):
        Keep.parse("5 years")
    with pytest.raises(RetentionError, match="after 'closure'"):
        RetentionClass.from_rule("x", {"keep": "5y", "after": "closure"})
    with pytest.raises(RetentionError, match="unknown housekeeping"):
        housekeeping({"backups": "1y"})
    assert housekeeping({"quarantine": "30d"})["quarantine"] == Keep(days=30)


def test_a_legal_basis_makes_an_erasure_wait_until_its_period_has_run_and_the_longest_wait_wins():
    from handover.purge.rules import latest_wait

    aml = RetentionClass.from_rule("aml_records", {"keep": "5y", "after": "transaction", "basis": "aml"})
    plain = RetentionClass.from_rule("contact", {"keep": "1y", "after": "last_activity"})
    today = dt.date(2026, 12, 3)
    why, until = aml.legal_wait("transactions", dt.date(2024, 2, 29), today)
    assert until == dt.date(2029, 3, 1) and why.startswith("aml: class aml_records keeps transactions 5y")
    assert aml.legal_wait("transactions", dt.date(2021, 12, 3), today) is None  # its period has run
    assert aml.legal_wait("transactions", None, today) is None  # nothing anchored
    assert plain.legal_wait("customers", dt.date(2026, 1, 1), today) is None  # no basis: no wait
    later = aml.legal_wait("accounts", dt.date(2025, 6, 1), today)
    assert latest_wait([None, (why, until), later]) == later and latest_wait([None]) is None
    assert aml.open_relationship_wait(today)[1] == dt.date(2026, 12, 4)
