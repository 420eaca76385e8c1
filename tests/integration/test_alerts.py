"""Alerts through a real SMTP conversation on loopback (a minimal server here: no mail leaves the
machine): a task failure and a missed backup deadline both arrive as mail; without the connection they
are still logged."""

from __future__ import annotations

import email
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
                message = email.message_from_bytes(b"".join(body))  # subject and body, transfer-decoded
                self.server.messages.append(f"Subject: {message['Subject']}\n"
                                            + message.get_payload(decode=True).decode("utf-8", "replace"))
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


def test_without_the_connection_the_alert_is_still_logged(monkeypatch, caplog):
    from handover_airflow.alerts import notify

    monkeypatch.delenv("AIRFLOW_CONN_HANDOVER_ALERTS", raising=False)
    caplog.set_level(logging.ERROR)
    assert notify("[Handover] test", "body") is False
    assert "HANDOVER ALERT: [Handover] test" in caplog.text


def test_the_backup_deadline_alerts_when_no_backup_succeeded_since_two(smtp, airflow_db, target, monkeypatch,
                                                                        master_key_text, signing_key_text, tmp_path):
    """`backup_deadline` through Airflow (`dag.test()`), at its configured time: no backup since 02:00 → the
    run fails and one mail goes out; after a backup it succeeds and nothing is sent."""
    import psycopg2
    from airflow.dag_processing.dagbag import DagBag
    from handover.backup import ledger, snapshot
    from handover.backup.snapshot import LocalFolder
    from handover.crypto import MasterKey, signing_key
    from handover.store import schema

    from tests.conftest import ROOT

    monkeypatch.setenv("HANDOVER_BACKUP_DEADLINE", "05:30")
    dag = DagBag(dag_folder=str(ROOT / "dags" / "backup_deadline.py")).get_dag("backup_deadline")
    assert dag.timetable.summary.startswith("30 5 * * *")
    run = dag.test()
    assert run.get_state() == "failed"
    assert len(smtp.messages) == 1 and "has not succeeded by its deadline" in smtp.messages[0]
    assert "no backup of the store has ever succeeded" in smtp.messages[0]

    with psycopg2.connect(target) as conn:
        schema.ensure_schema(conn)
        manifest = snapshot.take(conn, LocalFolder(tmp_path / "b"), MasterKey.from_text(master_key_text),
                                 signing_key(signing_key_text))
        ledger.record_backup(conn, manifest, "test", 1.0)
    assert dag.test().get_state() == "success"
    assert len(smtp.messages) == 1
