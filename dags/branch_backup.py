"""
### Branch backup (定期备份)

Backs up the target store — schemas `ops`, `vault`, `analytics` — from one consistent snapshot, table by
table, compressed and encrypted on this side (AES-256-GCM, a fresh data key per backup wrapped by the
master key), with a signed manifest; then checks it and applies the retention policy.

Runs nightly at 02:00 Asia/Shanghai, and after every successful `branch_transfer` (Asset
`handover://target-store`, URI `x-handover://target-store`).

1. **take_backup** — the snapshot, into connection `handover_backup` (S3/MinIO or a folder).
2. **verify_backup** — the manifest's signature, every object present with its size, the ciphertext SHA-256
   of a rolling subset.
3. **expire_backups** — Variable `handover_backup_retention` (restic's keep-last/daily/weekly/monthly/yearly/
   within, plus max-age): kept with reasons, the rest removed with their data keys (crypto-shredding); the
   only backup that verifies is never removed.

`backup_deadline` alerts when no backup has succeeded by 05:00 (`HANDOVER_BACKUP_DEADLINE`). Each backup,
check and expiry is recorded in the store's `control` schema (never inside a backup); a
failure alerts (connection `handover_alerts`, and the log). Schemas `control` and `staging` are not
backed up.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import dag, task
from airflow.timetables.assets import AssetOrTimeSchedule
from airflow.timetables.trigger import CronTriggerTimetable
from handover_airflow.alerts import on_failure
from handover_airflow.assets import TARGET_STORE


@dag(
    dag_id="branch_backup",
    schedule=AssetOrTimeSchedule(timetable=CronTriggerTimetable("0 2 * * *", timezone="Asia/Shanghai"),
                                 assets=[TARGET_STORE]),
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    doc_md=__doc__,
    tags=["handover", "backup"],
    default_args={"owner": "handover", "retries": 2, "retry_delay": dt.timedelta(minutes=2),
                  "on_failure_callback": on_failure},
    max_active_runs=1,
)
def branch_backup():
    @task
    def take_backup() -> dict:
        from handover_airflow.backups import take_backup as take

        return take()

    @task
    def verify_backup(taken: dict) -> dict:
        from handover_airflow.backups import verify_backup as check

        return check(taken["backup_id"])

    @task
    def expire_backups(verified: dict) -> dict:
        from handover_airflow.backups import expire_backups as expire

        return expire()

    expire_backups(verify_backup(take_backup()))


branch_backup()
