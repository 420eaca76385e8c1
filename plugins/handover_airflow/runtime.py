"""Build a `RunContext` inside a running task from the DAG run's params and Airflow's secrets.

- Target store: connection ``handover_target`` (any secrets backend, or ``AIRFLOW_CONN_HANDOVER_TARGET``).
- Target region: the ``region`` extra of that connection (ISO 3166-1, e.g. CN) — where the store is.
- Master key: Variable ``handover_master_key`` (base64 of 32 random bytes), masked in every log.
- Signing key: Variable ``handover_signing_key`` (base64 of an Ed25519 seed, or PEM), masked in every log.
- Work and output roots: Variables ``handover_work_root`` / ``handover_output_root``, else the
  environment (``HANDOVER_WORK_ROOT`` / ``HANDOVER_OUTPUT_ROOT``), else folders under ``$AIRFLOW_HOME``.
"""

from __future__ import annotations

import logging
import os
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from handover.crypto import MasterKey
    from handover.run import RunContext

TARGET_CONN_ID = "handover_target"
SOURCE_CONN_ID = "handover_source"
MASTER_KEY_VARIABLE = "handover_master_key"
SIGNING_KEY_VARIABLE = "handover_signing_key"


def dsn_from_connection(conn) -> str:
    """A libpq connection string from an Airflow connection (host may be a socket folder)."""
    parts = {
        "host": conn.host or "", "port": str(conn.port or ""), "user": conn.login or "",
        "password": conn.password or "", "dbname": conn.schema or "",
    }
    for key, value in (conn.extra_dejson or {}).items():
        if key in ("sslmode", "sslrootcert", "sslcert", "sslkey", "connect_timeout", "options",
                   "target_session_attrs", "application_name"):
            parts[key] = str(value)
    return " ".join(f"{k}='{_escape(v)}'" for k, v in parts.items() if v)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")


def _setting(variable: str, env: str, default: str) -> str:
    from airflow.sdk import Variable

    value = Variable.get(variable, default=None)
    return value or os.environ.get(env) or default


def airflow_home() -> Path:
    return Path(os.environ.get("AIRFLOW_HOME", Path.home() / "airflow"))


def target() -> tuple[str, str | None]:
    """The target store's libpq DSN and its declared region."""
    from airflow.sdk import Connection
    from airflow.sdk.log import mask_secret

    conn = Connection.get(TARGET_CONN_ID)
    if conn.password:
        mask_secret(conn.password)
    return dsn_from_connection(conn), (conn.extra_dejson or {}).get("region")


def source_dsn() -> str | None:
    """The old branch's database (connection ``handover_source``), when one is configured."""
    from airflow.sdk import Connection
    from airflow.sdk.exceptions import AirflowNotFoundException
    from airflow.sdk.log import mask_secret

    try:
        conn = Connection.get(SOURCE_CONN_ID)
    except AirflowNotFoundException:
        return None
    if conn.password:
        mask_secret(conn.password)
    return dsn_from_connection(conn)


def _secret(name: str) -> str | None:
    from airflow.sdk import Variable
    from airflow.sdk.log import mask_secret

    text = Variable.get(name, default=None)
    if text:
        mask_secret(text, name=name)
    return text


def master_key() -> MasterKey:
    from handover.crypto import MasterKey

    return MasterKey.from_text(_secret(MASTER_KEY_VARIABLE))


def run_context(context: dict) -> RunContext:
    """From the task's Airflow context (``get_current_context()``)."""
    from handover.run import DEFAULT_CHUNK_ROWS, RunContext

    params = context["params"]
    dag_run = context["dag_run"]
    home = airflow_home()
    dsn, region = target()
    return RunContext(
        run_id=dag_run.run_id,
        contract_path=str(params["contract"]),
        source_dir=params.get("source") or None,
        branch_id=params.get("branch_id") or None,
        dry_run=bool(params.get("dry_run", False)),
        chunk_rows=int(params.get("chunk_rows") or DEFAULT_CHUNK_ROWS),
        dsn=dsn,
        target_region=region,
        source_dsn=source_dsn(),
        cross_border_approval=params.get("cross_border_approval") or None,
        recipient=params.get("recipient") or None,
        pipia=params.get("pipia") or None,
        master_key=master_key(),
        signing_key_text=_secret(SIGNING_KEY_VARIABLE),
        archive_root=_setting("handover_archive_root", "HANDOVER_ARCHIVE_ROOT", str(home / "handover" / "archive")),
        work_root=_setting("handover_work_root", "HANDOVER_WORK_ROOT", str(home / "handover" / "work")),
        output_root=_setting("handover_output_root", "HANDOVER_OUTPUT_ROOT", str(home / "handover" / "output")),
        actor=f"airflow:{dag_run.dag_id}",
        driver="airflow",
    )


def current() -> RunContext:
    from airflow.sdk import get_current_context

    return run_context(get_current_context())


def mark_run_failed(context: dict) -> None:
    """DAG failure callback: the run's row in ops says failed, the audit log says which task."""
    from handover.transfer import mark_failed

    try:
        ti = context.get("ti") or context.get("task_instance")
        mark_failed(run_context(context), reason=f"task {getattr(ti, 'task_id', '?')} failed")
    except Exception as exc:  # noqa: BLE001 — the store itself may be what failed; Airflow shows the failure
        logging.getLogger(__name__).warning("could not record the failed run in ops (%s)", type(exc).__name__)


@contextmanager
def step_errors(step: str):
    """A task's step, its errors told as Airflow should act on them: a wrong contract, source, key, file or
    count will be just as wrong on a retry, so such errors (`HandoverError`, a violated constraint) fail the
    task at once; a lost connection or a deadlock is left to the task's retries. A psycopg2 error never
    escapes as itself (its DETAIL quotes values): it is told as a `StoreError` naming ``step``."""
    from airflow.sdk.exceptions import AirflowFailException
    from handover.errors import HandoverError, StoreError, as_store_error

    try:
        yield
    except StoreError as exc:
        if exc.transient:
            raise  # a lost connection, a deadlock: the task's retries
        raise AirflowFailException(str(exc)) from None  # a violated constraint is violated again on a retry
    except HandoverError as exc:
        raise AirflowFailException(str(exc)) from None
    except Exception as exc:
        told = as_store_error(exc, step)
        if told is None:
            raise
        if told.transient:
            raise told from None
        raise AirflowFailException(str(told)) from None


def run(step, *args):
    """Run one step of `handover.transfer` in the current task: ``run(transfer.settle)``. The task's run
    context is made from the DAG run, and the branch's lock held shared while the step runs (the teardown
    and the work area's opening need none). Errors as :func:`step_errors` tells them.
    """
    from handover import transfer

    with step_errors(step.__name__):
        ctx = current()
        if step in (transfer.open_work_area, transfer.close_work_area):
            return step(ctx, *args)
        with transfer.branch_guard(ctx):  # one transfer of a branch at a time (handover.store.runlock)
            result = step(ctx, *args)
        from handover_airflow import lineage

        lineage.report(step.__name__, ctx)  # what it read and wrote, to OpenLineage (names only)
        return result
