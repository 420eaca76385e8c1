"""Alerts: a DAG's failure said where operators will see it — an ERROR line in the task's log (which the
UI shows and log shippers can match on ``HANDOVER ALERT``) and, when connection ``handover_alerts`` exists
(type ``smtp``/``email``: host, port, login, password; extra ``to`` — a list or comma-separated addresses,
``from``, ``starttls``), an email. No customer data: the DAG, task, run and the error's message, which
Handover's errors keep free of values."""

from __future__ import annotations

import datetime as dt
import logging
import os
import smtplib
from email.message import EmailMessage

ALERT_CONN_ID = "handover_alerts"
BACKUP_DEADLINE_ENV = "HANDOVER_BACKUP_DEADLINE_HOURS"
log = logging.getLogger(__name__)


def describe(context: dict) -> tuple[str, str]:
    ti = context.get("ti") or context.get("task_instance")
    dag_id = getattr(ti, "dag_id", None) or getattr(context.get("dag"), "dag_id", "?")
    task_id = getattr(ti, "task_id", "?")
    run = context.get("run_id") or getattr(context.get("dag_run"), "run_id", "?")
    error = context.get("exception")
    subject = f"[Handover] {dag_id} failed: {task_id}"
    body = f"DAG {dag_id}, task {task_id}, run {run}\n\n{type(error).__name__ if error else 'failed'}: {error or ''}\n"
    return subject, body


def notify(subject: str, body: str) -> bool:
    """Log the alert; email it when ``handover_alerts`` is configured. True when an email went out."""
    log.error("HANDOVER ALERT: %s — %s", subject, body.strip().replace("\n", " "))
    try:
        from airflow.sdk import Connection
        from airflow.sdk.exceptions import AirflowNotFoundException

        try:
            conn = Connection.get(ALERT_CONN_ID)
        except AirflowNotFoundException:
            return False
        extra = conn.extra_dejson or {}
        to = extra.get("to") or []
        to = [a.strip() for a in (to.split(",") if isinstance(to, str) else to) if a.strip()]
        if not to:
            log.warning("connection %s has no 'to' addresses: alert only logged", ALERT_CONN_ID)
            return False
        message = EmailMessage()
        message["Subject"], message["From"], message["To"] = subject, extra.get("from", "handover@localhost"), to
        message.set_content(body)
        with smtplib.SMTP(conn.host or "localhost", conn.port or 25, timeout=30) as smtp:
            if extra.get("starttls"):
                smtp.starttls()
            if conn.login:
                smtp.login(conn.login, conn.password or "")
            smtp.send_message(message)
        return True
    except Exception as exc:  # noqa: BLE001 — an alert that cannot be mailed is still logged above
        log.error("HANDOVER ALERT could not be emailed (%s: %s)", type(exc).__name__, exc)
        return False


def on_failure(context: dict) -> None:
    """A task or DAG failure callback."""
    notify(*describe(context))


def backup_deadline() -> dt.timedelta:
    """How long after its scheduled time (02:00 Asia/Shanghai) the nightly backup must have succeeded:
    ``HANDOVER_BACKUP_DEADLINE_HOURS`` (read when the DAG file is parsed; default 3, i.e. 05:00)."""
    return dt.timedelta(hours=float(os.environ.get(BACKUP_DEADLINE_ENV) or 3))


async def backup_deadline_missed(context: dict | None = None, **kwargs) -> None:
    """The deadline callback (Airflow runs it in the triggerer): the nightly backup has not succeeded in
    time — alert, as a failure would."""
    import asyncio

    dag_run = (context or {}).get("dag_run") or {}
    run_id = dag_run.get("run_id") if isinstance(dag_run, dict) else getattr(dag_run, "run_id", None)
    subject = "[Handover] the nightly backup has not succeeded by its deadline"
    body = (f"DAG branch_backup, run {run_id or '?'}: not successful {backup_deadline()} after its scheduled "
            "time. Check the run in the Airflow UI; yesterday's backup is the latest good one until it succeeds.\n")
    await asyncio.to_thread(notify, subject, body)
