"""Airflow glue for ``customer_insights``: the store and the analyst's login from Airflow's connections, the
thresholds from a Variable; the work is :mod:`handover.insights` (returns counts only — they land in XCom).

- ``handover_target`` — the runner: removes objectors' analytics rows again, publishes the aggregates.
- ``handover_analyst`` (optional) — a login that is a member of ``handover_analyst``: the models run on it.
  Without it they run on the target's login as ``handover_analyst`` (``SET LOCAL ROLE``), which needs that
  login to be a member (an administrator's, or ``GRANT handover_analyst TO <runner>``).
- Variable ``handover_insights`` (JSON): the thresholds of :class:`handover.insights.Thresholds`, and
  ``min_k`` — raises the contract's k for the published cells, never lowers it.
"""

from __future__ import annotations

import json
import logging
from contextlib import contextmanager

from handover_airflow.runtime import dsn_from_connection
from handover_airflow.settings import open_store

log = logging.getLogger(__name__)
ANALYST_CONN_ID = "handover_analyst"
INSIGHTS_VARIABLE = "handover_insights"


@contextmanager
def analyst_store():
    """A connection on the analyst's login, or None when connection ``handover_analyst`` is not configured."""
    from airflow.sdk import Connection
    from airflow.sdk.exceptions import AirflowNotFoundException
    from airflow.sdk.log import mask_secret
    from handover.store import connect

    try:
        conn = Connection.get(ANALYST_CONN_ID)
    except AirflowNotFoundException:
        yield None
        return
    if conn.password:
        mask_secret(conn.password)
    with connect(dsn_from_connection(conn), "insights (analyst)", application_name="handover-insights") as c:
        yield c


def settings(contract_path: str) -> tuple[int, dict]:
    """The published cells' k (the contract's ``anonymity.min_k``, :data:`handover.insights.DEFAULT_MIN_K`
    without one, raised by the Variable's ``min_k``) and the thresholds."""
    from airflow.sdk import Variable
    from handover.contract import load_contract
    from handover.insights import DEFAULT_MIN_K

    said = json.loads(Variable.get(INSIGHTS_VARIABLE, default=None) or "{}")
    floor = int(said.pop("min_k", 1))
    return max(load_contract(contract_path).min_k or DEFAULT_MIN_K, floor), said


def compute_insights(contract_path: str, as_of: str | None, requested_by: str) -> dict:
    import datetime as dt

    from handover.insights import Thresholds, compute
    from handover.purge.rules import today_in_shanghai

    min_k, said = settings(contract_path)
    day = dt.date.fromisoformat(as_of) if as_of else today_in_shanghai()
    with open_store() as conn, analyst_store() as analyst:
        summary = compute(conn, as_of=day, min_k=min_k, thresholds=Thresholds.of(said), analyst_conn=analyst,
                          computed_by=requested_by)
    log.info("insights: %s", summary)
    return summary
