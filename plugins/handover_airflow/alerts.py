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
BACKUP_DEADLINE_ENV = "HANDOVER_BACKUP_DEADLINE"
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


def backup_deadline() -> dt.time:
    """The time of day (Asia/Shanghai) by which the nightly backup must have succeeded:
    ``HANDOVER_BACKUP_DEADLINE`` (``HH:MM``, read when the DAG file is parsed; default 05:00 — three hours
    after the 02:00 backup)."""
    return dt.time.fromisoformat(os.environ.get(BACKUP_DEADLINE_ENV) or "05:00")


def check_backup_deadline(now: dt.datetime | None = None) -> dict:
    """The deadline check: a backup of the store has succeeded since 02:00 (Asia/Shanghai) today, or the
    task fails at once and its failure callback alerts (one alert). Counts and times only."""
    from zoneinfo import ZoneInfo

    from airflow.sdk.exceptions import AirflowFailException

    from handover_airflow.settings import open_store

    zone = ZoneInfo("Asia/Shanghai")
    local = (now or dt.datetime.now(dt.UTC)).astimezone(zone)
    since = local.replace(hour=2, minute=0, second=0, microsecond=0)
    if local < since:
        since -= dt.timedelta(days=1)
    with open_store() as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*), max(taken_at) FROM control.backups WHERE taken_at >= %s", (since,))
        count, latest = cur.fetchone()
        cur.execute("SELECT max(taken_at) FROM control.backups")
        last_ever = cur.fetchone()[0]
    if not count:
        last = (f"the latest was taken {last_ever.astimezone(zone):%Y-%m-%d %H:%M}" if last_ever
                else "no backup of the store has ever succeeded")
        raise AirflowFailException(f"the nightly backup has not succeeded by its deadline: no backup since "
                                   f"{since:%Y-%m-%d %H:%M} (Asia/Shanghai), it is {local:%H:%M}; {last}")
    return {"backups_since": since.isoformat(), "count": count, "latest": latest.isoformat()}
