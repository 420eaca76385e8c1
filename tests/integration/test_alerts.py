"""Alerts through a real SMTP conversation on loopback (a minimal server here: no mail leaves the
machine): a task failure and a missed backup deadline both arrive as mail; without the connection they
are still logged."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import socketserver
import threading

import pytest


class _Smtp(socketserver.StreamRequestHandler):
    """Just enough RFC 5321 for smtplib: EHLO, MAIL, RCPT, DATA, QUIT."""

    def handle(self) -> None:
        self.wfile.write(b"220 localhost test SMTP\r\n")
        while line := self.rfile.readline():
            verb = line[:4].upper()
            if verb in (b"EHLO", b"HELO"):
                self.wfile.write(b"250 localhost\r\n")
            elif verb in (b"MAIL", b"RCPT", b"RSET", b"NOOP"):
                if verb == b"RCPT":
                    self.server.rcpt.append(line.decode().strip())
                self.wfile.write(b"250 OK\r\n")
            elif verb == b"DATA":
                self.wfile.write(b"354 go on\r\n")
                body = []
                while (data := self.rfile.readline()) not in (b".\r\n", b""):
                    body.append(data)
                self.server.messages.append(b"".join(body).decode("utf-8", "replace"))
                self.wfile.write(b"250 queued\r\n")
            elif verb == b"QUIT":
                self.wfile.write(b"221 bye\r\n")
                return
            else:
                self.wfile.write(b"502 not here\r\n")


@pytest.fixture
def smtp(monkeypatch):
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Smtp)
    server.messages, server.rcpt = [], []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("AIRFLOW_CONN_HANDOVER_ALERTS", json.dumps(
        {"conn_type": "smtp", "host": "127.0.0.1", "port": server.server_address[1],
         "extra": {"to": "ops@example.cn, dpo@example.cn", "from": "handover@example.cn"}}))
    yield server
    server.shutdown()
    server.server_close()


class _Ti:
    dag_id, task_id = "restore_drill", "drill"


def test_a_failure_is_mailed_and_logged(smtp, caplog):
    from handover_airflow.alerts import on_failure

    caplog.set_level(logging.ERROR)
    on_failure({"ti": _Ti(), "run_id": "scheduled__2026-11-29", "exception": RuntimeError("2 table(s) differ")})
    assert len(smtp.messages) == 1
    mail = smtp.messages[0]
    assert "Subject: [Handover] restore_drill failed: drill" in mail and "2 table(s) differ" in mail
    assert len(smtp.rcpt) == 2
    assert "HANDOVER ALERT" in caplog.text


def test_a_missed_backup_deadline_is_mailed(smtp):
    from handover_airflow.alerts import backup_deadline_missed

    asyncio.run(backup_deadline_missed(context={"dag_run": {"run_id": "scheduled__2026-11-30T18:00:00+00:00"}}))
    assert "has not succeeded by its deadline" in smtp.messages[0]
    assert "scheduled__2026-11-30T18:00:00+00:00" in smtp.messages[0]


def test_without_the_connection_the_alert_is_still_logged(monkeypatch, caplog):
    from handover_airflow.alerts import notify

    monkeypatch.delenv("AIRFLOW_CONN_HANDOVER_ALERTS", raising=False)
    caplog.set_level(logging.ERROR)
    assert notify("[Handover] test", "body") is False
    assert "HANDOVER ALERT: [Handover] test" in caplog.text


def test_the_nightly_backup_has_a_deadline_alert(monkeypatch, airflow_db):
    """Serialised as the scheduler sees it: 3 h after the run's logical date (02:00 Asia/Shanghai), the
    callback ours; the hours configurable."""
    from airflow.dag_processing.dagbag import DagBag
    from airflow.serialization.serialized_objects import DagSerialization

    from tests.conftest import ROOT

    monkeypatch.setenv("HANDOVER_BACKUP_DEADLINE_HOURS", "4.5")
    dag = DagBag(dag_folder=str(ROOT / "dags" / "branch_backup.py")).get_dag("branch_backup")
    alert = dag.deadline[0] if isinstance(dag.deadline, list) else dag.deadline
    assert alert.interval == dt.timedelta(hours=4.5)
    assert alert.reference.reference_name == "DagRunLogicalDateDeadline"
    text = json.dumps(DagSerialization.to_dict(dag), default=str)
    assert "handover_airflow.alerts.backup_deadline_missed" in text
