"""A re-sent export: what it says about the customers an earlier run of the branch loaded.

A branch sends its export again (a correction, the month's final cut, the rest of a phased transfer). Two
things in it are decisions, never accidents:

- **consent withdrawn** — a customer loaded before is now without consent (同意转移 = 否). Processing
  stops at once: the customer's analytics rows (and its children's) are removed in this run. The vault rows
  then go under the erasure rules of the retention schedule: an erasure request (basis
  ``consent_withdrawn``) is filed and carried out by this run — done where nothing keeps the records,
  refused until the day a legal retention period ends (AML transaction records …), refused while a legal
  hold stands; the nightly ``retention_purge`` takes it from there.
- **absent** — a customer loaded before is not in the new export at all. Every such customer is listed
  (by the branch's customer number, which is not personal information) in the manifest, and the contract's
  ``transfer.absent_customers`` chooses: ``keep`` (listed, nothing else), ``report`` (listed, and a to-do on
  the checklist for the parties to decide), or ``erase`` (erasure requests, basis ``absent_from_export``,
  carried out as for a withdrawal).

Runs after the reconciliation (which checks this run's dispositions against the store) and before the
manifest (which reports this). Re-running it files nothing twice: an identifier with a request still to be
carried out is not filed again. A dry run reports what would happen and changes nothing.
"""

from __future__ import annotations

import datetime as dt

from psycopg2 import sql

from handover.contract import Contract
from handover.store import staging


def earlier_customers(cur, branch_id: str) -> bool:
    cur.execute("SELECT EXISTS (SELECT FROM vault.customers WHERE branch_id = %s)", (branch_id,))
    return cur.fetchone()[0]


def withdrawn(cur, contract: Contract, tag: str) -> list[str]:
    """Customers in the vault from an earlier run that this export marks without consent."""
    cur.execute(sql.SQL("""
        SELECT DISTINCT o.k FROM {o} o JOIN vault.customers v ON v.branch_id = %s AND v.customer_id = o.k
        WHERE o._disposition = 'excluded' AND 'no_consent' = ANY(o._final) ORDER BY 1""").format(
        o=staging.outcome_table("customers", tag)), (contract.branch_id,))
    return [r[0] for r in cur.fetchall()]


def absent(cur, contract: Contract, tag: str) -> list[str]:
    """Customers in the vault from an earlier run whose number this export does not hold at all."""
    cur.execute(sql.SQL("""
        SELECT v.customer_id FROM vault.customers v
        WHERE v.branch_id = %s AND NOT EXISTS (SELECT FROM {t} s WHERE s.customer_id = v.customer_id)
        ORDER BY 1""").format(t=staging.table_name("customers", tag)), (contract.branch_id,))
    return [r[0] for r in cur.fetchall()]


def _request(conn, hasher, branch_id: str, customer: str, basis: str, actor: str) -> tuple[int, bool]:
    """(request id, whether it was filed now) — an open request for the customer is reused."""
    from handover.purge import erasure

    with conn.cursor() as cur:
        found = erasure.open_request(cur, "customer_id", erasure.digest(hasher, "customer_id", customer, branch_id),
                                     branch_id)
    if found is not None:
        return found, False
    return erasure.file_request(conn, hasher, "customer_id", customer, branch_id=branch_id, basis=basis,
                                requested_by=actor), True


def act(conn, contract: Contract, tag: str, hasher, *, today: dt.date, actor: str, dry_run: bool) -> dict:
    """Carry out what the re-sent export says (see the module's docstring); returns the manifest's report
    (counts, request states, the absent customers' numbers — never a personal value)."""
    from handover.purge import erasure

    with conn.cursor() as cur:
        if "customers" not in contract.entities:
            return {}
        gone_before = withdrawn(cur, contract, tag)
        missing = absent(cur, contract, tag)
    report: dict = {"withdrawn": {"customers": len(gone_before)},
                    "absent": {"customers": len(missing), "decision": contract.absent_customers,
                               "customer_ids": missing}}
    if dry_run or not (gone_before or (missing and contract.absent_customers == "erase")):
        if dry_run:
            report["dry_run"] = True
        return report
    stopped: dict[str, int] = {}
    with conn.cursor() as cur:  # processing stops at once: nothing analysable remains
        for customer in gone_before:
            for table, n in erasure.erase_customer(cur, contract.branch_id, customer, analytics_only=True).items():
                stopped[table] = stopped.get(table, 0) + n
    conn.commit()
    report["withdrawn"]["processing_stopped"] = stopped
    asked = [("withdrawn", c, "consent_withdrawn") for c in gone_before]
    if contract.absent_customers == "erase":
        asked += [("absent", c, "absent_from_export") for c in missing]
    requests: dict[str, list[int]] = {"withdrawn": [], "absent": []}
    filed = 0
    for why, customer, basis in asked:
        request_id, new = _request(conn, hasher, contract.branch_id, customer, basis, actor)
        requests[why].append(request_id)
        filed += new
    erasure.carry_out(conn, hasher, today, only=requests["withdrawn"] + requests["absent"])
    with conn.cursor() as cur:
        for why, ids in requests.items():
            if ids:
                cur.execute("SELECT state, count(*), min(retry_after) FROM control.erasure_requests "
                            "WHERE id = ANY(%s) GROUP BY 1 ORDER BY 1", (ids,))
                states = {state: n for state, n, _ in cur.fetchall()}
                report[why]["erasure_requests"] = {"requests": len(ids), "by_state": states}
    report["requests_filed_now"] = filed
    return report
