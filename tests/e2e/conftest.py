"""Shared by the end-to-end tests: the DAGs as Airflow parses them, and the notice channels' servers."""

from __future__ import annotations

import json

import pytest

DELIVERY_SECRET = "dag-test-secret"  # the SMS gateway's signing secret (connection handover_sms's password)


@pytest.fixture(scope="module")
def dags(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    from tests.conftest import ROOT

    return DagBag(dag_folder=str(ROOT / "dags"))


@pytest.fixture
def servers(monkeypatch):
    """(SMTP server, SMS gateway) on loopback, reached by the DAGs through the Airflow connections
    ``handover_smtp`` and ``handover_sms``; delivery without pauses (Variable ``handover_notice_delivery``)."""
    from tests.support.mailserver import SmsGatewayServer, SmtpServer

    smtp, gateway = SmtpServer(), SmsGatewayServer(DELIVERY_SECRET)
    monkeypatch.setenv("AIRFLOW_CONN_HANDOVER_SMTP", json.dumps(
        {"conn_type": "smtp", "host": "127.0.0.1", "port": smtp.port,
         "extra": {"sender": "notice@bank.example.cn", "sender_name": "示例村镇银行"}}))
    monkeypatch.setenv("AIRFLOW_CONN_HANDOVER_SMS", json.dumps(
        {"conn_type": "http", "host": gateway.url, "password": DELIVERY_SECRET}))
    monkeypatch.setenv("AIRFLOW_VAR_HANDOVER_NOTICE_DELIVERY", json.dumps({"batch": 25, "per_second": 0,
                                                                          "backoff": [0, 0]}))
    yield smtp, gateway
    smtp.stop()
    gateway.stop()
