"""Contact updates (更新信息): a change file applied to the vault with history, one function per DAG task.

    open_work_area → check_changes → extract_changes → verify_changes (per chunk) → apply_changes → reconcile_changes
      → (the confirmations: the outbox's deliverer, `handover.notices.deliver`) → close_work_area

A **change file** (CSV or XLSX) names each customer by the key column of the contract's ``customers`` entity
and holds, under the contract's own headers, the fields that changed — an empty cell is a field not changed.
Only contact and descriptive fields change this way (:data:`UPDATABLE`); identifiers and consent do not (a
re-sent export corrects an identifier; consent is withdrawn through `handover.notices.objections`).

It takes the transfer's path: the columns checked against the contract before anything is read, the file
read in chunks into a private work area (`handover.extract`), normalised and checked by the customers' suite
and the Chinese validators (`handover.verify`), protected (`handover.vault`: AES-256-GCM, blind indexes,
display masks, the analytics values). Then each row gets one disposition, in ``ops.update_rows``:

- ``quarantined`` — a row with reasons, a customer the vault does not hold (``unknown_customer``), or one the
  file changes twice in different ways (``update_conflict``, every such row): ``ops.quarantine`` (entity
  ``customer_updates``), the row sealed as the branch sent it;
- ``excluded`` — an erased customer (a tombstone names them): nothing of the row is kept;
- ``duplicate`` — the same change again in the same file;
- ``unchanged`` — the vault holds these values already: the same file applied twice changes nothing;
- ``applied`` — in its batch's transaction: the customer's current row copied into ``vault.customer_history``
  as it was (encrypted, ``valid_from`` … ``valid_to``: dbt snapshots' history), the vault row rewritten (new
  ciphertext, blind indexes, masks, content hash), its analytics row updated (tokens, generalised values;
  k-anonymity enforced again at the end), and — a changed mobile or e-mail — a confirmation to the old and
  to the new contact written to the outbox (notices of kind ``contact_change``), the common defence against
  an account taken over by changing its contact.

A run killed in the middle and run again goes on from the rows it had not decided (each batch's rows, their
changes and their confirmations commit together). ``reconcile_changes``: rows read = applied + quarantined +
excluded + unchanged + duplicate, or the run fails. The changes are applied holding the branch's lock
exclusively (`handover.store.runlock`): never beside a transfer of the branch, which writes the same rows —
the one that comes second is refused, saying which run has the branch. Nothing here logs or returns a
customer's value.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

from handover import faults
from handover.contract import Contract, EntitySpec, Source
from handover.crypto import MasterKey
from handover.errors import ReconciliationError, SourceError, StoreError
from handover.notices.outbox import CONFIRMATION  # the confirmations' kind of notice (one place)
from handover.run import run_tag
from handover.workarea import VERIFIED, ChunkRef, WorkArea, open_area, read_table, remove_area, write_private

ENTITY = "customer_updates"  # the quarantine's entity for rows of change files
# What a change file may change: contacts, the name, and descriptive fields; never a key, an identifier or
# consent.
UPDATABLE = ("name", "mobile", "landline", "email", "address", "occupation", "id_expiry")
CONFIRMED = {"mobile": "sms", "email": "email"}  # a changed contact → the channel its confirmations take
DISPOSITIONS = ("applied", "quarantined", "excluded", "unchanged", "duplicate")
BATCH = 500


@dataclass(frozen=True)
class UpdateContext:
    run_id: str
    contract_path: str
    dsn: str
    master_key: MasterKey = field(repr=False)
    work_root: str
    change_file: str
    sheet: str | None = None  # XLSX: the sheet (default: the first)
    chunk_rows: int = 10_000
    batch: int = BATCH
    actor: str = "handover"
    today: dt.date | None = None  # the day the confirmations are dated (default: today in Shanghai)

    @property
    def tag(self) -> str:
        return "upd-" + run_tag(self.run_id)

    @property
    def area(self) -> WorkArea:
        return WorkArea.of_run(self.work_root, self.tag)

    @property
    def work_dir(self) -> Path:
        return self.area.root

    @property
    def path(self) -> Path:
        return Path(self.change_file)

    def contract(self) -> Contract:
        from handover.contract import load_contract

        return load_contract(self.contract_path)


def _connect(ctx: UpdateContext, step: str):
    from handover.store.connection import connect

    return connect(ctx.dsn, f"customer_updates.{step}",
                   committed="each batch of rows decided stays decided; the rest are decided by a re-run",
                   retry="run the task again: it goes on from the rows not decided yet")


@contextmanager
def _branch_to_itself(ctx: UpdateContext, branch: str):
    """The branch's lock held exclusively while the changes are applied: not beside a transfer of the
    branch, which would write the same customers' rows (`handover.store.runlock`)."""
    from handover.store import runlock
    from handover.store.connection import open_connection, translated

    with translated("customer_updates.apply_changes: cannot take the branch's lock in the target store"):
        guard = runlock.excluding_transfers(lambda: open_connection(ctx.dsn), branch, ctx.run_id)
        guard.__enter__()
    try:
        yield
    finally:
        guard.__exit__(None, None, None)


def _sheet(path: Path, sheet: str | None) -> str | None:
    if path.suffix.lower() != ".xlsx":
        return None
    if sheet:
        return sheet
    from openpyxl import load_workbook

    workbook = load_workbook(path, read_only=True)
    try:
        return workbook.sheetnames[0]
    finally:
        workbook.close()


def change_spec(contract: Contract, path: Path, sheet: str | None = None) -> EntitySpec:
    """The customers entity as this change file has it: its key column and the columns it changes (each as
    the contract declares it, not required: an empty cell changes nothing). A header the contract's customers
    do not have, or a field a change file may not change, refuses the file, naming the header."""
    from handover.sources import clean_header
    from handover.sources import csv as csv_reader
    from handover.sources import xlsx as xlsx_reader

    customers = contract.entities["customers"]
    fmt = "xlsx" if path.suffix.lower() == ".xlsx" else "csv"
    if fmt == "csv" and path.suffix.lower() not in (".csv", ".txt"):
        raise SourceError(path, "a change file is a CSV (.csv) or an XLSX (.xlsx) file",
                          hint="export the changes as CSV or XLSX")
    source = Source(file=path.name, format=fmt, encoding=customers.source.encoding if fmt == "csv" else "auto",
                    sheet=_sheet(path, sheet), delimiter=customers.source.delimiter if fmt == "csv" else ",")
    probe = replace(customers, source=source)
    reader = xlsx_reader if fmt == "xlsx" else csv_reader
    _, headers, line = reader.find_header(probe, path)
    by_header = {c.header: c for c in customers.columns}
    key = next(c for c in customers.columns if c.key)
    problems, columns = [], []
    for header in (clean_header(h) for h in headers):
        if not header:
            continue
        col = by_header.get(header)
        if col is None:
            problems.append(f"column {header} is not a column of the contract's customers")
        elif col.key:
            columns.append(replace(col, required=True))
        elif col.is_extra or col.time_of or col.name not in UPDATABLE:
            problems.append(f"column {header} ({col.name}) cannot be changed by a change file")
        else:
            columns.append(replace(col, required=False))
    if key.header not in {c.header for c in columns}:
        problems.append(f"the key column {key.header} is missing: every change names its customer")
    if not problems and len(columns) < 2:
        problems.append("no column to change")
    if problems:
        raise SourceError(path, "; ".join(problems), line=line,
                          hint=f"a change file has the key column {key.header} and columns of fields that may change "
                               f"({', '.join(by_header_of(customers, UPDATABLE))}), with the contract's headers")
    return EntitySpec("customers", source, tuple(columns))


def by_header_of(spec: EntitySpec, names: tuple[str, ...]) -> list[str]:
    return [c.header for c in spec.columns if not c.is_extra and c.name in names]


def _spec(ctx: UpdateContext) -> EntitySpec:
    """The change file's spec, as `check_changes` found it (its sheet and columns, from the work area)."""
    said = json.loads(ctx.area.change.read_text())
    spec = change_spec(ctx.contract(), ctx.path, said["sheet"])
    if [c.header for c in spec.columns] != said["headers"]:
        raise SourceError(ctx.path, "the change file's columns changed during the run", hint="run it again")
    return spec


def changed_fields(spec: EntitySpec) -> list[str]:
    return [c.name for c in spec.columns if not c.key]


# --------------------------------------------------------------------------------------------------
# The steps
# --------------------------------------------------------------------------------------------------

def open_work_area(ctx: UpdateContext) -> str:
    return open_area(ctx.work_dir).as_posix()


def check_changes(ctx: UpdateContext) -> dict:
    """The change file's columns against the contract, before anything is read; the run on record."""
    from handover.sources import inspect_source
    from handover.store import ops, schema

    open_area(ctx.work_dir)
    contract = ctx.contract()
    spec = change_spec(contract, ctx.path, ctx.sheet)
    info = inspect_source(spec, ctx.path.parent)
    fields = changed_fields(spec)
    write_private(ctx.area.change, json.dumps(
        {"sheet": spec.source.sheet, "headers": [c.header for c in spec.columns], "sha256": info.sha256}).encode())
    with _connect(ctx, "check_changes") as conn:
        schema.ensure_schema(conn)
        with conn.cursor() as cur:
            cur.execute("INSERT INTO ops.update_runs (run_id, branch_id, file, sha256, contract_sha256, fields) "
                        "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (run_id) DO NOTHING",
                        (ctx.run_id, contract.branch_id, info.file, info.sha256, contract.sha256, fields))
        conn.commit()
        ops.audit(conn, "customer_updates.started", run_id=ctx.run_id, branch_id=contract.branch_id,
                  actor=ctx.actor, file=info.file, sha256=info.sha256, fields=fields)
    return {"branch_id": contract.branch_id, "file": info.file, "sha256": info.sha256, "fields": fields}


def extract_changes(ctx: UpdateContext) -> list[dict]:
    from handover.extract import extract_entity

    return [ref.as_dict() for ref in extract_entity(_spec(ctx), ctx.path.parent, ctx.area, ctx.chunk_rows)]


def verify_changes(ctx: UpdateContext, ref: dict) -> dict:
    """One chunk normalised and checked as the transfer checks customers (counts only returned)."""
    from handover.verify import verify_chunk

    result = verify_chunk(_spec(ctx), ChunkRef.of(ref), ctx.area)
    result.pop("validation", None)
    return result


def _plan(spec: EntitySpec, area: WorkArea) -> dict[int, str]:
    """Across the whole file: lines whose customer the file changes in two different ways (``conflict``:
    which change is meant cannot be told) and lines repeating an earlier line's change (``duplicate``)."""
    names = [c.name for c in spec.columns]
    seen: dict[str, dict[tuple, int]] = {}
    for chunk in area.chunks(VERIFIED, "customers"):
        table = read_table(area.verified(chunk), [*names, "_line", "_reasons"])
        rows = zip(*(table.column(n).to_pylist() for n in names), table.column("_line").to_pylist(),
                   table.column("_reasons").to_pylist(), strict=True)
        key_at = names.index(next(c.name for c in spec.columns if c.key))
        for *values, line, reasons in rows:
            if reasons or values[key_at] is None:
                continue
            seen.setdefault(values[key_at], {}).setdefault(tuple(values), line)
    plan: dict[int, str] = {}
    for chunk in area.chunks(VERIFIED, "customers"):
        table = read_table(area.verified(chunk), [*names, "_line", "_reasons"])
        key_at = names.index(next(c.name for c in spec.columns if c.key))
        rows = zip(*(table.column(n).to_pylist() for n in names), table.column("_line").to_pylist(),
                   table.column("_reasons").to_pylist(), strict=True)
        for *values, line, reasons in rows:
            if reasons or values[key_at] is None:
                continue
            versions = seen[values[key_at]]
            if len(versions) > 1:
                plan[line] = "conflict"
            elif versions[tuple(values)] != line:
                plan[line] = "duplicate"
    return plan


def _updatable_fields() -> dict[str, object]:
    from handover.canonical import CUSTOMERS

    return {f.name: f for f in CUSTOMERS.fields if f.name in UPDATABLE}


def apply_changes(ctx: UpdateContext) -> dict:
    """Every row of the file decided (see the module); the changes, their history and their confirmations in
    one transaction per batch. Rows this run decided before (a killed run, run again) are not decided again.
    Returns counts."""
    from handover import analytics, anonymity
    from handover.purge import erasure
    from handover.store.keys import Keyring
    from handover.vault import protect_chunk

    contract = ctx.contract()
    spec = _spec(ctx)
    branch = contract.branch_id
    plan = _plan(spec, ctx.area)
    model = _updatable_fields()
    fields = changed_fields(spec)
    key_name = next(c.name for c in spec.columns if c.key)
    counts: Counter = Counter()
    with _branch_to_itself(ctx, branch), _connect(ctx, "apply_changes") as conn:
        keys = Keyring(conn, ctx.master_key, branch)
        with conn.cursor() as cur:
            cur.execute("SELECT source_line FROM ops.update_rows WHERE run_id = %s", (ctx.run_id,))
            decided = {r[0] for r in cur.fetchall()}
            cur.execute("SELECT digest FROM control.tombstones WHERE kind = 'customer_id'")
            tombstones = {bytes(r[0]) for r in cur.fetchall()}
        conn.commit()
        confirmations = _Confirmations(ctx, contract)

        def analytics_rows(table):
            return analytics.staged_values(analytics.analytics_chunk(
                spec, table, contract.masking, keys.pseudonym, None, branch_id=branch))

        columns = _an_columns(fields)
        for found in ctx.area.chunks(VERIFIED, "customers"):
            ref = replace(found, file=ctx.path.name)
            chunk = ref.index
            protected = read_table(protect_chunk(spec, ref, ctx.area, keys, branch, analytics_rows))
            verified = read_table(ctx.area.verified(ref), [*[c.name for c in spec.columns], "_line", "_reasons"])
            new = {n: verified.column(n).to_pylist() for n in [c.name for c in spec.columns]}
            lines = verified.column("_line").to_pylist()
            reasons = verified.column("_reasons").to_pylist()
            sealed = {name: protected.column(name).to_pylist() for name in protected.column_names
                      if name.endswith(("_enc", "_bidx", "_mask")) or name.startswith(analytics.STAGED_PREFIX)}
            change_hash = protected.column("row_hash").to_pylist()
            order = [i for i in range(len(lines)) if lines[i] not in decided]
            for start in range(0, len(order), ctx.batch):
                quarantine: dict[int, tuple[str | None, list[str]]] = {}
                with conn.cursor() as cur:
                    for i in order[start:start + ctx.batch]:
                        line, customer = lines[i], new[key_name][i]
                        if reasons[i]:
                            quarantine[line] = (customer, sorted(reasons[i]))
                            continue
                        if erasure.digest(keys.blind_index, "customer_id", customer, branch) in tombstones:
                            _decide(cur, ctx, line, branch, None, "excluded", reasons=["erased"])
                            counts["excluded"] += 1
                            continue
                        if plan.get(line) == "conflict":
                            quarantine[line] = (customer, ["update_conflict"])
                            continue
                        if plan.get(line) == "duplicate":
                            _decide(cur, ctx, line, branch, customer, "duplicate")
                            counts["duplicate"] += 1
                            continue
                        outcome = _apply_row(cur, ctx, keys, model, branch, customer, line,
                                             {f: new[f][i] for f in fields}, {k: v[i] for k, v in sealed.items()},
                                             change_hash[i], columns, confirmations)
                        if outcome == "unknown_customer":
                            quarantine[line] = (customer, ["unknown_customer"])
                            continue
                        counts[outcome] += 1
                    if quarantine:
                        _quarantine(cur, ctx, spec, keys, branch, chunk, quarantine)
                        counts["quarantined"] += len(quarantine)
                conn.commit()
                faults.point("updates.after_batch")
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM ops.update_rows WHERE run_id = %s AND disposition = 'applied'",
                        (ctx.run_id,))
            applied_ever = cur.fetchone()[0]
        if applied_ever:  # changed quasi-identifiers: the tier's k-anonymity as the contract asks, again
            report = anonymity.enforce(conn, branch, contract.min_k).as_dict()
            conn.commit()
            counts["k_anonymity_suppressed"] = int(report.get("suppressed") or 0)
    counts.update({f"confirmations_{k}": v for k, v in confirmations.counts.items()})
    return dict(sorted(counts.items()))


def _an_columns(fields: list[str]) -> dict[str, list[str]]:
    """Per changed field, the analytics columns made from it."""
    from handover.analytics import analytics_columns

    out: dict[str, list[str]] = {}
    for col in analytics_columns("customers"):
        if col.source in fields and col.how not in ("branch", "key", "reference"):
            out.setdefault(col.source, []).append(col.name)
    return out


def _decide(cur, ctx: UpdateContext, line: int, branch: str, customer: str | None, disposition: str, *,
            fields: list[str] | None = None, reasons: list[str] | None = None, version: int | None = None) -> None:
    cur.execute("INSERT INTO ops.update_rows (run_id, source_line, branch_id, customer_id, disposition, fields, "
                "reasons, version) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                (ctx.run_id, line, branch, customer, disposition, fields or [], reasons or [], version))


def _current(cur, branch: str, customer: str, model: dict) -> dict | None:
    columns = ", ".join(f"{n}_enc" if f.storage == "sealed" else f"{n}::text" for n, f in model.items())
    cur.execute(f"SELECT row_hash, {columns} FROM vault.customers WHERE branch_id = %s AND customer_id = %s "
                "FOR UPDATE", (branch, customer))
    row = cur.fetchone()
    if row is None:
        return None
    return {"row_hash": bytes(row[0])} | dict(zip(model, row[1:], strict=True))


def _apply_row(cur, ctx: UpdateContext, keys, model: dict, branch: str, customer: str, line: int, new: dict,
               sealed: dict, change_hash: bytes, an_columns: dict, confirmations: _Confirmations) -> str:
    """One clean change row against the customer's current record: ``unknown_customer``, ``unchanged`` or
    ``applied`` (history, vault, analytics and confirmations, in the caller's transaction)."""
    from handover.store.schema import history_columns

    current = _current(cur, branch, customer, model)
    if current is None:
        return "unknown_customer"
    changed = []
    for name, value in new.items():
        if value is None:
            continue
        f = model[name]
        held = current[name]
        if f.storage == "sealed":
            held = None if held is None else keys.cipher.decrypt(bytes(held), f"vault.customers.{name}")
        if held != value:
            changed.append(name)
    if not changed:
        _decide(cur, ctx, line, branch, customer, "unchanged")
        return "unchanged"
    cur.execute("SELECT clock_timestamp()")
    now = cur.fetchone()[0]
    copied = [n for n, _ in history_columns() if n not in ("version", "valid_from", "valid_to", "changed_by_run")]
    cur.execute(f"INSERT INTO vault.customer_history ({', '.join(copied)}, version, valid_from, valid_to, "
                f"changed_by_run) SELECT {', '.join('c.' + n for n in copied)}, coalesce((SELECT max(version) FROM "
                "vault.customer_history h WHERE h.branch_id = c.branch_id AND h.customer_id = c.customer_id), 0) + 1, "
                "least(c.loaded_at, %(now)s), %(now)s, %(run)s FROM vault.customers c "
                "WHERE c.branch_id = %(b)s AND c.customer_id = %(c)s RETURNING version",
                {"now": now, "run": ctx.run_id, "b": branch, "c": customer})
    version = cur.fetchone()[0]
    sets, values = [], []
    for name in changed:
        if model[name].storage == "sealed":
            for suffix in ("_enc", "_bidx", "_mask"):
                if f"{name}{suffix}" in sealed:
                    sets.append(f"{name}{suffix} = %s")
                    values.append(sealed[f"{name}{suffix}"])
        else:
            sets.append(f"{name} = %s")
            values.append(new[name])
    new_hash = keys.content.digest("row:customers:updated", current["row_hash"].hex() + bytes(change_hash).hex())
    cur.execute(f"UPDATE vault.customers SET {', '.join(sets)}, row_hash = %s, loaded_run_id = %s, loaded_at = %s "
                "WHERE branch_id = %s AND customer_id = %s", (*values, new_hash, ctx.run_id, now, branch, customer))
    an_sets = [(col, sealed["an_" + col]) for name in changed for col in an_columns.get(name, [])]
    cur.execute(f"UPDATE analytics.customers SET {''.join(f'{c} = %s, ' for c, _ in an_sets)}row_hash = %s, "
                "loaded_run_id = %s, loaded_at = now() WHERE branch_id = %s AND row_hash = %s",
                (*[v for _, v in an_sets], new_hash, ctx.run_id, branch, current["row_hash"]))
    for name in changed:
        if name in CONFIRMED:
            confirmations.queue(cur, branch, customer, line, name, had_old=current[name] is not None, version=version)
    _decide(cur, ctx, line, branch, customer, "applied", fields=changed, version=version)
    return "applied"


class _Confirmations:
    """The confirmations of changed contacts: one notice run of kind ``contact_change`` per update run (made
    at the first one), and per changed mobile or e-mail a notice and its outbox message to the old contact
    (the history's version) and to the new one — in the transaction of the change."""

    def __init__(self, ctx: UpdateContext, contract: Contract) -> None:
        self.ctx, self.contract = ctx, contract
        self.counts: Counter = Counter()
        self._run: int | None = None

    def _notice_run(self, cur) -> int:
        if self._run is None:
            cur.execute("SELECT notice_run FROM ops.update_runs WHERE run_id = %s", (self.ctx.run_id,))
            found = cur.fetchone()
            self._run = found[0] if found else None
        if self._run is None:
            from handover.purge.rules import today_in_shanghai

            day = self.ctx.today or today_in_shanghai()
            cur.execute("INSERT INTO control.notice_runs (branch_id, kind, contract_sha256, prepared_on, deadline, "
                        "channels, requested_by) VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id",
                        (self.contract.branch_id, CONFIRMATION, self.contract.sha256, day, day,
                         sorted(set(CONFIRMED.values())), self.ctx.actor))
            self._run = cur.fetchone()[0]
            cur.execute("UPDATE ops.update_runs SET notice_run = %s WHERE run_id = %s", (self._run, self.ctx.run_id))
        return self._run

    def queue(self, cur, branch: str, customer: str, line: int, name: str, *, had_old: bool, version: int) -> None:
        from handover.notices.outbox import idempotency_key

        if self.contract.notice is None:  # no receiving party's contacts to give: nothing can be said
            self.counts["not_possible_no_notice_section"] += 1
            return
        channel = CONFIRMED[name]
        run = self._notice_run(cur)
        for role, contact_version in (("old", version), ("new", None)):
            if role == "old" and not had_old:
                continue
            cur.execute("INSERT INTO control.notices (run_id, branch_id, customer_id, kind, channel, reasons) "
                        "VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
                        (run, branch, customer, CONFIRMATION, channel, [f"{name}_changed_{role}_contact"]))
            notice = cur.fetchone()[0]
            key = idempotency_key(branch, customer, f"{CONFIRMATION}:{self.ctx.run_id}:{line}:{role}", channel)
            cur.execute("INSERT INTO control.outbox (notice_id, idempotency_key, branch_id, customer_id, channel, "
                        "contact_version) VALUES (%s, %s, %s, %s, %s, %s)",
                        (notice, key, branch, customer, channel, contact_version))
            self.counts[f"{channel}_{role}"] += 1


def _quarantine(cur, ctx: UpdateContext, spec: EntitySpec, keys, branch: str, chunk: int,
                rows: dict[int, tuple[str | None, list[str]]]) -> None:
    """Rows to ``ops.quarantine`` (entity ``customer_updates``), sealed as the branch sent them."""
    from handover.vault import seal_payloads

    for line, payload, payload_hash in seal_payloads(spec, ctx.area, {chunk: sorted(rows)}, keys):
        customer, why = rows[line]
        cur.execute("""
            INSERT INTO ops.quarantine (branch_id, entity, source_file, source_line, record_key, reasons,
                                        payload_enc, payload_hash, key_id, first_run_id, last_run_id)
            VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
            ON CONFLICT (branch_id, entity, source_file, source_line) DO UPDATE SET
                record_key = EXCLUDED.record_key, reasons = EXCLUDED.reasons, payload_enc = EXCLUDED.payload_enc,
                payload_hash = EXCLUDED.payload_hash, key_id = EXCLUDED.key_id, last_run_id = EXCLUDED.last_run_id,
                quarantined_at = now(), resolved_run_id = NULL, resolved_at = NULL
            WHERE ops.quarantine.payload_hash IS DISTINCT FROM EXCLUDED.payload_hash
               OR ops.quarantine.reasons IS DISTINCT FROM EXCLUDED.reasons
        """, (branch, ENTITY, ctx.path.name, line, customer, why, payload, payload_hash, keys.cipher.key_id,
              ctx.run_id, ctx.run_id))
        _decide(cur, ctx, line, branch, customer, "quarantined", reasons=why)


def reconcile_changes(ctx: UpdateContext) -> dict:
    """Rows read = applied + quarantined + excluded + unchanged + duplicate, or the run fails; the run's
    counts recorded and audited."""
    from handover.extract import extract_report
    from handover.store import ops

    contract = ctx.contract()
    rows = extract_report(ctx.area, "customers")["rows"]
    with _connect(ctx, "reconcile_changes") as conn:
        with conn.cursor() as cur:
            cur.execute("SELECT disposition, count(*) FROM ops.update_rows WHERE run_id = %s GROUP BY 1", (ctx.run_id,))
            by = dict(cur.fetchall())
            cur.execute("SELECT r, count(*) FROM ops.update_rows, unnest(reasons) r WHERE run_id = %s GROUP BY 1 "
                        "ORDER BY 1", (ctx.run_id,))
            reasons = dict(cur.fetchall())
            cur.execute("SELECT f, count(*) FROM ops.update_rows, unnest(fields) f WHERE run_id = %s GROUP BY 1 "
                        "ORDER BY 1", (ctx.run_id,))
            fields = dict(cur.fetchall())
            cur.execute("SELECT n.status, count(*) FROM control.notices n JOIN ops.update_runs u "
                        "ON u.notice_run = n.run_id WHERE u.run_id = %s GROUP BY 1", (ctx.run_id,))
            confirmations = dict(cur.fetchall())
        conn.commit()
        counts = {"rows": rows} | {d: by.get(d, 0) for d in DISPOSITIONS} | {
            "reasons": reasons, "fields_changed": fields, "confirmations": confirmations}
        accounted = sum(by.values())
        if accounted != rows:
            ops.audit(conn, "customer_updates.reconciliation_failed", run_id=ctx.run_id, branch_id=contract.branch_id,
                      actor=ctx.actor, counts=counts)
            raise ReconciliationError(
                f"change file {ctx.path.name}: {rows} rows read but {accounted} decided "
                f"({', '.join(f'{d} {by.get(d, 0)}' for d in DISPOSITIONS)}) — run apply_changes again: it decides "
                "the rows not decided yet")
        with conn.cursor() as cur:
            cur.execute("UPDATE ops.update_runs SET status = 'success', finished_at = clock_timestamp(), counts = %s "
                        "WHERE run_id = %s", (json.dumps(counts), ctx.run_id))
        conn.commit()
        ops.audit(conn, "customer_updates.reconciled", run_id=ctx.run_id, branch_id=contract.branch_id,
                  actor=ctx.actor, counts=counts)
    return counts


def close_work_area(ctx: UpdateContext) -> dict:
    """Teardown: the plaintext work area removed, whatever happened."""
    return {"work_area_removed": remove_area(ctx.work_dir)}


def mark_failed(ctx: UpdateContext) -> None:
    with _connect(ctx, "mark_failed") as conn, conn.cursor() as cur:
        cur.execute("UPDATE ops.update_runs SET status = 'failed', finished_at = clock_timestamp() "
                    "WHERE run_id = %s AND status = 'running'", (ctx.run_id,))
        conn.commit()


def run_all(ctx: UpdateContext) -> dict:
    """Every step in order, in this process (the DAG's tasks, without Airflow); the work area removed at
    the end whatever happens. The confirmations wait in the outbox for the deliverer."""
    try:
        check_changes(ctx)
        for ref in extract_changes(ctx):
            verify_changes(ctx, ref)
        applied = apply_changes(ctx)
        return reconcile_changes(ctx) | {"applied_now": applied}
    except Exception:
        try:
            mark_failed(ctx)
        except StoreError:
            pass  # the store may be what failed; the first error is the one to see
        raise
    finally:
        close_work_area(ctx)


def report(conn, branch_id: str | None = None) -> dict:
    """Counts for the Handover page: update runs by status, rows by disposition, customers with history."""
    with conn.cursor() as cur:
        cur.execute("SELECT to_regclass('ops.update_runs') IS NOT NULL")
        if not cur.fetchone()[0]:
            return {}
        where = "WHERE branch_id = %s" if branch_id else ""
        args = (branch_id,) if branch_id else ()
        cur.execute(f"SELECT status, count(*) FROM ops.update_runs {where} GROUP BY 1 ORDER BY 1", args)
        runs = dict(cur.fetchall())
        cur.execute(f"SELECT disposition, count(*) FROM ops.update_rows {where} GROUP BY 1 ORDER BY 1", args)
        rows = dict(cur.fetchall())
        cur.execute(f"SELECT count(DISTINCT (branch_id, customer_id)), count(*) FROM vault.customer_history {where}",
                    args)
        customers, versions = cur.fetchone()
        cur.execute(f"SELECT status, count(*) FROM control.notices {where + (' AND' if where else 'WHERE')} "
                    "kind = %s GROUP BY 1 ORDER BY 1", (*args, CONFIRMATION))
        confirmations = dict(cur.fetchall())
    return {"runs": runs, "rows": rows, "customers_with_history": customers, "earlier_versions": versions,
            "confirmations": confirmations}
