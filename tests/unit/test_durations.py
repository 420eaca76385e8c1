"""One duration type for retention classes and backup policies (`handover.durations`), over the calendar:
a shift lands on the side that keeps data longer, whichever use asks."""

from __future__ import annotations

import datetime as dt

import pytest
from handover.backup import retention
from handover.durations import ZONE, Duration, RetentionError
from handover.purge import rules


@pytest.mark.parametrize("text, expected", [
    ("5y", Duration(years=5)), ("18m", Duration(months=18)), ("90d", Duration(days=90)), ("36h", Duration(hours=36)),
    ("1y6m", Duration(1, 6)), ("1y2m3d4h", Duration(1, 2, 3, 4)),
])
def test_the_grammar(text, expected):
    assert Duration.parse(text) == expected and str(expected) == text


@pytest.mark.parametrize("text", ["", "5 years", "y", "-1d", "5w", "1.5y"])
def test_what_is_not_a_duration(text):
    with pytest.raises(RetentionError, match="is not a duration"):
        Duration.parse(text)


@pytest.mark.parametrize("day, keep, forward, backward", [
    (dt.date(2024, 1, 31), "1m", dt.date(2024, 3, 1), dt.date(2023, 12, 31)),
    (dt.date(2024, 2, 29), "1y", dt.date(2025, 3, 1), dt.date(2023, 2, 28)),
    (dt.date(2024, 3, 31), "1m", dt.date(2024, 5, 1), dt.date(2024, 2, 29)),
    (dt.date(2024, 8, 31), "6m", dt.date(2025, 3, 1), dt.date(2024, 2, 29)),
    (dt.date(2024, 5, 15), "18m", dt.date(2025, 11, 15), dt.date(2022, 11, 15)),
])
def test_month_ends_roll_forward_after_and_clamp_before(day, keep, forward, backward):
    duration = Duration.parse(keep)
    assert duration.after(day) == forward and duration.before(day) == backward


def _expected(day: dt.date, keep: Duration) -> dt.date:
    """An independent reading of the rule: count the months by hand, try the day, else the next 1st."""
    if not keep.calendar_months:
        return day + dt.timedelta(days=keep.days)
    year, month = day.year, day.month
    for _ in range(keep.calendar_months):
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    try:
        return dt.date(year, month, day.day)
    except ValueError:
        return dt.date(year + 1, 1, 1) if month == 12 else dt.date(year, month + 1, 1)


def test_over_eight_years_of_days_a_shift_never_comes_short_and_both_uses_agree():
    keeps = [Duration.parse(k) for k in ("1m", "3m", "6m", "1y", "18m", "3y", "5y", "90d")]
    day, end = dt.date(2020, 1, 1), dt.date(2028, 1, 1)
    while day < end:
        for keep in keeps:
            due = rules.due_date(day, keep)
            # never before the calendar says: the same day-of-month N months on, or the month after's first
            assert due == _expected(day, keep)
            assert rules.cutoff(due, keep) >= day and rules.cutoff(due - dt.timedelta(days=1), keep) < day
            moment = dt.datetime.combine(day, dt.time(12), ZONE)
            assert retention.Duration is Duration and keep.after(moment).date() == due  # the backups' one too
        day += dt.timedelta(days=1)


def test_hours_count_on_a_moment_and_as_whole_days_on_a_date():
    moment = dt.datetime(2024, 1, 31, 23, 0, tzinfo=ZONE)
    assert Duration.parse("36h").after(moment) == dt.datetime(2024, 2, 2, 11, 0, tzinfo=ZONE)
    assert Duration.parse("36h").after(dt.date(2024, 1, 31)) == dt.date(2024, 2, 1)
