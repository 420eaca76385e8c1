"""
### Backup verification

Proves every night that the backups of the target store could be restored, without restoring them.

1. **check_all_backups** (daily, 04:00 Asia/Shanghai) — every backup at connection `handover_backup`: the
   manifest's signature, every object present with its size, the ciphertext SHA-256 of a rolling subset;
   and the master key opens the newest backup's data key (a lost or changed key is found now).
2. **full_read** (Sundays, or with param `full_read`) — one whole backup read and decrypted, every
   object's plaintext SHA-256 compared with the manifest: the backup whose last full read is oldest.

Each outcome is recorded in `control.backup_checks`; a failure fails the run and alerts
(connection `handover_alerts`, and the log).
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import Param, dag, task
from airflow.timetables.trigger import CronTriggerTimetable
from handover_airflow.alerts import on_failure


@dag(
    dag_id="backup_verify",
    schedule=CronTriggerTimetable("0 4 * * *", timezone="Asia/Shanghai"),
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    doc_md=__doc__,
    tags=["handover", "backup"],
    default_args={"owner": "handover", "retries": 1, "retry_delay": dt.timedelta(minutes=5),
                  "on_failure_callback": on_failure},
    max_active_runs=1,
    params={"full_read": Param(False, type="boolean", description="Read one whole backup today")},
)
def backup_verify():
    @task
    def check_all_backups() -> dict:
        from handover_airflow.backups import check_all_backups as check

        return check()

    @task
    def full_read(params=None, logical_date=None) -> dict:
        from airflow.sdk.exceptions import AirflowSkipException
        from handover_airflow.backups import full_read as read
        from handover_airflow.backups import full_read_due

        if not full_read_due(logical_date, params["full_read"]):
            raise AirflowSkipException("the full read runs on Sundays (Asia/Shanghai)")
        return read()

    check_all_backups() >> full_read()


backup_verify()
