"""`make run`: the main job on embedded defaults, on a machine that has only Python and make.

Prepares a local Airflow home (SQLite metadata), a master key (generated once into a git-ignored 0600
file), the target store (the database of ``AIRFLOW_CONN_HANDOVER_TARGET`` if set, else an embedded
PostgreSQL), the sample branch export, then runs ``branch_transfer`` with ``airflow dags test``; then
``branch_backup`` (into ``$AIRFLOW_HOME/handover/backups``) and ``restore_drill`` (the backup restored into
a scratch database and compared) and a dry run of ``retention_purge``; and prints what they recorded: the
reconciliation, the manifest and checklist, the backup and its checks, what the purge would delete.
Running it again is safe: the transfer is idempotent; backups are kept by the default retention policy.

Airflow's own logging and the tasks' logs go to one file per run, ``.handover/logs/make-run-<UTC time>.log``
(0600; its path is printed first). The terminal gets a line per task as it ends (its state and seconds), a
line for a task still running after a while, and the summary. When a task fails: which one, its last
error lines from that file (a line holding an identifier or name of the sample export is withheld), and
the file's path.

    python -m handover_airflow.local run      # the whole job
    python -m handover_airflow.local env      # print the environment lines, for `airflow standalone`
"""

from __future__ import annotations

import argparse
import base64
import collections
import contextlib
import datetime as dt
import json
import os
import re
import shlex
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

ROOT = Path(__file__).resolve().parents[2]
STATE = Path(os.environ.get("HANDOVER_STATE_DIR", ROOT / ".handover"))
CONTRACT = ROOT / "contracts" / "sample_branch.yaml"
SAMPLE = STATE / "sample"
LOGS = STATE / "logs"
BRANCH = "SH-PD-0042"  # the sample contract's branch.id

# After the transfer: the nightly jobs, once, on what it loaded.
AFTER_TRANSFER: tuple[tuple[str, dict | None], ...] = (
    ("branch_backup", None), ("restore_drill", None), ("retention_purge", {"dry_run": True}))

# A task still running is mentioned after this long, then again every RUNNING_AGAIN seconds.
RUNNING_FIRST, RUNNING_AGAIN = 20.0, 60.0
EXCERPT_LINES = 16  # of a failed task's log, at most, on the terminal
LINE_WIDTH = 240


def secret_file(name: str) -> Path:
    """A random 32-byte secret, base64, generated once into a git-ignored 0600 file."""
    path = STATE / "secrets" / name
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(base64.b64encode(os.urandom(32)).decode() + "\n")
    return path


def master_key_file() -> Path:
    return secret_file("master.key")


def signing_key_file() -> Path:
    return secret_file("signing.key")  # an Ed25519 seed


def target_uri() -> str:
    configured = os.environ.get("AIRFLOW_CONN_HANDOVER_TARGET")
    if configured:
        return configured
    from handover.store import embedded

    server = embedded.start(STATE / "pg")
    embedded.ensure_database(embedded.dsn(server, "postgres"), "handover")
    return embedded.airflow_uri(server, "handover") + "?region=CN"  # the embedded store is here, in CN


def environment() -> dict[str, str]:
    home = STATE / "airflow"
    env = {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW_CONN_HANDOVER_TARGET": target_uri(),
        "AIRFLOW_VAR_HANDOVER_MASTER_KEY": master_key_file().read_text().strip(),
        "AIRFLOW_VAR_HANDOVER_SIGNING_KEY": signing_key_file().read_text().strip(),
        "HANDOVER_ARCHIVE_ROOT": str(STATE / "archive"),
        "HANDOVER_WORK_ROOT": str(STATE / "work"),
        "HANDOVER_OUTPUT_ROOT": str(STATE / "output"),
        "GX_ANALYTICS_ENABLED": "False",
        # every task's inputs and outputs as OpenLineage events (handover_airflow.lineage), to a file
        "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps({"type": "file", "append": True,
                                                       "log_file_path": str(STATE / "lineage" / "events.jsonl")}),
        "AIRFLOW__OPENLINEAGE__NAMESPACE": "handover",
        "AIRFLOW__OPENLINEAGE__EXECUTE_IN_THREAD": "True",  # as docker-compose.yaml: no fork per event
    }
    home.mkdir(parents=True, exist_ok=True)
    (STATE / "lineage").mkdir(parents=True, exist_ok=True)
    return env


def airflow(args: list[str], env: dict[str, str], log: TextIO | None = None) -> subprocess.CompletedProcess:
    """``airflow ARGS`` in the run's environment; its output into ``log`` when given (else the terminal)."""
    exe = Path(sys.executable).with_name("airflow")
    out = {"stdout": log, "stderr": subprocess.STDOUT} if log is not None else {}
    return subprocess.run([str(exe), *args], env={**os.environ, **env}, cwd=ROOT, check=False, **out)


# -- the run's log file, read back as Airflow writes it -----------------------------------------------------

# Airflow 3's console lines: "2026-12-02T15:49:28.631818Z [info     ] message [logger] key=value"
RECORD = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?)Z \[(\w+)\s*\] ?(.*)$")
# dag.test() runs one task instance at a time and brackets each with these two lines.
STARTING = re.compile(r"\[DAG TEST\] starting task_id=(\S+) map_index=(-?\d+)")
ENDED = re.compile(r"\[DAG TEST\] end task task_id=(\S+) map_index=(-?\d+)")
SERIOUS = ("error", "critical", "exception", "fatal")


@dataclass
class Record:
    """One log record: its first line and the lines that continue it (a traceback, a message's list)."""

    at: dt.datetime | None
    level: str
    lines: list[str]

    @property
    def message(self) -> str:
        found = RECORD.match(self.lines[0])
        text = found.group(3) if found else self.lines[0]
        text = re.sub(r"\s+\[[\w.]+\](?: \w+=\S*)*\s*$", "", text)  # the logger and its key=value tail
        return re.sub(r"\s{2,}", " ", text).strip()

    def excerpt(self) -> list[str]:
        """What the terminal shows of it: the message, and of a traceback its last frame and the exception."""
        shown = [f"{self.level} {self.message}"]
        rest = self.lines[1:]
        frames = [i for i, line in enumerate(rest) if line.startswith('  File "')]
        if frames:
            last = frames[-1]
            after = last + 1
            while after < len(rest) and rest[after].startswith("    "):
                after += 1  # the frame's source line and its ^^^ markers
            rest = [rest[last].strip()] + rest[after:]
        return shown + ["  " + line.rstrip() for line in rest if line.strip()]


def _when(stamp: str) -> dt.datetime:
    return dt.datetime.fromisoformat(stamp).replace(tzinfo=dt.UTC)


class RunLog:
    """The run's log file: every command's output appended to it; read back as it grows, record by record."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))  # readable by its owner only
        self._read_at = path.stat().st_size
        self._partial = b""
        self._record: Record | None = None

    def appender(self) -> TextIO:
        return open(self.path, "a", encoding="utf-8")  # handed to a child process; the caller closes it

    @contextlib.contextmanager
    def holding_output(self):
        """This process's own stdout and stderr into the log while library code runs that prints warnings and
        log lines of its own (the embedded PostgreSQL's start, Airflow's Connection)."""
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        saved = os.dup(1), os.dup(2)
        try:
            with self.appender() as sink:
                os.dup2(sink.fileno(), 1)
                os.dup2(sink.fileno(), 2)
                try:
                    yield
                finally:
                    for stream in (sys.stdout, sys.stderr):
                        stream.flush()
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)

    def records(self, final: bool = False) -> list[Record]:
        """The records written since the last call; the last one is held back (lines may still continue it)
        unless ``final``."""
        with open(self.path, "rb") as fh:  # bytes: a read may end inside a character of a line being written
            fh.seek(self._read_at)
            data = self._partial + fh.read()
            self._read_at = fh.tell()
        cut = len(data) if final else data.rfind(b"\n") + 1
        data, self._partial = data[:cut], data[cut:]
        lines = data.decode("utf-8", errors="replace").split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        done: list[Record] = []
        for line in lines:
            found = RECORD.match(line)
            if found:
                if self._record is not None:
                    done.append(self._record)
                self._record = Record(_when(found.group(1)), found.group(2).lower(), [line])
            elif self._record is not None:
                self._record.lines.append(line)
            elif line.strip():
                done.append(Record(None, "output", [line]))  # printed by a library before any record
        if final and self._record is not None:
            done.append(self._record)
            self._record = None
        return done


# -- watching one `airflow dags test` -------------------------------------------------------------------------

STATE_WORDS = {"success": "ok", "failed": "FAILED", "up_for_retry": "failed, will retry", "skipped": "skipped",
               "upstream_failed": "not run (upstream failed)", "removed": "removed"}


@dataclass
class Step:
    """The consecutive instances of one task (a mapped task's, or one attempt of a plain one)."""

    task_id: str
    started: dt.datetime | None
    wall: float
    indexes: list[int] = field(default_factory=list)
    ended: dt.datetime | None = None
    open: int = 0  # instances started and not ended
    mentioned: float = 0.0  # when "still running" was last said (monotonic)


@dataclass
class Outcome:
    dag_id: str
    run_id: str | None
    state: str
    seconds: float
    failed: list[tuple[str, int, int]]  # (task, map index, try)
    not_run: int
    excerpts: dict[tuple[str, int], list[Record]]
    loose: list[Record]  # serious records outside any task (an import error, the DAG's own failure)

    @property
    def ok(self) -> bool:
        return self.state == "success"


class Metadata:
    """Airflow's SQLite metadata of the run (read only): which run, each task instance's state and try."""

    def __init__(self, env: dict[str, str]) -> None:
        self.path = env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].removeprefix("sqlite:///")

    def _query(self, sql: str, args: tuple) -> list[tuple]:
        try:
            with sqlite3.connect(self.path, timeout=10) as db:
                return db.execute(sql, args).fetchall()
        except sqlite3.Error:
            return []  # the schema of another Airflow version, a busy file: the log still tells the story

    def last_id(self, dag_id: str) -> int:
        rows = self._query("SELECT max(id) FROM dag_run WHERE dag_id = ?", (dag_id,))
        return int(rows[0][0] or 0) if rows else 0

    def latest_run(self, dag_id: str, after: int) -> tuple[str | None, str | None]:
        """The newest run of ``dag_id`` made after run id ``after`` (this command's): (run id, state)."""
        rows = self._query("SELECT run_id, state FROM dag_run WHERE dag_id = ? AND id > ? ORDER BY id DESC LIMIT 1",
                           (dag_id, after))
        return rows[0] if rows else (None, None)

    def instances(self, dag_id: str, run_id: str | None, task_id: str | None = None) -> list[tuple[str, int, str, int]]:
        """(task, map index, state, try) of the run's task instances (of ``task_id`` only, when given)."""
        if run_id is None:
            return []
        sql = "SELECT task_id, map_index, state, try_number FROM task_instance WHERE dag_id = ? AND run_id = ?"
        args: tuple = (dag_id, run_id)
        if task_id is not None:
            sql, args = sql + " AND task_id = ?", (*args, task_id)
        return [(t, int(m), s or "none", int(n or 0)) for t, m, s, n in self._query(sql, args)]


class Console:
    """What the terminal gets: short lines, flushed at once."""

    def __init__(self, out: TextIO) -> None:
        self.out = out

    def say(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)


def seconds(a: dt.datetime | None, b: dt.datetime | None) -> str:
    return f"{(b - a).total_seconds():6.1f} s" if a and b else "      ?"


class Watch:
    """Follows one `airflow dags test` through its log records: a line per task as it ends, a line for a task
    still running after a while; keeps the serious records of each task instance for a failure report."""

    def __init__(self, dag_id: str, console: Console, meta: Metadata) -> None:
        self.dag_id, self.console, self.meta = dag_id, console, meta
        self.step: Step | None = None
        self.segment: tuple[str, int] | None = None  # the task instance running now
        self.serious: dict[tuple[str, int], collections.deque] = {}
        self.recent: dict[tuple[str, int], collections.deque] = {}
        self.loose: collections.deque = collections.deque(maxlen=EXCERPT_LINES)
        self.run_id: str | None = None
        self.runs_before = meta.last_id(dag_id)  # an earlier run of the DAG is never taken for this one

    def feed(self, record: Record) -> None:
        first = record.lines[0]
        started, ended = STARTING.search(first), ENDED.search(first)
        if started:
            task_id, index = started.group(1), int(started.group(2))
            if self.step is not None and (self.step.task_id != task_id or index < 0):
                self.flush()  # consecutive instances of a mapped task make one line
            if self.step is None:
                self.step = Step(task_id, record.at, time.monotonic())
            self.step.indexes.append(index)
            self.step.open += 1
            self.segment = (task_id, index)
            self.serious[self.segment] = collections.deque(maxlen=6)
            self.recent[self.segment] = collections.deque(maxlen=6)
            return
        if ended:
            key = (ended.group(1), int(ended.group(2)))
            if self.step is not None and self.step.task_id == key[0]:
                self.step.open = max(self.step.open - 1, 0)
                self.step.ended = record.at
                if key[1] < 0 and self.step.open == 0:
                    self.flush()  # a plain task: nothing more of it is coming
            self.segment = None
            return
        serious = record.level in SERIOUS
        if self.segment is None:
            if serious:
                self.loose.append(record)
            return
        if serious:
            self.serious[self.segment].append(record)
        elif "[py.warnings]" not in first and "DAG TEST" not in first:
            self.recent[self.segment].append(record)

    def tick(self) -> None:
        """Between reads: mention a task that has been running for a while."""
        step = self.step
        if step is None or step.open == 0:
            return
        now = time.monotonic()
        if now - (step.mentioned or step.wall) >= (RUNNING_AGAIN if step.mentioned else RUNNING_FIRST):
            step.mentioned = now
            self.console.say(f"  {self._label(step):<28} running… {now - step.wall:.0f} s so far")

    def _label(self, step: Step) -> str:
        mapped = [i for i in step.indexes if i >= 0]
        return f"{step.task_id} ×{len(set(mapped))}" if mapped else step.task_id

    def flush(self) -> None:
        step, self.step = self.step, None
        if step is None:
            return
        if self.run_id is None:
            self.run_id = self.meta.latest_run(self.dag_id, self.runs_before)[0]
        wanted = set(step.indexes)
        found = [(s, n) for _, m, s, n in self.meta.instances(self.dag_id, self.run_id, step.task_id) if m in wanted]
        counts = collections.Counter(s for s, _ in found)
        if not counts:
            word = "done"
        elif len(counts) == 1:
            word = STATE_WORDS.get(next(iter(counts)), next(iter(counts)))
        else:
            word = ", ".join(f"{n} {STATE_WORDS.get(s, s)}" for s, n in sorted(counts.items()))
        tries = max((n for _, n in found), default=1)
        again = f"  (try {tries})" if tries > 1 else ""
        self.console.say(f"  {self._label(step):<28} {word:<8} {seconds(step.started, step.ended)}{again}")

    def outcome(self, returncode: int, wall: float) -> Outcome:
        self.flush()
        run_id, state = self.meta.latest_run(self.dag_id, self.runs_before)
        run_id = self.run_id or run_id
        instances = self.meta.instances(self.dag_id, run_id)
        if state is None:
            state = "success" if returncode == 0 else "failed"
        elif returncode and state == "success":
            state = "failed"
        failed = sorted((t, m, n) for t, m, s, n in instances if s in ("failed", "up_for_retry"))
        not_run = sum(1 for _, _, s, _ in instances if s in ("upstream_failed", "none", "scheduled", "queued"))
        excerpts = {}
        for task_id, index, _ in failed:
            key = (task_id, index)
            excerpts[key] = list(self.serious.get(key) or self.recent.get(key) or [])
        return Outcome(self.dag_id, run_id, state, wall, failed, not_run, excerpts, list(self.loose))


def dags_test(dag_id: str, conf: dict | None, env: dict[str, str], log: RunLog, console: Console) -> Outcome:
    """``airflow dags test DAG_ID [-c CONF]``, its output into the run's log; progress on the console."""
    console.say(f"{dag_id}")
    watch = Watch(dag_id, console, Metadata(env))
    exe = Path(sys.executable).with_name("airflow")
    args = [str(exe), "dags", "test", dag_id, *(["-c", json.dumps(conf)] if conf else [])]
    start = time.monotonic()
    with log.appender() as sink:
        proc = subprocess.Popen(args, env={**os.environ, **env}, cwd=ROOT, stdout=sink, stderr=subprocess.STDOUT)
        try:
            while proc.poll() is None:
                for record in log.records():
                    watch.feed(record)
                watch.tick()
                time.sleep(0.2)
        except BaseException:
            proc.terminate()
            proc.wait()
            raise
    for record in log.records(final=True):
        watch.feed(record)
    outcome = watch.outcome(proc.returncode, time.monotonic() - start)
    console.say(f"{dag_id}: {'ok' if outcome.ok else 'FAILED'} in {outcome.seconds:.1f} s")
    return outcome


# -- the failure report ---------------------------------------------------------------------------------------

def _withheld():
    """A line holding an identifier or name of the sample export is not printed (the leak scan's needles)."""
    try:
        from handover import leaks
        from handover.contract import load_contract

        needles = leaks.needles_from_export(load_contract(CONTRACT), SAMPLE)
    except Exception:  # noqa: BLE001 — no export to compare with: Handover's errors name places, not values
        return lambda line: False
    return lambda line: bool(leaks.scan_text(line, needles))


def report_failure(outcome: Outcome, log: RunLog, console: Console) -> None:
    withheld = _withheld()

    def show(records: list[Record]) -> None:
        lines = [line for r in records for line in r.excerpt()][-EXCERPT_LINES:]
        for line in lines:
            if withheld(line):
                line = "[a line withheld here: it holds a value of the export — it is in the log file]"
            console.say("    " + (line if len(line) <= LINE_WIDTH else line[:LINE_WIDTH - 1] + "…"))

    if not outcome.failed:
        console.say(f"{outcome.dag_id} did not succeed (run {outcome.run_id or '?'}, state {outcome.state}); "
                    "its last error lines:")
        show(outcome.loose)
    for task_id, index, tries in outcome.failed:
        name = f"{task_id}[{index}]" if index >= 0 else task_id
        console.say(f"{outcome.dag_id}: task {name} failed (try {tries}); its last error lines:")
        show(outcome.excerpts.get((task_id, index)) or outcome.loose)
    if outcome.not_run:
        console.say(f"{outcome.not_run} task(s) of {outcome.dag_id} did not run after that")
    console.say(f"Airflow's log of this run (every task, in order): {log.path}")


# -- the job ----------------------------------------------------------------------------------------------------

def new_log() -> RunLog:
    return RunLog(LOGS / f"make-run-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%SZ}.log")


def run(out: TextIO | None = None, *, transfer_conf: dict | None = None) -> int:
    """The job (see the module's docstring). ``transfer_conf`` is merged into ``branch_transfer``'s conf."""
    from handover import sample
    from handover.manifest import render_reconciliation

    console = Console(out or sys.stdout)
    log = new_log()
    console.say(f"make run: Airflow's own log is {log.path}")
    with log.holding_output():
        env = environment()
    start = time.monotonic()
    with log.appender() as sink:
        migrated = airflow(["db", "migrate"], env, log=sink)
    records = log.records(final=True)
    if migrated.returncode:
        console.say("airflow db migrate failed; its last error lines:")
        for line in [line for r in records if r.level in SERIOUS for line in r.excerpt()][-EXCERPT_LINES:]:
            console.say("    " + line[:LINE_WIDTH])
        console.say(f"Airflow's log of this run: {log.path}")
        return 1
    console.say(f"airflow metadata database ready ({time.monotonic() - start:.1f} s)")
    planted = sample.generate(SAMPLE)
    console.say(f"sample export: {SAMPLE} ({sum(planted['rows'].values())} rows, "
                f"{sum(planted['defects'].values())} planted defects)")
    with log.holding_output():
        assessed = approve_sample_assessment(env["AIRFLOW_CONN_HANDOVER_TARGET"])
    console.say(f"impact assessment: {assessed['reference']} (overall risk {assessed['overall']}), approved for "
                f"this rehearsal as {assessed['approver']} — in production DAG transfer_assessment asks them")
    conf = {"branch_id": BRANCH, "contract": str(CONTRACT), "source": str(SAMPLE)} | (transfer_conf or {})
    outcome = dags_test("branch_transfer", conf, env, log, console)
    manifests = sorted((STATE / "output" / BRANCH).glob("*/manifest.json"), key=lambda p: p.stat().st_mtime)
    if not outcome.ok or not manifests:
        report_failure(outcome, log, console)
        return 1
    for dag_id, dag_conf in AFTER_TRANSFER:
        outcome = dags_test(dag_id, dag_conf, env, log, console)
        if not outcome.ok:
            report_failure(outcome, log, console)
            return 1
    console.say()
    console.say(render_reconciliation(json.loads(manifests[-1].read_text())))
    console.say(f"\nmanifest:  {manifests[-1]} (signed; verify with `handover manifest verify`)")
    console.say(f"checklist: {manifests[-1].with_name('checklist.html')}")
    with log.holding_output():
        backups = backup_summary(env["AIRFLOW_CONN_HANDOVER_TARGET"])
    console.say(backups)
    reports = sorted((STATE / "output" / "purge").glob("*.json"), key=lambda p: p.stat().st_mtime)
    if reports:
        purge = json.loads(reports[-1].read_text())["purge"]
        due = ", ".join(f"{k} {v}" for k, v in purge["deleted_per_class"].items() if v) or "nothing"
        console.say(f"purge:     dry run as of {purge['today']}: would delete {due} ({reports[-1]})")
    console.say(f"log:       {log.path} (Airflow's and the tasks' own logging)")
    return 0


def _target_dsn(target: str) -> str:
    from airflow.models.connection import Connection
    from psycopg2.extensions import make_dsn

    from handover_airflow.runtime import dsn_from_connection

    conn = Connection.from_json(target) if target.startswith("{") else Connection(uri=target)
    return make_dsn(dsn_from_connection(conn))


def approve_sample_assessment(target: str) -> dict:
    """The sample's impact assessment drafted from the contract and the export, signed, and approved in the
    name of the approver the contract names (`handover pipia draft` + `approve`): a rehearsal has no one to ask."""
    import psycopg2
    from handover import pipia
    from handover.contract import load_contract
    from handover.crypto import signing_key
    from handover.store import schema

    contract = load_contract(CONTRACT)
    with psycopg2.connect(_target_dsn(target)) as conn:
        schema.ensure_schema(conn)
        done = {"reference": contract.pipia_reference, "approver": contract.pipia_approver, "overall": "—"}
        state = {r["reference"]: r for r in pipia.approved_for(conn, contract.branch_id)}.get(contract.pipia_reference)
        if state and state["status"] == "approved":
            return done | {"overall": state["overall"]}
        done = pipia.assess(conn, contract, STATE / "output" / contract.branch_id / "pipia",
                            signing_key(signing_key_file().read_text()),
                            counts=pipia.source_counts(contract, SAMPLE),
                            crossing={"cross_border": False, "source": contract.jurisdiction, "target": "CN"},
                            actor="make run")
        pipia.decide(conn, done["reference"], "approved", by=contract.pipia_approver, via="make run")
    return done


def backup_summary(target: str) -> str:
    """The newest backup and its checks, from ``control`` (counts and times only)."""
    import psycopg2
    from psycopg2.extensions import make_dsn

    from handover_airflow.runtime import dsn_from_connection

    if target.startswith("{"):
        from airflow.models.connection import Connection

        dsn = dsn_from_connection(Connection.from_json(target))
    else:
        from airflow.models.connection import Connection

        dsn = dsn_from_connection(Connection(uri=target))
    with psycopg2.connect(make_dsn(dsn)) as conn, conn.cursor() as cur:
        cur.execute("SELECT backup_id, destination, tables, rows, cipher_bytes, seconds FROM control.backups "
                    "WHERE expired_at IS NULL ORDER BY taken_at DESC LIMIT 1")
        backup_id, dest, tables, rows, size, seconds = cur.fetchone()
        cur.execute("SELECT kind, ok, seconds FROM control.backup_checks WHERE backup_id = %s ORDER BY id",
                    (backup_id,))
        checks = ", ".join(f"{kind} {'ok' if ok else 'FAILED'} ({float(sec):.1f} s)" for kind, ok, sec in cur.fetchall())
    return (f"backup:    {backup_id} — {tables} tables, {rows} rows, {size / 1024:.0f} KiB encrypted in "
            f"{float(seconds):.1f} s, {dest}\nchecks:    {checks}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m handover_airflow.local")
    parser.add_argument("command", choices=["run", "env"])
    args = parser.parse_args(argv)
    if args.command == "env":
        for key, value in environment().items():
            if key not in ("AIRFLOW_VAR_HANDOVER_MASTER_KEY", "AIRFLOW_VAR_HANDOVER_SIGNING_KEY"):
                print(f"export {key}={shlex.quote(value)}")
        print(f"export AIRFLOW_VAR_HANDOVER_MASTER_KEY=\"$(cat {shlex.quote(str(master_key_file()))})\"")
        print(f"export AIRFLOW_VAR_HANDOVER_SIGNING_KEY=\"$(cat {shlex.quote(str(signing_key_file()))})\"")
        return 0
    return run()


if __name__ == "__main__":
    sys.exit(main())
