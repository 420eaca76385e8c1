"""Data upkeep (维护资料, GB/T 35273-2020 §8.3: personal information kept accurate and complete): a monthly
look at what the vault holds, with today's rules.

- **Re-validation** (:func:`recheck`): every stored record, a chunk at a time (keyset pagination: memory
  bounded by the chunk, whatever the table's size), decrypted with its data key (by the row's ``key_id``)
  and put through the transfer's own path — :func:`handover.verify.normalise_frame` and the entity's GX suite
  (:class:`handover.quality.Validator`). A finding the record was loaded with (its ``field_issues``) is not
  new; any other is a record that *no longer passes* (rules change: a suite gains an expectation, a validator
  tightens). Counted by entity and ``column:reason``; the keys of the failing records kept, never a value.
- **Expired identity documents** (:func:`expired_documents`): ``id_expiry`` before today (长期 is 9999-12-31).
- **Merge candidates** (:func:`merge_candidates`): customers of different branches whose identity-document
  number or USCC has one blind index — the same person or company, known twice. Keys only, grouped.
- **Bounced contacts** (:func:`bounced_contacts`): a notice to a customer's current mobile or e-mail that
  bounced or could not be delivered (the outbox), not corrected since (no later version of the record with
  another contact, no later message on that channel that went through).

:func:`survey` runs the four; :func:`record` stores a month's run in ``control.upkeep_runs`` and its findings
(keys and reason codes) in ``control.upkeep_findings`` — a re-run of a month replaces both, a later month's
run drops the earlier lists, an erasure the customer's records (:func:`handover.purge.erasure.erase_customer`);
:func:`findings`
turns the counts into :class:`handover.review.Finding` s, which :func:`handover.review.remediate` turns into
remediation items (``upkeep_*``) that close themselves when their finding is gone.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from dataclasses import dataclass, field

import pandas as pd

from handover import canonical
from handover.contract import Column, EntitySpec, Source
from handover.crypto import FieldCipher, MasterKey
from handover.review import Finding

CHUNK_ROWS = 5_000  # rows decrypted and validated at a time
# records listed (by key) per kind at most: a rule change can fail the whole vault — the counts stay exact,
# the list (what a person works through) is its first LISTED records, and memory stays bounded
LISTED = 10_000
ENTITIES = tuple(canonical.ENTITIES)
# the customers' identifiers that name one person or company whatever the branch (a mobile or an e-mail may
# be a family's: not a merge candidate by itself)
MERGE_IDENTIFIERS = ("id_number", "uscc")
CONTACT_CHANNELS = {"sms": "mobile", "email": "email"}  # the outbox's channel → the vault's contact field
BOUNCED = ("bounced", "undelivered")
KINDS = ("revalidation", "expired_document", "merge_candidate", "bounced_contact")
# finding → (remediation check name, severity): what needs a person
CHECKS = {"revalidation": ("upkeep_revalidation", "medium"),
          "expired_document": ("upkeep_expired_documents", "medium"),
          "merge_candidate": ("upkeep_merge_candidates", "low"),
          "bounced_contact": ("upkeep_bounced_contacts", "low")}


@dataclass
class Item:
    """One record that needs a look: its kind, branch, entity and key, the reason codes; ``group`` joins
    the members of one merge candidate."""

    kind: str
    branch_id: str
    entity: str
    key: str
    reasons: tuple[str, ...]
    group: int | None = None


@dataclass
class Survey:
    """What one upkeep run found: counts (JSON, no value) and the items behind them (keys only)."""

    today: dt.date
    counts: dict = field(default_factory=dict)
    items: list[Item] = field(default_factory=list)


def month_of(day: dt.date) -> dt.date:
    return day.replace(day=1)


# -- re-validation -----------------------------------------------------------------------------------------

def canonical_spec(entity: str) -> EntitySpec:
    """The entity as the vault holds it: every canonical field, typed and formatted as the model says —
    what the transfer's checks see of a contract that maps them all."""
    model = canonical.entity(entity)
    columns = tuple(Column(header=f.name, name=f.name, is_extra=False, type=f.type, format=f.format,
                           required=f.required, key=f.name == model.key, pii=f.pii, retention="vault",
                           identifier=f.identifier or f.name == model.key)
                    for f in model.fields if f.pii != "free_text")  # free text has no rule to fail
    return EntitySpec(name=entity, source=Source(file=f"vault.{entity}", format="table"), columns=columns)


def ciphers(conn, master: MasterKey) -> dict[str, FieldCipher]:
    """Every branch's data key, by key id (a row says which key encrypted it)."""
    with conn.cursor() as cur:
        cur.execute("SELECT purpose, key_id, wrapped FROM ops.keys WHERE purpose LIKE 'data:%'")
        rows = cur.fetchall()
    conn.rollback()
    return {key_id: FieldCipher(master.unwrap(bytes(wrapped), purpose), key_id) for purpose, key_id, wrapped in rows}


def _chunks(conn, spec: EntitySpec, chunk_rows: int):
    """The entity's rows in (branch, key) order, ``chunk_rows`` at a time: plain values as text, sealed
    ones as ciphertext, the row's key id and load-time field issues."""
    model = spec.model
    selected = [f"{c.name}_enc" if model.field(c.name).storage == "sealed" else f"{c.name}::text"
                for c in spec.columns]
    query = (f"SELECT branch_id, {model.key}, key_id, coalesce(field_issues, '{{}}'), {', '.join(selected)} "
             f"FROM vault.{spec.name} WHERE (branch_id, {model.key}) > (%s, %s) "
             f"ORDER BY branch_id, {model.key} LIMIT %s")
    after = ("", "")
    while True:
        with conn.cursor() as cur:
            cur.execute(query, (*after, chunk_rows))
            rows = cur.fetchall()
        conn.rollback()
        if not rows:
            return
        yield rows
        if len(rows) < chunk_rows:
            return
        after = (rows[-1][0], rows[-1][1])


def _frame(spec: EntitySpec, rows: list[tuple], keys: dict[str, FieldCipher]) -> pd.DataFrame:
    model = spec.model
    data = {}
    for i, c in enumerate(spec.columns, start=4):
        if model.field(c.name).storage == "sealed":
            aad = f"vault.{spec.name}.{c.name}"
            data[c.name] = [None if r[i] is None else keys[r[2]].decrypt(bytes(r[i]), aad) for r in rows]
        else:
            data[c.name] = [r[i] for r in rows]
    return pd.DataFrame(data, dtype=object)


def recheck_chunk(spec: EntitySpec, frame: pd.DataFrame, validator) -> list[set[str]]:
    """Per row of ``frame`` (the stored values, decrypted), its findings as ``column:reason`` — the
    transfer's normaliser and suite, as :func:`handover.verify.verify_chunk` runs them."""
    from handover.verify import normalise_frame

    clean, found, unreadable = normalise_frame(spec, frame)
    verdict = validator.validate_frame(spec, clean, unreadable)
    found.merge(verdict.cells)
    out: list[set[str]] = [set() for _ in range(len(frame))]
    for column, cells in found.cells.items():
        for pos, codes in cells.items():
            out[pos].update(f"{column}:{code}" for code in codes)
    return out


def recheck(conn, master: MasterKey, *, entities=ENTITIES, chunk_rows: int = CHUNK_ROWS, validator=None,
            listed: int = LISTED) -> tuple[dict, list[Item]]:
    """Every stored record of ``entities`` through today's checks: per entity the records checked and those
    that no longer pass, by ``column:reason``; and the keys of the first ``listed`` failing records."""
    if validator is None:
        from handover.verify import validator as transfer_validator

        validator = transfer_validator()
    keys = ciphers(conn, master)
    counts, items = {}, []
    for entity in entities:
        spec = canonical_spec(entity)
        checked, failing, reasons, chunks = 0, 0, Counter(), 0
        for rows in _chunks(conn, spec, chunk_rows):
            chunks += 1
            found = recheck_chunk(spec, _frame(spec, rows, keys), validator)
            for row, codes in zip(rows, found, strict=True):
                new = codes - set(row[3])  # what it was loaded with is known; what is new is news
                if new:
                    failing += 1
                    reasons.update(new)
                    if len(items) < listed:
                        items.append(Item("revalidation", row[0], entity, row[1], tuple(sorted(new))))
            checked += len(rows)
        counts[entity] = {"checked": checked, "failing": failing, "chunks": chunks,
                          "reasons": dict(sorted(reasons.items()))}
    return counts, items


# -- the other findings ------------------------------------------------------------------------------------

def expired_documents(conn, today: dt.date, *, listed: int = LISTED) -> tuple[dict, list[Item]]:
    """Customers whose identity document expired before ``today``, by document type (the first ``listed``
    by key)."""
    with conn.cursor() as cur:
        cur.execute("SELECT coalesce(id_type, 'unknown'), count(*) FROM vault.customers WHERE id_expiry < %s "
                    "GROUP BY 1 ORDER BY 1", (today,))
        by_type = dict(cur.fetchall())
        cur.execute("SELECT branch_id, customer_id, coalesce(id_type, 'unknown') FROM vault.customers "
                    "WHERE id_expiry < %s ORDER BY 1, 2 LIMIT %s", (today, listed))
        rows = cur.fetchall()
    conn.rollback()
    items = [Item("expired_document", b, "customers", c, (f"id_expiry:expired_{t}",)) for b, c, t in rows]
    return {"expired": sum(by_type.values()), "by_type": by_type}, items


def merge_candidates(conn) -> tuple[dict, list[Item]]:
    """Groups of customers of two or more branches who share an identity-document number or a USCC (one
    blind index): keys only; a group found by both identifiers is one group."""
    groups: dict[tuple, set[str]] = {}
    with conn.cursor() as cur:
        for name in MERGE_IDENTIFIERS:
            cur.execute(f"SELECT array_agg(branch_id || chr(31) || customer_id ORDER BY branch_id, customer_id) "
                        f"FROM vault.customers WHERE {name}_bidx IS NOT NULL GROUP BY {name}_bidx "
                        f"HAVING count(DISTINCT branch_id) > 1")
            for (members,) in cur.fetchall():
                groups.setdefault(tuple(members), set()).add(name)
    conn.rollback()
    items = []
    for number, (members, names) in enumerate(sorted(groups.items()), start=1):
        for member in members:
            branch, customer = member.split("\x1f", 1)
            items.append(Item("merge_candidate", branch, "customers", customer,
                              tuple(f"shared_{n}" for n in sorted(names)), number))
    return {"groups": len(groups), "customers": len(items),
            "by_identifier": dict(sorted(Counter(n for names in groups.values() for n in names).items()))}, items


def bounced_contacts(conn) -> tuple[dict, list[Item]]:
    """Customers whose current mobile or e-mail a notice could not reach, not corrected since."""
    out = []
    with conn.cursor() as cur:
        for channel, name in CONTACT_CHANNELS.items():
            cur.execute(f"""
                SELECT DISTINCT o.branch_id, o.customer_id,
                       CASE WHEN o.state IN ('bounced', 'undelivered') THEN o.state ELSE o.delivery END
                FROM control.outbox o
                JOIN vault.customers c ON c.branch_id = o.branch_id AND c.customer_id = o.customer_id
                WHERE o.channel = %(channel)s AND o.contact_version IS NULL
                  AND (o.state IN ('bounced', 'undelivered') OR o.delivery IN ('bounced', 'undelivered'))
                  AND c.{name}_enc IS NOT NULL
                  AND NOT EXISTS (SELECT 1 FROM control.outbox later WHERE later.branch_id = o.branch_id
                      AND later.customer_id = o.customer_id AND later.channel = o.channel AND later.id > o.id
                      AND later.state = 'sent' AND coalesce(later.delivery, 'sent') NOT IN ('bounced', 'undelivered'))
                  AND NOT EXISTS (SELECT 1 FROM vault.customer_history h WHERE h.branch_id = o.branch_id
                      AND h.customer_id = o.customer_id AND h.valid_to >= coalesce(o.sent_at, o.created_at)
                      AND h.{name}_bidx IS DISTINCT FROM c.{name}_bidx)
                ORDER BY 1, 2""", {"channel": channel})
            out += [Item("bounced_contact", b, "customers", c, (f"{name}:{channel}_{state}",))
                    for b, c, state in cur.fetchall()]
    conn.rollback()
    merged: dict[tuple, set[str]] = {}
    for i in out:  # one item per customer, each contact's reason on it
        merged.setdefault((i.branch_id, i.key), set()).update(i.reasons)
    items = [Item("bounced_contact", b, "customers", c, tuple(sorted(r))) for (b, c), r in sorted(merged.items())]
    return {"customers": len(items), "by_reason": dict(sorted(Counter(r for i in items for r in i.reasons).items()))}, items


def survey(conn, master: MasterKey, today: dt.date, *, chunk_rows: int = CHUNK_ROWS, validator=None,
           entities=ENTITIES, listed: int = LISTED) -> Survey:
    """The four looks at the vault, as of ``today``."""
    out = Survey(today)
    revalidation, items = recheck(conn, master, entities=entities, chunk_rows=chunk_rows, validator=validator,
                                  listed=listed)
    out.counts["revalidation"] = {"entities": revalidation, "checked": sum(e["checked"] for e in revalidation.values()),
                                  "failing": sum(e["failing"] for e in revalidation.values())}
    out.items += items
    for kind, look in (("expired_document", lambda: expired_documents(conn, today, listed=listed)),
                       ("merge_candidate", lambda: merge_candidates(conn)),
                       ("bounced_contact", lambda: bounced_contacts(conn))):
        counts, items = look()
        out.counts[kind] = counts
        out.items += items
    return out


def open_items(counts: dict) -> dict[str, int]:
    """How many records each kind of finding names (what the page and the report draw)."""
    return {"revalidation": counts["revalidation"]["failing"], "expired_document": counts["expired_document"]["expired"],
            "merge_candidate": counts["merge_candidate"]["customers"],
            "bounced_contact": counts["bounced_contact"]["customers"]}


def findings(counts: dict) -> list[Finding]:
    """The run as compliance findings: each kind passes when it names no record (its item then closes)."""
    found = open_items(counts)
    evidence = {"revalidation": {"checked": counts["revalidation"]["checked"],
                                 "failing": counts["revalidation"]["failing"],
                                 "reasons": Counter({r: n for e in counts["revalidation"]["entities"].values()
                                                     for r, n in e["reasons"].items()})},
                "expired_document": counts["expired_document"], "merge_candidate": counts["merge_candidate"],
                "bounced_contact": counts["bounced_contact"]}
    return [Finding(check, found[kind] == 0, severity, json.loads(json.dumps(evidence[kind])))
            for kind, (check, severity) in CHECKS.items()]


# -- the record --------------------------------------------------------------------------------------------

def record(conn, result: Survey, *, requested_by: str) -> int:
    """The month's run and its findings in ``control`` (a re-run of the month replaces them); its id."""
    month = month_of(result.today)
    with conn.cursor() as cur:
        cur.execute("""INSERT INTO control.upkeep_runs (month, today, requested_by, counts)
                       VALUES (%s, %s, %s, %s)
                       ON CONFLICT (month) DO UPDATE SET today = EXCLUDED.today, requested_by = EXCLUDED.requested_by,
                           counts = EXCLUDED.counts, ran_at = clock_timestamp(), report_path = NULL
                       RETURNING id""", (month, result.today, requested_by, json.dumps(result.counts)))
        run_id = cur.fetchone()[0]
        # the list is what to look at now: this month's replaces its last, and a month's run drops the lists
        # of the months before it (their counts stay in control.upkeep_runs, their lists in their reports)
        cur.execute("DELETE FROM control.upkeep_findings f USING control.upkeep_runs r WHERE r.id = f.run_id "
                    "AND (r.id = %s OR r.month < %s)", (run_id, month))
        rows = [(run_id, i.kind, i.branch_id, i.entity, i.key, list(i.reasons), i.group) for i in result.items]
        if rows:
            from psycopg2.extras import execute_values

            execute_values(cur, "INSERT INTO control.upkeep_findings (run_id, kind, branch_id, entity, record_key, "
                                "reasons, merge_group) VALUES %s", rows, page_size=1000)
    conn.commit()
    return run_id


def remediate(conn, run_id: int, counts: dict, policy, today: dt.date) -> dict:
    """Remediation items for what needs a person (:func:`handover.review.remediate`, one per kind)."""
    from handover import review

    return review.remediate(conn, run_id, findings(counts), policy, today, actor="vault_upkeep",
                            action="upkeep.reviewed")


def latest(conn, *, items: int = 200) -> dict:
    """The latest run (counts), the months before it (what each kind named), and the latest run's items —
    keys and reason codes, at most ``items`` of each kind (for the report; the page shows counts)."""
    with conn.cursor() as cur:
        cur.execute("SELECT to_regclass('control.upkeep_runs')")
        if cur.fetchone()[0] is None:
            conn.rollback()
            return {"run": None, "history": [], "items": {}}
        cur.execute("SELECT id, month, today, ran_at, counts, report_path FROM control.upkeep_runs "
                    "ORDER BY month DESC LIMIT 12")
        runs = cur.fetchall()
        listed: dict[str, list[dict]] = {}
        if runs:
            cur.execute("""SELECT kind, branch_id, entity, record_key, reasons, merge_group FROM (
                               SELECT *, row_number() OVER (PARTITION BY kind ORDER BY merge_group, branch_id,
                                   entity, record_key) n FROM control.upkeep_findings WHERE run_id = %s) q
                           WHERE n <= %s ORDER BY kind, merge_group, branch_id, entity, record_key""",
                        (runs[0][0], items))
            for kind, b, e, k, r, g in cur.fetchall():
                listed.setdefault(kind, []).append({"branch_id": b, "entity": e, "key": k, "reasons": list(r),
                                                    "group": g})
    conn.rollback()
    if not runs:
        return {"run": None, "history": [], "items": {}}
    i, month, today, at, counts, path = runs[0]
    history = [{"month": m.isoformat()[:7], "open": open_items(c)} for _, m, _, _, c, _ in reversed(runs)]
    return {"run": {"run_id": i, "month": month.isoformat()[:7], "today": today.isoformat(), "at": at.isoformat(),
                    "counts": counts, "open": open_items(counts), "report_path": path},
            "history": history, "items": listed}
