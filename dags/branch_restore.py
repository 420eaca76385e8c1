"""
### Branch restore (恢复)

Manual. Restores a backup of the target store — after a loss, or into a new server.

1. **choose_backup** — param `backup_id`; `latest` means the newest backup whose last check did not fail
   and which verifies now. A named one must verify.
2. **restore** — into the store of connection `target_conn_id` (default `handover_target`), in one
   transaction: the manifest's signature and every object checked first; each table's content hash
   recomputed from the restored rows before the commit. `tables` (`schema.table` or a whole `schema`;
   empty = all) restores only those — tables whose rows refer to them must come too. A target that is not
   empty is refused unless `overwrite` is set. Recorded in the target's `control.restores` and audit log.

Keys: the master key that wrapped the backup (Variable `handover_master_key`) and the signing key's public
half (from `handover_signing_key`); see the README's recovery plan.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import Param, dag, task
from handover_airflow.alerts import on_failure


@dag(
    dag_id="branch_restore",
    schedule=None,
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    doc_md=__doc__,
    tags=["handover", "backup"],
    default_args={"owner": "handover", "retries": 1, "retry_delay": dt.timedelta(minutes=1),
                  "on_failure_callback": on_failure},
    max_active_runs=1,
    params={
        "backup_id": Param("latest", type="string", description="A backup id, or latest (the newest good one)"),
        "target_conn_id": Param("handover_target", type="string", description="Connection of the store to restore into"),
        "tables": Param([], type="array", items={"type": "string"},
                        description="schema.table or schema names; empty restores everything"),
        "overwrite": Param(False, type="boolean", description="Replace what a non-empty target holds"),
    },
)
def branch_restore():
    @task
    def choose_backup(params=None) -> str:
        from handover_airflow.backups import choose_backup as choose

        return choose(params["backup_id"])

    @task
    def restore(backup_id: str, params=None, dag_run=None) -> dict:
        from handover_airflow.backups import restore as run

        return run(backup_id, params["target_conn_id"], params["tables"], params["overwrite"],
                   getattr(dag_run, "triggering_user_name", None) or "airflow")

    restore(choose_backup())


branch_restore()
