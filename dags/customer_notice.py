"""
### Customer notice (告知客户, PIPL Art. 17 and 22)

After a transfer (the target store's Asset, updated by `branch_transfer`) or by hand: every loaded customer
of the branch is told who now holds their information, how to reach them, and what PIPL Art. 17 asks of a
notice — from the contract's `notice:` section and the receiving party's contacts.

1. **prepare_notices** — one notice per loaded customer not yet told (a re-run adds only customers loaded
   since), and its outbox message, in one transaction: the customer's key and the channel (the first of the
   contract's `notice.channels` the customer has), never an address. Nobody reachable: the 公告.
2. **deliver_notices** — the outbox drained in batches at a rate; contacts decrypted one batch at a time;
   e-mail (connection `handover_smtp`), SMS (connection `handover_sms`: the provider's URL and signing
   secret), letters (owner-only files for the print house). Retries with back-off; an invalid contact,
   a bounce or an undelivered report falls back to the next channel; killed and re-run, nothing is sent
   twice (each message's idempotency key).
3. **report_notices** — counts by status, channel and reason (no contact), the announcement text for those
   no channel reached, an audit entry.

Params: `contract`, `branch_id`, `prepared_on` (the day the deadline counts from; default today, Shanghai).
Variable `handover_notice_delivery` (JSON): `batch`, `per_second`, `backoff`, `deadline`.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import Param, dag, task
from handover_airflow.alerts import on_failure
from handover_airflow.assets import TARGET_STORE


@dag(
    dag_id="customer_notice",
    schedule=[TARGET_STORE],
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    doc_md=__doc__,
    tags=["handover", "customers"],
    default_args={"owner": "handover", "retries": 2, "retry_delay": dt.timedelta(minutes=1),
                  "on_failure_callback": on_failure},
    max_active_runs=1,
    params={
        "contract": Param("contracts/sample_branch.yaml", type="string", description="Path of the data contract"),
        "branch_id": Param("", type="string", description="Branch code (empty: the contract's)"),
        "prepared_on": Param(None, type=["null", "string"], format="date",
                             description="The day the notices' deadline counts from (YYYY-MM-DD)"),
    },
)
def customer_notice():
    @task.short_circuit
    def which_transfer(params=None, triggering_asset_events=None, dag_run=None) -> dict | None:
        from handover_airflow.notices import target_of

        events = list(triggering_asset_events[TARGET_STORE]) if triggering_asset_events else []
        found = target_of(params, events)
        return None if found is None else {"contract": found[0], "branch_id": found[1]}

    @task
    def prepare_notices(which: dict, params=None, dag_run=None) -> dict:
        from handover_airflow.notices import prepare_notices as prepare

        return prepare(which["contract"], which["branch_id"], params.get("prepared_on"), f"airflow:{dag_run.dag_id}")

    @task(retries=5, retry_delay=dt.timedelta(minutes=5))  # what is due later is sent by the retries
    def deliver_notices(prepared: dict) -> dict:
        from handover_airflow.notices import deliver_notices as deliver

        return deliver(prepared)

    @task
    def report_notices(delivered: dict, dag_run=None) -> dict:
        from handover_airflow.notices import report_notices as report

        return report(delivered, f"airflow:{dag_run.dag_id}")

    report_notices(deliver_notices(prepare_notices(which_transfer())))


customer_notice()
