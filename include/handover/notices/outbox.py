"""A notice run: which customers are told, on which channel, and what came of it.

:func:`prepare` decides, in one transaction, a notice for every loaded customer of the branch who has none
of this kind yet (a re-run adds only customers loaded since) and has not objected, and writes its outbox
message in the same transaction: the customer's key and the channel, never an address. The channel is the
first of the contract's ``notice.channels`` the customer has a value for (decided from the vault's
ciphertext being present — nothing is decrypted here); a customer with none is told by the public
announcement (公告). Whether the value is valid is the deliverer's to find (it decrypts it): an invalid one is
skipped with its reason and the notice falls back to the next channel (:func:`fall_back`).

Notice statuses: ``queued`` → ``attempted`` → ``delivered`` | ``bounced`` | ``undelivered`` | ``failed``
(after its retries) | ``letter`` (fell back to a letter, or a letter was the first channel) |
``announcement`` (no channel reached them). ``reasons`` keeps every step's reason code, in order.
"""

from __future__ import annotations

import datetime as dt
import hashlib

from handover.contract import Contract

KIND = "transfer"
CONFIRMATION = "contact_change"  # a changed mobile or e-mail confirmed to the old and the new contact (handover.updates)
_LOCK = 7_340_021  # one preparation per branch at a time (with the branch's hash)
# the vault's ciphertext column that says a customer has a value for the channel
CHANNEL_COLUMN = {"sms": "mobile_enc", "email": "email_enc", "letter": "address_enc"}
FINAL = ("delivered", "bounced", "undelivered", "failed", "letter", "announcement", "objected")
STATUSES = ("queued", "attempted") + FINAL


def idempotency_key(branch_id: str, customer_id: str, kind: str, channel: str) -> str:
    """One per message, stable across re-runs and restores; says nothing about the customer to a provider."""
    digest = hashlib.sha256(f"handover/notice\x1f{branch_id}\x1f{customer_id}\x1f{kind}\x1f{channel}".encode())
    return "hn-" + digest.hexdigest()[:32]


_KEY_SQL = ("'hn-' || left(encode(sha256(convert_to(concat_ws(chr(31), 'handover/notice', %(branch)s, "
            "{customer}, %(kind)s, {channel}), 'UTF8')), 'hex'), 32)")


def _first_channel(channels: tuple[str, ...], alias: str = "c") -> str:
    cases = " ".join(f"WHEN {alias}.{CHANNEL_COLUMN[ch]} IS NOT NULL THEN '{ch}'" for ch in channels)
    return f"CASE {cases} END"


def prepare(conn, contract: Contract, *, prepared_on: dt.date, requested_by: str, kind: str = KIND) -> dict:
    """The notices of the branch's customers not yet told (one transaction); counts by channel."""
    if contract.notice is None:
        from handover.notices.render import NoticeFacts

        NoticeFacts.of(contract, prepared_on)  # raises, saying what the contract lacks
    channels = contract.notice.channels
    branch = contract.branch_id
    params = {"branch": branch, "kind": kind}
    with conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (_LOCK, branch))
        new = ("FROM vault.customers c WHERE c.branch_id = %(branch)s AND NOT EXISTS (SELECT FROM control.notices n "
               "WHERE n.branch_id = c.branch_id AND n.kind = %(kind)s AND n.customer_id = c.customer_id) "
               "AND NOT EXISTS (SELECT FROM control.objections o WHERE o.branch_id = c.branch_id "
               "AND o.customer_id = c.customer_id)")
        cur.execute(f"SELECT count(*) {new}", params)
        if cur.fetchone()[0] == 0:
            cur.execute("SELECT max(id) FROM control.notice_runs WHERE branch_id = %s AND kind = %s", (branch, kind))
            latest = cur.fetchone()[0]
            conn.commit()
            return {"notice_run": latest, "new": 0, "by_channel": {}, "branch_id": branch}
        deadline = contract.notice.respond_within.after(prepared_on)
        cur.execute("INSERT INTO control.notice_runs (branch_id, kind, contract_sha256, prepared_on, deadline, "
                    "channels, requested_by) VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id",
                    (branch, kind, contract.sha256, prepared_on, deadline, list(channels), requested_by))
        run_id = cur.fetchone()[0]
        params["run"] = run_id
        cur.execute(
            f"WITH chosen AS (SELECT c.customer_id, {_first_channel(channels)} AS channel {new}), "
            "decided AS (INSERT INTO control.notices (run_id, branch_id, customer_id, kind, status, channel, reasons) "
            "SELECT %(run)s, %(branch)s, customer_id, %(kind)s, CASE WHEN channel IS NULL THEN 'announcement' "
            "ELSE 'queued' END, channel, CASE WHEN channel IS NULL THEN ARRAY['no_channel'] ELSE '{}'::text[] END "
            "FROM chosen ORDER BY customer_id RETURNING id, customer_id, channel) "
            "INSERT INTO control.outbox (notice_id, idempotency_key, branch_id, customer_id, channel) "
            f"SELECT id, {_KEY_SQL.format(customer='customer_id', channel='channel')}, %(branch)s, customer_id, "
            "channel FROM decided WHERE channel IS NOT NULL ORDER BY id", params)
        cur.execute("SELECT coalesce(channel, 'announcement'), count(*) FROM control.notices WHERE run_id = %s "
                    "GROUP BY 1 ORDER BY 1", (run_id,))
        by_channel = dict(cur.fetchall())
        cur.execute("UPDATE control.notice_runs SET counts = jsonb_build_object('prepared', %s::jsonb) WHERE id = %s",
                    (_json(by_channel), run_id))
    conn.commit()
    return {"notice_run": run_id, "new": sum(by_channel.values()), "by_channel": by_channel, "branch_id": branch,
            "deadline": deadline.isoformat()}


def _json(value) -> str:
    import json

    return json.dumps(value, sort_keys=True)


def fall_back(cur, notice_id: int, failed_channel: str, reason: str) -> str:
    """After ``failed_channel`` could not reach the customer (``reason``): queue the next channel of the run's
    order the customer has a value for, or settle the notice as told by the announcement. Returns the
    notice's status. Runs in the caller's transaction (the outbox row's outcome and this, together)."""
    cur.execute("SELECT n.branch_id, n.customer_id, n.kind, r.channels FROM control.notices n "
                "JOIN control.notice_runs r ON r.id = n.run_id WHERE n.id = %s", (notice_id,))
    branch, customer, kind, channels = cur.fetchone()
    if kind != KIND:  # a confirmation goes to one contact, the one it confirms: nowhere else
        cur.execute("UPDATE control.notices SET status = 'undelivered', reasons = reasons || ARRAY[%s], "
                    "updated_at = clock_timestamp() WHERE id = %s", (reason, notice_id))
        return "undelivered"
    later = channels[channels.index(failed_channel) + 1:] if failed_channel in channels else []
    cur.execute("SELECT channel FROM control.outbox WHERE notice_id = %s", (notice_id,))
    tried = {r[0] for r in cur.fetchall()}
    cur.execute(f"SELECT {', '.join(f'{CHANNEL_COLUMN[c]} IS NOT NULL' for c in later) or 'NULL'} "
                "FROM vault.customers WHERE branch_id = %s AND customer_id = %s", (branch, customer))
    row = cur.fetchone()
    has = dict(zip(later, row, strict=True)) if row and later else {}
    nxt = next((c for c in later if has.get(c) and c not in tried), None)
    if nxt is None:
        cur.execute("UPDATE control.notices SET status = 'announcement', channel = NULL, "
                    "reasons = reasons || ARRAY[%s, 'no_channel_left'], updated_at = clock_timestamp() WHERE id = %s",
                    (reason, notice_id))
        return "announcement"
    cur.execute("UPDATE control.notices SET status = 'queued', channel = %s, reasons = reasons || %s, "
                "updated_at = clock_timestamp() WHERE id = %s", (nxt, [reason], notice_id))
    cur.execute("INSERT INTO control.outbox (notice_id, idempotency_key, branch_id, customer_id, channel) "
                "VALUES (%s, %s, %s, %s, %s)", (notice_id, idempotency_key(branch, customer, kind, nxt), branch,
                                                customer, nxt))
    return "queued"


def counts(conn, run_id: int | None = None, branch_id: str | None = None, kind: str = KIND) -> dict:
    """Notices (of ``kind``) by status and channel, and the reasons met (codes only): for the report, the
    manifest's duty and the Handover page."""
    where, params = ("n.run_id = %s", (run_id,)) if run_id else ("n.branch_id = %s AND n.kind = %s", (branch_id, kind))
    with conn.cursor() as cur:
        cur.execute(f"SELECT status, count(*) FROM control.notices n WHERE {where} GROUP BY 1 ORDER BY 1", params)
        by_status = dict(cur.fetchall())
        cur.execute(f"SELECT coalesce(channel, '-'), count(*) FROM control.notices n WHERE {where} AND status IN "
                    "('delivered', 'letter') GROUP BY 1 ORDER BY 1", params)
        reached_by = dict(cur.fetchall())
        cur.execute(f"SELECT r, count(*) FROM control.notices n, unnest(n.reasons) r WHERE {where} GROUP BY 1 "
                    "ORDER BY 1", params)
        reasons = dict(cur.fetchall())
        cur.execute(f"SELECT o.state, count(*) FROM control.outbox o JOIN control.notices n ON n.id = o.notice_id "
                    f"WHERE {where} GROUP BY 1 ORDER BY 1", params)
        messages = dict(cur.fetchall())
    return {"notices": sum(by_status.values()), "by_status": by_status, "reached_by": reached_by,
            "reasons": reasons, "messages": messages}
