"""Which backups to keep: restic's ``forget`` grammar, plus a hard maximum age.

A policy (:meth:`Policy.parse`, from configuration) says, as restic does:

- ``keep-last: n`` — the n newest backups;
- ``keep-hourly`` / ``keep-daily`` / ``keep-weekly`` / ``keep-monthly`` / ``keep-yearly: n`` — for each of the
  n newest hours / days / ISO weeks / months / years *that have a backup*, the newest backup in it;
- ``keep-within: 1y2m3d4h`` — every backup taken within that long before the newest one;
- ``max-age: 2y`` (ours) — nothing older than that before *now* is kept, whatever else says so.

Calendar buckets (days, weeks …) are those of :data:`ZONE`, Asia/Shanghai: a backup taken at 23:30 UTC on
1 January belongs to 2 January there. An empty policy is refused (it would keep nothing, or everything —
restic refuses it too). And the plan never removes the only backup that verifies: if none of the kept ones
verifies, the newest one that does is kept as well, with that reason.

:func:`plan` is pure: it says what to keep and why, what to remove and why; the expiry step carries it out.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from handover.durations import ZONE, Duration, RetentionError  # one duration type, one zone, one error

__all__ = ["BUCKETS", "ZONE", "Backup", "Duration", "Plan", "Policy", "RetentionError", "plan"]

BUCKETS = ("hourly", "daily", "weekly", "monthly", "yearly")


@dataclass(frozen=True)
class Policy:
    last: int = 0
    hourly: int = 0
    daily: int = 0
    weekly: int = 0
    monthly: int = 0
    yearly: int = 0
    within: Duration | None = None
    max_age: Duration | None = None

    def latest_expiry(self, taken_at: dt.datetime) -> dt.datetime | None:
        """The latest a backup taken at ``taken_at`` can still exist: ``max-age`` after it, plus the day to
        the next nightly expiry. None without a ``max-age`` (nothing bounds it)."""
        return self.max_age.after(taken_at) + dt.timedelta(days=1) if self.max_age else None

    @classmethod
    def parse(cls, raw: Mapping[str, object] | None) -> Policy:
        """From configuration: ``{keep-last: 7, keep-daily: 14, keep-within: 30d, max-age: 2y, …}``."""
        known = {"keep-last": "last", **{f"keep-{b}": b for b in BUCKETS}, "keep-within": "within",
                 "max-age": "max_age"}
        raw = dict(raw or {})
        problems = [f"unknown key {k!r} (known: {', '.join(known)})" for k in raw if k not in known]
        values: dict[str, object] = {}
        for key, name in known.items():
            if key not in raw or raw[key] is None:
                continue
            if name in ("within", "max_age"):
                try:
                    values[name] = Duration.parse(raw[key], key)
                except RetentionError as exc:
                    problems.append(str(exc))
            elif isinstance(raw[key], bool) or not isinstance(raw[key], int) or raw[key] < 0:
                problems.append(f"{key}: a whole number of backups, 0 or more (got {raw[key]!r})")
            else:
                values[name] = raw[key]
        if problems:
            raise RetentionError("backup retention policy: " + "; ".join(problems))
        policy = cls(**values)
        if not policy.keeps_anything:
            raise RetentionError("backup retention policy is empty: say what to keep (keep-last, keep-daily, "
                                 "keep-weekly, keep-monthly, keep-yearly, keep-hourly or keep-within)")
        return policy

    @property
    def keeps_anything(self) -> bool:
        return bool(self.last or any(getattr(self, b) for b in BUCKETS) or self.within)


@dataclass(frozen=True)
class Backup:
    backup_id: str
    taken_at: dt.datetime  # timezone-aware
    verified: bool = True


@dataclass
class Plan:
    keep: dict[str, list[str]] = field(default_factory=dict)  # backup id → reasons, newest first
    remove: dict[str, list[str]] = field(default_factory=dict)

    def kept(self) -> list[str]:
        return list(self.keep)


def _bucket(moment: dt.datetime, unit: str) -> tuple:
    local = moment.astimezone(ZONE)
    if unit == "hourly":
        return local.year, local.month, local.day, local.hour
    if unit == "daily":
        return local.year, local.month, local.day
    if unit == "weekly":
        return local.isocalendar()[:2]
    if unit == "monthly":
        return local.year, local.month
    return (local.year,)


def plan(backups: Iterable[Backup], policy: Policy, now: dt.datetime) -> Plan:
    """What ``policy`` keeps of ``backups`` at ``now``, and why; the rest to remove, and why."""
    if not policy.keeps_anything:
        raise RetentionError("backup retention policy is empty")
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    ordered = sorted(backups, key=lambda b: (b.taken_at, b.backup_id), reverse=True)
    reasons: dict[str, list[str]] = {b.backup_id: [] for b in ordered}
    for backup in ordered[: policy.last]:
        reasons[backup.backup_id].append("last")
    for unit in BUCKETS:
        wanted, seen = getattr(policy, unit), set()
        for backup in ordered:
            if len(seen) >= wanted:
                break
            bucket = _bucket(backup.taken_at, unit)
            if bucket not in seen:  # the newest backup of a bucket not yet counted
                seen.add(bucket)
                reasons[backup.backup_id].append(f"{unit} {'-'.join(map(str, bucket))}")
    if policy.within and ordered:
        since = policy.within.before(ordered[0].taken_at)
        for backup in ordered:
            if backup.taken_at >= since:
                reasons[backup.backup_id].append(f"within {policy.within} of the newest")
    result = Plan()
    oldest_allowed = policy.max_age.before(now) if policy.max_age else None
    for backup in ordered:
        why = reasons[backup.backup_id]
        if why and oldest_allowed is not None and backup.taken_at < oldest_allowed:
            result.remove[backup.backup_id] = [f"older than max-age {policy.max_age}"] + [f"(was: {w})" for w in why]
        elif why:
            result.keep[backup.backup_id] = why
        else:
            result.remove[backup.backup_id] = ["no keep rule matches"]
    by_id = {b.backup_id: b for b in ordered}
    if not any(by_id[i].verified for i in result.keep):
        good = next((b for b in ordered if b.verified), None)
        if good is not None:
            result.remove.pop(good.backup_id, None)
            result.keep[good.backup_id] = ["the newest backup that verifies (none of the others kept does)"]
    return result
