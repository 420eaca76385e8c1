"""
### Restore drill (恢复演练)

Weekly (Sundays 05:00 Asia/Shanghai): the latest good backup is restored into a scratch database made for
the drill (connection `handover_drill`, else the target's server and login; the role needs CREATEDB),
every table's row count and content hash compared with the backup's manifest, the scratch database
dropped. How long the restore took is recorded with the result in `control.backup_checks` (kind
`drill`): the time a real recovery would need. A mismatch fails the run and alerts.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import dag, task
from airflow.timetables.trigger import CronTriggerTimetable
from handover_airflow.alerts import on_failure


@dag(
    dag_id="restore_drill",
    schedule=CronTriggerTimetable("0 5 * * 0", timezone="Asia/Shanghai"),
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    doc_md=__doc__,
    tags=["handover", "backup"],
    default_args={"owner": "handover", "retries": 1, "retry_delay": dt.timedelta(minutes=1),
                  "on_failure_callback": on_failure},
    max_active_runs=1,
)
def restore_drill():
    @task
    def drill() -> dict:
        from handover_airflow.backups import restore_drill as run

        return run()

    drill()


restore_drill()
