"""Airflow glue for ``customer_updates``: each task's `handover.updates` step with its context made from the
DAG run (the target store and the master key from Airflow's secrets, the work root from its Variable), and
its errors told as the transfer's are (`handover_airflow.runtime.step_errors`): a wrong file or contract fails the
task at once, a lost connection is left to its retries. Counts only go to XCom.
"""

from __future__ import annotations

from pathlib import Path

from handover_airflow.runtime import master_key, step_errors, target
from handover_airflow.settings import work_root


def change_file(params: dict) -> str:
    """The change file: an absolute path, or one relative to the contract's export folder."""
    from handover.contract import load_contract

    path = Path(str(params["change_file"]))
    if path.is_absolute():
        return str(path)
    return str(load_contract(params["contract"]).source_dir() / path)


def update_context(context: dict):
    import datetime as dt

    from handover.updates import UpdateContext

    params, dag_run = context["params"], context["dag_run"]
    return UpdateContext(run_id=dag_run.run_id, contract_path=str(params["contract"]), dsn=target()[0],
                         master_key=master_key(), work_root=str(work_root()), change_file=change_file(params),
                         sheet=params.get("sheet") or None, chunk_rows=int(params.get("chunk_rows") or 10_000),
                         actor=f"airflow:{dag_run.dag_id}",
                         today=dt.date.fromisoformat(params["changed_on"]) if params.get("changed_on") else None)


def run_update(step, *args):
    """Run one step of `handover.updates` in the current task: ``run_update(updates.apply_changes)``; errors as
    the transfer's steps' (`handover_airflow.runtime.step_errors`)."""
    from airflow.sdk import get_current_context

    with step_errors(step.__name__):
        return step(update_context(get_current_context()), *args)


def mark_update_failed(context: dict) -> None:
    """DAG failure callback: the update run's row in ops says failed."""
    import logging

    from handover.updates import mark_failed

    try:
        mark_failed(update_context(context))
    except Exception as exc:  # noqa: BLE001 — the store itself may be what failed; Airflow shows the failure
        logging.getLogger(__name__).warning("could not record the failed update run (%s)", type(exc).__name__)
