"""`make run`: the main job on embedded defaults, on a machine that has only Python and make.

Prepares a local Airflow home (SQLite metadata), a master key (generated once into a git-ignored 0600
file), the target store (the database of ``AIRFLOW_CONN_HANDOVER_TARGET`` if set, else an embedded
PostgreSQL), the sample branch export, then runs ``branch_transfer`` with ``airflow dags test`` and prints
the reconciliation; then ``branch_backup`` (into ``$AIRFLOW_HOME/handover/backups``) and ``restore_drill``
(the backup restored into a scratch database and compared) and a dry run of ``retention_purge``, and
prints what they recorded. Running it
again is safe: the transfer is idempotent; backups are kept by the default retention policy.

    python -m handover_airflow.local run      # the whole job
    python -m handover_airflow.local env      # print the environment lines, for `airflow standalone`
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STATE = Path(os.environ.get("HANDOVER_STATE_DIR", ROOT / ".handover"))
CONTRACT = ROOT / "contracts" / "sample_branch.yaml"
SAMPLE = STATE / "sample"


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
    }
    home.mkdir(parents=True, exist_ok=True)
    return env


def airflow(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("airflow")
    return subprocess.run([str(exe), *args], env={**os.environ, **env}, cwd=ROOT, check=False)


def run() -> int:
    from handover import sample
    from handover.manifest import render_reconciliation

    env = environment()
    if airflow(["db", "migrate"], env).returncode:
        print("airflow db migrate failed", file=sys.stderr)
        return 1
    planted = sample.generate(SAMPLE)
    print(f"sample export: {SAMPLE} ({sum(planted['rows'].values())} rows, "
          f"{sum(planted['defects'].values())} planted defects)")
    conf = {"branch_id": "SH-PD-0042", "contract": str(CONTRACT), "source": str(SAMPLE)}
    result = airflow(["dags", "test", "branch_transfer", "-c", json.dumps(conf)], env)
    manifests = sorted((STATE / "output" / "SH-PD-0042").glob("*/manifest.json"), key=lambda p: p.stat().st_mtime)
    if result.returncode or not manifests:
        print("branch_transfer did not succeed; see the task logs above", file=sys.stderr)
        return result.returncode or 1
    print()
    print(render_reconciliation(json.loads(manifests[-1].read_text())))
    print(f"\nmanifest:  {manifests[-1]} (signed; verify with `handover manifest verify`)")
    print(f"checklist: {manifests[-1].with_name('checklist.html')}")
    for dag_id, conf in (("branch_backup", None), ("restore_drill", None),
                         ("retention_purge", {"dry_run": True})):
        if airflow(["dags", "test", dag_id, *(["-c", json.dumps(conf)] if conf else [])], env).returncode:
            print(f"{dag_id} did not succeed; see the task logs above", file=sys.stderr)
            return 1
    print()
    print(backup_summary(env["AIRFLOW_CONN_HANDOVER_TARGET"]))
    reports = sorted((STATE / "output" / "purge").glob("*.json"), key=lambda p: p.stat().st_mtime)
    if reports:
        purge = json.loads(reports[-1].read_text())["purge"]
        due = ", ".join(f"{k} {v}" for k, v in purge["deleted_per_class"].items() if v) or "nothing"
        print(f"purge:     dry run as of {purge['today']}: would delete {due} ({reports[-1]})")
    return 0


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
