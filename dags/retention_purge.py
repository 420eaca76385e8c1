"""
### Retention purge and erasure requests (数据删除, PIPL Art. 47)

Nightly at 03:00 Asia/Shanghai.

1. **purge_records** — what each branch's retention classes (its contract's `retention:`, recorded per
   entity in `ops.retention_classes`) make due today: deleted from `vault` with its `analytics` rows,
   children first, in batches of 5,000, each batch one transaction (a killed run re-runs to the same end);
   quarantine rows 90 days after their run, customers excluded for lack of consent once their transfer
   completed, archived originals, leftover work areas (Variable `handover_housekeeping`); customers in the
   cold archive (`customer_archive`) whose every record is due. Legal holds
   (`control.legal_holds`) keep a branch or customer out of it. Counts per class go to the audit log.
2. **carry_out_erasures** — every open request in `control.erasure_requests` (filed with
   `handover erase`, matched through the blind index): erased, with tombstones kept outside the backups, or
   refused with the reason (legal hold; a class with a legal basis such as `aml` whose period has not run —
   then the customer's analytics rows go and the request is retried on the day the period ends). Customers
   in the cold archive are matched through its index; its objects are then written again without the
   customers erased or purged, their old keys shredded.
3. **write_report** — `<output>/purge/<day>-<id>.json`: counts per class, each request's state, and for
   erased customers the day the last backup still holding them expires.

Params: `dry_run` (does it all in transactions that are rolled back: the report lists exactly what would
go, and why), `as_of` (a day, `YYYY-MM-DD`: purge as if it were that day — for dry runs and tests).
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import Param, dag, task
from airflow.timetables.trigger import CronTriggerTimetable
from handover_airflow.alerts import on_failure


@dag(
    dag_id="retention_purge",
    schedule=CronTriggerTimetable("0 3 * * *", timezone="Asia/Shanghai"),
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    doc_md=__doc__,
    tags=["handover", "retention"],
    default_args={"owner": "handover", "retries": 2, "retry_delay": dt.timedelta(minutes=2),
                  "on_failure_callback": on_failure},
    max_active_runs=1,
    params={
        "dry_run": Param(False, type="boolean", description="Report what would go; delete nothing"),
        "as_of": Param(None, type=["null", "string"], format="date", description="Purge as of this day (YYYY-MM-DD)"),
    },
)
def retention_purge():
    @task
    def purge_records(params=None) -> dict:
        from handover_airflow.purge import purge_records as purge

        return purge(params["dry_run"], params["as_of"])

    @task
    def carry_out_erasures(purged: dict, params=None) -> dict:
        from handover_airflow.purge import carry_out_erasures as erase

        return erase(params["dry_run"], params["as_of"])

    @task
    def write_report(purged: dict, erasures: dict) -> str:
        from handover_airflow.purge import write_report as report

        return report(purged, erasures)

    purged = purge_records()
    write_report(purged, carry_out_erasures(purged))


retention_purge()
