"""
### Customer insights (客户关系管理, 市场分析) — on the pseudonymised tier only

Nightly at 04:00 Asia/Shanghai (after `retention_purge`), after every load (the target store's Asset,
updated by `branch_transfer`), or by hand. Counts of
customers per branch and region: activity classes (active, churn risk, dormant), recency / frequency /
monetary scores and segments, product holdings, channel use — computed by the SQL models of
`include/handover/insights/models/` (run in order, as `handover_analyst`: `analytics` only, never the vault).
Customers who objected or withdrew consent are left out; every published cell of fewer than the contract's
k customers (`anonymity.min_k`) is suppressed, and so is any cell that would give one away by subtraction.
The results: `insights.runs` and `insights.segments`, drawn on the Handover page and downloadable as CSV.

Params: `contract` (whose k applies), `as_of` (the day counted back from; default today, Shanghai).
Connection `handover_analyst` (optional: the analyst's login); Variable `handover_insights` (JSON: thresholds,
`min_k` floor).
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import Param, dag, task
from airflow.timetables.assets import AssetOrTimeSchedule
from airflow.timetables.trigger import CronTriggerTimetable
from handover_airflow.alerts import on_failure
from handover_airflow.assets import TARGET_STORE


@dag(
    dag_id="customer_insights",
    schedule=AssetOrTimeSchedule(timetable=CronTriggerTimetable("0 4 * * *", timezone="Asia/Shanghai"),
                                 assets=[TARGET_STORE]),
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    doc_md=__doc__,
    tags=["handover", "customers", "analytics"],
    default_args={"owner": "handover", "retries": 2, "retry_delay": dt.timedelta(minutes=1),
                  "on_failure_callback": on_failure},
    max_active_runs=1,
    params={
        "contract": Param("contracts/sample_branch.yaml", type="string",
                          description="Path of the data contract whose anonymity.min_k applies"),
        "as_of": Param(None, type=["null", "string"], format="date",
                       description="The day the segments count back from (YYYY-MM-DD; default today)"),
    },
)
def customer_insights():
    @task.short_circuit
    def which_contract(params=None, triggering_asset_events=None) -> str | None:
        from handover_airflow.notices import target_of

        events = list(triggering_asset_events[TARGET_STORE]) if triggering_asset_events else []
        found = target_of(params, events)
        return None if found is None else found[0]

    @task
    def compute_insights(contract: str, params=None, dag_run=None) -> dict:
        from handover_airflow.insights import compute_insights as compute

        return compute(contract, params.get("as_of"), f"airflow:{dag_run.dag_id}")

    compute_insights(which_contract())


customer_insights()
