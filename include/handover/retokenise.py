"""Re-tokenising the analytics tier under a new pseudonym key — what an incident does when the pseudonym key
may have been exposed (whoever holds it can test a guessed mobile or name against a token).

A token is ``tok_`` + HMAC(pseudonym key, kind, value) (:mod:`handover.pii.values`); the analytics tier keeps
no value a token could be re-made from, the vault does. So, in **one transaction** (a killed re-tokenise
leaves the tier, the key and the audit as they were; the re-run starts again from the same state):

1. the analytics tables locked against writers (``EXCLUSIVE``: analysts may still read), the pseudonym key's
   row locked; refused while a transfer or a change file is running (its hasher holds the old key);
2. **the map** — for every vault row of every branch, read in chunks of :data:`CHUNK` through a server-side
   cursor (memory bounded by the chunk, not the store), each value behind a token column (the record's key
   and references in plaintext, the sealed fields decrypted with the branch's data key) hashed under the old
   and the new key, for each join domain the column can have been tokenised in (the record domain of keys
   and references; the field's kind; ``COLUMN:<field>``): the pairs (old token, new token) go to a temporary
   table, dropped at commit. Only columns that hold tokens are read (a contract's override may make a
   ``_general`` or kept column tokens, or ``_token`` ones not);
3. **structured columns** — one ``UPDATE`` per analytics table sets every token column to its new token (one
   new row version per row); the keys change inside the branch's partition, the primary key stays unique;
4. **free text** — tokens the text rules put in a memo or a note (none under the default policy) replaced
   through the map, chunk by chunk; a token found in text whose value the vault does not hold (someone else
   named in a note) becomes the generic tag ``<个人信息>``: it can no longer be tied to anyone;
5. **the proof** — in every column, no cell (and no token inside a text) is an old token, and every token is
   a new one; a structured token no value re-makes stops everything (rolled back) and says where;
6. the new key replaces the old in ``ops.keys`` (:func:`handover.store.keys.replace`): the old one is gone.

What is derived from tokens stays as it was: ``row_hash`` (the vault link that erasure, the purge, the
reconciliation and the card resolution join on) is the vault row's content hash, under the content key, not
touched here; k-anonymity classes and the insights' aggregates are counts over quasi-identifiers, which a
change of pseudonym — one to one — does not move; joins between the analytics tables hold because a key and
the references to it are re-made from the same value in the same domain.

Not here: backups taken before the re-tokenise still hold the old tokens and the old key (wrapped); a restore
of one brings them back, so re-tokenise after it.
"""

from __future__ import annotations

from dataclasses import dataclass

from psycopg2 import sql
from psycopg2.extras import execute_values

from handover import canonical
from handover.analytics import SCHEMA, analytics_columns, record_domain, token_name
from handover.crypto import Hasher, MasterKey, new_key
from handover.errors import HandoverError
from handover.pii.values import TOKEN_HEX, TOKEN_PREFIX, pseudonyms, tag
from handover.store import keys as keyring
from handover.vault import column_aad

CHUNK = 5_000  # vault rows per fetch: a customer row with its sealed fields decrypted is ~1 kB in Python
TOKEN = f"{TOKEN_PREFIX}[0-9a-f]{{{TOKEN_HEX}}}"  # a token anywhere in a text (PostgreSQL regex)
WHOLE = f"^{TOKEN}$"  # a cell that is a token
_MAP = sql.Identifier("retoken_map")


class RetokeniseError(HandoverError):
    """The analytics tier cannot be re-tokenised as it stands; nothing was changed."""


@dataclass(frozen=True)
class TokenColumn:
    """An analytics text column that may hold tokens, and where the values behind them are in the vault."""

    entity: str
    name: str
    source: str  # the canonical field (vault column, or ``<field>_enc`` when sealed)
    sealed: bool
    free_text: bool
    parent: str | None  # the entity whose record domain a key or reference is tokenised in
    kinds: tuple[str, ...]  # the other join domains the column's values may have been tokenised in

    def domains(self, branch_id: str) -> tuple[str, ...]:
        return (record_domain(self.parent, branch_id),) if self.parent else self.kinds


def token_columns(entity: canonical.Entity) -> list[TokenColumn]:
    """Every text column of the entity's analytics table but the branch: under a contract's override any of
    them may hold tokens."""
    out = []
    for col in analytics_columns(entity):
        if col.sql_type != "text" or col.how == "branch":
            continue
        field = entity.field(col.source)
        parent = (entity.name if col.how == "key" else field.references.split(".")[0]
                  if col.how == "reference" else None)
        kinds = tuple(dict.fromkeys(k for k in ((col.rule.kind if col.rule else None), col.kind,
                                                 f"COLUMN:{col.source}") if k))
        out.append(TokenColumn(entity.name, col.name, col.source, field.storage != "plain",
                               col.how == "masked", parent, kinds))
    return out


def _table(entity: str) -> sql.Identifier:
    return sql.Identifier(SCHEMA, entity)


def survey(conn) -> dict[str, dict]:
    """Per analytics table: its rows, and per column the cells holding a token (free text: cells with a token
    in them). Reads only; what a dry run reports."""
    out: dict[str, dict] = {}
    with conn.cursor() as cur:
        for entity in canonical.ENTITIES.values():
            columns = token_columns(entity)
            counts = [sql.SQL("count(*) FILTER (WHERE {} ~ %s)").format(sql.Identifier(c.name)) for c in columns]
            cur.execute(sql.SQL("SELECT count(*), {} FROM {}").format(sql.SQL(", ").join(counts), _table(entity.name)),
                        [TOKEN if c.free_text else WHOLE for c in columns])
            rows, *cells = cur.fetchone()
            out[entity.name] = {"rows": rows, "tokens": {c.name: n for c, n in zip(columns, cells, strict=True) if n}}
    return out


def _busy(cur) -> list[str]:
    cur.execute("SELECT run_id FROM ops.runs WHERE status = 'running' UNION ALL "
                "SELECT run_id FROM ops.update_runs WHERE status = 'running' ORDER BY 1")
    return [r for (r,) in cur.fetchall()]


def retokenise(conn, master: MasterKey, *, chunk: int = CHUNK) -> dict:
    """Steps 1–6 of the module's docstring in the caller's transaction, **not committed** (the caller adds its
    audit entry, then commits; any exception: roll back). Counts and key ids only."""
    old = keyring.hasher(conn, master, keyring.PSEUDONYM, create=False)
    if old is None:
        raise RetokeniseError("the store has no pseudonym key: nothing was ever tokenised")
    with conn.cursor() as cur:
        cur.execute("SET LOCAL lock_timeout = '30s'")
        cur.execute(sql.SQL("LOCK TABLE {} IN EXCLUSIVE MODE").format(
            sql.SQL(", ").join(_table(e) for e in canonical.ENTITIES)))
        cur.execute("SELECT key_id FROM ops.keys WHERE purpose = %s FOR UPDATE", (keyring.PSEUDONYM,))
        old_key_id = cur.fetchone()[0]
        running = _busy(cur)
        if running:
            raise RetokeniseError(f"{len(running)} run(s) still marked running ({', '.join(running[:5])}): their "
                                  "tokens are made with the old key — let them end (or sweep a dead one), then "
                                  "re-tokenise")
        cur.execute(sql.SQL("CREATE TEMP TABLE {} (old text PRIMARY KEY, new text NOT NULL) ON COMMIT DROP")
                    .format(_MAP))
    before = survey(conn)
    secret = new_key()
    new = Hasher(secret)
    for entity in canonical.ENTITIES.values():
        columns = [c for c in token_columns(entity) if c.name in before[entity.name]["tokens"] and not c.free_text]
        _map(conn, entity, columns, old, new, master, chunk)
    with conn.cursor() as cur:
        cur.execute(sql.SQL("CREATE INDEX ON {} (new)").format(_MAP))
        cur.execute(sql.SQL("ANALYZE {}").format(_MAP))
        cur.execute(sql.SQL("SELECT count(*) FROM {}").format(_MAP))
        mapped = cur.fetchone()[0]
    changed = {}
    for entity in canonical.ENTITIES.values():
        columns = [c for c in token_columns(entity) if c.name in before[entity.name]["tokens"]]
        structured = [c for c in columns if not c.free_text]
        rows = _update(conn, entity.name, structured) if structured else 0
        texts = sum(_update_text(conn, entity, c, chunk) for c in columns if c.free_text)
        changed[entity.name] = {"rows": rows, "texts": texts}
    proof = prove(conn)
    if proof["unresolved"]:
        where = ", ".join(f"{t}.{c}: {n}" for t, cols in proof["unresolved_by_column"].items() for c, n in cols.items())
        raise RetokeniseError(f"{proof['unresolved']} token(s) are made from no value the vault holds ({where}): "
                              "the analytics rows are not the vault's seen through the policy (a contract's "
                              "pseudonymize kind?). Nothing was changed; tell us the column's rule")
    if proof["old_left"]:
        raise RetokeniseError(f"{proof['old_left']} old token(s) are still in the tier after the update")
    new_key_id = keyring.replace(conn, master, keyring.PSEUDONYM, secret)
    return {"tables": {t: before[t] | changed[t] for t in before}, "map_pairs": mapped,
            "old_pseudonym_key_id": old_key_id, "new_pseudonym_key_id": new_key_id, **proof}


def _map(conn, entity: canonical.Entity, columns: list[TokenColumn], old: Hasher, new: Hasher, master: MasterKey,
         chunk: int) -> int:
    """(old, new) of every value behind ``columns`` into the map; the pairs written."""
    if not columns:
        return 0
    sources = list(dict.fromkeys(c.source for c in columns))
    by_source = {s: next(c for c in columns if c.source == s).sealed for s in sources}
    selected = [sql.Identifier(f"{s}_enc" if by_source[s] else s) for s in sources]
    with conn.cursor() as cur:
        cur.execute(sql.SQL("SELECT DISTINCT branch_id FROM {} ORDER BY 1").format(_table(entity.name)))
        branches = [b for (b,) in cur.fetchall()]
    written = 0
    for branch in branches:
        cipher = keyring.branch_cipher(conn, master, branch) if any(by_source.values()) else None
        if cipher is None and any(by_source.values()):
            raise RetokeniseError(f"branch {branch} has analytics rows but no data key: its vault cannot be read")
        reader = conn.cursor(name=f"retoken_{entity.name}")
        reader.itersize = chunk
        reader.execute(sql.SQL("SELECT {} FROM {} WHERE branch_id = %s").format(
            sql.SQL(", ").join(selected), sql.Identifier("vault", entity.name)), (branch,))
        with conn.cursor() as cur:
            while rows := reader.fetchmany(chunk):
                values: dict[str, set] = {}
                for i, source in enumerate(sources):
                    if by_source[source]:
                        aad = column_aad(entity.name, source)
                        got = {cipher.decrypt(r[i], aad) for r in rows if r[i] is not None}
                    else:
                        got = {str(r[i]) for r in rows if r[i] is not None}
                    values[source] = got
                pairs: dict[str, str] = {}
                for col in columns:
                    distinct = sorted(values[col.source])
                    for domain in col.domains(branch):
                        pairs.update(zip(pseudonyms(old, domain, distinct), pseudonyms(new, domain, distinct),
                                         strict=True))
                if pairs:
                    execute_values(cur, sql.SQL("INSERT INTO {} (old, new) VALUES %s ON CONFLICT DO NOTHING")
                                   .format(_MAP).as_string(cur), list(pairs.items()), page_size=2_000)
                    written += len(pairs)
        reader.close()
    return written


def _update(conn, entity: str, columns: list[TokenColumn]) -> int:
    """One UPDATE of the table: each token cell set to its new token (a cell not in the map is left; the
    proof finds it)."""
    sets = [sql.SQL("{0} = coalesce((SELECT m.new FROM {1} m WHERE m.old = t.{0}), t.{0})")
            .format(sql.Identifier(c.name), _MAP) for c in columns]
    where = sql.SQL(" OR ").join(sql.SQL("t.{} ~ %(whole)s").format(sql.Identifier(c.name)) for c in columns)
    with conn.cursor() as cur:
        cur.execute(sql.SQL("UPDATE {} t SET {} WHERE {}").format(_table(entity), sql.SQL(", ").join(sets), where),
                    {"whole": WHOLE})
        return cur.rowcount


def _update_text(conn, entity: canonical.Entity, col: TokenColumn, chunk: int) -> int:
    """The tokens inside one free-text column replaced through the map (unknown ones by the generic tag),
    ``chunk`` texts at a time; the texts changed."""
    import re

    key = token_name(entity.name)
    found = re.compile(TOKEN)
    reader = conn.cursor(name=f"retoken_text_{entity.name}")
    reader.itersize = chunk
    reader.execute(sql.SQL("SELECT branch_id, {k}, {c} FROM {t} WHERE {c} ~ %s").format(
        k=sql.Identifier(key), c=sql.Identifier(col.name), t=_table(entity.name)), (TOKEN,))
    changed = 0
    with conn.cursor() as cur:
        while rows := reader.fetchmany(chunk):
            tokens = sorted({t for _, _, text in rows for t in found.findall(text)})
            cur.execute(sql.SQL("SELECT old, new FROM {} WHERE old = ANY(%s)").format(_MAP), (tokens,))
            known = dict(cur.fetchall())

            def swap(m, known=known):
                return known.get(m[0], tag(None))

            updates = [(branch, k, found.sub(swap, text)) for branch, k, text in rows]
            execute_values(cur, sql.SQL("UPDATE {t} x SET {c} = v.text FROM (VALUES %s) AS v (branch_id, k, text) "
                                        "WHERE x.branch_id = v.branch_id AND x.{k} = v.k").format(
                t=_table(entity.name), c=sql.Identifier(col.name), k=sql.Identifier(key)).as_string(cur),
                updates, page_size=2_000)
            changed += len(updates)
    reader.close()
    return changed


def prove(conn) -> dict:
    """Inside the transaction, against the map: old tokens left in the tier (cells and tokens in texts), and
    structured token cells that are no new token (``unresolved``). Both are 0 after a re-tokenise."""
    old_left, unresolved, by_column = 0, 0, {}
    with conn.cursor() as cur:
        for entity in canonical.ENTITIES.values():
            for col in token_columns(entity):
                name, table = sql.Identifier(col.name), _table(entity.name)
                if col.free_text:
                    cur.execute(sql.SQL("SELECT count(*) FROM {t} x, regexp_matches(x.{c}, %s, 'g') m "
                                        "WHERE m[1] IN (SELECT old FROM {m})").format(t=table, c=name, m=_MAP),
                                (f"({TOKEN})",))
                    old_left += cur.fetchone()[0]
                    continue
                cur.execute(sql.SQL("SELECT count(*) FILTER (WHERE EXISTS (SELECT FROM {m} WHERE old = x.{c})), "
                                    "count(*) FILTER (WHERE NOT EXISTS (SELECT FROM {m} WHERE new = x.{c})) "
                                    "FROM {t} x WHERE x.{c} ~ %s").format(t=table, c=name, m=_MAP), (WHOLE,))
                left, not_new = cur.fetchone()
                old_left += left
                if not_new:
                    unresolved += not_new
                    by_column.setdefault(entity.name, {})[col.name] = not_new
    return {"old_left": old_left, "unresolved": unresolved, "unresolved_by_column": by_column}
