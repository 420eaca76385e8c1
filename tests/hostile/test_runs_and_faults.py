"""Runs and faults, with real processes on a real PostgreSQL: one transfer of a branch at a time, and a
session the server ends in the middle of the load.

- Two `handover transfer` processes of one branch: the second is refused at once, naming the first, and the
  first — which the old sweep would have called abandoned, dropping its staging — finishes unharmed.
- A DAG run's task beside a process-driven run is refused too; a DAG run between two of its tasks is not
  swept while its heartbeat is fresh; a dead one is.
- The loading session terminated by the server mid-merge (`pg_terminate_backend`): the run ends in a
  StoreError saying the connection was lost and that nothing of the run was loaded — never a bare
  InterfaceError —, the store holds nothing of it, and a re-run ends as a clean run.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import psycopg2
import pytest
from handover import local_run
from handover.crypto import MasterKey
from handover.run import RunContext
from handover.store import runlock

from tests.conftest import ROOT
from tests.support.stores import SIGNING_KEY, approve_pipia

BRANCH = "SH-PD-0042"
CONTRACT = ROOT / "contracts" / "sample_branch.yaml"


@pytest.fixture(scope="module")
def small_export(tmp_path_factory):
    from handover import sample

    folder = tmp_path_factory.mktemp("small")
    sample.generate(folder, customers=40)
    return folder


def _start(dsn, folder, state: Path, master_key_text, run_id, pause_at=None, release=None) -> subprocess.Popen:
    approve_pipia(dsn, CONTRACT, state.parent / "pipia")
    env = {**os.environ, "HANDOVER_MASTER_KEY": master_key_text, "HANDOVER_SIGNING_KEY": SIGNING_KEY}
    for name in ("HANDOVER_KILL_AT", "HANDOVER_PAUSE_AT", "HANDOVER_PAUSE_FILE"):
        env.pop(name, None)
    if pause_at:
        env |= {"HANDOVER_PAUSE_AT": pause_at, "HANDOVER_PAUSE_FILE": str(release)}
    cmd = [sys.executable, "-m", "handover.cli", "transfer", str(CONTRACT), "--dsn", dsn, "--source", str(folder),
           "--target-region", "CN", "--chunk-rows", "40", "--state-dir", str(state), "--run-id", run_id]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(path: Path, proc: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        if proc.poll() is not None:
            _, err = proc.communicate()
            pytest.fail(f"the run ended before its pause point: {err[-2000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("the run never reached its pause point")
        time.sleep(0.1)


def _count(dsn, table) -> int:
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute(f"SELECT count(*) FROM {table}")
        return cur.fetchone()[0]


def test_a_second_transfer_of_a_branch_is_refused_and_the_first_finishes(pg_dsn, small_export, master_key_text,
                                                                        tmp_path):
    release = tmp_path / "release"
    first = _start(pg_dsn, small_export, tmp_path / "a", master_key_text, "first", "settle.before", release)
    _wait_for(Path(f"{release}.reached"), first)  # the first run holds the branch, its rows staged
    second = _start(pg_dsn, small_export, tmp_path / "b", master_key_text, "second")
    _, err = second.communicate(timeout=120)
    assert second.returncode != 0
    assert "branch SH-PD-0042 is being transferred" in err and "first" in err and "Traceback" not in err
    with psycopg2.connect(pg_dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT status FROM ops.runs WHERE run_id = 'first'")
        assert cur.fetchone() == ("running",)  # not swept as abandoned
        cur.execute("SELECT count(*) FROM ops.runs WHERE run_id = 'second'")
        assert cur.fetchone() == (0,)  # refused before it began
        cur.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'staging' AND tablename LIKE '%%first%%'")
        assert cur.fetchone()[0] > 0  # the first run's staging is still there
    release.touch()
    _, err = first.communicate(timeout=300)
    assert first.returncode == 0, err[-2000:]
    with psycopg2.connect(pg_dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT status FROM ops.runs WHERE run_id = 'first'")
        assert cur.fetchone() == ("success",)
    assert _count(pg_dsn, "vault.customers") > 0


def _ctx(pg_dsn, master_key_text, folder, tmp_path, run_id, **kw) -> RunContext:
    approve_pipia(pg_dsn, CONTRACT, tmp_path / "pipia")
    return RunContext(run_id=run_id, contract_path=str(CONTRACT), dsn=pg_dsn,
                      master_key=MasterKey.from_text(master_key_text), work_root=str(tmp_path / "work"),
                      output_root=str(tmp_path / "out"), source_dir=str(folder), target_region="CN",
                      signing_key_text=SIGNING_KEY, chunk_rows=100, **kw)


def test_a_dag_runs_task_is_refused_beside_a_process_driven_run(pg_dsn):
    held = runlock.hold_exclusive(lambda: psycopg2.connect(pg_dsn), BRANCH, "cli-run")
    try:
        with pytest.raises(runlock.BranchBusy, match="branch SH-PD-0042 is being transferred"), \
                runlock.task_guard(lambda: psycopg2.connect(pg_dsn), BRANCH, "dag-run"):
            pass
        with pytest.raises(runlock.BranchBusy):
            runlock.hold_exclusive(lambda: psycopg2.connect(pg_dsn), BRANCH, "another-cli-run")
    finally:
        held.close()
    with runlock.task_guard(lambda: psycopg2.connect(pg_dsn), BRANCH, "dag-run"), \
            runlock.task_guard(lambda: psycopg2.connect(pg_dsn), BRANCH, "dag-run"):  # free again; tasks share it
        pass


@pytest.mark.parametrize("seconds_ago, swept", [(5, False), (3600, True)])
def test_a_dag_run_between_its_tasks_is_swept_only_when_its_lease_has_run_out(
        pg_dsn, small_export, master_key_text, tmp_path, seconds_ago, swept):
    local_run.run_all(_ctx(pg_dsn, master_key_text, small_export, tmp_path, "earlier"))  # makes the schemas
    with psycopg2.connect(pg_dsn) as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO ops.runs (run_id, branch_id, contract_sha256, mode, status, driver, heartbeat_at) "
                    "VALUES ('dag-1', %s, 'x', 'transfer', 'running', 'airflow', clock_timestamp() - "
                    "make_interval(secs => %s))", (BRANCH, seconds_ago))
    ctx = _ctx(pg_dsn, master_key_text, small_export, tmp_path, "next")
    if swept:
        local_run.run_all(ctx)
        with psycopg2.connect(pg_dsn) as conn, conn.cursor() as cur:
            cur.execute("SELECT status FROM ops.runs WHERE run_id = 'dag-1'")
            assert cur.fetchone() == ("abandoned",)
    else:
        with pytest.raises(runlock.BranchBusy, match="dag-1"):
            local_run.run_all(ctx)
        with psycopg2.connect(pg_dsn) as conn, conn.cursor() as cur:
            cur.execute("SELECT status FROM ops.runs WHERE run_id = 'dag-1'")
            assert cur.fetchone() == ("running",)


def test_the_session_ended_by_the_server_mid_merge_is_a_store_error_and_a_rerun_is_clean(
        pg_dsn, small_export, master_key_text, tmp_path):
    release = tmp_path / "release"
    run = _start(pg_dsn, small_export, tmp_path / "a", master_key_text, "cut", "merge.during", release)
    _wait_for(Path(f"{release}.reached"), run)
    with psycopg2.connect(pg_dsn) as conn, conn.cursor() as cur:  # the loading session: inside its transaction
        cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND application_name = 'handover' AND state = 'idle in transaction'")
        assert cur.fetchall(), "the merge's session was not found"
    release.touch()
    _, err = run.communicate(timeout=300)
    assert run.returncode != 0
    assert "connection to the target store was lost" in err and "nothing of this run was loaded" in err
    assert "Traceback" not in err and "InterfaceError:" not in err
    assert _count(pg_dsn, "vault.customers") == 0 and _count(pg_dsn, "analytics.customers") == 0
    rerun = _start(pg_dsn, small_export, tmp_path / "b", master_key_text, "again")
    _, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, err[-2000:]
    with psycopg2.connect(pg_dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT status FROM ops.runs ORDER BY started_at")
        assert [r[0] for r in cur.fetchall()][-1] == "success"
    assert _count(pg_dsn, "vault.customers") > 0
