"""Objections to the transfer and withdrawals of consent (PIPL Art. 15, 44), and marketing opt-outs.

A customer may object or withdraw however they reach us — ``handover objection`` (the identifier on stdin,
as for erasure), a reply to the notice SMS, a letter, the operator's page. :func:`record` takes each the
same way, in one transaction per customer:

1. the customer found by the identifier's keyed hash (customer id within a branch, mobile, or ID number:
   the blind index — the identifier itself is never stored);
2. **processing stops at once**: the customer's analytics rows go (:func:`handover.purge.erasure.erase_customer`
   with ``analytics_only``), every message still waiting in the outbox is cancelled, and the customer is
   left out of every later analytics load (:func:`keep_out_of_analytics`, called by the load) and notice;
3. an erasure request (basis ``consent_withdrawn``) is filed: the retention schedule's erasure takes it
   from there (refused with its reason while a legal basis such as AML keeps the records);
4. every step counted in ``control.objections.outcome`` and ``ops.audit`` — never the identifier.

A **marketing opt-out** (退订, TD, T) is not an objection: offers stop (``control.marketing_optouts``), the
notices the law requires do not.

Replies to the notice SMS come as a CSV file (``mobile,text[,received_at]``): :func:`classify_reply` reads
each reply's intent. Letters, once the service desk has read them, come as a CSV file too
(``id_kind,identifier,branch_id,intent``: :func:`process_letters`); the operator's page records one at a time.
"""

from __future__ import annotations

import csv
import io
import json
import re
import unicodedata

from handover.errors import HandoverError
from handover.purge import erasure
from handover.store import ops

KINDS = ("objection", "withdrawal")
SOURCES = ("cli", "sms_reply", "letter", "page")
# what a reply means, read after NFKC (full-width letters folded) and without spaces or punctuation
_OPT_OUT = re.compile(r"^(退订|退定|td|t|unsubscribe|stop|取消订阅)$")
_WITHDRAW = re.compile(r"撤回|撤销同意|withdraw")
_OBJECT = re.compile(r"反对|不同意|拒绝|object")


def classify_reply(text: str) -> str | None:
    """``marketing_optout`` | ``withdrawal`` | ``objection`` | None (anything else: not acted on)."""
    folded = re.sub(r"[\s\W_]+", "", unicodedata.normalize("NFKC", text or "")).lower()
    if not folded:
        return None
    if _OPT_OUT.match(folded):
        return "marketing_optout"
    if _WITHDRAW.search(folded):
        return "withdrawal"
    if _OBJECT.search(folded) and not folded.startswith("不反对"):
        return "objection"
    return None


# Customers whose processing has stopped, by branch and key: they objected or withdrew consent, or their erasure
# was refused while a legal basis (AML) keeps the records (handover.purge.erasure.carry_out). One place: the
# load keeps them out of analytics, the reconciliation counts their rows as withheld, offers leave them out.
STOPPED = ("(SELECT branch_id, customer_id FROM control.objections UNION "
           "SELECT branch_id, customer_id FROM control.processing_stopped)")


def keep_out_of_analytics(cur, branch_id: str) -> int:
    """In the load's transaction: the analytics rows of the branch's customers whose processing has stopped
    (:data:`STOPPED`). Returns the rows removed."""
    cur.execute("SELECT to_regclass('control.objections') IS NOT NULL")
    if not cur.fetchone()[0]:
        return 0
    cur.execute(f"SELECT DISTINCT customer_id FROM {STOPPED} s WHERE branch_id = %s ORDER BY 1", (branch_id,))
    removed = 0
    for (customer,) in cur.fetchall():
        removed += sum(erasure.erase_customer(cur, branch_id, customer, analytics_only=True).values())
    return removed


def record(conn, hasher, *, kind: str, id_kind: str, value: str, branch_id: str | None, source: str,
           received_by: str) -> list[dict]:
    """An objection or a withdrawal for the customer(s) the identifier names; one outcome per customer
    (counts and ids, no identifier). None found: an empty list (the caller says so)."""
    if kind not in KINDS:
        raise HandoverError(f"kind must be one of {', '.join(KINDS)}")
    if source not in SOURCES:
        raise HandoverError(f"source must be one of {', '.join(SOURCES)}")
    wanted = erasure.digest(hasher, id_kind, value, branch_id)
    with conn.cursor() as cur:
        customers = erasure.resolve(cur, erasure.CustomerIds(cur, hasher), id_kind, wanted, branch_id)
    conn.commit()
    return [_one(conn, hasher, kind, branch, customer, source, received_by) for branch, customer in customers]


def _one(conn, hasher, kind: str, branch: str, customer: str, source: str, received_by: str) -> dict:
    with conn.cursor() as cur:
        cur.execute("INSERT INTO control.objections (branch_id, customer_id, kind, source, received_by) "
                    "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (branch_id, customer_id, kind) DO NOTHING RETURNING id",
                    (branch, customer, kind, source, received_by))
        row = cur.fetchone()
        if row is None:  # said before: processing stopped then; nothing more to do
            cur.execute("SELECT id FROM control.objections WHERE branch_id = %s AND customer_id = %s AND kind = %s",
                        (branch, customer, kind))
            conn.commit()
            return {"objection": cur.fetchone()[0], "already": True}
        objection_id = row[0]
        removed = erasure.erase_customer(cur, branch, customer, analytics_only=True)
        cur.execute("UPDATE control.outbox SET state = 'cancelled', last_reason = %s WHERE branch_id = %s "
                    "AND customer_id = %s AND state IN ('queued', 'retry', 'claimed')", (kind, branch, customer))
        cancelled = cur.rowcount
        cur.execute("UPDATE control.notices SET status = 'objected', reasons = reasons || %s, "
                    "updated_at = clock_timestamp() WHERE branch_id = %s AND customer_id = %s "
                    "AND status IN ('queued', 'attempted')", ([kind], branch, customer))
        digest = erasure.digest(hasher, "customer_id", customer, branch)
        request = erasure.open_request(cur, "customer_id", digest, branch)
    conn.commit()
    if request is None:
        request = erasure.file_request(conn, hasher, "customer_id", customer, branch_id=branch,
                                       basis="consent_withdrawn", requested_by=received_by)
    outcome = {"analytics_rows_removed": sum(removed.values()), "messages_cancelled": cancelled,
               "erasure_request": request}
    with conn.cursor() as cur:
        cur.execute("UPDATE control.objections SET erasure_request_id = %s, outcome = %s WHERE id = %s",
                    (request, json.dumps(outcome), objection_id))
    conn.commit()
    ops.audit(conn, f"customer.{kind}", run_id=None, branch_id=branch, actor=received_by, objection=objection_id,
              source=source, **outcome)
    return {"objection": objection_id, "already": False} | outcome


def opt_out(conn, hasher, *, id_kind: str, value: str, branch_id: str | None, source: str) -> int:
    """Marketing stops for the customer(s) named; returns how many (the legally required notices go on)."""
    wanted = erasure.digest(hasher, id_kind, value, branch_id)
    with conn.cursor() as cur:
        customers = erasure.resolve(cur, erasure.CustomerIds(cur, hasher), id_kind, wanted, branch_id)
        for branch, customer in customers:
            cur.execute("INSERT INTO control.marketing_optouts (branch_id, customer_id, source) VALUES (%s, %s, %s) "
                        "ON CONFLICT DO NOTHING", (branch, customer, source))
    conn.commit()
    return len(customers)


def marketing_audience(cur, branch_id: str) -> list[str]:
    """The branch's customers an offer may go to: loaded, not opted out of marketing, processing not stopped
    (objecting, withdrawn, or an erasure refused for AML). (The transfer notice is not marketing: it goes to everyone who has not objected.)"""
    cur.execute("SELECT c.customer_id FROM vault.customers c WHERE c.branch_id = %s AND NOT EXISTS "
                "(SELECT FROM control.marketing_optouts m WHERE m.branch_id = c.branch_id AND m.customer_id = "
                f"c.customer_id) AND NOT EXISTS (SELECT FROM {STOPPED} o WHERE o.branch_id = c.branch_id "
                "AND o.customer_id = c.customer_id) ORDER BY 1", (branch_id,))
    return [r[0] for r in cur.fetchall()]


def _rows(raw: bytes, file: str, columns: set[str]) -> csv.DictReader:
    """An inbound CSV (UTF-8, a header naming ``columns``), or a :class:`HandoverError` naming the file."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise HandoverError(f"{file}, line {line}: not UTF-8 text") from None
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames or not columns <= {f.strip() for f in reader.fieldnames}:
        raise HandoverError(f"{file}: the header must name the columns {' and '.join(sorted(columns))}")
    reader.fieldnames = [f.strip() for f in reader.fieldnames]
    return reader


def _act(conn, hasher, counts: dict, intent: str | None, *, id_kind: str, value: str, branch_id: str | None,
         source: str, received_by: str) -> None:
    """One inbound message acted on by its intent; ``counts`` gets its outcome (never the value)."""
    def add(key: str) -> None:
        counts[key] = counts.get(key, 0) + 1

    if intent is None:
        add("not_acted_on")
        return
    try:
        if intent == "marketing_optout":
            found = opt_out(conn, hasher, id_kind=id_kind, value=value, branch_id=branch_id, source=source)
            add("marketing_optout" if found else "unknown_sender")
            return
        outcomes = record(conn, hasher, kind=intent, id_kind=id_kind, value=value, branch_id=branch_id,
                          source=source, received_by=received_by)
    except HandoverError:
        add(f"invalid_{id_kind}")
        return
    if not outcomes:
        add("unknown_sender")
    for outcome in outcomes:
        add(f"{intent}_repeated" if outcome["already"] else intent)


def process_replies(conn, hasher, raw: bytes, *, file: str, received_by: str) -> dict:
    """An inbound file of SMS replies (CSV, UTF-8: ``mobile,text`` with a header): each acted on by its intent.
    Counts per intent and outcome (a line whose mobile is not one counts as invalid_mobile), never a value."""
    counts: dict[str, int] = {}
    for row in _rows(raw, file, {"mobile", "text"}):
        _act(conn, hasher, counts, classify_reply(row.get("text") or ""), id_kind="mobile",
             value=row.get("mobile") or "", branch_id=None, source="sms_reply", received_by=received_by)
    return dict(sorted(counts.items()))


LETTER_COLUMNS = {"id_kind", "identifier", "branch_id", "intent"}


def process_letters(conn, hasher, raw: bytes, *, file: str, received_by: str) -> dict:
    """An inbound file of the letters the service desk has processed (CSV, UTF-8, a header
    ``id_kind,identifier,branch_id,intent``): per letter, how it names the customer (``customer_id`` with its
    branch, ``mobile`` or ``id_number``) and what it asks (``intent``, read as a reply is: 反对 / objection,
    撤回 / withdrawal, 退订 / marketing opt-out). Each acted on with source ``letter``; counts per intent and
    outcome (an identifier that is not one of its kind counts as ``invalid_<kind>``), never a value."""
    from handover.purge.erasure import KINDS as ID_KINDS

    counts: dict[str, int] = {}
    for row in _rows(raw, file, LETTER_COLUMNS):
        id_kind = (row.get("id_kind") or "").strip()
        if id_kind not in ID_KINDS:
            counts["invalid_id_kind"] = counts.get("invalid_id_kind", 0) + 1
            continue
        branch = (row.get("branch_id") or "").strip() or None
        if id_kind == "customer_id" and branch is None:
            counts["customer_id_without_branch"] = counts.get("customer_id_without_branch", 0) + 1
            continue
        _act(conn, hasher, counts, classify_reply(row.get("intent") or ""), id_kind=id_kind,
             value=row.get("identifier") or "", branch_id=branch, source="letter", received_by=received_by)
    return dict(sorted(counts.items()))


def report(conn) -> dict:
    """Counts for the Handover page and the report: objections and withdrawals by source and by their
    erasure request's state, opt-outs."""
    with conn.cursor() as cur:
        cur.execute("SELECT o.kind, o.source, coalesce(e.state, 'none'), count(*) FROM control.objections o "
                    "LEFT JOIN control.erasure_requests e ON e.id = o.erasure_request_id GROUP BY 1, 2, 3 ORDER BY 1, 2, 3")
        rows = cur.fetchall()
        cur.execute("SELECT count(*) FROM control.marketing_optouts")
        optouts = cur.fetchone()[0]
    out: dict = {"objection": {}, "withdrawal": {}, "marketing_optouts": optouts}
    for kind, source, state, n in rows:
        out[kind].setdefault("by_source", {})[source] = out[kind].get("by_source", {}).get(source, 0) + n
        out[kind].setdefault("erasure_requests", {})[state] = out[kind].get("erasure_requests", {}).get(state, 0) + n
    return out
