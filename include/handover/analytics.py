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

from handover import canonical
from handover.crypto import Hasher
from handover.pii.policy import MaskingPolicy, PolicyError, Rule, kind_of
from handover.pii.values import FREE_TEXT

if TYPE_CHECKING:  # pyarrow is imported by the functions that make values, not by the tables' shapes (DDL)
    import pyarrow as pa
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


def as_entity(spec_or_entity) -> canonical.Entity:
    if isinstance(spec_or_entity, canonical.Entity):
        return spec_or_entity
    if isinstance(spec_or_entity, str):
        return canonical.entity(spec_or_entity)
    return spec_or_entity.model  # a contract's EntitySpec


def analytics_columns(entity: canonical.Entity | str) -> list[Column]:
    """The analytics table's value columns, in order (the model under the default policy)."""
    entity = as_entity(entity)
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
            cols.append(Column(f.name, canonical.SQL_TYPES[f.type], f.name, "kept", None, kind))
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
    import pyarrow as pa

    from handover.pii import apply_column, engine  # the analyzer's imports: only where rows are made

    entity = as_entity(spec_or_entity)
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
    import pyarrow as pa
    import pyarrow.compute as pc

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


STAGED_PREFIX = "an_"  # an analytics column beside the vault columns of a staged row


def staged_columns(entity: canonical.Entity | str) -> list[tuple[str, str]]:
    """The analytics values a staged row carries (``an_`` + column; the branch is the row's own)."""
    return [(STAGED_PREFIX + c.name, c.sql_type) for c in analytics_columns(entity) if c.how != "branch"]


def staged_values(table: pa.Table) -> dict[str, pa.Array]:
    """:func:`analytics_chunk`'s columns under their staged names."""
    return {STAGED_PREFIX + name: table.column(name) for name in table.column_names
            if name not in ("branch_id", "row_hash")}
