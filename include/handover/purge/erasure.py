"""Erasure requests, legal holds and tombstones (PIPL Art. 47: deletion on request, on withdrawn consent, …).

- A **request** names a customer by customer id (with its branch), mobile or resident ID number. It is
  stored as a keyed hash only — the blind index's HMAC, the same digest the vault keeps in ``*_bidx`` — so
  it matches without the identifier ever being stored (``control.erasure_requests``).
- **Carrying it out** (:func:`carry_out`, nightly): the customer's records go from ``vault``, ``analytics``
  and ``ops`` (its activity, quarantined customer row, exclusions), children first, in one transaction;
  or the request is **refused with a recorded reason**: a legal hold (re-checked every night), or a
  retention class with a legal basis (e.g. ``aml``) whose period has not run — then processing stops (the
  customer's analytics rows go, and every later load leaves them out — ``control.processing_stopped``, as
  for an objection; the vault keeps only storage) and the request waits until the day the period ends
  (``retry_after``), when the nightly run carries it out.
- **Tombstones** (``control.tombstones``): every identifier of an erased customer, as keyed hashes, kept
  where no backup is. :func:`apply_tombstones` runs after every restore, before the restored data is
  used: an erased customer never comes back.
"""

from __future__ import annotations

import datetime as dt
import json
import re

from handover import canonical, cold_archive
from handover.errors import HandoverError
from handover.purge.rules import RetentionClass, latest_wait

KINDS = {"customer_id": None, "mobile": "mobile", "id_number": "resident_id"}  # request kind → value format
BASES = ("individual_request", "consent_withdrawn", "purpose_achieved", "retention_ended", "absent_from_export")
CHILDREN_FIRST = ("transactions", "interactions", "cards", "accounts", "customers")


# C0 and C1 control characters and DEL: never part of an identifier (a NUL cannot even be stored)
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def _refuse(kind: str, why: str) -> HandoverError:
    return HandoverError(f"the {kind.replace('_', ' ')} given {why}")  # the kind and the rule, never the value


def normalised(kind: str, value: str) -> str:
    """The identifier as the vault's blind index saw it — the pipeline's own normalisation — after the
    pipeline's own rule for its kind; a :class:`HandoverError` naming the kind and the rule (never the value)
    when it breaks it: a mobile must be a mainland mobile number (`handover.validators.is_mobile`), an id
    number valid for one of the document types (`handover.documents`), a customer id non-empty and free of
    control characters."""
    if kind not in KINDS:
        raise HandoverError(f"kind must be one of {', '.join(KINDS)}")
    if not isinstance(value, str) or not value.strip():
        raise _refuse(kind, "is empty")
    if _CONTROL.search(value.strip()):
        raise _refuse(kind, "holds control characters")
    if kind == "customer_id":
        return value.strip()
    if kind == "id_number":  # a number of any document type, spelled as that type spells it
        from handover.documents import DOCUMENT_TYPES, spelled

        out = spelled(value)
        if out is None:
            raise _refuse(kind, "is empty")
        if not any(doc.checked and doc.is_valid(out) for doc in DOCUMENT_TYPES.values()):
            raise _refuse(kind, "is not a valid number of any document type (resident ID, permits, passports, "
                                "USCC …: its format or check digit fails)")
        return out
    import pandas as pd

    from handover import normalise
    from handover.validators import is_mobile

    clean, _ = normalise.normalise_column(pd.Series([value], dtype=object), "string", KINDS[kind])
    out = clean.iloc[0]
    if not isinstance(out, str) or not is_mobile(out):
        raise _refuse(kind, "is not a mainland mobile number (11 digits, 1 then 3–9; +86 and separators "
                            "may be written)")
    return out


def digest(hasher, kind: str, value: str, branch_id: str | None = None) -> bytes:
    if kind not in KINDS:
        raise HandoverError(f"kind must be one of {', '.join(KINDS)}")
    if kind == "customer_id":
        if not branch_id:
            raise HandoverError("a customer id names a customer within a branch: give the branch too")
        return hasher.digest("customer_id", f"{branch_id}\x1f{normalised(kind, value)}")
    return hasher.digest(KINDS[kind], normalised(kind, value))


def open_request(cur, kind: str, digest_: bytes, branch_id: str | None) -> int | None:
    """An erasure request for this identifier that is still to be carried out (pending, or refused until a
    later day), if there is one: filing it again would only duplicate it."""
    cur.execute("SELECT id FROM control.erasure_requests WHERE match_kind = %s AND match_digest = %s "
                "AND branch_id IS NOT DISTINCT FROM %s AND state IN ('pending', 'refused') ORDER BY id LIMIT 1",
                (kind, digest_, branch_id))
    row = cur.fetchone()
    return row[0] if row else None


def file_request(conn, hasher, kind: str, value: str, *, branch_id: str | None, basis: str,
                 requested_by: str) -> int:
    if basis not in BASES:
        from handover.errors import HandoverError

        raise HandoverError(f"basis must be one of {', '.join(BASES)}")
    with conn.cursor() as cur:
        cur.execute("INSERT INTO control.erasure_requests (match_kind, match_digest, branch_id, basis, requested_by) "
                    "VALUES (%s, %s, %s, %s, %s) RETURNING id",
                    (kind, digest(hasher, kind, value, branch_id), branch_id, basis, requested_by))
        request_id = cur.fetchone()[0]
    conn.commit()
    return request_id


def place_hold(conn, hasher, *, reason: str, placed_by: str, branch_id: str | None = None,
               kind: str | None = None, value: str | None = None) -> int:
    match = digest(hasher, kind, value, branch_id) if kind else None
    with conn.cursor() as cur:
        cur.execute("INSERT INTO control.legal_holds (branch_id, match_kind, match_digest, reason, placed_by) "
                    "VALUES (%s, %s, %s, %s, %s) RETURNING id",
                    (branch_id, kind, match, reason, placed_by))
        hold_id = cur.fetchone()[0]
    conn.commit()
    return hold_id


def release_hold(conn, hold_id: int, released_by: str) -> None:
    with conn.cursor() as cur:
        cur.execute("UPDATE control.legal_holds SET released_by = %s, released_at = clock_timestamp() "
                    "WHERE id = %s AND released_at IS NULL", (released_by, hold_id))
    conn.commit()


class CustomerIds:
    """customer_id digests → (branch, customer id), computed once per branch when needed."""

    def __init__(self, cur, hasher) -> None:
        self._cur, self._hasher, self._by_branch = cur, hasher, {}

    def find(self, wanted: bytes, branch_id: str | None) -> list[tuple[str, str]]:
        branches = [branch_id] if branch_id else self._branches()
        out = []
        for branch in branches:
            if branch not in self._by_branch:
                self._cur.execute("SELECT customer_id FROM vault.customers WHERE branch_id = %s", (branch,))
                ids = [r[0] for r in self._cur.fetchall()]
                self._by_branch[branch] = dict(zip(
                    self._hasher.digest_many("customer_id", [f"{branch}\x1f{i}" for i in ids]), ids, strict=True))
            hit = self._by_branch[branch].get(bytes(wanted))
            if hit is not None:
                out.append((branch, hit))
        return out

    def _branches(self) -> list[str]:
        self._cur.execute("SELECT DISTINCT branch_id FROM vault.customers")
        return [r[0] for r in self._cur.fetchall()]


def resolve(cur, ids: CustomerIds, kind: str, wanted: bytes, branch_id: str | None) -> list[tuple[str, str]]:
    """The (branch, customer id) pairs a keyed hash names."""
    if kind == "customer_id":
        return ids.find(wanted, branch_id)
    column = {"mobile": "mobile_bidx", "id_number": "id_number_bidx"}[kind]
    cur.execute(f"SELECT branch_id, customer_id FROM vault.customers WHERE {column} = %s"
                + (" AND branch_id = %s" if branch_id else "") + " ORDER BY 1, 2",
                (bytes(wanted), branch_id) if branch_id else (bytes(wanted),))
    return [tuple(r) for r in cur.fetchall()]


def holds(cur, ids: CustomerIds) -> tuple[dict[str, int], dict[tuple[str, str], int]]:
    """Active legal holds: branches (→ hold id) and customers (→ hold id)."""
    cur.execute("SELECT id, branch_id, match_kind, match_digest FROM control.legal_holds WHERE released_at IS NULL")
    branches, customers = {}, {}
    for hold_id, branch, kind, wanted in cur.fetchall():
        if kind is None:
            branches[branch] = hold_id
        else:
            for pair in resolve(cur, ids, kind, wanted, branch):
                customers[pair] = hold_id
            for a in cold_archive.resolve(cur, kind, wanted, branch):  # archived customers are held too
                customers[(a["branch_id"], a["customer_id"])] = hold_id
    return branches, customers


def _identifiers(cur, hasher, branch: str, customer: str) -> list[tuple[str, bytes]]:
    cur.execute("SELECT mobile_bidx, id_number_bidx FROM vault.customers WHERE branch_id = %s AND customer_id = %s",
                (branch, customer))
    row = cur.fetchone()
    out = [("customer_id", hasher.digest("customer_id", f"{branch}\x1f{customer}"))]
    if row:
        out += [(kind, bytes(value)) for kind, value in zip(("mobile", "id_number"), row, strict=True) if value]
    return out


def erase_customer(cur, branch: str, customer: str, *, analytics_only: bool = False) -> dict[str, int]:
    """Delete one customer's records, children first (analytics rows by content hash); counts per table."""
    counts: dict[str, int] = {}
    where = {
        "transactions": "branch_id = %(b)s AND (customer_id = %(c)s OR account_id IN (SELECT account_id FROM "
                        "vault.accounts WHERE branch_id = %(b)s AND customer_id = %(c)s))",
        "interactions": "branch_id = %(b)s AND customer_id = %(c)s",
        "cards": "branch_id = %(b)s AND (customer_id = %(c)s OR account_id IN (SELECT account_id FROM "
                 "vault.accounts WHERE branch_id = %(b)s AND customer_id = %(c)s))",
        "accounts": "branch_id = %(b)s AND customer_id = %(c)s",
        "customers": "branch_id = %(b)s AND customer_id = %(c)s",
    }
    params = {"b": branch, "c": customer}
    for entity in CHILDREN_FIRST:
        cur.execute(f"SELECT row_hash FROM vault.{entity} WHERE {where[entity]}", params)
        hashes = [r[0] for r in cur.fetchall()]
        cur.execute(f"DELETE FROM analytics.{entity} WHERE branch_id = %s AND row_hash = ANY(%s)", (branch, hashes))
        counts[f"analytics.{entity}"] = cur.rowcount
    if analytics_only:
        return counts
    cur.execute("SELECT to_regclass('control.upkeep_findings') IS NOT NULL")
    upkeep = cur.fetchone()[0]
    for entity in CHILDREN_FIRST:
        key = canonical.entity(entity).key
        cur.execute(f"DELETE FROM vault.{entity} WHERE {where[entity]} RETURNING {key}", params)
        counts[f"vault.{entity}"] = cur.rowcount
        if upkeep and cur.rowcount:  # the upkeep's list of records to look at (handover.upkeep) forgets them
            cur.execute("DELETE FROM control.upkeep_findings WHERE branch_id = %s AND entity = %s "
                        "AND record_key = ANY(%s)", (branch, entity, [k for (k,) in cur.fetchall()]))
    # the earlier versions of the record (contact updates: handover.updates) go with it, and so does what
    # the change files said of the customer
    cur.execute("SELECT to_regclass('vault.customer_history') IS NOT NULL")
    if cur.fetchone()[0]:
        cur.execute("DELETE FROM vault.customer_history WHERE branch_id = %s AND customer_id = %s", (branch, customer))
        counts["vault.customer_history"] = cur.rowcount
        cur.execute("DELETE FROM ops.update_rows WHERE branch_id = %s AND customer_id = %s", (branch, customer))
    cur.execute("DELETE FROM ops.activity WHERE branch_id = %s AND customer_id = %s", (branch, customer))
    cur.execute("DELETE FROM ops.quarantine WHERE branch_id = %s AND entity IN ('customers', 'customer_updates') "
                "AND record_key = %s", (branch, customer))
    counts["ops.quarantine"] = cur.rowcount
    return counts


def _erase_exclusions(cur, identifiers: list[tuple[str, bytes]]) -> int:
    n = 0
    for kind, value in identifiers:
        if kind in ("mobile", "id_number"):
            cur.execute(f"DELETE FROM ops.exclusions WHERE {kind}_bidx = %s", (value,))
            n += cur.rowcount
    return n


def _legal_wait(cur, branch: str, customer: str, rules: dict, today: dt.date) -> tuple[str, dt.date] | None:
    """A retention class with a legal basis whose period has not run for this customer: (why, retry on)."""
    from handover.purge.store import CLOSED_STATUSES, DATE_COLUMN

    waits = []
    for entity in CHILDREN_FIRST:
        rule: RetentionClass | None = rules.get((branch, entity))
        if rule is None or not rule.basis:
            continue
        if rule.after == "relationship_end":
            cur.execute("SELECT count(*) FILTER (WHERE coalesce(lower(status), '') <> ALL(%s)) FROM vault.accounts "
                        "WHERE branch_id = %s AND customer_id = %s", (list(CLOSED_STATUSES), branch, customer))
            if cur.fetchone()[0]:
                return rule.open_relationship_wait(today)
            cur.execute("SELECT last_activity FROM ops.activity WHERE branch_id = %s AND customer_id = %s",
                        (branch, customer))
            row = cur.fetchone()
            anchor = row[0] if row else None
        else:
            column = "occurred_at" if rule.after == "transaction" and entity == "transactions" else DATE_COLUMN[entity]
            if rule.after == "last_activity":
                cur.execute("SELECT last_activity FROM ops.activity WHERE branch_id = %s AND customer_id = %s",
                            (branch, customer))
            else:
                link = ("(customer_id = %(c)s OR account_id IN (SELECT account_id FROM vault.accounts WHERE "
                        "branch_id = %(b)s AND customer_id = %(c)s))" if entity in ("transactions", "cards")
                        else "customer_id = %(c)s")
                cur.execute(f"SELECT max(coalesce({column}::date, loaded_at::date)) FROM vault.{entity} "
                            f"WHERE branch_id = %(b)s AND {link}", {"b": branch, "c": customer})
            row = cur.fetchone()
            anchor = row[0] if row else None
        waits.append(rule.legal_wait(entity, anchor, today))
    return latest_wait(waits)


def carry_out(conn, hasher, today: dt.date, *, dry_run: bool = False, only: list[int] | None = None) -> list[dict]:
    """Every open request decided: done, no_match, or refused (legal hold / legal retention, with the day it
    is tried again). One transaction per request; a dry run rolls each back and reports what would happen.
    ``only``: just these requests (a transfer carrying out the requests its re-sent export filed)."""
    from handover.purge.store import classes

    outcomes = []
    with conn.cursor() as cur:
        cur.execute("SELECT id, match_kind, match_digest, branch_id FROM control.erasure_requests "
                    "WHERE (state = 'pending' OR (state = 'refused' AND retry_after <= %s)) "
                    "AND (%s::bigint[] IS NULL OR id = ANY(%s)) ORDER BY id", (today, only, only))
        open_requests = cur.fetchall()
        rules = classes(cur)
        ids = CustomerIds(cur, hasher)
        held_branches, held_customers = holds(cur, ids)
        for request_id, kind, wanted, branch in open_requests:
            matches = resolve(cur, ids, kind, wanted, branch)
            # customers in the cold archive are found through its index, and decided by the same rules
            archived = cold_archive.resolve(cur, kind, wanted, branch)
            outcome: dict = {"customers": len(matches) + len(archived)}
            blocked = [(b, c) for b, c in matches + [(a["branch_id"], a["customer_id"]) for a in archived]
                       if b in held_branches or (b, c) in held_customers]
            waits = [w for b, c in matches if (w := _legal_wait(cur, b, c, rules, today))] + [
                w for a in archived if (w := cold_archive.legal_wait(rules, a["branch_id"], a["last_activity"],
                                                                     a["anchors"], today))]
            if blocked:
                hold_ids = sorted({held_branches.get(b) or held_customers[(b, c)] for b, c in blocked})
                state, reason, retry = "refused", f"legal hold {', '.join(map(str, hold_ids))}", today + dt.timedelta(days=1)
            elif waits:
                why, retry = max(waits, key=lambda w: w[1])
                state, reason = "refused", why
                stopped: dict[str, int] = {}
                for b, c in matches:  # processing stops: nothing analysable remains, the vault only stores
                    for table, n in erase_customer(cur, b, c, analytics_only=True).items():
                        stopped[table] = stopped.get(table, 0) + n
                    # and stays stopped: every later load leaves them out of analytics (keep_out_of_analytics)
                    cur.execute("INSERT INTO control.processing_stopped (branch_id, customer_id, request_id, reason) "
                                "VALUES (%s, %s, %s, %s) ON CONFLICT (branch_id, customer_id) DO UPDATE SET "
                                "request_id = EXCLUDED.request_id, reason = EXCLUDED.reason", (b, c, request_id, why))
                for a in archived:  # out of the archive's analytics rows at any restore (handover.cold_archive)
                    cur.execute("INSERT INTO control.processing_stopped (branch_id, customer_id, request_id, reason) "
                                "VALUES (%s, %s, %s, %s) ON CONFLICT (branch_id, customer_id) DO UPDATE SET "
                                "request_id = EXCLUDED.request_id, reason = EXCLUDED.reason",
                                (a["branch_id"], a["customer_id"], request_id, why))
                outcome["processing_stopped"] = stopped
            else:
                identifiers = {(kind, bytes(wanted))}
                erased: dict[str, int] = {}
                for b, c in matches:
                    found = _identifiers(cur, hasher, b, c)
                    identifiers.update(found)
                    for table, n in erase_customer(cur, b, c).items():
                        erased[table] = erased.get(table, 0) + n
                    cur.execute("DELETE FROM control.processing_stopped WHERE branch_id = %s AND customer_id = %s",
                                (b, c))
                    cold_archive.forget(cur, b, c)  # a copy restored from the archive may still be in its object
                archived_out = 0
                for a in archived:  # out of the index now; out of the object at the next cold_archive.rewrite
                    b, c = a["branch_id"], a["customer_id"]
                    identifiers.update(cold_archive.identifiers(cur, b, c))
                    archived_out += cold_archive.forget(cur, b, c)
                    for table, n in erase_customer(cur, b, c).items():
                        erased[table] = erased.get(table, 0) + n
                    cur.execute("DELETE FROM control.processing_stopped WHERE branch_id = %s AND customer_id = %s",
                                (b, c))
                erased["control.cold_archive_index"] = archived_out
                erased["ops.exclusions"] = _erase_exclusions(cur, sorted(identifiers))
                for k, value in sorted(identifiers):
                    cur.execute("INSERT INTO control.tombstones (kind, digest, request_id, erased_at) "
                                "VALUES (%s, %s, %s, clock_timestamp()) ON CONFLICT DO NOTHING", (k, value, request_id))
                outcome |= {"erased": erased, "tombstones": len(identifiers)}
                state, reason, retry = ("done" if matches or archived else "no_match"), None, None
            cur.execute("UPDATE control.erasure_requests SET state = %s, reason = %s, retry_after = %s, "
                        "decided_at = clock_timestamp(), outcome = %s WHERE id = %s",
                        (state, reason, retry, json.dumps(outcome), request_id))
            outcomes.append({"request": request_id, "kind": kind, "state": state, "reason": reason,
                             "retry_after": retry.isoformat() if retry else None} | outcome)
            if dry_run:
                conn.rollback()
            else:
                conn.commit()
    return outcomes


def apply_tombstones(conn, hasher, tombstones: list[tuple[str, bytes]] | None = None) -> dict[str, int]:
    """Erase again every customer a tombstone names (after a restore, before the data is used). The
    tombstones come from ``control.tombstones`` of ``conn``'s store, plus ``tombstones`` given (from the
    live store when restoring elsewhere). Returns counts; does not commit."""
    with conn.cursor() as cur:
        stones = set(tombstones or [])
        cur.execute("SELECT to_regclass('control.tombstones')")
        if cur.fetchone()[0] is not None:
            cur.execute("SELECT kind, digest FROM control.tombstones")
            stones |= {(k, bytes(d)) for k, d in cur.fetchall()}
        ids = CustomerIds(cur, hasher)
        customers: set[tuple[str, str]] = set()
        for kind, wanted in stones:
            customers.update(resolve(cur, ids, kind, wanted, None))
        totals: dict[str, int] = {"tombstones": len(stones), "customers": len(customers)}
        for branch, customer in sorted(customers):
            for table, n in erase_customer(cur, branch, customer).items():
                totals[table] = totals.get(table, 0) + n
        totals["ops.exclusions"] = _erase_exclusions(cur, sorted(stones))
    return totals


def report(conn) -> list[dict]:
    """Every request's state (no identifier: the kind, the decision, counts, dates)."""
    with conn.cursor() as cur:
        cur.execute("SELECT id, match_kind, branch_id, basis, received_at, state, reason, retry_after, decided_at, "
                    "outcome FROM control.erasure_requests ORDER BY id")
        names = ("request", "kind", "branch_id", "basis", "received_at", "state", "reason", "retry_after",
                 "decided_at", "outcome")
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
