"""Objections and withdrawals on a real store: by the command line (identifier on stdin) and by a file of SMS
replies; processing stops at once (analytics rows gone, waiting notices cancelled, left out of later loads),
an erasure request follows and is carried out by the retention schedule's erasure; audited without the
identifier. A marketing opt-out (退订/TD) stops offers, not the notices the law requires."""

from __future__ import annotations

import datetime as dt
import io
import json
import sys

import psycopg2
import pytest
from handover.contract import load_contract
from handover.notices import objections, outbox
from handover.notices.objections import classify_reply
from handover.purge import erasure

from tests.support.stores import AFTER_AML, analytics_rows
from tests.support.stores import SAMPLE_BRANCH as BRANCH


@pytest.mark.parametrize("text, intent", [
    ("退订", "marketing_optout"), ("TD", "marketing_optout"), ("ｔｄ", "marketing_optout"), (" t ", "marketing_optout"),
    ("反对", "objection"), ("我不同意转移", "objection"), ("撤回", "withdrawal"), ("撤回同意。", "withdrawal"),
    ("不反对", None), ("好的，谢谢", None), ("", None), ("TD反对", "objection"),
])
def test_a_reply_is_read_by_its_intent(text, intent):
    assert classify_reply(text) == intent


def test_an_objection_on_the_command_line_stops_processing_and_files_an_erasure(
        store_and_people, sample_contract, monkeypatch, capsys, master_key_text):
    from handover import cli

    ctx, hasher, people = store_and_people
    person = people[3]
    customer = person["客户编号"].strip()
    contract = load_contract(sample_contract)
    with psycopg2.connect(ctx.dsn) as conn:
        outbox.prepare(conn, contract, prepared_on=dt.date(2026, 12, 2), requested_by="test")  # queued, not sent
    assert analytics_rows(ctx.dsn, customer) > 0
    monkeypatch.setenv("HANDOVER_MASTER_KEY", master_key_text)
    monkeypatch.setattr(sys, "stdin", io.StringIO(person["手机号码"] + "\n"))
    assert cli.main(["objection", "--dsn", ctx.dsn, "--kind", "mobile"]) == 0
    out = capsys.readouterr().out
    assert "objection: 1 customer(s)" in out and person["手机号码"] not in out
    assert analytics_rows(ctx.dsn, customer) == 0  # at once
    with psycopg2.connect(ctx.dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT status FROM control.notices WHERE customer_id = %s", (customer,))
        assert cur.fetchone()[0] == "objected"
        cur.execute("SELECT state FROM control.outbox WHERE customer_id = %s", (customer,))
        assert {r[0] for r in cur.fetchall()} == {"cancelled"}
        cur.execute("SELECT basis, state FROM control.erasure_requests")
        assert cur.fetchall() == [("consent_withdrawn", "pending")]
        cur.execute("SELECT detail::text FROM ops.audit WHERE action = 'customer.objection'")
        audited = cur.fetchone()[0]
        assert person["手机号码"] not in audited and customer not in audited
        # said twice: recorded once
        assert objections.record(conn, hasher, kind="objection", id_kind="customer_id", value=customer,
                                 branch_id=BRANCH, source="letter", received_by="clerk")[0]["already"]
        # the retention schedule's erasure takes it from there (after AML retention has run)
        done = erasure.carry_out(conn, hasher, AFTER_AML)
        assert [d["state"] for d in done] == ["done"]
        cur.execute("SELECT count(*) FROM vault.customers WHERE customer_id = %s", (customer,))
        assert cur.fetchone()[0] == 0
        # a later notice run does not notify them
        assert outbox.prepare(conn, contract, prepared_on=dt.date(2026, 12, 3), requested_by="test")["new"] == 0


def test_a_withdrawal_keeps_the_customer_out_of_a_later_analytics_load(store_and_people, sample_contract,
                                                                        sample_export, tmp_path, master_key_text):
    from handover import local_run

    from tests.support.stores import run_context as _ctx

    ctx, hasher, people = store_and_people
    customer = people[5]["客户编号"].strip()
    with psycopg2.connect(ctx.dsn) as conn:
        outcome, = objections.record(conn, hasher, kind="withdrawal", id_kind="customer_id", value=customer,
                                     branch_id=BRANCH, source="page", received_by="operator")
    assert outcome["analytics_rows_removed"] > 0 and analytics_rows(ctx.dsn, customer) == 0
    folder, _ = sample_export
    # the branch re-sends the same export before the erasure has run: the vault keeps them, analytics does not
    local_run.run_all(_ctx(ctx.dsn, master_key_text, sample_contract, folder, tmp_path, "run-again"))
    assert analytics_rows(ctx.dsn, customer) == 0


def test_a_file_of_sms_replies_opts_out_objects_and_withdraws(store_and_people, tmp_path):
    ctx, hasher, people = store_and_people
    a, b, c, d = people[10:14]
    lines = ["mobile,text", f"{a['手机号码']},退订", f"{b['手机号码']},反对", f"{c['手机号码']},撤回同意",
             f"{d['手机号码']},谢谢", "13800000000,反对", "not-a-number,TD"]
    raw = ("\n".join(lines) + "\n").encode()
    with psycopg2.connect(ctx.dsn) as conn:
        counts = objections.process_replies(conn, hasher, raw, file="replies.csv", received_by="inbox")
        again = objections.process_replies(conn, hasher, raw, file="replies.csv", received_by="inbox")
        summary = objections.report(conn)
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM control.erasure_requests")
            requests = cur.fetchone()[0]
    assert counts == {"invalid_mobile": 1, "marketing_optout": 1, "not_acted_on": 1, "objection": 1,
                      "unknown_sender": 1, "withdrawal": 1}
    assert again["objection_repeated"] == again["withdrawal_repeated"] == 1 and requests == 2
    assert summary["marketing_optouts"] == 1 and summary["objection"]["by_source"] == {"sms_reply": 1}
    assert a["客户编号"].strip() not in json.dumps(summary)
    # opting out of marketing is not objecting: the notice the law requires still goes to them, offers do not
    assert analytics_rows(ctx.dsn, a["客户编号"].strip()) > 0
    with psycopg2.connect(ctx.dsn) as conn, conn.cursor() as cur:
        audience = objections.marketing_audience(cur, BRANCH)
        cur.execute("SELECT count(*) FROM vault.customers")
        everyone = cur.fetchone()[0]
        told = outbox.prepare(conn, load_contract(_contract_path()), prepared_on=dt.date(2026, 12, 2),
                              requested_by="t")
        cur.execute("SELECT count(*) FROM control.notices WHERE customer_id = %s", (a["客户编号"].strip(),))
        assert cur.fetchone()[0] == 1
    assert len(audience) == everyone - 3 and a["客户编号"].strip() not in audience
    assert told["new"] == everyone - 2  # the objector and the withdrawn customer are not notified


def test_a_file_of_processed_letters_objects_withdraws_and_opts_out(store_and_people, tmp_path, monkeypatch,
                                                                       capsys, master_key_text):
    from handover import cli

    ctx, _, people = store_and_people
    a, b, c = people[20:23]
    lines = ["id_kind,identifier,branch_id,intent",
             f"customer_id,{a['客户编号'].strip()},{BRANCH},反对转移",
             f"mobile,{b['手机号码']},,本人撤回同意",
             f"id_number,{c['证件号码']},,退订",
             f"customer_id,{a['客户编号'].strip()},,反对",      # a customer id without its branch
             "passport,E12345678,,反对",                         # not a kind of identifier
             "mobile,12345,,反对",                               # not a mobile
             "mobile,13800000000,,撤回",                         # nobody
             f"mobile,{b['手机号码']},,来信咨询"]                 # not a request
    path = tmp_path / "letters.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    monkeypatch.setenv("HANDOVER_MASTER_KEY", master_key_text)
    assert cli.main(["letters", str(path), "--dsn", ctx.dsn, "--received-by", "desk"]) == 0
    counts = json.loads(capsys.readouterr().out)
    assert counts == {"customer_id_without_branch": 1, "invalid_id_kind": 1, "invalid_mobile": 1,
                      "marketing_optout": 1, "not_acted_on": 1, "objection": 1, "unknown_sender": 1, "withdrawal": 1}
    assert analytics_rows(ctx.dsn, a["客户编号"].strip()) == 0 and analytics_rows(ctx.dsn, b["客户编号"].strip()) == 0
    with psycopg2.connect(ctx.dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT kind, source, received_by FROM control.objections ORDER BY id")
        assert cur.fetchall() == [("objection", "letter", "desk"), ("withdrawal", "letter", "desk")]
        cur.execute("SELECT source FROM control.marketing_optouts")
        assert cur.fetchall() == [("letter",)]
    assert cli.main(["letters", str(path), "--dsn", ctx.dsn]) == 0  # the same file again: nothing new
    again = json.loads(capsys.readouterr().out)
    assert again["objection_repeated"] == again["withdrawal_repeated"] == 1


def _contract_path():
    from tests.conftest import ROOT

    return ROOT / "contracts" / "sample_branch.yaml"


def test_the_handover_page_counts_notices_and_objections_without_a_customer(store_and_people, sample_contract):
    from handover import overview
    from handover_airflow.ui import render_page

    ctx, hasher, people = store_and_people
    person = people[7]
    with psycopg2.connect(ctx.dsn) as conn:
        outbox.prepare(conn, load_contract(sample_contract), prepared_on=dt.date(2026, 12, 2), requested_by="t")
        objections.record(conn, hasher, kind="objection", id_kind="mobile", value=person["手机号码"],
                          branch_id=None, source="letter", received_by="clerk")
        data = overview.overview(conn)
    seen = data["customers"]
    assert sum(seen["notices"][BRANCH].values()) > 0 and seen["notices"][BRANCH]["objected"] == 1
    assert seen["objections"]["objection"]["by_source"] == {"letter": 1}
    page = render_page(data)
    assert 'id="customers"' in page and "objected" in page
    assert person["手机号码"] not in page and person["姓名"] not in page and person["客户编号"].strip() not in page
