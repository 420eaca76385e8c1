"""What the upkeep tests plant in a transferred store: findings for `handover.upkeep` to find."""

from __future__ import annotations

import datetime as dt

import psycopg2
from handover.store.keys import Keyring
from handover.store.partitions import partition_name

TODAY = dt.date(2026, 3, 15)
OTHER = "SH-XH-0007"  # a second branch, planted


def _customers(cur, n: int, where: str = "TRUE") -> list[str]:
    cur.execute(f"SELECT customer_id FROM vault.customers WHERE {where} ORDER BY customer_id LIMIT %s", (n,))
    return [c for (c,) in cur.fetchall()]


def _branch(cur) -> str:
    cur.execute("SELECT DISTINCT branch_id FROM vault.customers")
    (branch,), = cur.fetchall()
    return branch


def _plant(dsn, master) -> dict:
    """A mobile that fails today's rule, an expired document, an ID number shared with a second branch, a
    bounced SMS: the customers each went to."""
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        branch = _branch(cur)
        keys = Keyring(conn, master, branch)
        bad, expired, shared, bounced = _customers(cur, 4, "mobile_enc IS NOT NULL AND id_number_bidx IS NOT NULL")
        cur.execute("UPDATE vault.customers SET mobile_enc = %s WHERE branch_id = %s AND customer_id = %s",
                    (keys.cipher.encrypt("1234567", "vault.customers.mobile"), branch, bad))
        cur.execute("UPDATE vault.customers SET id_expiry = %s WHERE branch_id = %s AND customer_id = %s",
                    (TODAY - dt.timedelta(days=1), branch, expired))
        cur.execute(f"CREATE TABLE vault.{partition_name('customers', OTHER)} PARTITION OF vault.customers "
                    "FOR VALUES IN (%s)", (OTHER,))
        cur.execute("SELECT column_name FROM information_schema.columns WHERE table_schema = 'vault' "
                    "AND table_name = 'customers' AND column_name NOT IN ('branch_id', 'customer_id') "
                    "ORDER BY ordinal_position")
        rest = ", ".join(c for (c,) in cur.fetchall())
        cur.execute(f"INSERT INTO vault.customers (branch_id, customer_id, {rest}) SELECT %s, 'X-0001', {rest} "
                    "FROM vault.customers WHERE branch_id = %s AND customer_id = %s", (OTHER, branch, shared))
        cur.execute("INSERT INTO control.notice_runs (branch_id, kind, contract_sha256, prepared_on, deadline, "
                    "channels, requested_by) VALUES (%s, 'transfer', 'x', %s, %s, '{sms}', 'tests') RETURNING id",
                    (branch, TODAY, TODAY))
        run = cur.fetchone()[0]
        cur.execute("INSERT INTO control.notices (run_id, branch_id, customer_id, kind, status, channel) "
                    "VALUES (%s, %s, %s, 'transfer', 'letter', 'letter') RETURNING id", (run, branch, bounced))
        notice = cur.fetchone()[0]
        cur.execute("INSERT INTO control.outbox (notice_id, idempotency_key, branch_id, customer_id, channel, state, "
                    "attempts, sent_at) VALUES (%s, 'hn-upkeep-1', %s, %s, 'sms', 'bounced', 1, clock_timestamp())",
                    (notice, branch, bounced))
    return {"branch": branch, "bad": bad, "expired": expired, "shared": shared, "bounced": bounced,
            "notice": notice}
