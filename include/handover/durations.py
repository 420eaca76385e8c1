"""Durations on the calendar — one type for every "keep this long" (retention classes, backup policies).

A duration is restic's grammar: ``5y``, ``18m``, ``90d``, ``36h``, or a sum ``1y6m``. Years and months
count on the calendar, in Asia/Shanghai (the branches' local time); days and hours then add on.

**Month ends.** When a shift lands on a day the month does not have (31 January plus a month, 29 February
plus a year), the rule is the one that keeps data longer — a legal minimum is never cut short:

- forward (`Duration.after`: when a record becomes due, when a backup's longest keep runs out) rolls on
  to the first of the next month: 2024-01-31 + 1m = 2024-03-01;
- backward (`Duration.before`: the oldest moment still kept) clamps to the month's last day:
  2024-03-31 − 1m = 2024-02-29.

So a record anchored on day A and kept N is due on ``after(A)`` and never a day before, whichever use asks.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from handover.errors import HandoverError

ZONE = ZoneInfo("Asia/Shanghai")
_DURATION = re.compile(r"(?:(\d+)y)?(?:(\d+)m)?(?:(\d+)d)?(?:(\d+)h)?")


class RetentionError(HandoverError):
    """A retention rule or policy that cannot be used; the message says which and why."""


def _months_later(day: dt.date, months: int, forward: bool) -> dt.date:
    total = day.year * 12 + (day.month - 1) + months
    year, month = divmod(total, 12)
    last = calendar.monthrange(year, month + 1)[1]
    if day.day <= last:
        return dt.date(year, month + 1, day.day)
    if forward:  # the day does not exist: the next month's first (never a day short)
        year, month = divmod(total + 1, 12)
        return dt.date(year, month + 1, 1)
    return dt.date(year, month + 1, last)  # backward: the month's last day (the earlier bound keeps more)


@dataclass(frozen=True)
class Duration:
    years: int = 0
    months: int = 0
    days: int = 0
    hours: int = 0

    @classmethod
    def parse(cls, text: object, where: str = "duration") -> Duration:
        match = _DURATION.fullmatch(str(text).strip())
        if not match or not any(match.groups()):
            raise RetentionError(f"{where}: {str(text)[:40]!r} is not a duration such as 5y, 18m, 90d, 1y6m or 36h")
        return cls(*(int(g or 0) for g in match.groups()))

    @property
    def calendar_months(self) -> int:
        return self.years * 12 + self.months

    def after(self, when: dt.date | dt.datetime) -> dt.date | dt.datetime:
        """``when`` plus this duration; a date gives a date (hours then count as whole days only)."""
        return self._shift(when, +1)

    def before(self, when: dt.date | dt.datetime) -> dt.date | dt.datetime:
        """``when`` minus this duration."""
        return self._shift(when, -1)

    def _shift(self, when, sign: int):
        if isinstance(when, dt.datetime):
            local = when.astimezone(ZONE)
            day = _months_later(local.date(), sign * self.calendar_months, sign > 0)
            moved = dt.datetime.combine(day, local.timetz())
            return moved + sign * dt.timedelta(days=self.days, hours=self.hours)
        day = _months_later(when, sign * self.calendar_months, sign > 0)
        return day + sign * dt.timedelta(days=self.days + self.hours // 24)

    def __str__(self) -> str:
        return "".join(f"{n}{u}" for n, u in zip((self.years, self.months, self.days, self.hours), "ymdh",
                                                 strict=True) if n) or "0d"
