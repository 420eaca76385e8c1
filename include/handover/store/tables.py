"""The shapes of the store's record tables, derived from the canonical model: the vault's (one column set per
field by its storage: ``plain`` → the typed value; ``sealed`` → ``<field>_enc``, with ``_bidx`` and ``_mask``
where the field has a blind index or a display mask) and the analytics tier's (:mod:`handover.analytics` says
what each of its columns holds; here are its tables, indexes and upsert). Both are partitioned by branch
(:mod:`handover.store.partitions`); :mod:`handover.store.schema` applies the DDL.
"""

from __future__ import annotations

from psycopg2 import sql

from handover import canonical
from handover.analytics import BOOKKEEPING as ANALYTICS_BOOKKEEPING
from handover.analytics import SCHEMA as ANALYTICS
from handover.analytics import STAGED_PREFIX, analytics_columns, as_entity, token_name

# --------------------------------------------------------------------------------------------------
# The vault
# --------------------------------------------------------------------------------------------------

BOOKKEEPING = ("key_id text NOT NULL", "row_hash bytea NOT NULL", "source_file text NOT NULL",
               "source_line integer NOT NULL", "loaded_run_id text NOT NULL",
               "loaded_at timestamptz NOT NULL DEFAULT now()")


def vault_columns(entity: canonical.Entity) -> list[tuple[str, str]]:
    """(column, SQL type) of the vault table, in order, without bookkeeping columns."""
    cols: list[tuple[str, str]] = [("branch_id", "text")]
    for f in entity.fields:
        if f.storage == "plain":
            cols.append((f.name, canonical.SQL_TYPES[f.type]))
        else:
            cols.append((f"{f.name}_enc", "bytea"))
            if f.blind_index:
                cols.append((f"{f.name}_bidx", "bytea"))
            if f.display_mask:
                cols.append((f"{f.name}_mask", "text"))
    # extras: the contract's extra columns; field_issues: "column:reason" of the values this row was loaded
    # with nulled or kept (a formula kept as text, an unreadable date set null …)
    cols += [("extras", "jsonb"), ("extras_enc", "bytea"), ("field_issues", "text[]")]
    return cols


def collation(entity: canonical.Entity, column: str) -> str:
    """Identifiers — the branch, the record's key and its references — compare byte by byte (COLLATE "C"):
    they are codes, not words, and the store sorts and joins them by the million (keys, indexes, the
    window of `settle`, foreign-key checks), several times faster than under a language's collation."""
    return ' COLLATE "C"' if column == "branch_id" or column == entity.key or column in entity.parents else ""


def vault_indexes(entity: canonical.Entity) -> list[tuple[str, str]]:
    """(index name, column list) of the vault table's secondary indexes."""
    out = [(f"{entity.name}_{f.name}_bidx", f"{f.name}_bidx") for f in entity.fields if f.blind_index]
    # By reference alone: a table is partitioned by branch, so within a partition the branch is one value
    # (a leading constant column only makes every comparison longer — 2x slower index builds).
    out += [(f"{entity.name}_{parent}_idx", parent) for parent in entity.parents]
    return out


def vault_ddl(entity: canonical.Entity) -> str:
    """A vault table, partitioned by branch: a branch's first load builds its partition in bulk and
    attaches it (`handover.store.partitions`); retention and erasure work within one branch's partition."""
    body = [f"{name} {sqltype}{collation(entity, name)}" + (" NOT NULL" if name in ("branch_id", entity.key) else "")
            for name, sqltype in vault_columns(entity)]
    body += list(BOOKKEEPING)
    body.append(f"PRIMARY KEY (branch_id, {entity.key})")
    for parent in entity.parents:
        target_entity, target_field = entity.field(parent).references.split(".")
        if parent != entity.key:  # every reference, required or not (NULL matches nothing and passes)
            body.append(f"FOREIGN KEY (branch_id, {parent}) REFERENCES vault.{target_entity} "
                        f"(branch_id, {target_field})")
    ddl = [f"CREATE TABLE IF NOT EXISTS vault.{entity.name} (\n    " + ",\n    ".join(body)
           + "\n) PARTITION BY LIST (branch_id);"]
    ddl += [f"CREATE INDEX IF NOT EXISTS {name} ON vault.{entity.name} ({columns});"
            for name, columns in vault_indexes(entity)]
    return "\n".join(ddl)


# --------------------------------------------------------------------------------------------------
# The analytics tier
# --------------------------------------------------------------------------------------------------

def analytics_indexes(entity: canonical.Entity | str) -> list[tuple[str, str]]:
    """(index name, column) of the analytics table's secondary indexes: one per reference token."""
    entity = as_entity(entity)
    return [(f"{entity.name}_{c.name}_idx", c.name) for c in analytics_columns(entity) if c.how == "reference"]


def analytics_table_ddl(entity: canonical.Entity | str) -> str:
    entity = as_entity(entity)
    key = token_name(entity.name)
    body = [f"{c.name} {c.sql_type}" + (' COLLATE "C"' if c.how in ("branch", "key", "reference") else "")
            + (" NOT NULL" if c.name in ("branch_id", key) else "") for c in analytics_columns(entity)]
    body += [f"{name} {sqltype}" for name, sqltype in ANALYTICS_BOOKKEEPING]
    body += ["loaded_at timestamptz NOT NULL DEFAULT now()", f"PRIMARY KEY (branch_id, {key})"]
    ddl = [f"CREATE TABLE IF NOT EXISTS {ANALYTICS}.{entity.name} (\n    " + ",\n    ".join(body)
           + "\n) PARTITION BY LIST (branch_id);"]
    ddl += [f"CREATE INDEX IF NOT EXISTS {name} ON {ANALYTICS}.{entity.name} ({column});"
            for name, column in analytics_indexes(entity)]
    return "\n".join(ddl)


def analytics_ddl() -> str:
    """Schema ``analytics`` and its tables, one per canonical entity, partitioned by branch (idempotent)."""
    return f"CREATE SCHEMA IF NOT EXISTS {ANALYTICS};\n" + "\n".join(
        analytics_table_ddl(e) for e in canonical.ENTITIES.values())


def rows_from_staging(entity: canonical.Entity | str, loaded: sql.Composable) -> tuple[list[str], sql.Composed]:
    """The analytics columns (bookkeeping included) and the query giving them for a run's loaded staged
    rows (``loaded``: a subquery of them; ``%(run)s``: the run)."""
    entity = as_entity(entity)
    names = [c.name for c in analytics_columns(entity)]
    values = [sql.Identifier("branch_id")] + [sql.Identifier(STAGED_PREFIX + n) for n in names[1:]]
    query = sql.SQL("SELECT {}, row_hash, %(run)s FROM {} s").format(sql.SQL(", ").join(values), loaded)
    return names + [n for n, _ in ANALYTICS_BOOKKEEPING], query


def upsert_sql(entity: canonical.Entity | str) -> sql.Composed:
    """INSERT … ON CONFLICT for analytics rows (``%s`` placeholders in :func:`analytics_columns` order, then
    ``row_hash``, ``loaded_run_id``): a row is rewritten only when its source's content hash changed, so a
    re-run writes nothing and leaves what k-anonymity coarsened as it was."""
    entity = as_entity(entity)
    names = [c.name for c in analytics_columns(entity)] + [n for n, _ in ANALYTICS_BOOKKEEPING]
    key = token_name(entity.name)
    updates = [n for n in names if n not in ("branch_id", key)]
    return sql.SQL(
        "INSERT INTO {table} ({cols}) VALUES %s ON CONFLICT (branch_id, {key}) DO UPDATE SET {sets}, "
        "loaded_at = now() WHERE {table}.row_hash IS DISTINCT FROM EXCLUDED.row_hash"
    ).format(
        table=sql.Identifier(ANALYTICS, entity.name),
        cols=sql.SQL(", ").join(map(sql.Identifier, names)),
        key=sql.Identifier(key),
        sets=sql.SQL(", ").join(sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(n)) for n in updates),
    )
