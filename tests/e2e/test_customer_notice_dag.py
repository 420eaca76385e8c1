"""`customer_notice` through Airflow (`dag.test()`) on the sample: a notice for every loaded customer, e-mail
to a real SMTP server and SMS to a real HTTP gateway on loopback (the Airflow connections `handover_smtp`
and `handover_sms`), counts in the report and the audit log, no contact in XCom, logs or reports; run again,
it sends nothing more."""

from __future__ import annotations

import json

import psycopg2


def test_customer_notice_tells_every_loaded_customer_once(dags, transferred, target, servers, sample_contract,
                                                         tmp_path, caplog):
    smtp, gateway = servers
    dag = dags.get_dag("customer_notice")
    assert dag is not None, dags.import_errors
    conf = {"contract": str(sample_contract), "branch_id": "", "prepared_on": "2026-12-02"}
    run = dag.test(run_conf=conf)
    assert run.get_state() == "success"
    with psycopg2.connect(target) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM vault.customers")
        customers = cur.fetchone()[0]
        cur.execute("SELECT status, count(*) FROM control.notices GROUP BY 1")
        statuses = dict(cur.fetchall())
        cur.execute("SELECT action, detail FROM ops.audit WHERE action LIKE 'notices.%' ORDER BY id")
        audit = cur.fetchall()
    assert sum(statuses.values()) == customers and set(statuses) <= {"delivered", "letter", "announcement"}
    assert len(gateway.messages) == statuses.get("delivered", 0) - len(smtp.arrived)
    assert [a for a, _ in audit] == ["notices.prepared", "notices.reported"]
    reports = sorted((tmp_path / "output" / "notices" / "SH-PD-0042").glob("report-*.json"))
    report = json.loads(reports[-1].read_text())
    assert report["notices"] == customers
    # no contact anywhere the run wrote: report, audit, logs
    contacts = [m["to"] for m in gateway.messages.values()] + [a.recipients[0] for a in smtp.arrived]
    written = reports[-1].read_text() + json.dumps([d for _, d in audit], ensure_ascii=False) + caplog.text
    assert contacts and not [c for c in contacts if c in written]

    before = len(gateway.sends()) + len(smtp.arrived)
    again = dag.test(run_conf=conf)
    assert again.get_state() == "success"
    assert len(gateway.sends()) + len(smtp.arrived) == before  # nothing sent twice
