"""The deliverer: drains the outbox in batches, at a rate, with retries and back-off, sending each message
at most once.

For each batch (oldest due first, ``FOR UPDATE SKIP LOCKED``):

1. **claim** — the rows become ``claimed`` (one commit); their customers' contacts are decrypted from the
   vault for this batch only (the one place a notice's address exists in plaintext, and only in memory).
2. a missing or invalid contact is ``skipped`` with its reason and the notice falls back to its next
   channel; every other message becomes ``sending`` with its attempt counted (committed *before* anything
   is sent), goes out with its idempotency key, and the provider's receipt is recorded with the outcome —
   for channels that can be asked afterwards (the SMS gateway, the letter batch) the batch is marked and
   recorded together (two commits a batch); for SMTP each message on its own (two commits a message, so
   at most one is ever in doubt). A transient failure is retried after a back-off (1, 5, 15, 30 minutes by
   default: several attempts over tens of minutes), then ``failed``; a bounce or an undelivered report
   falls back at once.
3. between messages the rate limit waits.

**Killed and run again.** One deliverer drains at a time (an advisory lock); so the rows it finds
``claimed`` were never sent (they go back to the queue) and at most one per channel is ``sending``: in
doubt (for SMTP; a batch's worth for channels that can be asked). A channel that can be asked (the SMS gateway by ``client_ref``, the letter batch) is asked, and the
message is recorded as the provider has it, or sent if it never arrived; SMTP cannot be asked, so an e-mail
in doubt is never sent again — ``in_doubt``, and the notice falls back to its next channel. Nothing is sent twice.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from handover import faults
from handover.notices import outbox, render
from handover.notices.channels import BOUNCED, DELIVERED, RETRY, SENT, UNDELIVERED, Message, Outcome

log = logging.getLogger(__name__)
_LOCK = 7_340_022


@dataclass(frozen=True)
class DeliverySettings:
    batch: int = 200
    per_second: float = 20.0  # the providers' rate limit (0: none)
    backoff: tuple[float, ...] = (60.0, 300.0, 900.0, 1800.0)  # seconds before attempts 2, 3, 4, 5
    deadline: float | None = 3600.0  # stop draining after this many seconds (what is left is counted pending)
    wait: bool = True  # wait for retries that fall due before the deadline

    @property
    def max_attempts(self) -> int:
        return len(self.backoff) + 1


class Contacts:
    """The contacts of one batch, decrypted from the vault; forgotten when the batch ends. A message to an
    earlier contact (a confirmation to the mobile a change replaced) reads it from that version of the
    record (``vault.customer_history``)."""

    def __init__(self, cur, cipher, branch_id: str, customers: list[str],
                 versions: list[tuple[str, int]] = ()) -> None:
        cur.execute("SELECT customer_id, mobile_enc, email_enc, address_enc, name_enc FROM vault.customers "
                    "WHERE branch_id = %s AND customer_id = ANY(%s)", (branch_id, customers))
        self._rows = {(r[0], None): r[1:] for r in cur.fetchall()}
        if versions:
            cur.execute("SELECT h.customer_id, h.version, h.mobile_enc, h.email_enc, h.address_enc, h.name_enc "
                        "FROM vault.customer_history h JOIN unnest(%s::text[], %s::int[]) AS w (customer_id, version) "
                        "ON w.customer_id = h.customer_id AND w.version = h.version WHERE h.branch_id = %s",
                        ([c for c, _ in versions], [v for _, v in versions], branch_id))
            self._rows.update({(r[0], r[1]): r[2:] for r in cur.fetchall()})
        self._cipher = cipher

    def get(self, customer: str, field: str, version: int | None = None) -> str | None:
        row = self._rows.get((customer, version))
        if row is None:
            return None
        index = ("mobile", "email", "address", "name").index(field)
        blob = row[index]
        return None if blob is None else self._cipher.decrypt(bytes(blob), f"vault.customers.{field}")

    def clear(self) -> None:
        self._rows.clear()


def _valid(channel: str, value: str | None) -> str | None:
    """The reason a contact cannot be used on the channel, or None."""
    from handover.validators import is_email, is_mobile

    if value is None or not value.strip():
        return f"{channel}_missing"
    if channel == "sms" and not is_mobile(value):
        return "sms_invalid_number"
    if channel == "email" and not is_email(value):
        return "email_invalid_address"
    if channel == "letter" and len(value.strip()) < 6:
        return "letter_incomplete_address"
    return None


class Deliverer:
    def __init__(self, conn, ciphers: Callable[[str], object], facts: Callable[[int], render.NoticeFacts],
                 channels: dict, settings: DeliverySettings | None = None, *, sleep=time.sleep,
                 clock=time.monotonic) -> None:
        """``ciphers(branch)`` opens a branch's field cipher; ``facts(notice run)`` what its notices say;
        ``channels`` name → channel (``sms``, ``email``, ``letter``)."""
        self.conn, self.ciphers, self.facts, self.channels = conn, ciphers, facts, channels
        self.settings = settings or DeliverySettings()
        self.sleep, self.clock = sleep, clock
        self.counts: dict[str, int] = {}
        self._last_send = 0.0

    def _count(self, what: str) -> None:
        self.counts[what] = self.counts.get(what, 0) + 1

    def drain(self) -> dict:
        """Send what is due until nothing is (or the deadline passes); counts only."""
        with self.conn.cursor() as cur:
            cur.execute("SELECT pg_try_advisory_lock(%s)", (_LOCK,))
            if not cur.fetchone()[0]:
                self.conn.commit()
                return {"busy": 1}
        self.conn.commit()
        started = self.clock()
        try:
            self._recover()
            while True:
                if self.settings.deadline is not None and self.clock() - started > self.settings.deadline:
                    break
                if self._batch():
                    continue
                due_in = self._next_due_in()
                left = None if self.settings.deadline is None else self.settings.deadline - (self.clock() - started)
                if due_in is None or not self.settings.wait or (left is not None and due_in > left):
                    break
                self.sleep(max(due_in, 0.01))
        finally:
            for channel in self.channels.values():
                channel.close()
            with self.conn.cursor() as cur:
                cur.execute("SELECT pg_advisory_unlock(%s)", (_LOCK,))
            self.conn.commit()
        with self.conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM control.outbox WHERE state IN ('queued', 'retry')")
            pending = cur.fetchone()[0]
        self.conn.commit()
        return dict(sorted(self.counts.items())) | {"pending": pending}

    def _next_due_in(self) -> float | None:
        """Seconds until the next retry falls due (None: nothing waits)."""
        with self.conn.cursor() as cur:
            cur.execute("SELECT extract(epoch FROM min(next_attempt_at) - clock_timestamp()) FROM control.outbox "
                        "WHERE state IN ('queued', 'retry')")
            value = cur.fetchone()[0]
        self.conn.commit()
        return None if value is None else float(value)

    def _recover(self) -> None:
        """Rows a killed deliverer left: claimed (never sent) back to the queue; sending (in doubt) asked of
        the provider, or — SMTP, which cannot be asked — settled as in doubt, never sent again."""
        with self.conn.cursor() as cur:
            cur.execute("UPDATE control.outbox SET state = 'queued' WHERE state = 'claimed'")
            cur.execute("SELECT id, notice_id, channel, idempotency_key, attempts FROM control.outbox "
                        "WHERE state = 'sending' ORDER BY id")
            doubtful = cur.fetchall()
        self.conn.commit()
        for row_id, notice_id, channel_name, key, attempts in doubtful:
            channel = self.channels.get(channel_name)
            with self.conn.cursor() as cur:
                if channel is not None and getattr(channel, "can_lookup", False):
                    known = channel.lookup(key)
                    if known is None:  # it never arrived: send it (same key) in the next batch
                        cur.execute("UPDATE control.outbox SET state = 'queued' WHERE id = %s", (row_id,))
                        self._count("recovered_unsent")
                    elif known.kind == RETRY:
                        cur.execute("UPDATE control.outbox SET state = 'retry', next_attempt_at = clock_timestamp() "
                                    "WHERE id = %s", (row_id,))
                    else:
                        self._record(cur, row_id, notice_id, channel_name, attempts, known)
                        self._count("recovered_sent")
                else:
                    cur.execute("UPDATE control.outbox SET state = 'in_doubt', last_reason = 'killed_during_send' "
                                "WHERE id = %s", (row_id,))
                    outbox.fall_back(cur, notice_id, channel_name, f"{channel_name}_in_doubt")
                    self._count("in_doubt")
            self.conn.commit()

    def _batch(self) -> bool:
        with self.conn.cursor() as cur:
            cur.execute("WITH due AS (SELECT id FROM control.outbox WHERE state IN ('queued', 'retry') "
                        "AND next_attempt_at <= clock_timestamp() ORDER BY next_attempt_at, id LIMIT %s "
                        "FOR UPDATE SKIP LOCKED) UPDATE control.outbox o SET state = 'claimed', "
                        "claimed_at = clock_timestamp() FROM due WHERE o.id = due.id "
                        "RETURNING o.id, o.notice_id, o.branch_id, o.customer_id, o.channel, o.idempotency_key, "
                        "o.attempts, (SELECT run_id FROM control.notices n WHERE n.id = o.notice_id), "
                        "o.contact_version, (SELECT kind FROM control.notices n WHERE n.id = o.notice_id)",
                        (self.settings.batch,))
            rows = sorted(cur.fetchall())
        self.conn.commit()
        if not rows:
            return False
        for branch in sorted({r[2] for r in rows}):
            mine = [r for r in rows if r[2] == branch]
            with self.conn.cursor() as cur:
                contacts = Contacts(cur, self.ciphers(branch), branch, [r[3] for r in mine],
                                    [(r[3], r[8]) for r in mine if r[8] is not None])
            try:
                ready = self._messages(mine, contacts)
            finally:
                contacts.clear()
            askable = [(r, m) for r, m in ready if getattr(self.channels[r[4]], "can_lookup", False)]
            if askable:
                self._send_askable(askable)
            for row, message in ready:
                if not getattr(self.channels[row[4]], "can_lookup", False):
                    self._send_one(row, message)
        return True

    def _messages(self, rows: list, contacts: Contacts) -> list[tuple]:
        """The batch's messages, rendered; a missing or invalid contact skipped with its reason (and its
        notice fallen back) in one transaction."""
        ready = []
        with self.conn.cursor() as cur:
            for row in rows:
                row_id, notice_id, _branch, customer, channel_name, key, _attempts, run_id, version, kind = row
                field = {"sms": "mobile", "email": "email", "letter": "address"}[channel_name]
                value = contacts.get(customer, field, version)
                why = _valid(channel_name, value)
                if why is None and self.channels.get(channel_name) is None:
                    why = f"{channel_name}_not_configured"
                if why is not None:
                    cur.execute("UPDATE control.outbox SET state = 'skipped', last_reason = %s WHERE id = %s",
                                (why, row_id))
                    outbox.fall_back(cur, notice_id, channel_name, why)
                    self._count(f"skipped_{why}")
                    continue
                if kind == outbox.CONFIRMATION:
                    message = self._confirmation(channel_name, key, notice_id, value, self.facts(run_id),
                                                 "old" if version is not None else "new")
                else:
                    message = self._message(channel_name, key, notice_id, value, self.facts(run_id),
                                            contacts.get(customer, "name") if channel_name == "letter" else None)
                ready.append((row[:7], message))
        self.conn.commit()
        return ready

    def _mark_sending(self, rows: list) -> None:
        """The attempts on record before anything leaves (one commit)."""
        ids = [r[0] for r in rows]
        with self.conn.cursor() as cur:
            cur.execute("UPDATE control.outbox SET state = 'sending', attempts = attempts + 1 WHERE id = ANY(%s)",
                        (ids,))
            cur.execute("UPDATE control.notices n SET status = 'attempted', channel = o.channel, "
                        "updated_at = clock_timestamp() FROM control.outbox o WHERE o.id = ANY(%s) "
                        "AND n.id = o.notice_id", (ids,))
        self.conn.commit()

    def _send_askable(self, batch: list[tuple]) -> None:
        """Channels whose provider can be asked (SMS, letters): the batch marked ``sending`` at once, sent,
        and the receipts recorded together — killed in between, each is asked of the provider by its key."""
        self._mark_sending([r for r, _ in batch])
        outcomes = []
        try:
            for row, message in batch:
                self._wait_for_rate()
                outcomes.append((row, self.channels[row[4]].send(message)))
                faults.point("deliver.after_send")
                faults.point(f"deliver.after_send_{row[4]}")
        finally:
            with self.conn.cursor() as cur:
                for (row_id, notice_id, _b, _c, channel_name, _k, attempts), outcome in outcomes:
                    self._record(cur, row_id, notice_id, channel_name, attempts + 1, outcome)
            self.conn.commit()
        faults.point("deliver.after_record")

    def _send_one(self, row, message: Message) -> None:
        """A channel that cannot be asked (SMTP): one message at a time, its attempt and its receipt each
        committed, so that at most one is ever in doubt."""
        row_id, notice_id, _branch, _customer, channel_name, _key, attempts = row
        self._mark_sending([row])
        self._wait_for_rate()
        outcome = self.channels[channel_name].send(message)
        faults.point("deliver.after_send")
        faults.point(f"deliver.after_send_{channel_name}")
        with self.conn.cursor() as cur:
            self._record(cur, row_id, notice_id, channel_name, attempts + 1, outcome)
        self.conn.commit()
        faults.point("deliver.after_record")

    def _message(self, channel: str, key: str, notice_id: int, value: str, facts, name: str | None) -> Message:
        reference = f"TZ{notice_id}"
        if channel == "sms":
            return Message(key, channel, value, None, render.sms(facts, reference))
        if channel == "email":
            subject, text, html = render.email(facts, reference)
            return Message(key, channel, value, subject, text, html)
        return Message(key, channel, value, None, render.letter(facts, reference, name or "客户", value), name=name)

    def _confirmation(self, channel: str, key: str, notice_id: int, value: str, facts, role: str) -> Message:
        """A changed contact confirmed (``role``: the old contact or the new one): `handover.updates`."""
        reference = f"BG{notice_id}"
        what = "mobile" if channel == "sms" else "email"
        if channel == "sms":
            return Message(key, channel, value, None, render.confirmation_sms(facts, reference, what, role))
        subject, text, html = render.confirmation_email(facts, reference, what, role)
        return Message(key, channel, value, subject, text, html)

    def _wait_for_rate(self) -> None:
        if self.settings.per_second > 0:
            gap = 1.0 / self.settings.per_second - (self.clock() - self._last_send)
            if gap > 0:
                self.sleep(gap)
        self._last_send = self.clock()

    def _record(self, cur, row_id: int, notice_id: int, channel: str, attempts: int, outcome: Outcome) -> None:
        """The outcome of one attempt, with the notice's status, in the caller's transaction."""
        self._count(f"{channel}_{outcome.kind}")
        if outcome.kind in (SENT, DELIVERED):
            status = "letter" if channel == "letter" else "delivered" if outcome.kind == DELIVERED or \
                channel == "email" else "attempted"  # an SMS accepted: its delivery report is collected later
            cur.execute("UPDATE control.outbox SET state = 'sent', receipt = %s, delivery = %s, "
                        "sent_at = clock_timestamp(), last_reason = NULL WHERE id = %s",
                        (outcome.receipt, outcome.kind, row_id))
            cur.execute("UPDATE control.notices SET status = %s, channel = %s, updated_at = clock_timestamp(), "
                        "delivered_at = CASE WHEN %s IN ('delivered', 'letter') THEN clock_timestamp() END "
                        "WHERE id = %s", (status, channel, status, notice_id))
            return
        if outcome.kind == RETRY and attempts < self.settings.max_attempts:
            wait = self.settings.backoff[attempts - 1]
            cur.execute("UPDATE control.outbox SET state = 'retry', last_reason = %s, next_attempt_at = "
                        "clock_timestamp() + %s WHERE id = %s", (outcome.reason, dt.timedelta(seconds=wait), row_id))
            return
        state = "failed" if outcome.kind == RETRY else outcome.kind  # retries used up, bounced, undelivered
        reason = f"{channel}_failed_after_retries" if outcome.kind == RETRY else f"{channel}_{outcome.kind}"
        cur.execute("UPDATE control.outbox SET state = %s, last_reason = %s, receipt = coalesce(%s, receipt) "
                    "WHERE id = %s", (state, outcome.reason, outcome.receipt, row_id))
        cur.execute("UPDATE control.notices SET status = %s, updated_at = clock_timestamp() WHERE id = %s",
                    (state if state in outbox.STATUSES else "failed", notice_id))
        outbox.fall_back(cur, notice_id, channel, reason)


class RunFacts:
    """What each notice run's messages say: its branch's contract as of the day the run was prepared (the
    deadline is that day plus the contract's ``respond_within``). A contract changed since the run was
    prepared stops the deliverer: the texts would not be what was decided."""

    def __init__(self, conn, contracts: dict) -> None:
        self.conn, self.contracts, self._cache = conn, contracts, {}

    def __call__(self, run_id: int) -> render.NoticeFacts:
        if run_id not in self._cache:
            with self.conn.cursor() as cur:
                cur.execute("SELECT branch_id, contract_sha256, prepared_on FROM control.notice_runs WHERE id = %s",
                            (run_id,))
                branch, sha, prepared_on = cur.fetchone()
            contract = self.contracts.get(branch)
            if contract is None or contract.sha256 != sha:
                raise render.NoticeError(
                    f"notice run {run_id} of branch {branch} was prepared from contract {sha[:12]}, and "
                    f"{'no contract of the branch was given' if contract is None else f'the contract given is {contract.sha256[:12]}'}: "
                    "deliver with the contract it was prepared from")
            self._cache[run_id] = render.NoticeFacts.of(contract, prepared_on)
        return self._cache[run_id]


def ciphers(conn, master) -> Callable[[str], object]:
    """A branch's field cipher (its data key, unwrapped by the master key), opened once per branch."""
    from handover.store.keys import Keyring

    opened: dict[str, object] = {}

    def cipher(branch: str):
        if branch not in opened:
            opened[branch] = Keyring(conn, master, branch).cipher
        return opened[branch]

    return cipher


def collect_reports(conn, gateway, *, older_than: float = 0.0) -> dict:
    """Delivery reports of the SMS accepted but not yet confirmed: asked of the gateway by key. Delivered
    settles the notice; undelivered falls back to the next channel."""
    counts: dict[str, int] = {}
    with conn.cursor() as cur:
        cur.execute("SELECT o.id, o.notice_id, o.idempotency_key FROM control.outbox o JOIN control.notices n "
                    "ON n.id = o.notice_id WHERE o.channel = 'sms' AND o.state = 'sent' AND o.delivery = 'sent' "
                    "AND n.status = 'attempted' AND o.sent_at <= clock_timestamp() - %s ORDER BY o.id",
                    (dt.timedelta(seconds=older_than),))
        rows = cur.fetchall()
    conn.commit()
    for row_id, notice_id, key in rows:
        known = gateway.lookup(key)
        kind = "unknown" if known is None else known.kind
        counts[kind] = counts.get(kind, 0) + 1
        with conn.cursor() as cur:
            if kind == DELIVERED:
                cur.execute("UPDATE control.outbox SET delivery = 'delivered' WHERE id = %s", (row_id,))
                cur.execute("UPDATE control.notices SET status = 'delivered', delivered_at = clock_timestamp(), "
                            "updated_at = clock_timestamp() WHERE id = %s", (notice_id,))
            elif kind in (UNDELIVERED, BOUNCED):
                cur.execute("UPDATE control.outbox SET delivery = %s, last_reason = %s WHERE id = %s",
                            (kind, known.reason, row_id))
                cur.execute("UPDATE control.notices SET status = 'undelivered', updated_at = clock_timestamp() "
                            "WHERE id = %s", (notice_id,))
                outbox.fall_back(cur, notice_id, "sms", "sms_undelivered")
        conn.commit()
    return counts
