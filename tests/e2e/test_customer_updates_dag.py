"""`customer_updates` through Airflow (`dag.test()`) on the transferred sample: a change file applied with
history (earlier values sealed in vault.customer_history), its rows reconciled, each changed mobile and e-mail
confirmed to the old and the new contact — counted where they arrived, at the SMTP server and the SMS gateway
on loopback; run again, it changes and sends nothing; an erasure takes the customer's history with it."""

from __future__ import annotations

import datetime as dt

import psycopg2
from handover.purge import erasure
from handover.store.keys import Keyring

from tests.conftest import snapshot
from tests.support.changes import sample_change_file, sample_people
from tests.support.stores import SAMPLE_BRANCH as BRANCH

TABLES = ("vault.customers", "vault.customer_history", "analytics.customers", "control.outbox")


def test_customer_updates_applies_with_history_confirms_and_changes_nothing_again(
        dags, transferred, target, servers, sample_contract, tmp_path, caplog):
    smtp, gateway = servers
    ctx, _, _ = transferred
    people = sample_people(ctx)
    path = sample_change_file(tmp_path, people)
    dag = dags.get_dag("customer_updates")
    assert dag is not None, dags.import_errors
    conf = {"contract": str(sample_contract), "change_file": str(path), "changed_on": "2026-12-03"}
    run = dag.test(run_conf=conf)
    assert run.get_state() == "success"
    with psycopg2.connect(target) as conn, conn.cursor() as cur:
        cur.execute("SELECT counts FROM ops.update_runs WHERE status = 'success'")
        [(counts,)] = cur.fetchall()
        cur.execute("SELECT customer_id, version FROM vault.customer_history ORDER BY 1")
        history = cur.fetchall()
        cur.execute("SELECT status, count(*) FROM control.notices WHERE kind = 'contact_change' GROUP BY 1")
        statuses = dict(cur.fetchall())
    assert counts["rows"] == 9 and (counts["applied"], counts["quarantined"], counts["unchanged"],
                                    counts["duplicate"]) == (3, 4, 1, 1)
    assert sorted(c for c, _ in history) == sorted([people[0]["id"], people[1]["id"], people[5]["id"]])
    # each confirmation arrived once, at the old contact and at the new
    assert sorted(m["to"] for m in gateway.messages.values()) == sorted(
        [people[0]["mobile"], "13900000001", people[5]["mobile"], "13900000005"])
    assert sorted(a.recipients[0] for a in smtp.arrived) == sorted([people[1]["email"], "upd1@example.cn"])
    assert sum(statuses.values()) == 6 and set(statuses) <= {"delivered", "attempted"}
    assert not [v for v in ("13900000001", "upd1@example.cn", people[0]["mobile"]) if v in caplog.text]

    before, sent = snapshot(target, TABLES), (len(gateway.sends()), len(smtp.arrived))
    again = dag.test(run_conf=conf)
    assert again.get_state() == "success"
    assert snapshot(target, TABLES) == before and (len(gateway.sends()), len(smtp.arrived)) == sent

    with psycopg2.connect(target) as conn:
        keys = Keyring(conn, ctx.master_key, BRANCH)
        request = erasure.file_request(conn, keys.blind_index, "customer_id", people[0]["id"], branch_id=BRANCH,
                                       basis="individual_request", requested_by="test")
        [outcome] = erasure.carry_out(conn, keys.blind_index, dt.date(2026, 12, 3), only=[request])
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM vault.customer_history WHERE customer_id = %s", (people[0]["id"],))
            assert outcome["state"] == "done" and cur.fetchone()[0] == 0
