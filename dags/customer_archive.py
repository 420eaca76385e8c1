"""
### Cold archive of inactive customers (归档与存档)

Monthly, the 1st at 04:00 Asia/Shanghai.

1. **take_out_departed** — archive objects that still hold customers erased, purged or restored since, or
   rows their retention classes make due, are written again without them under a new key; the old key is
   shredded (`handover.cold_archive.rewrite`; `retention_purge` does the same every night).
2. **archive_inactive** — each branch's customers without activity for the period of the retention
   schedule's class `archive_inactive` (`contracts/retention.yaml`) leave `vault` and `analytics` for one
   sealed object per branch and month (Parquet, zstd, AES-256-GCM under a data key of its own; S3 with
   Object Lock and a cold storage class where the bucket allows them — connection `handover_cold_archive`,
   else a folder), indexed by blind index in `control.cold_archive_index`. The object and the index are
   written first, the hot rows deleted after in one transaction: a killed run re-runs to the same end; the
   same month again changes nothing. Legal holds keep customers hot.
3. **check_archive** — every object opened with its key and compared with the index.
4. **write_report** — `<output>/cold_archive/<day>.json` (counts, object ids; no customer data).

`handover archive find` and `handover archive restore` bring a customer (or a branch) back.
Params: `contract` (whose retention schedule names the period), `as_of` (archive as if it were that day),
`branch` (one branch only).
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import Param, dag, task
from airflow.timetables.trigger import CronTriggerTimetable
from handover_airflow.alerts import on_failure


@dag(
    dag_id="customer_archive",
    schedule=CronTriggerTimetable("0 4 1 * *", timezone="Asia/Shanghai"),
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    doc_md=__doc__,
    tags=["handover", "retention", "archive"],
    default_args={"owner": "handover", "retries": 2, "retry_delay": dt.timedelta(minutes=2),
                  "on_failure_callback": on_failure},
    max_active_runs=1,
    params={
        "contract": Param("contracts/sample_branch.yaml", type="string",
                          description="The contract whose retention schedule names the period (archive_inactive)"),
        "as_of": Param(None, type=["null", "string"], format="date", description="Archive as of this day (YYYY-MM-DD)"),
        "branch": Param(None, type=["null", "string"], description="One branch only"),
    },
)
def customer_archive():
    @task
    def take_out_departed(params=None) -> dict:
        from handover_airflow.cold_archive import take_out_departed as rewrite

        return rewrite(params["as_of"])

    @task
    def archive_inactive(rewritten: dict, params=None) -> list[dict]:
        from handover_airflow.cold_archive import archive_inactive as archive

        return archive(params["contract"], params["as_of"], params["branch"])

    @task
    def check_archive(archived: list[dict]) -> dict:
        from handover_airflow.cold_archive import check_archive as check

        return check()

    @task
    def write_report(rewritten: dict, archived: list[dict], checked: dict, params=None) -> str:
        from handover_airflow.cold_archive import write_report as report

        return report(rewritten, archived, checked, params["as_of"])

    rewritten = take_out_departed()
    archived = archive_inactive(rewritten)
    write_report(rewritten, archived, check_archive(archived))


customer_archive()
