"""`compliance_review` through Airflow (`dag.test()`) on the transferred sample: every check recorded with its
evidence as counts; failures become remediation items that close when their check passes, reopen when it fails
again and alert when overdue; the report file and the Handover page show the review, the open items and the
trend — and no customer value."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import psycopg2
from handover import overview
from handover.review import CHECKS

from tests.support.stores import sample_identifiers as _identifiers


def _review(dag, day: dt.date):
    run = dag.test(run_conf={"today": day.isoformat()})
    assert run.get_state() == "success"


def _items(dsn) -> dict:
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT check_name, status, reopened, owner, due_on, alerted_on FROM control.remediation")
        return {c: rest for c, *rest in cur.fetchall()}


def test_the_review_records_every_check_and_its_items_follow_the_checks(dags, transferred, target, sample_export,
                                                                       tmp_path, caplog, pg_admin_dsn):
    from handover_airflow.ui import render_page

    login = f"handover_review_test_{tmp_path.name[-12:].lower()}".replace("-", "_")
    admin = psycopg2.connect(pg_admin_dsn)
    admin.autocommit = True
    with admin.cursor() as cur:  # a vault reader the access policy does not list
        cur.execute(f"DROP ROLE IF EXISTS {login}")
        cur.execute("DO $$ BEGIN CREATE ROLE handover_vault_reader NOLOGIN; EXCEPTION WHEN duplicate_object THEN "
                    "NULL; END $$")
        cur.execute(f"CREATE ROLE {login} LOGIN IN ROLE handover_vault_reader")
    try:
        dag = dags.get_dag("compliance_review")
        assert dag is not None, dags.import_errors
        today = dt.date.today()
        _review(dag, today + dt.timedelta(days=40))  # the sample's quarantine is now 40 days old
        with psycopg2.connect(target) as conn, conn.cursor() as cur:
            cur.execute("SELECT check_name, passed, severity, evidence FROM control.review_findings ORDER BY id")
            findings = {c: (p, s, e) for c, p, s, e in cur.fetchall()}
        assert list(findings) == [c.__name__ for c in CHECKS]
        assert findings["quarantine_unresolved"][0] is False and findings["quarantine_unresolved"][2]["older_than_limit"] > 0
        assert findings["access_policy"][0] is False and findings["access_policy"][2]["not_in_policy"] >= 1
        assert findings["consent_and_notice"][2]["not_told"] > 0  # no customer_notice run yet
        assert findings["backups"][0] is False and findings["backups"][2]["last_backup_hours"] is None
        assert findings["audit_integrity"][0] is True and findings["audit_integrity"][2]["entries"] > 5
        assert findings["erasure_overdue"][0] is True
        items = _items(target)
        assert items["quarantine_unresolved"][:2] == ["open", 0] and items["quarantine_unresolved"][2] == "数据质量负责人"
        assert items["backups"][2] == "运维负责人" and "audit_integrity" not in items

        _review(dag, today)  # the quarantine is fresh again: its item closes itself
        assert _items(target)["quarantine_unresolved"][:2] == ["closed", 0]
        _review(dag, today + dt.timedelta(days=40))  # … and reopens when it fails again
        assert _items(target)["quarantine_unresolved"][:2] == ["open", 1]
        caplog.clear()
        _review(dag, today + dt.timedelta(days=200))  # every item is past its due date: alerted once
        assert _items(target)["quarantine_unresolved"][4] == today + dt.timedelta(days=200)
        assert "remediation item(s) overdue" in caplog.text

        with psycopg2.connect(target) as conn, conn.cursor() as cur:
            cur.execute("SELECT report_path FROM control.reviews ORDER BY id DESC LIMIT 1")
            report = Path(cur.fetchone()[0]).read_text(encoding="utf-8")
            data = overview.overview(conn)
        page = render_page(data)
        for text in (report, page):
            assert "Compliance review" in text and "<svg" in text and "quarantine_unresolved" in text
            assert [v for v in _identifiers(sample_export[0]) if v in text] == []
        assert len(data["compliance"]["history"]) == 4
    finally:
        with admin.cursor() as cur:
            cur.execute(f"DROP ROLE IF EXISTS {login}")
        admin.close()
