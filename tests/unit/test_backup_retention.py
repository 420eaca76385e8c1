"""Backup retention, table-driven over a synthetic calendar (Asia/Shanghai days)."""

from __future__ import annotations

import datetime as dt

import pytest
from handover.backup.retention import ZONE, Backup, Duration, Policy, RetentionError, plan

UTC = dt.UTC


def nightly(days: int, end: dt.date = dt.date(2026, 11, 29), hour: int = 2) -> list[Backup]:
    """One backup a night at 02:00 Shanghai time for `days` nights up to `end`."""
    return [Backup(f"b{d:%Y%m%d}", dt.datetime.combine(d, dt.time(hour), ZONE))
            for d in (end - dt.timedelta(days=i) for i in range(days))]


NOW = dt.datetime(2026, 11, 29, 3, 0, tzinfo=ZONE)


@pytest.mark.parametrize(("policy", "kept"), [
    ({"keep-last": 3}, ["b20261129", "b20261128", "b20261127"]),
    ({"keep-daily": 2}, ["b20261129", "b20261128"]),
    # ISO weeks: 2026-11-29 is a Sunday, so 29 Nov, 22 Nov, 15 Nov close three weeks
    ({"keep-weekly": 3}, ["b20261129", "b20261122", "b20261115"]),
    ({"keep-monthly": 3}, ["b20261129", "b20261031", "b20260930"]),
    ({"keep-yearly": 2}, ["b20261129", "b20251231"]),
    ({"keep-within": "3d"}, ["b20261129", "b20261128", "b20261127", "b20261126"]),
    ({"keep-last": 1, "keep-monthly": 2}, ["b20261129", "b20261031"]),
])
def test_what_each_rule_keeps(policy, kept):
    result = plan(nightly(800), Policy.parse(policy), NOW)
    assert result.kept() == kept
    assert len(result.keep) + len(result.remove) == 800
    assert all(result.remove[b] == ["no keep rule matches"] for b in result.remove)


def test_a_typical_policy_over_two_years():
    result = plan(nightly(800), Policy.parse({"keep-daily": 7, "keep-weekly": 4, "keep-monthly": 12,
                                               "keep-yearly": 3}), NOW)
    # 7 days; weeks add 3 Sundays not among them; months add 11 month-ends; years add 2025-12-31 (kept as
    # a month already) and 2024-12-31
    assert len(result.keep) == 7 + 3 + 11 + 1
    assert result.keep["b20261129"] == ["daily 2026-11-29", "weekly 2026-48", "monthly 2026-11", "yearly 2026"]


def test_reasons_name_every_rule_that_keeps_a_backup():
    result = plan(nightly(40), Policy.parse({"keep-last": 2, "keep-within": "1d"}), NOW)
    assert result.keep["b20261129"] == ["last", "within 1d of the newest"]
    assert result.keep["b20261128"] == ["last", "within 1d of the newest"]


@pytest.mark.parametrize(("taken_utc", "day"), [
    (dt.datetime(2026, 1, 1, 15, 59, tzinfo=UTC), "2026-1-1"),   # 23:59 in Shanghai
    (dt.datetime(2026, 1, 1, 16, 0, tzinfo=UTC), "2026-1-2"),    # 00:00 the next day there
])
def test_days_are_shanghai_days(taken_utc, day):
    result = plan([Backup("x", taken_utc)], Policy.parse({"keep-daily": 1}), taken_utc)
    assert result.keep["x"] == [f"daily {day}"]


def test_two_backups_on_one_shanghai_day_count_once_and_the_newer_wins():
    early = Backup("early", dt.datetime(2026, 3, 1, 17, 0, tzinfo=UTC))   # 01:00 on 2 March, Shanghai
    late = Backup("late", dt.datetime(2026, 3, 2, 14, 0, tzinfo=UTC))     # 22:00 on 2 March
    before = Backup("before", dt.datetime(2026, 3, 1, 15, 0, tzinfo=UTC))  # 23:00 on 1 March
    result = plan([early, late, before], Policy.parse({"keep-daily": 2}), late.taken_at)
    assert result.kept() == ["late", "before"] and list(result.remove) == ["early"]


@pytest.mark.parametrize(("newest", "within", "oldest_kept"), [
    (dt.datetime(2024, 3, 31, 2, tzinfo=ZONE), "1m", dt.date(2024, 2, 29)),  # leap year: 31 Mar - 1m = 29 Feb
    (dt.datetime(2025, 3, 31, 2, tzinfo=ZONE), "1m", dt.date(2025, 2, 28)),
    (dt.datetime(2024, 2, 29, 2, tzinfo=ZONE), "1y", dt.date(2023, 2, 28)),
    (dt.datetime(2026, 11, 29, 2, tzinfo=ZONE), "1y2m3d", dt.date(2025, 9, 26)),
])
def test_keep_within_counts_months_and_leap_years_on_the_calendar(newest, within, oldest_kept):
    backups = nightly(500, newest.date())
    result = plan(backups, Policy.parse({"keep-within": within}), newest)
    assert min(dt.date.fromisoformat(f"{b[1:5]}-{b[5:7]}-{b[7:]}") for b in result.keep) == oldest_kept


def test_max_age_removes_what_other_rules_would_keep_and_says_so():
    result = plan(nightly(800), Policy.parse({"keep-yearly": 5, "max-age": "1y"}), NOW)
    assert result.kept() == ["b20261129", "b20251231"]
    assert result.remove["b20241231"][0] == "older than max-age 1y"
    assert result.remove["b20241231"][1] == "(was: yearly 2024)"


def test_the_only_backup_that_verifies_is_never_removed():
    backups = nightly(10)
    broken = [Backup(b.backup_id, b.taken_at, verified=b.backup_id == "b20261120") for b in backups]
    result = plan(broken, Policy.parse({"keep-last": 3}), NOW)
    assert "b20261120" in result.keep
    assert result.keep["b20261120"] == ["the newest backup that verifies (none of the others kept does)"]
    assert len(result.keep) == 4


def test_a_kept_backup_that_verifies_is_enough():
    backups = nightly(10)
    mixed = [Backup(b.backup_id, b.taken_at, verified=b.backup_id != "b20261129") for b in backups]
    assert plan(mixed, Policy.parse({"keep-last": 2}), NOW).kept() == ["b20261129", "b20261128"]


@pytest.mark.parametrize("raw", [None, {}, {"keep-daily": 0}, {"max-age": "1y"}])
def test_an_empty_policy_is_refused(raw):
    with pytest.raises(RetentionError, match="empty"):
        Policy.parse(raw)


@pytest.mark.parametrize(("raw", "says"), [
    ({"keep-dayly": 3}, "unknown key 'keep-dayly'"),
    ({"keep-daily": -1}, "keep-daily: a whole number"),
    ({"keep-daily": "7"}, "keep-daily: a whole number"),
    ({"keep-within": "7 days"}, "keep-within: '7 days' is not a duration"),
    ({"max-age": ""}, "max-age"),
])
def test_a_bad_policy_names_the_key(raw, says):
    with pytest.raises(RetentionError, match=says):
        Policy.parse(raw | {"keep-last": 1})


def test_durations_read_like_restics():
    assert Duration.parse("1y5m7d2h", "x") == Duration(1, 5, 7, 2)
    assert str(Duration.parse("36h", "x")) == "36h"
