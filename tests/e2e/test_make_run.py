"""`make run` (``python -m handover_airflow.local run``) as a user sees it: a short terminal — a line per task,
then the summary — and Airflow's own logging in a file under the run's state folder; on a failure, which task
failed, its last error lines and the file's path. Real runs of ``airflow dags test`` on a fresh state folder
and a database of their own (the test server, or the embedded one)."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

from psycopg2.extensions import parse_dsn

from tests.conftest import ROOT

AIRFLOW_RECORD = re.compile(r"^\d{4}-\d\d-\d\dT[\d:.]+Z \[\w+\s*\]")  # a line of Airflow's console logging
SUMMARY = "branch SH-PD-0042 (transfer)"  # the reconciliation's first line


def _airflow_uri(dsn: str) -> str:
    """The test database as connection handover_target (a socket folder as host too), in region CN."""
    p = parse_dsn(dsn)
    auth = quote(p.get("user", "postgres"), safe="") + (f":{quote(p['password'], safe='')}" if p.get("password")
                                                        else "")
    port = f":{p['port']}" if p.get("port") else ""
    return f"postgresql://{auth}@{quote(p.get('host', '127.0.0.1'), safe='')}{port}/{p['dbname']}?region=CN"


def _make_run(tmp_path: Path, pg_dsn: str, code: str | None = None) -> subprocess.CompletedProcess:
    env = os.environ | {"HANDOVER_STATE_DIR": str(tmp_path / "state"),
                        "AIRFLOW_CONN_HANDOVER_TARGET": _airflow_uri(pg_dsn)}
    command = ["-c", code] if code else ["-m", "handover_airflow.local", "run"]
    return subprocess.run([sys.executable, *command], env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=1200, check=False)


def _log_path(stdout: str) -> Path:
    found = re.search(r"Airflow's own log is (\S+\.log)", stdout)
    assert found, stdout[:2000]
    return Path(found.group(1))


def test_make_run_prints_progress_and_the_summary_and_keeps_airflows_logs_in_a_file(tmp_path, pg_dsn):
    done = _make_run(tmp_path, pg_dsn)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    lines = done.stdout.splitlines()
    assert SUMMARY in done.stdout, done.stdout[-4000:]
    before = next(i for i, line in enumerate(lines) if line.startswith(SUMMARY))
    assert before < 60, "\n".join(lines[:before])  # was ~470 lines of Airflow logging before the summary
    assert not [line for line in lines if AIRFLOW_RECORD.match(line)]
    assert done.stderr.strip() == "", done.stderr[-2000:]
    # progress: each DAG, each task with its state and time
    for dag_id in ("branch_transfer", "branch_backup", "restore_drill", "retention_purge"):
        assert re.search(rf"^{dag_id}: ok in [\d.]+ s$", done.stdout, re.MULTILINE), dag_id
    for task in ("check_contract", "extract_source ×4", "verify_chunk ×4", "load_vault", "reconcile",
                 "publish_manifest", "scan_for_leaks", "close_work_area", "take_backup", "drill", "write_report"):
        assert re.search(rf"^  {re.escape(task)} +ok +[\d.]+ s$", done.stdout, re.MULTILINE), task
    # the summary: the reconciliation (every entity balanced), the handed-over files, backup, checks, purge
    summary = "\n".join(lines[before:])
    for entity in ("customers", "accounts", "transactions", "interactions"):
        assert re.search(rf"^{entity} .* yes$", summary, re.MULTILINE), entity
    for label in ("manifest:", "checklist:", "backup:", "checks:", "purge:", "log:"):
        assert re.search(rf"^{label}", summary, re.MULTILINE), label
    assert "drill ok" in summary
    # Airflow's logs are in the file, readable by its owner only, and hold nothing of the export
    log = _log_path(done.stdout)
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    text = log.read_text(encoding="utf-8")
    assert "[DAG TEST] starting task_id=open_work_area" in text and "DagRun Finished: dag_id=retention_purge" in text
    assert "Database migration done" in text or "database" in text.lower()
    assert len(text.splitlines()) > 5 * len(lines)
    from handover import leaks
    from handover.contract import load_contract

    needles = leaks.needles_from_export(load_contract(ROOT / "contracts" / "sample_branch.yaml"),
                                        tmp_path / "state" / "sample")
    assert len(needles) > 500
    report = leaks.scan_files([log], needles)
    assert report.clean, report.render()


def test_a_failed_task_is_named_with_its_last_error_lines_and_the_log_file(tmp_path, pg_dsn):
    # a real failure: the run triggered for another branch than the contract's (check_contract refuses it)
    code = ("import sys; from handover_airflow import local; "
            "sys.exit(local.run(transfer_conf={'branch_id': 'XX-TEST-0000'}))")
    done = _make_run(tmp_path, pg_dsn, code)
    assert done.returncode == 1, done.stdout[-4000:] + done.stderr[-4000:]
    lines = done.stdout.splitlines()
    assert len(lines) < 40, done.stdout
    assert "branch_transfer: FAILED in" in done.stdout
    assert "branch_transfer: task check_contract failed (try 1); its last error lines:" in done.stdout
    assert "the run was triggered for branch XX-TEST-0000 but the contract is for SH-PD-0042" in done.stdout
    assert re.search(r"^  close_work_area +ok", done.stdout, re.MULTILINE)  # the teardown ran all the same
    assert "did not run after that" in done.stdout
    assert SUMMARY not in done.stdout and "branch_backup" not in done.stdout
    assert not [line for line in lines if AIRFLOW_RECORD.match(line)]
    log = _log_path(done.stdout)
    assert f"Airflow's log of this run (every task, in order): {log}" in done.stdout
    assert "Traceback (most recent call last)" in log.read_text(encoding="utf-8")


def test_a_failure_line_holding_a_value_of_the_export_is_withheld(sample_export, monkeypatch):
    import datetime as dt
    import io

    from handover import leaks
    from handover.contract import load_contract
    from handover_airflow import local

    folder, _ = sample_export
    monkeypatch.setattr(local, "SAMPLE", folder)
    needles = leaks.needles_from_export(load_contract(local.CONTRACT), folder)
    mobile = next(v for v, kind in needles.identifiers.items() if kind == "mobile")
    at = dt.datetime(2026, 12, 2, 8, 0, tzinfo=dt.UTC)
    record = local.Record(at, "error", [
        "2026-12-02T08:00:00.000000Z [error    ] Task failed with exception     [task] loc=task_runner.py:1",
        "Traceback (most recent call last):",
        '  File "/somewhere/step.py", line 3, in step',
        "    do()",
        f"ValueError: cannot parse {mobile}",
        "  - at customers.csv, line 7"])
    outcome = local.Outcome("branch_transfer", "manual__x", "failed", 1.0, [("settle", -1, 1)], 0,
                            {("settle", -1): [record]}, [])
    out = io.StringIO()
    local.report_failure(outcome, local.RunLog(folder.parent / "withheld.log"), local.Console(out))
    shown = out.getvalue()
    assert mobile not in shown
    assert "[a line withheld here: it holds a value of the export — it is in the log file]" in shown
    assert "task settle failed (try 1)" in shown
    assert 'File "/somewhere/step.py", line 3, in step' in shown and "- at customers.csv, line 7" in shown
