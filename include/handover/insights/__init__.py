"""Customer insights (客户关系管理, 市场分析) on the pseudonymised tier only: who is active, who is slipping
away, what they hold and how they reach the branch — counted per branch and region, never per person.

The path, in three steps (:func:`compute`):

1. **exclude** — as the runner: the analytics rows of customers who objected or withdrew consent are removed
   again, branch by branch (:func:`handover.notices.objections.keep_out_of_analytics`, the load's own rule),
   so an analytics tier restored or loaded since cannot bring them back into a count;
2. **segment** — as ``handover_analyst`` (``SET LOCAL ROLE``: the session has that role's privileges and no
   other — ``analytics`` only, never the vault, ops or control): the SQL models of ``models/`` run in the
   order of their file names (:mod:`handover.insights.models`), into temporary tables, the last one returning
   the cells — customers per (branch, region, dimension, segment);
3. **publish** — small cells suppressed (:mod:`handover.insights.suppression`: below k, and the cells that
   would give a suppressed one away by subtraction), then written to ``insights.runs`` and
   ``insights.segments`` as the runner; a run for an as-of day replaces the earlier one of that day.

The dimensions: ``customers`` (all), ``activity`` (active · churn_risk · dormant, by days since the last
activity seen), ``recency``/``frequency``/``monetary`` (scores 1–3), ``rfm`` (their code, ``R3F2M1``),
``rfm_segment`` (a name for the code), ``product`` (customers holding each kind of account and card) and
``channel`` (customers who used each channel in the window). The thresholds are data
(:class:`Thresholds`; Variable ``handover_insights`` in Airflow).

No dbt: dbt-core and astronomer-cosmos are not in the local wheel index beside Airflow 3.3, so the models
are plain SQL files run by one task; each is a named, ordered file a reader can run in ``psql`` (with the
parameters of :meth:`Thresholds.params`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, fields

from handover.errors import HandoverError
from handover.insights import models, suppression
from handover.insights.suppression import Cell

DEFAULT_MIN_K = 5  # when the contract names no k (anonymity.min_k): the smallest cell published


class InsightsError(HandoverError):
    """The insights cannot be computed (a role missing, a threshold out of range)."""


@dataclass(frozen=True)
class Thresholds:
    """What the segments are cut at (days before the as-of day; amounts in the transactions' units)."""

    window_days: int = 365  # frequency, monetary and channel use count the transactions of this window
    recent_days: int = 90  # recency 3 (seen within), 2 (within lapsed_days), 1 (longer, or never)
    lapsed_days: int = 365
    frequent: int = 12  # frequency 3 (at least this many transactions in the window), 2 (at least one), 1
    high_value: float = 50_000  # monetary 3 (turnover in the window at least this), 2 (mid_value), 1
    mid_value: float = 5_000
    active_days: int = 90  # activity: active (seen within), churn_risk (within dormant_days), dormant
    dormant_days: int = 180

    @classmethod
    def of(cls, said: dict | None) -> Thresholds:
        said = dict(said or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(said) - known)
        if unknown:
            raise InsightsError(f"unknown insight thresholds: {', '.join(unknown)} (known: {', '.join(sorted(known))})")
        made = cls(**said)
        if not (0 < made.recent_days <= made.lapsed_days and 0 < made.active_days <= made.dormant_days
                and made.window_days > 0 and made.frequent >= 1 and 0 <= made.mid_value <= made.high_value):
            raise InsightsError("insight thresholds out of order: need 0 < recent_days <= lapsed_days, "
                                "0 < active_days <= dormant_days, window_days > 0, frequent >= 1, "
                                "0 <= mid_value <= high_value")
        return made

    def params(self, as_of: dt.date) -> dict:
        return asdict(self) | {"as_of": as_of}


def exclude_objectors(conn) -> int:
    """Step 1, as the runner: every branch's objectors' analytics rows removed; the rows removed."""
    from handover.notices.objections import keep_out_of_analytics

    with conn.cursor() as cur:
        cur.execute("SELECT DISTINCT branch_id FROM analytics.customers ORDER BY 1")
        removed = sum(keep_out_of_analytics(cur, branch) for (branch,) in cur.fetchall())
    conn.commit()
    return removed


def compute(conn, *, as_of: dt.date, min_k: int, thresholds: Thresholds | None = None, analyst_conn=None,
            computed_by: str) -> dict:
    """Exclude, segment (on ``analyst_conn``, else on ``conn`` as ``handover_analyst``), suppress, publish.
    Returns counts only (they may go to XCom)."""
    from handover.insights import store

    if min_k < 1:
        raise InsightsError("the minimum cell size k must be at least 1")
    from handover.store import ops

    thresholds = thresholds or Thresholds()
    removed = exclude_objectors(conn)
    cells = models.run(analyst_conn or conn, thresholds.params(as_of))
    published = suppression.suppress(cells, min_k)
    insight_run = store.publish(conn, as_of=as_of, min_k=min_k, thresholds=asdict(thresholds), cells=published,
                           computed_by=computed_by)
    summary = {"insight_run": insight_run, "as_of": as_of.isoformat(), "min_k": min_k, "cells": len(published),
               "suppressed": sum(c.suppressed for c in published),
               "customers": sum(c.customers for c in cells if c.dimension == "customers" and c.region == "all"),
               "branches": sorted({c.branch_id for c in cells}), "objectors_rows_removed": removed}
    ops.audit(conn, "insights.computed", run_id=None, branch_id=None, actor=computed_by, **summary)
    return summary


__all__ = ["DEFAULT_MIN_K", "Cell", "InsightsError", "Thresholds", "compute", "exclude_objectors"]
