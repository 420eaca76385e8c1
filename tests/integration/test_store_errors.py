"""One way into the store, one translation of its errors, at every entry point (issue 16).

A real constraint violation is forced through each: the CLI (`handover hold place`, a subprocess), a DAG
task (`load_vault` of `branch_transfer` under `dag.test()`: tests/e2e/test_branch_transfer_dag.py) and the
Handover page (tests/ui/test_handover_page.py). PostgreSQL's DETAIL quotes the failing row; what the user
sees names the constraint and the SQLSTATE, never the row. And no module opens its own connection to the
target store: they all go through :func:`handover.store.connect`.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import psycopg2
import pytest

from tests.conftest import ROOT

PLANTED = "客户13912345678投诉"  # a value the violated row holds: PostgreSQL's DETAIL quotes it


def _plant_check(dsn: str) -> None:
    from handover.store import connect, schema

    with connect(dsn, "test") as conn:
        schema.ensure_schema(conn)
        with conn.cursor() as cur:
            cur.execute("ALTER TABLE control.legal_holds ADD CONSTRAINT planted_no_mobile "
                        "CHECK (reason !~ '1[3-9][0-9]{9}')")
        conn.commit()


def test_the_cli_tells_a_violated_constraint_without_the_row(pg_dsn, master_key_text):
    _plant_check(pg_dsn)
    env = os.environ | {"HANDOVER_MASTER_KEY": master_key_text}
    done = subprocess.run([sys.executable, "-m", "handover.cli", "hold", "place", "--dsn", pg_dsn,
                           "--branch", "BR-ERR", "--reason", PLANTED], capture_output=True, text=True, env=env,
                          timeout=120, check=False)
    out = done.stdout + done.stderr
    assert done.returncode == 2, out
    assert "planted_no_mobile" in out and "check_violation" in out and "control.legal_holds" in out
    assert "Traceback" not in out
    assert "13912345678" not in out and PLANTED not in out


def test_connect_tells_what_a_retry_can_clear():
    """A violated constraint is not transient (a task fails at once); a lost connection is."""
    from handover.errors import store_error

    class Diag:
        schema_name, table_name, column_name, constraint_name, message_primary = "vault", "customers", None, \
            "planted", "new row violates check constraint"

    def error(cls, code):
        exc = cls("DETAIL: Failing row contains (13912345678)")
        exc.pgcode, exc.diag = code, Diag()
        return exc

    class Fake(psycopg2.IntegrityError):
        pgcode = diag = None

    class Lost(psycopg2.OperationalError):
        pgcode = diag = None

    violated = store_error(error(Fake, "23514"), "load")
    assert not violated.transient and "13912345678" not in str(violated) and "planted" in str(violated)
    assert store_error(error(Lost, "57P01"), "load", committed="nothing").transient
    assert store_error(error(Lost, "40P01"), "load").transient


def test_connect_translates_errors_inside_and_on_connecting(pg_dsn):
    from handover.errors import StoreError
    from handover.store import connect

    with pytest.raises(StoreError) as err, connect(pg_dsn, "probe") as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE t (v text CHECK (v !~ '1[3-9][0-9]{9}'))")
        cur.execute("INSERT INTO t VALUES (%s)", (PLANTED,))
    assert "probe" in str(err.value) and "check_violation" in str(err.value) and PLANTED not in str(err.value)
    with pytest.raises(StoreError) as err, connect("host=127.0.0.1 port=1 dbname=none connect_timeout=2", "probe"):
        pass
    assert "cannot connect" in str(err.value) and err.value.transient


# -- one way in --------------------------------------------------------------------------------------

# Modules allowed to call psycopg2.connect themselves: the store's one way in, and what reaches another
# server than the target store (the source database, the embedded server, scratch databases of drills).
OWN_CONNECTIONS = {
    "include/handover/store/connection.py",
    "include/handover/sources/database.py",   # the old branch's database, with its own messages
    "include/handover/store/embedded.py",     # the embedded PostgreSQL's admin database
    "include/handover/backup/ledger.py",      # scratch databases of restore drills
    "plugins/handover_airflow/local.py",      # make run's embedded server set-up
}


def _connect_calls(path: Path) -> list[int]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [node.lineno for node in ast.walk(tree) if isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute) and node.func.attr == "connect"
            and isinstance(node.func.value, ast.Name) and node.func.value.id == "psycopg2"]


def test_no_entry_point_opens_its_own_connection_to_the_store():
    found = {}
    for folder in ("include", "plugins", "dags"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if rel not in OWN_CONNECTIONS and (lines := _connect_calls(path)):
                found[rel] = lines
    assert found == {}, f"psycopg2.connect outside handover.store.connect: {found}"
