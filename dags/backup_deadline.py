"""
### Backup deadline

Daily at 05:00 Asia/Shanghai (`HANDOVER_BACKUP_DEADLINE`, `HH:MM`, read when this file is parsed): has a
backup of the target store succeeded since 02:00 today (`control.backups`: the nightly `branch_backup`, or
one after a transfer)? If not, an alert goes out — connection `handover_alerts` (SMTP) and the log — and
the run fails, so the UI shows it too.

(A separate check rather than an Airflow `DeadlineAlert` on `branch_backup`: in Airflow 3.3.2 a DAG with
one cannot be run with `airflow dags test` — the run's end looks its alerts up by the wrong key.)
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import dag, task
from airflow.timetables.trigger import CronTriggerTimetable
from handover_airflow.alerts import backup_deadline, on_failure

DEADLINE = backup_deadline()


@dag(
    dag_id="backup_deadline",
    schedule=CronTriggerTimetable(f"{DEADLINE.minute} {DEADLINE.hour} * * *", timezone="Asia/Shanghai"),
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    doc_md=__doc__,
    tags=["handover", "backup"],
    default_args={"owner": "handover", "retries": 1, "retry_delay": dt.timedelta(minutes=5),
                  "on_failure_callback": on_failure},
    max_active_runs=1,
)
def backup_deadline_dag():
    @task
    def check_backup_deadline() -> dict:
        from handover_airflow.alerts import check_backup_deadline as check

        return check()

    check_backup_deadline()


backup_deadline_dag()
