"""Staging: a run's protected rows in PostgreSQL, where checks across the whole dataset are made.

Each chunk is COPYed into an unlogged table of the run (``staging.<entity>_<run tag>``) inside one
transaction that first deletes that chunk's rows, so a retried or killed chunk leaves no duplicates.
`settle` then gives every staged row exactly one disposition — ``loaded``, ``quarantined``, ``excluded``
or ``duplicate`` — with its final reason codes, entity by entity, parents first. It writes down only the
exceptions, in ``staging.outcome_<entity>_<run tag>``: a staged row without an outcome row is loaded
(`settled` gives every row with its disposition). The rules, in order:

1. exact duplicates (same key, same content hash) collapse to the first row (by source line);
2. rows left with one key but different content conflict (``conflicting_duplicate``);
3. customers an erasure's tombstone names are excluded (``erased``: they never come back, whatever a
   branch sends again); customers without consent to the transfer are excluded (``no_consent``);
4. children follow their parent: an excluded parent excludes them (``parent_excluded``), a quarantined
   one holds them (``parent_quarantined``), a missing one makes them orphans (``orphan_reference``);
5. a row with any reason is quarantined; the rest are loaded.

Staging holds ciphertext, blind indexes and keyed hashes only — never a plaintext customer value.
"""

from __future__ import annotations

import functools
import io

from psycopg2 import sql

from handover import canonical, faults
from handover.contract import Contract
from handover.store.tables import collation, vault_columns
from handover.workarea import ChunkRef, WorkArea, read_table

EXTRA_COLUMNS = [("key_id", "text"), ("row_hash", "bytea"), ("source_file", "text"), ("source_line", "integer"),
                 ("_reasons", "text[]"), ("_chunk", "integer")]


def table_name(entity: str, tag: str) -> sql.Identifier:
    return sql.Identifier("staging", f"{entity}_{tag}")


def staged_columns(entity: canonical.Entity) -> list[tuple[str, str]]:
    """A staged row: its vault columns, its analytics values (``an_…``) and the bookkeeping."""
    from handover import analytics  # it brings Presidio: only the steps that stage import it

    return vault_columns(entity) + analytics.staged_columns(entity) + EXTRA_COLUMNS


def create_tables(conn, contract: Contract, tag: str) -> None:
    with conn.cursor() as cur:
        for name in contract.entities:
            model = canonical.entity(name)
            cols = [sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(t + collation(model, c)))
                    for c, t in staged_columns(model)]
            cur.execute(sql.SQL("CREATE UNLOGGED TABLE IF NOT EXISTS {} ({})").format(
                table_name(name, tag), sql.SQL(", ").join(cols)))
        cur.execute(sql.SQL("CREATE UNLOGGED TABLE IF NOT EXISTS {} (entity text, source_line integer, "
                            "payload bytea, payload_hash bytea, PRIMARY KEY (entity, source_line))")
                    .format(payload_table(tag)))
    conn.commit()


def payload_table(tag: str) -> sql.Identifier:
    """Sealed payloads of the run's quarantined rows (made only for them, after `settle`)."""
    return sql.Identifier("staging", f"payloads_{tag}")


def quarantined_lines(conn, entity: str, tag: str) -> dict[int, list[int]]:
    with conn.cursor() as cur:
        cur.execute(sql.SQL("SELECT _chunk, source_line FROM {} WHERE _disposition = 'quarantined'")
                    .format(outcome_table(entity, tag)))
        out: dict[int, list[int]] = {}
        for chunk, line in cur.fetchall():
            out.setdefault(chunk, []).append(line)
    return out


def stage_payloads(conn, entity: str, tag: str, payloads: list[tuple]) -> None:
    with conn.cursor() as cur:
        cur.execute(sql.SQL("DELETE FROM {} WHERE entity = %s").format(payload_table(tag)), (entity,))
        buf = io.StringIO()
        for line, sealed, digest in payloads:
            buf.write(f"{entity}\t{line}\t\\\\x{sealed.hex()}\t\\\\x{digest.hex()}\n")
        buf.seek(0)
        cur.copy_expert(sql.SQL("COPY {} (entity, source_line, payload, payload_hash) FROM STDIN")
                        .format(payload_table(tag)).as_string(conn), buf)
    conn.commit()


def drop_tables(conn, tag: str) -> int:
    with conn.cursor() as cur:
        cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'staging' AND right(tablename, %s) = %s",
                    (len(tag) + 1, f"_{tag}"))
        names = [r[0] for r in cur.fetchall()]
        for name in names:
            cur.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier("staging", name)))
    conn.commit()
    return len(names)


def bytea_text(arr):
    """A binary Arrow column as bytea input text (``\\x`` + hex), a column at a time: the bytes are
    turned into hex digits through a lookup table over the whole buffer, then prefixed."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr
    arr = arr.cast(pa.large_binary())
    _, offsets_buf, data_buf = arr.buffers()
    offsets = np.frombuffer(offsets_buf, dtype=np.int64, count=len(arr) + 1, offset=arr.offset * 8)
    data = np.frombuffer(data_buf, dtype=np.uint8)[offsets[0]:offsets[-1]] if data_buf else np.empty(0, np.uint8)
    validity = arr.is_valid().buffers()[1] if arr.null_count else None
    hexed = pa.LargeStringArray.from_buffers(len(arr), pa.py_buffer((offsets - offsets[0]) * 2),
                                             pa.py_buffer(_hex_digits()[data]), validity, arr.null_count)
    return pc.binary_join_element_wise(pa.scalar("\\x", pa.large_string()), hexed,
                                       pa.scalar("", pa.large_string()))


@functools.cache
def _hex_digits():  # built on first use: numpy is not imported when a DAG file is parsed
    import numpy as np

    return np.array([f"{i:02x}".encode() for i in range(256)], dtype="S2").view(np.uint16)


def array_text(arr):
    """A list-of-strings Arrow column as PostgreSQL array input (``{a,b}``); the items are reason codes,
    which never need quoting."""
    import pyarrow.compute as pc

    return pc.binary_join_element_wise("{", pc.binary_join(arr, ","), "}", "")


def copy_csv(table) -> io.BytesIO:
    """An Arrow table as COPY … (FORMAT csv) input: every string quoted, so an empty string stays empty and
    nothing a branch wrote (\\N, tabs, newlines, quotes) can pose as NULL; NULL is unquoted-empty."""
    import pyarrow.csv as pacsv

    raw = io.BytesIO()
    pacsv.write_csv(table, raw, pacsv.WriteOptions(include_header=False, quoting_style="needed"))
    raw.seek(0)
    return raw


def stage_chunk(conn, tag: str, area: WorkArea, ref: ChunkRef) -> int:
    """COPY one protected chunk (CSV written by Arrow: strings quoted, NULL unquoted-empty)."""
    import pyarrow as pa

    entity = ref.entity
    model = canonical.entity(entity)
    columns = staged_columns(model)
    table = read_table(area.protected(ref))
    arrays = []
    for name, sqltype in columns:
        col = table.column(name)
        if sqltype == "bytea":
            col = bytea_text(col)
        elif sqltype == "text[]":
            col = array_text(col)
        arrays.append(col)
    raw = copy_csv(pa.table(arrays, names=[c for c, _ in columns]))
    size = len(raw.getbuffer())
    target = table_name(entity, tag)
    with conn.cursor() as cur:
        cur.execute(sql.SQL("DELETE FROM {} WHERE _chunk = %s").format(target), (ref.index,))
        cur.copy_expert(sql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT csv)").format(
            target, sql.SQL(", ").join(sql.Identifier(c) for c, _ in columns)).as_string(conn),
            faults.wrap(raw, size, "stage.during_copy"))
    conn.commit()
    return table.num_rows


# Memory for the sorts and hashes of `settle` and the merge: the window over a million keys and the
# joins to parents stay in memory instead of spilling to disk (a session setting, not the server's).
WORK_MEM = "256MB"


def outcome_table(entity: str, tag: str) -> sql.Identifier:
    """The rows `settle` did not load: (source_line, _chunk, k, _disposition, _final)."""
    return sql.Identifier("staging", f"outcome_{entity}_{tag}")


def settled(entity: str, tag: str) -> sql.Composable:
    """Every staged row with its ``_disposition`` and ``_final`` reasons (a subquery; use after `settle`)."""
    return sql.SQL("""(SELECT s.*, coalesce(o._disposition, 'loaded') AS _disposition,
                              coalesce(o._final, '{{}}'::text[]) AS _final
                       FROM {t} s LEFT JOIN {o} o ON o.source_line = s.source_line)""").format(
        t=table_name(entity, tag), o=outcome_table(entity, tag))


def loaded(entity: str, tag: str) -> sql.Composable:
    """The staged rows `settle` loads (a subquery)."""
    return sql.SQL("(SELECT s.* FROM {t} s WHERE NOT EXISTS (SELECT FROM {o} o WHERE o.source_line = s.source_line))"
                   ).format(t=table_name(entity, tag), o=outcome_table(entity, tag))


def exceptions(entity: str, tag: str) -> sql.Composable:
    """The staged rows `settle` did not load, with their ``_disposition`` and ``_final`` (a subquery)."""
    return sql.SQL("(SELECT s.*, o._disposition, o._final FROM {o} o JOIN {t} s ON s.source_line = o.source_line)"
                   ).format(t=table_name(entity, tag), o=outcome_table(entity, tag))


def erased_table(tag: str) -> sql.Identifier:
    return sql.Identifier("staging", f"erased_{tag}")


def mark_erased(conn, contract: Contract, tag: str, hasher) -> int:
    """The staged customers a tombstone (``control.tombstones``) names: by their mobile's or ID number's
    blind index (in SQL), or by the keyed hash of branch and customer id (computed here, only when such
    tombstones exist). Written to ``staging.erased_<tag>``; the count."""
    if "customers" not in contract.entities:
        return 0
    t = table_name("customers", tag)
    fields = {c.name for c in contract.entities["customers"].fields}
    with conn.cursor() as cur:
        cur.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(erased_table(tag)))
        cur.execute(sql.SQL("CREATE UNLOGGED TABLE {} (customer_id text PRIMARY KEY)").format(erased_table(tag)))
        cur.execute("SELECT to_regclass('control.tombstones') IS NOT NULL")
        if not cur.fetchone()[0]:
            conn.commit()
            return 0
        matches = [sql.SQL("(t.kind = {k} AND t.digest = s.{c})").format(k=sql.Literal(kind), c=sql.Identifier(column))
                   for kind, column in (("mobile", "mobile_bidx"), ("id_number", "id_number_bidx"))
                   if column.removesuffix("_bidx") in fields]
        if matches:
            cur.execute(sql.SQL("INSERT INTO {e} SELECT DISTINCT s.customer_id FROM {t} s WHERE s.customer_id IS NOT NULL "
                                "AND EXISTS (SELECT 1 FROM control.tombstones t WHERE {m}) ON CONFLICT DO NOTHING")
                        .format(e=erased_table(tag), t=t, m=sql.SQL(" OR ").join(matches)))
        cur.execute("SELECT digest FROM control.tombstones WHERE kind = 'customer_id'")
        wanted = {bytes(d) for (d,) in cur.fetchall()}
        if wanted:
            cur.execute(sql.SQL("SELECT DISTINCT customer_id FROM {} WHERE customer_id IS NOT NULL").format(t))
            ids = [r[0] for r in cur.fetchall()]
            digests = hasher.digest_many("customer_id", [f"{contract.branch_id}\x1f{i}" for i in ids])
            hits = [(i,) for i, d in zip(ids, digests, strict=True) if d in wanted]
            if hits:
                cur.executemany(sql.SQL("INSERT INTO {} VALUES (%s) ON CONFLICT DO NOTHING").format(erased_table(tag)),
                                hits)
        cur.execute(sql.SQL("SELECT count(*) FROM {}").format(erased_table(tag)))
        count = cur.fetchone()[0]
    conn.commit()
    return count


def settle(conn, contract: Contract, tag: str) -> None:
    """Give every staged row its disposition and final reasons (one transaction, re-runnable).

    One query per entity reads its staged rows once — a window over key and content hash, hash joins to
    the parents' outcomes — and writes down the rows that are not loaded (few, normally). Call
    :func:`mark_erased` first. Transactions that belong to a card get their account (and its customer)
    first (`resolve_cards`).
    """
    with conn.cursor() as cur:
        cur.execute(sql.SQL("SET LOCAL work_mem = {}").format(sql.Literal(WORK_MEM)))
        for name in contract.entities:
            if name == "transactions" and contract.entities[name].belongs_to == "card":
                resolve_cards(cur, contract, tag)
            _settle_entity(cur, contract, canonical.entity(name), tag)
    conn.commit()


def resolve_cards(cur, contract: Contract, tag: str) -> None:
    """A transaction that names only a card belongs to the account that card is on: the staged accounts
    of this run (any version but an exact duplicate) and the branch's accounts already in the vault,
    matched by the card's blind index. The account's customer fills a transaction that names none, and the
    analytics tokens follow (copied from the account's staged or loaded analytics row, never recomputed
    here: the pseudonym key stays out of SQL). A card on several accounts resolves to none
    (``ambiguous_card``); a card on none leaves the account empty (``unknown_card``, see `_settle_entity`)."""
    t = table_name("transactions", tag)
    parts = []
    for entity in ("accounts", "cards"):  # an account's own card column, and a card file
        spec = contract.entities.get(entity)
        if spec is not None and spec.column_for("card_number") and spec.column_for("account_id"):
            parts.append(sql.SQL("""
                SELECT card_number_bidx AS card, account_id, customer_id, an_account_token, an_customer_token
                FROM {a} x WHERE _disposition <> 'duplicate' AND card_number_bidx IS NOT NULL
                  AND account_id IS NOT NULL""").format(a=settled(entity, tag)))
        parts.append(sql.SQL("""
            SELECT v.card_number_bidx AS card, v.account_id, v.customer_id, x.account_token AS an_account_token,
                   x.customer_token AS an_customer_token
            FROM vault.{e} v JOIN analytics.{e} x ON x.branch_id = v.branch_id AND x.row_hash = v.row_hash
            WHERE v.branch_id = {b} AND v.card_number_bidx IS NOT NULL AND v.account_id IS NOT NULL""").format(
            e=sql.Identifier(entity), b=sql.Literal(contract.branch_id)))
    accounts = sql.SQL(" UNION ").join(parts)
    # Statistics first: an unanalysed staging table looks empty to the planner, which then joins 150,000
    # transactions to the cards by nested loop (six minutes at 20,000 customers instead of a second).
    cur.execute(sql.SQL("ANALYZE {} (card_number_bidx, account_id)").format(t))
    for entity in ("accounts", "cards"):
        if entity in contract.entities:
            cur.execute(sql.SQL("ANALYZE {}").format(table_name(entity, tag)))
    cur.execute(sql.SQL("""
        UPDATE {t} s SET account_id = r.account_id, an_account_token = r.an_account_token,
                         customer_id = coalesce(s.customer_id, r.customer_id),
                         an_customer_token = coalesce(s.an_customer_token, r.an_customer_token)
        FROM (SELECT card, min(account_id) AS account_id, min(customer_id) AS customer_id,
                     min(an_account_token) AS an_account_token, min(an_customer_token) AS an_customer_token
              FROM ({accounts}) a GROUP BY card HAVING count(DISTINCT account_id) = 1) r
        WHERE r.card = s.card_number_bidx AND s.account_id IS NULL""").format(t=t, accounts=accounts))
    cur.execute(sql.SQL("""
        UPDATE {t} s SET _reasons = s._reasons || ARRAY['ambiguous_card']
        FROM (SELECT card FROM ({accounts}) a GROUP BY card HAVING count(DISTINCT account_id) > 1) r
        WHERE r.card = s.card_number_bidx AND s.account_id IS NULL
          AND NOT 'ambiguous_card' = ANY(s._reasons)""").format(t=t, accounts=accounts))


def _settle_entity(cur, contract: Contract, model: canonical.Entity, tag: str) -> None:
    t = table_name(model.name, tag)
    spec = contract.entities[model.name]
    fields = {c.name for c in spec.fields}
    by_card = spec.belongs_to == "card"
    if by_card:
        fields |= {"account_id", "customer_id"}  # resolved from the card (`resolve_cards`)
    key = sql.Identifier(model.key)
    joins, parents = [], []  # LEFT JOINs to the parents' outcomes, and (alias, field) per parent
    for i, parent_field in enumerate(f for f in model.parents if f in fields):
        alias = sql.Identifier(f"p{i}")
        parent_entity, parent_key = model.field(parent_field).references.split(".")
        joins.append(sql.SQL("LEFT JOIN ({status}) {a} ON {a}.k = s.{pf}").format(
            status=_parent_status(contract, parent_entity, parent_key, tag), a=alias,
            pf=sql.Identifier(parent_field)))
        parents.append((alias, sql.Identifier(parent_field)))
    mismatch = sql.SQL("false")
    if model.name in ("transactions", "cards") and {"customer_id", "account_id"} <= fields \
            and "accounts" in contract.entities:
        # The account's customer (every staged, non-duplicate version of the account) must be the row's.
        joins.append(sql.SQL("""LEFT JOIN (SELECT account_id AS k, min(customer_id) AS lo, max(customer_id) AS hi,
                                          bool_or(customer_id IS NULL) AS has_null
                                   FROM {acc} a WHERE _disposition <> 'duplicate' GROUP BY account_id) am
                                ON am.k = s.account_id""").format(acc=settled("accounts", tag)))
        mismatch = sql.SQL("(s.customer_id IS NOT NULL AND am.k IS NOT NULL "
                           "AND (am.has_null OR am.lo <> s.customer_id OR am.hi <> s.customer_id))")
    consent = sql.SQL("s.consent_transfer = false") if model.name == "customers" and "consent_transfer" in fields \
        else sql.SQL("false")
    erased = sql.SQL("false")
    if model.name == "customers":
        cur.execute("SELECT to_regclass(%s) IS NOT NULL", (f"staging.erased_{tag}",))
        if cur.fetchone()[0]:
            erased = sql.SQL("s.{k} IN (SELECT customer_id FROM {e})").format(k=key, e=erased_table(tag))
    parent_excluded = sql.SQL(" OR ").join(
        [sql.SQL("({a}.status = 'excluded')").format(a=a) for a, _ in parents] or [sql.SQL("false")])
    # What a row collects, in the order the rules are applied: its own reasons, a conflict, then each
    # parent's outcome, then a mismatch with the account's customer.
    collected = [sql.SQL("s._reasons"),
                 sql.SQL("CASE WHEN s._conflict THEN ARRAY['conflicting_duplicate'] END")]
    for a, pf in parents:
        collected.append(sql.SQL("""CASE WHEN s.{pf} IS NULL THEN NULL
                                         WHEN {a}.status = 'quarantined' THEN ARRAY['parent_quarantined']
                                         WHEN {a}.status IS NULL THEN ARRAY['orphan_reference'] END""")
                         .format(a=a, pf=pf))
    collected.append(sql.SQL("CASE WHEN {m} THEN ARRAY['parent_mismatch'] END").format(m=mismatch))
    if by_card:  # a card that is on no account this branch has
        collected.append(sql.SQL("CASE WHEN s.card_number_bidx IS NOT NULL AND s.account_id IS NULL "
                                 "AND NOT 'ambiguous_card' = ANY(s._reasons) THEN ARRAY['unknown_card'] END"))
    reasons = sql.SQL(" || ").join(sql.SQL("coalesce({}, '{{}}'::text[])").format(c) for c in collected)
    needed = {model.key, "source_line", "_chunk", "_reasons", "row_hash", *(f for f in model.parents if f in fields)}
    if model.name == "customers" and "consent_transfer" in fields:
        needed.add("consent_transfer")
    if model.name in ("transactions", "cards"):
        needed |= {"customer_id", "account_id"} & fields
        if by_card:
            needed.add("card_number_bidx")
    out = outcome_table(model.name, tag)
    # Statistics of the columns later joins use, so the planner sees a big table (a sample, not a scan).
    cur.execute(sql.SQL("ANALYZE {} (source_line, {})").format(t, key))
    cur.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(out))
    cur.execute(sql.SQL("""
        CREATE UNLOGGED TABLE {out} AS
        WITH s AS (
            SELECT {needed},
                   {key} IS NOT NULL AND row_number() OVER (PARTITION BY {key}, row_hash ORDER BY source_line) > 1
                       AS _duplicate,
                   {key} IS NOT NULL AND first_value(row_hash) OVER k <> last_value(row_hash) OVER k AS _conflict
            FROM {t}
            -- one sort by (key, hash, line) serves both windows: a key with two hashes is a conflict
            WINDOW k AS (PARTITION BY {key} ORDER BY row_hash
                         ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING))
        SELECT s.source_line, s._chunk, s.{key} AS k, d._disposition, d._final
        FROM s {joins},
        LATERAL (SELECT CASE WHEN s._duplicate THEN 'duplicate'
                             WHEN {erased} OR {consent} OR {parent_excluded} THEN 'excluded'
                             WHEN cardinality(r.reasons) > 0 THEN 'quarantined'
                             ELSE 'loaded' END AS _disposition,
                        CASE WHEN s._duplicate THEN s._reasons
                             WHEN {erased} THEN ARRAY['erased']
                             WHEN {consent} THEN ARRAY['no_consent']
                             WHEN {parent_excluded} THEN ARRAY['parent_excluded']
                             ELSE r.reasons END AS _final
                 FROM (SELECT {reasons} AS reasons) r) d
        WHERE d._disposition <> 'loaded'
    """).format(out=out, needed=sql.SQL(", ").join(map(sql.Identifier, sorted(needed))), key=key, t=t,
                joins=sql.SQL(" ").join(joins), consent=consent, erased=erased, parent_excluded=parent_excluded,
                reasons=reasons))
    cur.execute(sql.SQL("CREATE UNIQUE INDEX ON {} (source_line)").format(out))
    cur.execute(sql.SQL("ANALYZE {}").format(out))


def _parent_status(contract: Contract, parent_entity: str, parent_key: str, tag: str) -> sql.Composable:
    """Per parent key: 'loaded' if any version of it is loaded (now or by an earlier run of the branch),
    else 'excluded' if any is excluded, else 'quarantined'."""
    pk = sql.Identifier(parent_key)
    vault = sql.SQL("SELECT {pk} AS k, 'loaded' AS status FROM {v} WHERE branch_id = {b}").format(
        pk=pk, v=sql.Identifier("vault", parent_entity), b=sql.Literal(contract.branch_id))
    if parent_entity not in contract.entities:
        return vault
    return sql.SQL("""
        SELECT k, CASE WHEN bool_or(status = 'loaded') THEN 'loaded'
                       WHEN bool_or(status = 'excluded') THEN 'excluded' ELSE 'quarantined' END AS status
        FROM (SELECT {pk} AS k, _disposition AS status FROM {pt} p
              WHERE _disposition <> 'duplicate' AND {pk} IS NOT NULL
              UNION ALL {vault}) p
        GROUP BY k
    """).format(pk=pk, pt=settled(parent_entity, tag), vault=vault)


# A row's keyed content hash (computed over its normalised values, its key among them) as a 64-bit number
# — what the reconciliation's summaries (count, sum, xor) add up. PostgreSQL's own hash of its text: 0.23 s
# per 500,000 rows against 0.36 s for its first 64 bits through hex and bit(64).
HASH_BITS = sql.SQL("hashtextextended(row_hash::text, 0)")


def _field_issues(cur, entity: str, tag: str) -> dict[str, int]:
    """The loaded rows' field issues by ``column:reason``."""
    cur.execute(sql.SQL("SELECT i, count(*) FROM {} s, unnest(s.field_issues) i GROUP BY 1 ORDER BY 1").format(
        loaded(entity, tag)))
    return dict(cur.fetchall())


def disposition_counts(conn, contract: Contract, tag: str) -> dict[str, dict]:
    """Per entity: the rows staged and their dispositions, the reasons, the loaded rows' field issues — and
    ``loaded_summary``, the (count, sum, xor) of the loaded rows' content hashes that the reconciliation
    compares with the target's (`handover.reconcile`). One scan of the staging table per entity (the
    staged, loaded, issue counts and the summary together; the issues' breakdown only when there are any)."""
    out: dict[str, dict] = {}
    with conn.cursor() as cur:
        for name in contract.entities:
            cur.execute("SELECT to_regclass(%s) IS NOT NULL", (f"staging.outcome_{name}_{tag}",))
            settled_ = cur.fetchone()[0]
            counts, reasons, issues, with_issues, summary = {}, {}, {}, 0, None
            if not settled_:
                cur.execute(sql.SQL("SELECT count(*) FROM {}").format(table_name(name, tag)))
                staged = cur.fetchone()[0]
                counts["unsettled"] = staged
            else:
                o = outcome_table(name, tag)
                cur.execute(sql.SQL("""
                    SELECT count(*), count(*) FILTER (WHERE o.source_line IS NULL),
                           count(*) FILTER (WHERE o.source_line IS NULL AND cardinality(s.field_issues) > 0),
                           coalesce(sum({h}) FILTER (WHERE o.source_line IS NULL), 0),
                           coalesce(bit_xor({h}) FILTER (WHERE o.source_line IS NULL), 0)
                    FROM {t} s LEFT JOIN {o} o ON o.source_line = s.source_line
                """).format(h=HASH_BITS, t=table_name(name, tag), o=o))
                staged, loaded_rows, with_issues, total, xor = cur.fetchone()
                summary = (int(loaded_rows), int(total), int(xor))
                cur.execute(sql.SQL("SELECT _disposition, count(*) FROM {} GROUP BY 1").format(o))
                counts = dict(cur.fetchall())
                counts["loaded"] = loaded_rows
                cur.execute(sql.SQL("SELECT r, count(*) FROM {}, unnest(_final) r "
                                    "WHERE _disposition IN ('quarantined', 'excluded') GROUP BY 1 ORDER BY 1").format(o))
                reasons = dict(cur.fetchall())
                issues = _field_issues(cur, name, tag) if with_issues else {}
            out[name] = {"staged": staged, "loaded": counts.get("loaded", 0),
                         "quarantined": counts.get("quarantined", 0), "excluded": counts.get("excluded", 0),
                         "duplicates": counts.get("duplicate", 0), "unsettled": counts.get("unsettled", 0),
                         "reasons": reasons, "loaded_with_issues": with_issues, "field_issues": issues,
                         "loaded_summary": summary}
    return out
