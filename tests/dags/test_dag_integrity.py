"""Every DAG imports cleanly and quickly, with owners, tags, retries and docs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

DAGS = Path(__file__).resolve().parents[2] / "dags"


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS))  # examples are off: AIRFLOW__CORE__LOAD_EXAMPLES=False (conftest)


def test_dags_import_without_errors(dagbag):
    assert dagbag.import_errors == {}
    assert "branch_transfer" in dagbag.dags


# Tasks that must not be repeated blindly: a failed one is looked at by a person (each says why in its DAG).
UNRETRIED = {("branch_transfer", "prepare_chunks"), ("incident_response", "contain"),
             ("incident_response", "rotate_master_key")}


def test_dags_have_owner_tags_retries_and_docs(dagbag):
    for dag_id, dag in dagbag.dags.items():
        assert dag.tags, dag_id
        assert dag.doc_md and len(dag.doc_md) > 200, dag_id
        for task in dag.tasks:
            assert task.owner == "handover", (dag_id, task.task_id)
            assert task.retries >= 1 or (dag_id, task.task_id) in UNRETRIED, (dag_id, task.task_id)


def test_branch_transfer_flow_and_params(dagbag):
    dag = dagbag.dags["branch_transfer"]
    assert set(dag.params.keys()) >= {"branch_id", "contract", "source", "dry_run"}
    ids = set(dag.task_ids)
    assert ids >= {"open_work_area", "check_contract", "extract_source", "verify_chunk", "protect_chunk",
                   "stage_chunk", "settle", "load_vault", "reconcile", "publish_manifest", "close_work_area"}
    assert dag.get_task("close_work_area").is_teardown
    assert dag.get_task("open_work_area").is_setup


PROBE = """
import importlib.util, sys, time
import airflow.sdk  # paid once, not charged to the DAG file
heavy = ("pandas", "great_expectations", "pyarrow", "psycopg2", "presidio_analyzer", "openpyxl", "boto3",
         "botocore", "requests", "jieba", "onnxruntime", "cryptography")
before = set(sys.modules)
started = time.process_time()
spec = importlib.util.spec_from_file_location("probe", sys.argv[1])
spec.loader.exec_module(importlib.util.module_from_spec(spec))
new = set(sys.modules) - before
print(round(time.process_time() - started, 3), len(new), ",".join(m for m in heavy if m in new))
"""
MODULE_BUDGET = 150  # modules a DAG file may import beyond airflow.sdk (the wiring, its tasks' glue, Airflow's)


@pytest.mark.parametrize("path", sorted(DAGS.glob("*.py")), ids=lambda p: p.name)
def test_dag_file_parses_fast_without_heavy_imports(path):
    """In a fresh interpreter: the scheduler parses DAG files every few seconds. Measured by what does not
    depend on how busy the machine is: the modules the file pulls in (none of the heavy ones) and the CPU
    time of this process (not wall time)."""
    out = subprocess.run([sys.executable, "-c", PROBE, str(path)], capture_output=True, text=True, check=True)
    seconds, modules, heavy = (out.stdout.strip().splitlines()[-1].split(" ") + [""])[:3]
    assert heavy.strip() == ""
    assert int(modules) <= MODULE_BUDGET
    assert float(seconds) < 1.0


def test_branch_backup_runs_nightly_in_shanghai_and_after_each_transfer(dagbag):
    backup = dagbag.dags["branch_backup"]
    assert backup.timetable.timetable._expression == "0 2 * * *"
    assert str(backup.timetable.timetable._timezone) in ("Asia/Shanghai", "Timezone('Asia/Shanghai')")
    assert [a.name for _, a in backup.timetable.asset_condition.iter_assets()] == ["handover://target-store"]
    outlets = dagbag.dags["branch_transfer"].get_task("publish_manifest").outlets
    assert [a.name for a in outlets] == ["handover://target-store"]
    assert sorted(backup.task_ids) == ["expire_backups", "take_backup", "verify_backup"]


def test_every_task_alerts_when_it_fails(dagbag):
    """Failure callbacks notify (the log, and SMTP when configured): on every task of every DAG."""
    from handover_airflow.alerts import on_failure

    for dag_id, dag in dagbag.dags.items():
        for task in dag.tasks:
            callbacks = task.on_failure_callback
            callbacks = callbacks if isinstance(callbacks, list) else [callbacks]
            assert on_failure in callbacks, (dag_id, task.task_id)
