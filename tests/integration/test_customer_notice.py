"""The transfer notice against a real PostgreSQL and real servers on loopback: one notice per loaded
customer decided with its outbox message in one transaction (no address in it); the deliverer sends e-mail
to an SMTP server and SMS to an HTTP gateway, retries with back-off, falls back on a bounce or an invalid
contact, and — killed in the middle of a batch and run again — sends nothing twice."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg2
import pytest
from handover.contract import load_contract
from handover.notices import deliver, outbox
from handover.notices.channels import LetterBatch, SmsGateway, SmsSettings, SmtpChannel, SmtpSettings

from tests.support.mailserver import GatewayBehaviour, SmsGatewayServer, SmtpBehaviour, SmtpServer

DAY = dt.date(2026, 12, 2)
SECRET = "test-signing-secret"
FAST = deliver.DeliverySettings(batch=10, per_second=0, backoff=(0.0, 0.0, 0.0))


@pytest.fixture
def servers():
    smtp, gateway = SmtpServer(), SmsGatewayServer(SECRET)
    yield smtp, gateway
    smtp.stop()
    gateway.stop()


def _channels(smtp, gateway, letters: Path) -> dict:
    return {"email": SmtpChannel(SmtpSettings("127.0.0.1", smtp.port, sender="notice@bank.example.cn",
                                              sender_name="示例村镇银行")),
            "sms": SmsGateway(SmsSettings(gateway.url, SECRET)), "letter": LetterBatch(letters)}


def _email_first(contract):
    """The sample's customers all have a mobile: e-mail first, so that both channels carry notices."""
    return dataclasses.replace(contract, notice=dataclasses.replace(contract.notice,
                                                                    channels=("email", "sms", "letter")))


def _deliverer(conn, ctx, contract, channels, settings=FAST) -> deliver.Deliverer:
    return deliver.Deliverer(conn, deliver.ciphers(conn, ctx.master_key),
                             deliver.RunFacts(conn, {contract.branch_id: contract}), channels, settings,
                             sleep=lambda s: None)


def _expected(dsn: str, branch: str) -> dict:
    """Per customer of the vault, the channel the contract's order gives (sms, email, letter, none)."""
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT customer_id, CASE WHEN mobile_enc IS NOT NULL THEN 'sms' WHEN email_enc IS NOT NULL "
                    "THEN 'email' WHEN address_enc IS NOT NULL THEN 'letter' END FROM vault.customers "
                    "WHERE branch_id = %s", (branch,))
        return dict(cur.fetchall())


def test_prepare_decides_one_notice_per_customer_with_its_outbox_message_and_no_address(transferred, sample_contract):
    ctx, _, _ = transferred
    contract = load_contract(sample_contract)
    expected = _expected(ctx.dsn, contract.branch_id)
    with psycopg2.connect(ctx.dsn) as conn:
        first = outbox.prepare(conn, contract, prepared_on=DAY, requested_by="test")
        again = outbox.prepare(conn, contract, prepared_on=DAY, requested_by="test")
        with conn.cursor() as cur:
            cur.execute("SELECT customer_id, channel, status FROM control.notices")
            notices = {r[0]: r[1:] for r in cur.fetchall()}
            cur.execute("SELECT * FROM control.outbox")
            rows = cur.fetchall()
            cur.execute("SELECT deadline FROM control.notice_runs")
            assert cur.fetchone()[0] == dt.date(2027, 1, 1)
    assert first["new"] == len(expected) == len(notices) and again["new"] == 0  # a re-run adds nothing
    assert {c: ch for c, (ch, _) in notices.items()} == expected
    assert sum(1 for c in expected.values() if c) == len(rows)  # one message per customer with a channel
    # the outbox names the customer by key and the channel; no value of the vault's contacts is in it
    text = json.dumps([[str(v) for v in r] for r in rows], ensure_ascii=False)
    assert "@" not in text and not any(len(v) == 11 and v.isdigit() and v.startswith("1") for r in rows
                                       for v in map(str, r))


def test_deliverer_sends_each_notice_by_its_channel_and_records_receipts(transferred, sample_contract, servers,
                                                                        tmp_path, caplog):
    ctx, _, _ = transferred
    smtp, gateway = servers
    contract = _email_first(load_contract(sample_contract))
    with psycopg2.connect(ctx.dsn) as conn:
        outbox.prepare(conn, contract, prepared_on=DAY, requested_by="test")
        with conn.cursor() as cur:
            cur.execute("SELECT channel, count(*) FROM control.outbox GROUP BY 1")
            queued = dict(cur.fetchall())
        counts = _deliverer(conn, ctx, contract, _channels(smtp, gateway, tmp_path / "letters")).drain()
        reports = deliver.collect_reports(conn, SmsGateway(SmsSettings(gateway.url, SECRET)))
        summary = outbox.counts(conn, branch_id=contract.branch_id)
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM control.outbox WHERE state IN ('queued', 'claimed', 'sending', 'retry')")
            assert cur.fetchone()[0] == 0  # drained
            cur.execute("SELECT receipt FROM control.outbox WHERE channel = 'sms' AND state = 'sent'")
            receipts = {r[0] for r in cur.fetchall()}
    assert all(r["signature_ok"] for r in gateway.requests)
    assert receipts == {m["receipt"] for m in gateway.messages.values()}
    assert queued["email"] > 0 and queued["sms"] > 0
    assert len(gateway.sends()) == len(gateway.messages) == counts.get("sms_sent", 0)  # none twice
    assert reports.get("delivered") == len(gateway.messages)
    # every e-mail: multipart text + HTML, its Message-ID the idempotency key, the law's facts in both parts
    ids = [a.message["Message-ID"] for a in smtp.arrived]
    assert len(ids) == len(set(ids)) > 0
    mail = smtp.arrived[0].message
    assert mail.get_content_type() == "multipart/alternative" and mail["X-Handover-Key"] in mail["Message-ID"]
    assert contract.receiving_party.pi_contact.email in mail.get_body(("plain",)).get_content()
    assert "<h3>" in mail.get_body(("html",)).get_content()
    # every customer's notice is settled: delivered, by letter, or by the announcement
    assert set(summary["by_status"]) <= {"delivered", "letter", "announcement"}
    assert summary["notices"] == len(_expected(ctx.dsn, contract.branch_id))
    letters = list((tmp_path / "letters").glob("*.txt"))
    assert len(letters) == summary["by_status"].get("letter", 0) and all(
        (p.stat().st_mode & 0o077) == 0 for p in letters)
    # no contact in the logs, nor in the counts
    logged = caplog.text + json.dumps([counts, summary, reports])
    assert not any(to in logged for m in gateway.messages.values() for to in [m["to"]])
    assert not any(a.recipients[0] in logged for a in smtp.arrived)


def test_transient_failures_are_retried_then_fail_and_a_bounce_falls_back(transferred, sample_contract, tmp_path):
    ctx, _, _ = transferred
    contract = load_contract(sample_contract)
    gateway = SmsGatewayServer(SECRET, GatewayBehaviour(fail_next=2))  # the first two sends: 503
    smtp = SmtpServer(SmtpBehaviour(defer_first=1_000))  # every e-mail deferred (451): retries run out
    contract = _email_first(contract)
    try:
        with psycopg2.connect(ctx.dsn) as conn:
            outbox.prepare(conn, contract, prepared_on=DAY, requested_by="test")
            _deliverer(conn, ctx, contract, _channels(smtp, gateway, tmp_path / "letters")).drain()
            with conn.cursor() as cur:
                cur.execute("SELECT max(attempts) FROM control.outbox WHERE channel = 'sms' AND state = 'sent'")
                assert cur.fetchone()[0] == 2  # 503 once for two messages, sent on their second attempt
                cur.execute("SELECT state, attempts, last_reason FROM control.outbox WHERE channel = 'email'")
                emails = cur.fetchall()
                cur.execute("SELECT count(*) FROM control.notices WHERE 'email_failed_after_retries' = ANY(reasons)")
                failed = cur.fetchone()[0]
    finally:
        smtp.stop()
        gateway.stop()
    assert emails and all(s == "failed" and a == FAST.max_attempts and r == "smtp_451" for s, a, r in emails)
    assert failed == len(emails) and smtp.arrived == []


def test_a_refused_address_bounces_and_the_notice_goes_by_letter(transferred, sample_contract, servers, tmp_path):
    ctx, _, _ = transferred
    smtp, gateway = servers
    contract = _email_first(load_contract(sample_contract))
    with psycopg2.connect(ctx.dsn) as conn:
        outbox.prepare(conn, contract, prepared_on=DAY, requested_by="test")
        # every SMS refused by the gateway and every e-mail address refused by the server
        channels = _channels(smtp, gateway, tmp_path / "letters")

        class Refusing(SmtpChannel):
            def send(self, message):
                smtp.behaviour.refuse.add(message.to)
                return super().send(message)

        channels["email"] = Refusing(channels["email"].settings)
        gateway.behaviour.reject = _AllNumbers()
        _deliverer(conn, ctx, contract, channels).drain()
        summary = outbox.counts(conn, branch_id=contract.branch_id)
    assert smtp.arrived == [] and not gateway.messages
    assert summary["reasons"]["sms_bounced"] > 0 and summary["reasons"].get("email_bounced", 0) >= 0
    assert set(summary["by_status"]) <= {"letter", "announcement"} and summary["by_status"]["letter"] > 0


class _AllNumbers(set):
    def __contains__(self, item) -> bool:
        return True


@pytest.mark.parametrize("first", ["sms", "email"])
def test_killed_in_the_middle_of_a_batch_then_run_again_sends_nothing_twice(transferred, sample_contract,
                                                                            servers, tmp_path, master_key_text,
                                                                            first):
    ctx, _, _ = transferred
    smtp, gateway = servers
    contract = load_contract(sample_contract)
    contract = _email_first(contract) if first == "email" else contract
    with psycopg2.connect(ctx.dsn) as conn:
        outbox.prepare(conn, contract, prepared_on=DAY, requested_by="test")
    script = tmp_path / "drain.py"
    script.write_text(DRAIN.format(root=str(Path(__file__).resolve().parents[2])))
    env = os.environ | {"DSN": ctx.dsn, "MASTER": master_key_text, "CONTRACT": str(sample_contract),
                        "SMTP_PORT": str(smtp.port), "SMS_URL": gateway.url, "SECRET": SECRET,
                        "LETTERS": str(tmp_path / "letters")}
    # killed right after the gateway (the SMTP server) took the 7th SMS (the 3rd e-mail), before its receipt was
    # recorded: the worst moment, in the middle of a batch of 10
    nth = 7 if first == "sms" else 3
    killed = subprocess.run([sys.executable, str(script)], check=False, env=env | {
        "HANDOVER_KILL_AT": f"deliver.after_send_{first}", "HANDOVER_KILL_AFTER": str(nth)})
    assert killed.returncode == -9
    assert len(gateway.messages if first == "sms" else smtp.arrived) == nth
    rerun = subprocess.run([sys.executable, str(script)], check=False, env=env, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    counts = json.loads(rerun.stdout.strip().splitlines()[-1])
    # what the servers received: each message once
    posts = [r["body"]["client_ref"] for r in gateway.sends()]
    assert len(posts) == len(set(posts))  # the gateway was asked about the one in doubt, not sent it again
    ids = [a.message["Message-ID"] for a in smtp.arrived]
    assert len(ids) == len(set(ids))
    with psycopg2.connect(ctx.dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT state, count(*) FROM control.outbox GROUP BY 1")
        states = dict(cur.fetchall())
        cur.execute("SELECT status, count(*) FROM control.notices GROUP BY 1")
        statuses = dict(cur.fetchall())
    assert not set(states) & {"queued", "claimed", "sending", "retry"}
    if first == "sms":  # the batch was marked sending at once: each asked of the gateway, the 7 sent recorded
        assert counts["recovered_sent"] >= 7 and counts["recovered_sent"] + counts["recovered_unsent"] == 10
    else:  # an e-mail (SMTP cannot be asked) in doubt, never sent again; its notice fell back
        assert counts["in_doubt"] == 1
    assert states["sent"] == len(gateway.messages) + len(smtp.arrived) + len(list((tmp_path / "letters").glob("*")))\
        - (first == "email")
    assert sum(statuses.values()) == len(_expected(ctx.dsn, contract.branch_id))


DRAIN = """
import json, os, sys
sys.path.insert(0, {root!r})
import psycopg2
from handover.contract import load_contract
from handover.crypto import MasterKey
from handover.notices import deliver
from handover.notices.channels import LetterBatch, SmsGateway, SmsSettings, SmtpChannel, SmtpSettings

contract = load_contract(os.environ["CONTRACT"])
conn = psycopg2.connect(os.environ["DSN"])
channels = {{"email": SmtpChannel(SmtpSettings("127.0.0.1", int(os.environ["SMTP_PORT"]), sender="n@bank.example.cn")),
            "sms": SmsGateway(SmsSettings(os.environ["SMS_URL"], os.environ["SECRET"])),
            "letter": LetterBatch(os.environ["LETTERS"])}}
d = deliver.Deliverer(conn, deliver.ciphers(conn, MasterKey.from_text(os.environ["MASTER"])),
                      deliver.RunFacts(conn, {{contract.branch_id: contract}}), channels,
                      deliver.DeliverySettings(batch=10, per_second=0, backoff=(0.0, 0.0)))
print(json.dumps(d.drain()))
"""
