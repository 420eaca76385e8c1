"""Where a DAG run leaves traces a leak scan must read: its task log files and its XCom values.

- **Logs**: the local task log folder of the run, ``<[logging] base_log_folder>/dag_id=<dag>/run_id=<run>/``
  (Airflow's default ``log_filename_template``), every ``*.log`` below it: all tasks, map indexes and
  attempts so far. Remote logging (S3, GCS …) is not read here; with ``dag.test()`` tasks log to the
  console and the folder may not exist — then there is nothing to read, and the scan says so by its count.
- **XCom**: the ``return_value`` of every task of the run, every map index (``XCom.get_all`` through the
  task's own ``xcom_pull``: the task SDK reads XCom by key, it cannot list keys; Handover's tasks push
  nothing else). Named ``<task_id>/return_value`` or ``<task_id>[i]/return_value`` for the i-th mapped value.
"""

from __future__ import annotations

from pathlib import Path

RETURN_KEY = "return_value"


def log_folder(dag_id: str, run_id: str) -> Path:
    from airflow.sdk.configuration import conf

    return Path(conf.get("logging", "base_log_folder")) / f"dag_id={dag_id}" / f"run_id={run_id}"


def run_log_files(dag_id: str, run_id: str) -> list[str]:
    folder = log_folder(dag_id, run_id)
    return sorted(p.as_posix() for p in folder.rglob("*.log")) if folder.is_dir() else []


def run_xcom_values(context: dict) -> dict[str, object]:
    ti = context["ti"]
    values: dict[str, object] = {}
    for task_id in context["dag"].task_ids:
        if task_id == ti.task_id:
            continue
        pulled = [v for v in ti.xcom_pull(task_ids=[task_id], key=RETURN_KEY) or [] if v is not None]
        for i, value in enumerate(pulled):
            name = task_id if len(pulled) == 1 else f"{task_id}[{i}]"
            values[f"{name}/{RETURN_KEY}"] = value
    return values


def run_traces(context: dict | None = None) -> dict:
    """The current run's log files and XCom values, as data for `handover.transfer.scan_for_leaks`."""
    if context is None:
        from airflow.sdk import get_current_context

        context = get_current_context()
    run = context["dag_run"]
    return {"logs": run_log_files(run.dag_id, run.run_id), "xcom": run_xcom_values(context)}
