"""Retention rules (数据删除, PIPL Art. 47): how long each kind of record is kept, from when, and the day it
becomes due for deletion — one place for the arithmetic, no database here.

A **retention class** (a contract's ``retention:`` section; its columns name one) is ``keep`` — a duration
``5y``, ``18m``, ``90d`` — ``after`` an anchor, and optionally a legal ``basis`` (e.g. ``aml``: 反洗钱
record keeping) under which an erasure request must wait until the period has run:

=================== ===================================================================================
``created``         the record's own date: a customer's or account's ``opened_on``, a transaction's or
                    interaction's ``occurred_at`` (the load time when the record has none)
``transaction``     a transaction's ``occurred_at`` (for other records: as ``created``)
``last_activity``   the customer's latest date of any kind: opened, an account opened, a transaction,
                    an interaction
``relationship_end`` the customer's last activity, once the relationship has ended: every account is
                    closed (status in :data:`CLOSED_STATUSES`), or the customer never had one. While an
                    account is open the relationship goes on, and nothing anchored on it is due.
=================== ===================================================================================

**Days.** Anchors are dates in Asia/Shanghai (the branch's local time, as its exports are written); "today"
is the date in Asia/Shanghai. A record anchored on day *A* and kept *N* is kept through the day before
*A + N* and **due on A + N**. When *A + N* does not exist (29 February plus a year, 31 January plus a
month) it rolls forward to the first of the next month: a legal minimum is never cut a day short. (The
arithmetic is `handover.durations`', shared with the backups' retention.)
:func:`cutoff` turns that into a bound a query can use: the record is due exactly when its anchor ≤
``cutoff(today, keep)``.

**Housekeeping** (:data:`HOUSEKEEPING`, overridable): quarantine rows 90 days after their run; customers
excluded for lack of consent once their transfer has completed; archived originals; run work areas.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from handover.durations import ZONE, Duration, RetentionError

ANCHORS = ("created", "transaction", "last_activity", "relationship_end")
CLOSED_STATUSES = ("closed", "销户", "已销户", "注销", "已注销", "清户", "结清")
Keep = Duration  # how long a class keeps its records: one duration type (handover.durations)
__all__ = ["ANCHORS", "CLOSED_STATUSES", "HOUSEKEEPING", "ZONE", "Keep", "RetentionClass", "RetentionError",
           "cutoff", "due_date", "housekeeping", "today_in_shanghai"]

# Records that are not customer data as such, kept for the transfer's own sake.
HOUSEKEEPING = {
    "quarantine": "90d",            # a quarantined row, after the run that quarantined it
    "excluded_no_consent": "0d",    # a customer left behind for lack of consent, once the transfer completed
    "archives": "1y",               # the branch's untouched export (encrypted), after it was archived
    "work_areas": "7d",             # a run's work area left by a killed run, after it was last written
}


@dataclass(frozen=True)
class RetentionClass:
    name: str
    keep: Keep
    after: str
    basis: str | None = None  # a legal duty to keep (e.g. "aml"): erasure waits until due

    @classmethod
    def from_rule(cls, name: str, rule: dict) -> RetentionClass:
        after = rule.get("after", "created")
        if after not in ANCHORS:
            raise RetentionError(f"retention class {name}: after {after!r} is not one of {', '.join(ANCHORS)}")
        return cls(name, Keep.parse(rule["keep"]), after, rule.get("basis") or None)

    def open_relationship_wait(self, today: dt.date) -> tuple[str, dt.date]:
        """Why an erasure waits while the customer's relationship has not ended (this class keeps the
        records after its end), and when it is tried again: tomorrow."""
        return (f"{self.basis}: class {self.name} keeps the records {self.keep} after the relationship ends, "
                "and it has not ended"), today + dt.timedelta(days=1)

    def legal_wait(self, entity: str, anchor: dt.date | None, today: dt.date) -> tuple[str, dt.date] | None:
        """Why an erasure of ``entity``'s records anchored on ``anchor`` waits for this class's legal basis,
        and the day it may be carried out — None when the class has no basis or its period has run."""
        if not self.basis or anchor is None:
            return None
        until = due_date(anchor, self.keep)
        if until <= today:
            return None
        return f"{self.basis}: class {self.name} keeps {entity} {self.keep} after {self.after}", until


def latest_wait(waits) -> tuple[str, dt.date] | None:
    """The longest of several :meth:`RetentionClass.legal_wait` answers (None where none waits)."""
    found = [w for w in waits if w is not None]
    return max(found, key=lambda w: w[1]) if found else None


def due_date(anchor: dt.date, keep: Keep) -> dt.date:
    """The first day a record anchored on ``anchor`` may be deleted."""
    return keep.after(anchor)


def cutoff(today: dt.date, keep: Keep) -> dt.date:
    """The latest anchor that is due on ``today``: due ⇔ anchor ≤ cutoff (``due_date`` is monotonic)."""
    guess = keep.before(today)
    while due_date(guess + dt.timedelta(days=1), keep) <= today:
        guess += dt.timedelta(days=1)
    while due_date(guess, keep) > today:
        guess -= dt.timedelta(days=1)
    return guess


def today_in_shanghai(now: dt.datetime | None = None) -> dt.date:
    return (now or dt.datetime.now(dt.UTC)).astimezone(ZONE).date()


def housekeeping(overrides: dict | None = None) -> dict[str, Keep]:
    merged = HOUSEKEEPING | (overrides or {})
    unknown = sorted(set(merged) - set(HOUSEKEEPING))
    if unknown:
        raise RetentionError(f"unknown housekeeping class {', '.join(unknown)} (known: {', '.join(HOUSEKEEPING)})")
    return {name: Keep.parse(text) for name, text in merged.items()}
