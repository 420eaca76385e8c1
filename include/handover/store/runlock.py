"""One transfer of a branch at a time: a lock in the target store, held for the run.

A run driven by one process (`local_run.run_all`: the CLI, benchmarks, tests) holds the branch's advisory
lock exclusively on a connection of its own from its first step to its last: a second run of the branch —
another process, or a DAG run — is refused at once (`BranchBusy`), and when the process dies, PostgreSQL
drops the lock with its connection, so the next run finds the first one dead and sweeps it.

A DAG run's tasks run in separate processes, one after another and the mapped ones side by side: each task
holds the lock *shared* while it runs (tasks of one run do not exclude each other; a process-driven run's
exclusive lock excludes them all) and stamps the run's heartbeat in ``ops.runs``. Between two tasks no one
holds the lock, so a DAG run counts as alive while any task holds it or its heartbeat is younger than the
lease (``HANDOVER_RUN_LEASE_SECONDS``, 15 minutes): a run the scheduler has not failed yet is not swept
from under it. (Airflow itself runs one ``branch_transfer`` at a time: ``max_active_runs=1``.)

A change file being applied (`handover.updates`) holds the lock exclusively for its writing step, after
checking that no DAG run of the branch is alive between its tasks (`excluding_transfers`): a transfer and a
change file never write a branch's rows at the same time.

`alive` decides, for a run still marked running, whether it is one: `prepare_store` refuses to start
beside a live run and sweeps a dead one, naming which it was.
"""

from __future__ import annotations

import hashlib
import os
from contextlib import contextmanager

from handover.errors import HandoverError

LEASE_SECONDS = int(os.environ.get("HANDOVER_RUN_LEASE_SECONDS", "900"))


class BranchBusy(HandoverError):
    """Another transfer of the same branch is running: this one did not start."""


def key(branch_id: str) -> tuple[int, int]:
    """The branch's advisory lock, as the two int4 keys pg_locks shows (classid, objid)."""
    digest = hashlib.sha256(f"handover-run:{branch_id}".encode()).digest()
    return (int.from_bytes(digest[:4], "big", signed=True), int.from_bytes(digest[4:8], "big", signed=True))


def _busy(cur, branch_id: str, run_id: str) -> BranchBusy:
    others, updates = [], []
    try:
        cur.execute("SELECT run_id, started_at FROM ops.runs WHERE branch_id = %s AND status = 'running' "
                    "AND run_id <> %s ORDER BY started_at", (branch_id, run_id))
        others = [f"{r} (started {s:%Y-%m-%d %H:%M:%S %Z})" for r, s in cur.fetchall()]
        cur.execute("SELECT to_regclass('ops.update_runs') IS NOT NULL")
        if cur.fetchone()[0]:
            cur.execute("SELECT run_id, started_at FROM ops.update_runs WHERE branch_id = %s AND status = 'running' "
                        "AND run_id <> %s ORDER BY started_at", (branch_id, run_id))
            updates = [f"{r} (started {s:%Y-%m-%d %H:%M:%S %Z})" for r, s in cur.fetchall()]
    except Exception:  # noqa: BLE001 - a store without ops yet: the lock alone is known
        cur.connection.rollback()
    if updates and not others:
        return BranchBusy(f"branch {branch_id} is busy: a change file is being applied by run {', '.join(updates)}; "
                          "a transfer and a change file do not change a branch's records at the same time. Wait "
                          "for it to end; if it was killed, its lock went with its process")
    held = f" by run {', '.join(others)}" if others else ""
    return BranchBusy(f"branch {branch_id} is being transferred{held}: one transfer of a branch runs at a "
                      "time, and a change file waits for it. Wait for it to end; if it was killed, its lock went "
                      "with its process and the next run sweeps it")


def hold_exclusive(connect, branch_id: str, run_id: str):
    """For a run driven by this process: a connection holding the branch's lock exclusively (close it when
    the run ends; a killed process releases it). `BranchBusy` if any other run holds it."""
    conn = connect()
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT pg_try_advisory_lock(%s, %s)", key(branch_id))
        if not cur.fetchone()[0]:
            busy = _busy(cur, branch_id, run_id)
            conn.close()
            raise busy
    return conn


@contextmanager
def task_guard(connect, branch_id: str, run_id: str):
    """For one task of a DAG run: the branch's lock held shared while the task runs, and the run's heartbeat
    stamped. `BranchBusy` if a process-driven run holds the lock. Yields the guard's backend pid."""
    conn = connect()
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_try_advisory_lock_shared(%s, %s)", key(branch_id))
            if not cur.fetchone()[0]:
                raise _busy(cur, branch_id, run_id)
            cur.execute("SELECT to_regclass('ops.runs') IS NOT NULL")
            if cur.fetchone()[0]:
                cur.execute("UPDATE ops.runs SET heartbeat_at = clock_timestamp() WHERE run_id = %s", (run_id,))
            yield conn.get_backend_pid()
    finally:
        conn.close()


@contextmanager
def excluding_transfers(connect, branch_id: str, run_id: str):
    """For work that must not meet a transfer of the branch (a change file applied, `handover.updates`): the
    branch's lock held exclusively while inside — a transfer's task or a process-driven run is refused
    meanwhile — and `BranchBusy` at once if a run holds the lock now or a DAG run of the branch is alive
    between two of its tasks (its heartbeat inside the lease)."""
    conn = hold_exclusive(connect, branch_id, run_id)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT to_regclass('ops.runs') IS NOT NULL")
            if cur.fetchone()[0]:
                cur.execute("SELECT run_id FROM ops.runs WHERE branch_id = %s AND status = 'running'", (branch_id,))
                mine = {conn.get_backend_pid()}
                if any(alive(cur, branch_id, other, mine) for (other,) in cur.fetchall()):
                    raise _busy(cur, branch_id, run_id)
        yield
    finally:
        conn.close()


def holders(cur, branch_id: str, mine: set[int]) -> dict[str, int]:
    """How many sessions other than ``mine`` hold the branch's lock, by mode (exclusive, shared)."""
    hi, lo = key(branch_id)
    cur.execute("SELECT mode, count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = (%s)::int::oid "
                "AND objid = (%s)::int::oid AND objsubid = 2 AND granted AND pid <> ALL(%s) "
                "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) GROUP BY 1",
                (hi, lo, list(mine) or [0]))
    return {("exclusive" if mode == "ExclusiveLock" else "shared"): n for mode, n in cur.fetchall()}


def alive(cur, branch_id: str, run_id: str, mine: set[int]) -> bool:
    """Whether a run of the branch still marked running is one (see the module's docstring)."""
    held = holders(cur, branch_id, mine)
    if held:
        return True  # a process-driven run holds it, or a task of a DAG run is running now
    cur.execute("SELECT driver, heartbeat_at > clock_timestamp() - make_interval(secs => %s) FROM ops.runs "
                "WHERE run_id = %s", (LEASE_SECONDS, run_id))
    row = cur.fetchone()
    if row is None:
        return False
    driver, recent = row
    return driver == "airflow" and bool(recent)
