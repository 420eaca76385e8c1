"""One partition of each vault table per branch.

A branch's first load builds its partition as a plain table — rows inserted without indexes, then the
primary key and indexes built in bulk — and attaches it, which checks the foreign keys with one query
instead of a trigger per row. That is several times faster than inserting into indexed tables, and
it is all inside the merge's transaction: a run killed before commit leaves no partition behind. Later
runs of the branch upsert into the attached partition (`handover.store.merge`).
"""

from __future__ import annotations

import hashlib
import re

from psycopg2 import sql

from handover import canonical


def partition_name(entity: str, branch_id: str) -> str:
    """vault.<entity>_<readable branch>_<hash>: unique per branch, readable, within PostgreSQL's 63 bytes."""
    slug = re.sub(r"[^a-z0-9]+", "_", branch_id.lower()).strip("_")[:24]
    return f"{entity}_{slug}_{hashlib.sha256(branch_id.encode()).hexdigest()[:8]}"


def has_partition(cur, entity: str, branch_id: str) -> bool:
    cur.execute("SELECT to_regclass(%s) IS NOT NULL", (f"vault.{partition_name(entity, branch_id)}",))
    return cur.fetchone()[0]


def build(cur, entity: canonical.Entity, branch_id: str, columns: list[str], select: str | sql.Composable,
          params: dict) -> int:
    """Create the branch's partition with the rows of `select` (giving `columns`) and attach it; return
    the rows written."""
    part = sql.Identifier("vault", partition_name(entity.name, branch_id))
    parent = sql.Identifier("vault", entity.name)
    cur.execute(sql.SQL("CREATE TABLE {} (LIKE {} INCLUDING DEFAULTS)").format(part, parent))
    cur.execute(sql.SQL("INSERT INTO {} ({}) ").format(part, sql.SQL(", ").join(map(sql.Identifier, columns)))
                + (sql.SQL(select) if isinstance(select, str) else select), params)
    rows = cur.rowcount
    # Attaching builds the primary key and indexes on the filled table (sorted bulk builds) and checks
    # the partition's rows against the foreign keys in one query each.
    cur.execute(sql.SQL("ALTER TABLE {} ATTACH PARTITION {} FOR VALUES IN ({})").format(
        parent, part, sql.Literal(branch_id)))
    return rows
