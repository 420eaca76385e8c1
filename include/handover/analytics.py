"""The analytics tier: what an analyst may see of a branch's records, in schema ``analytics``.

Derived from the canonical model (:mod:`handover.canonical`) and the masking policy
(:mod:`handover.pii.policy`), field by field:

- the record's key and its references become **record tokens** (``customer_token``, ``account_token``, …):
  ``pseudonymize`` of the key within the branch, so a customer's accounts, transactions and interactions
  join on ``customer_token`` — and two branches that happen to use the same customer number do not;
- a personal field gets what the policy's rule for it makes: identifiers a **token** (``mobile_token`` —
  the same mobile gives the same token in every branch and run), quasi-identifiers a **generalised**
  value (``birth_date_general`` ``1990-1994``, ``address_general`` ``广东省深圳市``,
  ``id_number_general`` ``440000/1990/M``), free text (``memo``, ``note``) its **masked** text, every
  entity the analyzer finds replaced by the policy's text rule (its tag, <手机号>, by default);
- a field without a rule (amounts, transaction times, channel, currency, gender, customer type) is kept.

A column's name says what the *default* rule makes of the field (``_token``, ``_general``, ``_masked``,
``_mask``); a contract's override changes what fills it, not the schema — except that a typed kept column
cannot be overridden (its SQL type would no longer hold), and ``encrypt`` has no place here (the analytics
tier never holds ciphertext of the branch key).

:func:`analytics_chunk` makes the analytics rows of one verified chunk, column at a time: tokens and
generalisations per distinct value (:func:`handover.pii.apply_column`), free text per distinct text.
:func:`analytics_ddl` makes the tables: partitioned by branch like the vault, keyed
``(branch_id, <entity>_token)``. No foreign keys: the vault enforces the references, the analytics rows
are the vault's loaded rows seen through the policy. k-anonymity of the customers' quasi-identifiers is
:mod:`handover.anonymity`'s.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc
from psycopg2 import sql

from handover import canonical
from handover.crypto import Hasher
from handover.pii.policy import MaskingPolicy, PolicyError, Rule, kind_of
from handover.pii.values import FREE_TEXT
from handover.store.partitions import partition_name
from handover.store.schema import SQL_TYPES

if TYPE_CHECKING:
    from presidio_analyzer import AnalyzerEngine

SCHEMA = "analytics"
# What the default rule's operator makes of a field → the suffix of its analytics column.
SUFFIXES = {"pseudonymize": "token", "generalize": "general", "mask": "mask", "replace": "masked",
            "redact": "masked"}
# Per row, beside the values: the vault row's keyed content hash (a re-run rewrites an analytics row only
# when its source changed, so what k-anonymity coarsened stays coarsened) and the run that wrote it.
BOOKKEEPING = (("row_hash", "bytea"), ("loaded_run_id", "text"))


@dataclass(frozen=True)
class Column:
    """One analytics column: its name and SQL type, the canonical field it comes from and how.

    ``how``: ``branch`` · ``key`` (the record's token) · ``reference`` (a parent's token) · ``token`` ·
    ``general`` · ``masked`` (free text) · ``mask`` · ``kept``. ``rule`` is the default policy's rule.
    """

    name: str
    sql_type: str
    source: str | None
    how: str
    rule: Rule | None = None
    kind: str | None = None


def token_name(entity_name: str) -> str:
    """customers → customer_token: the column holding a record's token."""
    return canonical.entity(entity_name).key.removesuffix("_id") + "_token"


def record_domain(entity_name: str, branch_id: str) -> str:
    """The pseudonym domain of an entity's keys: per branch, since a key is unique only within its branch."""
    return f"RECORD:{branch_id}:{entity_name}"


def _entity(spec_or_entity) -> canonical.Entity:
    if isinstance(spec_or_entity, canonical.Entity):
        return spec_or_entity
    if isinstance(spec_or_entity, str):
        return canonical.entity(spec_or_entity)
    return spec_or_entity.model  # a contract's EntitySpec


def analytics_columns(entity: canonical.Entity | str) -> list[Column]:
    """The analytics table's value columns, in order (the model under the default policy)."""
    entity = _entity(entity)
    cols = [Column("branch_id", "text", None, "branch")]
    for f in entity.fields:
        if f.name == entity.key:
            cols.append(Column(token_name(entity.name), "text", f.name, "key"))
            continue
        if f.references:
            cols.append(Column(token_name(f.references.split(".")[0]), "text", f.name, "reference"))
            continue
        kind = kind_of(f.name, f.format, f.pii)
        rule = MaskingPolicy().rule_for(f.name, pii=f.pii, kind=kind)
        if rule is None:
            cols.append(Column(f.name, SQL_TYPES[f.type], f.name, "kept", None, kind))
        elif kind == FREE_TEXT:
            cols.append(Column(f"{f.name}_masked", "text", f.name, "masked", rule, kind))
        else:
            suffix = SUFFIXES[rule.operator]
            cols.append(Column(f"{f.name}_{suffix}", "text", f.name, suffix, rule, kind))
    return cols


def _check_overrides(entity: canonical.Entity, policy: MaskingPolicy) -> None:
    problems = []
    for col in analytics_columns(entity):
        override = policy.columns.get(col.source or "")
        if override is None or col.how in ("branch", "key", "reference"):
            continue
        if override.operator == "encrypt":
            problems.append(f"column {col.source}: the analytics tier holds no ciphertext (choose pseudonymize, "
                            "generalize, mask, redact or replace)")
        elif col.how == "kept" and col.sql_type != "text":
            problems.append(f"column {col.source}: kept as {col.sql_type} in analytics; a rule would make it text")
    if problems:
        raise PolicyError(problems)


def analytics_chunk(
    spec_or_entity,
    table: pa.Table,
    policy: MaskingPolicy | None,
    hasher: Hasher,
    analyzer: AnalyzerEngine | None = None,
    *,
    branch_id: str,
) -> pa.Table:
    """The analytics rows of one verified chunk (normalised values, one column per canonical field; a
    missing field is null). ``hasher`` is under the pseudonym key. ``analyzer`` finds PII in free text —
    build it with the branch's customer names (:func:`handover.pii.analyzer`) so names in notes are
    found; without one, the standard analyzer is built. A ``row_hash`` column, if present, is passed on."""
    from handover.pii import apply_column, engine  # the analyzer's imports: only where rows are made

    entity = _entity(spec_or_entity)
    policy = policy or MaskingPolicy()
    _check_overrides(entity, policy)
    n = table.num_rows
    out: dict[str, pa.Array] = {}
    for col in analytics_columns(entity):
        if col.how == "branch":
            out[col.name] = pa.repeat(pa.scalar(branch_id, pa.string()), n)
            continue
        values = table.column(col.source) if col.source in table.column_names else pa.nulls(n, pa.string())
        if col.how in ("key", "reference"):
            parent = entity.name if col.how == "key" else entity.field(col.source).references.split(".")[0]
            rule = Rule("pseudonymize", {"kind": record_domain(parent, branch_id)})
            out[col.name] = apply_column(values, rule, column=col.source, hasher=hasher)
            continue
        rule = policy.columns.get(col.source) or col.rule
        if rule is None:
            out[col.name] = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
            continue
        if col.kind == FREE_TEXT and analyzer is None:
            analyzer = engine.analyzer()
        if col.kind == FREE_TEXT and col.source not in policy.columns:
            out[col.name] = _masked_text(values, analyzer, policy, hasher, col.source)
        else:  # a column rule; for free text, applied to every entity found (handover.pii.apply_column)
            out[col.name] = apply_column(values, rule, column=col.source, kind=col.kind, hasher=hasher,
                                         analyzer=analyzer)
    if "row_hash" in table.column_names:
        out["row_hash"] = table.column("row_hash")
    return pa.table(out)


def _masked_text(values, analyzer: AnalyzerEngine, policy: MaskingPolicy, hasher: Hasher, column: str) -> pa.Array:
    """Free text under the policy's text rules (one rule per entity found), once per distinct text."""
    from handover.pii.notes import anonymize_many

    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if not pa.types.is_string(values.type):
        values = pc.cast(values, pa.string())
    encoded = values.dictionary_encode()
    # the many-notes path, in this process: a chunk's task runs beside the others already
    masked = anonymize_many(encoded.dictionary.to_pylist(), analyzer, policy, hasher=hasher, column=column,
                            workers=1)
    return pa.array(masked, pa.string()).take(encoded.indices)


# --------------------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------------------


def analytics_indexes(entity: canonical.Entity | str) -> list[tuple[str, str]]:
    """(index name, column) of the analytics table's secondary indexes: one per reference token."""
    entity = _entity(entity)
    return [(f"{entity.name}_{c.name}_idx", c.name) for c in analytics_columns(entity) if c.how == "reference"]


def table_ddl(entity: canonical.Entity | str) -> str:
    entity = _entity(entity)
    key = token_name(entity.name)
    body = [f"{c.name} {c.sql_type}" + (' COLLATE "C"' if c.how in ("branch", "key", "reference") else "")
            + (" NOT NULL" if c.name in ("branch_id", key) else "") for c in analytics_columns(entity)]
    body += [f"{name} {sqltype}" for name, sqltype in BOOKKEEPING]
    body += ["loaded_at timestamptz NOT NULL DEFAULT now()", f"PRIMARY KEY (branch_id, {key})"]
    ddl = [f"CREATE TABLE IF NOT EXISTS {SCHEMA}.{entity.name} (\n    " + ",\n    ".join(body)
           + "\n) PARTITION BY LIST (branch_id);"]
    ddl += [f"CREATE INDEX IF NOT EXISTS {name} ON {SCHEMA}.{entity.name} ({column});"
            for name, column in analytics_indexes(entity)]
    return "\n".join(ddl)


def analytics_ddl() -> str:
    """Schema ``analytics`` and its tables, one per canonical entity, partitioned by branch (idempotent)."""
    return f"CREATE SCHEMA IF NOT EXISTS {SCHEMA};\n" + "\n".join(
        table_ddl(e) for e in canonical.ENTITIES.values())


def ensure_partition(cur, entity: canonical.Entity | str, branch_id: str) -> str:
    """The branch's partition of an analytics table, created if missing (call under the run's lock: two
    sessions creating one partition at once race on its name). Returns the partition's name."""
    entity = _entity(entity)
    name = partition_name(entity.name, branch_id)
    cur.execute(sql.SQL("CREATE TABLE IF NOT EXISTS {} PARTITION OF {} FOR VALUES IN ({})").format(
        sql.Identifier(SCHEMA, name), sql.Identifier(SCHEMA, entity.name), sql.Literal(branch_id)))
    return name


STAGED_PREFIX = "an_"  # an analytics column beside the vault columns of a staged row


def staged_columns(entity: canonical.Entity | str) -> list[tuple[str, str]]:
    """The analytics values a staged row carries (``an_`` + column; the branch is the row's own)."""
    return [(STAGED_PREFIX + c.name, c.sql_type) for c in analytics_columns(entity) if c.how != "branch"]


def staged_values(table: pa.Table) -> dict[str, pa.Array]:
    """:func:`analytics_chunk`'s columns under their staged names."""
    return {STAGED_PREFIX + name: table.column(name) for name in table.column_names
            if name not in ("branch_id", "row_hash")}


def rows_from_staging(entity: canonical.Entity | str, loaded: sql.Composable) -> tuple[list[str], sql.Composed]:
    """The analytics columns (bookkeeping included) and the query giving them for a run's loaded staged
    rows (``loaded``: a subquery of them; ``%(run)s``: the run)."""
    entity = _entity(entity)
    names = [c.name for c in analytics_columns(entity)]
    values = [sql.Identifier("branch_id")] + [sql.Identifier(STAGED_PREFIX + n) for n in names[1:]]
    query = sql.SQL("SELECT {}, row_hash, %(run)s FROM {} s").format(sql.SQL(", ").join(values), loaded)
    return names + [n for n, _ in BOOKKEEPING], query


def upsert_sql(entity: canonical.Entity | str) -> sql.Composed:
    """INSERT … ON CONFLICT for analytics rows (``%s`` placeholders in :func:`analytics_columns` order, then
    ``row_hash``, ``loaded_run_id``): a row is rewritten only when its source's content hash changed, so a
    re-run writes nothing and leaves what k-anonymity coarsened as it was."""
    entity = _entity(entity)
    names = [c.name for c in analytics_columns(entity)] + [n for n, _ in BOOKKEEPING]
    key = token_name(entity.name)
    updates = [n for n in names if n not in ("branch_id", key)]
    return sql.SQL(
        "INSERT INTO {table} ({cols}) VALUES %s ON CONFLICT (branch_id, {key}) DO UPDATE SET {sets}, "
        "loaded_at = now() WHERE {table}.row_hash IS DISTINCT FROM EXCLUDED.row_hash"
    ).format(
        table=sql.Identifier(SCHEMA, entity.name),
        cols=sql.SQL(", ").join(map(sql.Identifier, names)),
        key=sql.Identifier(key),
        sets=sql.SQL(", ").join(sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(n)) for n in updates),
    )
