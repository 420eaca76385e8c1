"""Protect one verified chunk: the values the vault stores for each row, and its sealed quarantine payload.

By the canonical storage of each field: ``plain`` values stay; ``sealed`` values are encrypted, and get
a blind index and a display mask where the field asks for them. Extra columns go to ``extras``
(JSON) or, when the contract declares them personal, to ``extras_enc``. Every row also gets:

- ``row_hash``: a keyed hash of its normalised content — equal rows collapse, different rows with one key
  conflict, and a re-run writes nothing when the hash is unchanged.

Rows that end in quarantine (known only after the checks across all chunks) get their sealed payload —
the row as the branch sent it — from `seal_payloads`, which reads them back from the verified chunks.
After this step no plaintext customer value exists outside the work area.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from handover import masks
from handover.contract import EntitySpec
from handover.store.keys import Keyring
from handover.store.tables import vault_columns
from handover.workarea import ChunkRef, WorkArea, read_table, write_table

PAYLOAD_COLUMN = "quarantine.payload"
# The blind index's HMAC domain per format. Identity-document numbers of every type share the domain the
# resident IDs always had, so stored indexes, erasure requests and tombstones stay valid; each type's own
# spelling (handover.documents) is what is hashed.
BLIND_INDEX_DOMAINS = {"document": "resident_id"}


def column_aad(entity: str, column: str) -> str:
    """The associated data of a vault column's ciphertext (what decrypting it needs)."""
    return f"vault.{entity}.{column}"


def protect_chunk(spec: EntitySpec, ref: ChunkRef, area: WorkArea, keys: Keyring, branch_id: str,
                  analytics_rows: Callable[[pa.Table], dict[str, pa.Array]] | None = None) -> Path:
    """The vault columns of one verified chunk, and (``analytics_rows``, given the chunk's normalised
    values) its analytics values, side by side in the protected chunk staged next (its path returned)."""
    # Column at a time: Arrow computes masks, extras and row contents; Python only runs the per-value
    # AES-GCM and HMAC calls, on UTF-8 bytes taken straight from Arrow.
    # The verified chunk without its raw `_src_*` copies (those are for `seal_payloads`).
    table = read_table(area.verified(ref), [c.name for c in spec.columns]
                       + ["_line", "_problem", "_raw", "_reasons", "_issues"])
    n = table.num_rows
    model = spec.model
    out: dict[str, object] = {"branch_id": pa.repeat(pa.scalar(branch_id, pa.string()), n)}
    cipher, bidx = keys.cipher, keys.blind_index
    for f in model.fields:  # a key the export does not have, made first: the analytics tokens need it too
        if f.derived_from and f.name not in table.column_names and f.derived_from in table.column_names:
            source = model.field(f.derived_from)
            table = table.append_column(f.name, derived_keys(
                bidx, BLIND_INDEX_DOMAINS.get(source.format, source.format or source.name), table.column(f.derived_from)))
    for f in model.fields:
        column = table.column(f.name) if f.name in table.column_names else pa.nulls(n, pa.string())
        if f.storage == "plain":
            out[f.name] = column
            continue
        values = _utf8_values(column)
        out[f"{f.name}_enc"] = cipher.encrypt_many(values, column_aad(spec.name, f.name))
        if f.blind_index:
            out[f"{f.name}_bidx"] = bidx.digest_many(BLIND_INDEX_DOMAINS.get(f.format, f.format or f.name), values)
        if f.display_mask:
            out[f"{f.name}_mask"] = _document_masks(table, column) if f.format == "document" \
                else masks.mask_array(f.format or f.name, column)
    out["extras"] = _extras_json(table, [c.name for c in spec.extras if not c.sealed])
    out["field_issues"] = table.column("_issues")
    sealed = [c.name for c in spec.extras if c.sealed]
    out["extras_enc"] = cipher.encrypt_many(_utf8_values(_extras_json(table, sealed)), column_aad(spec.name, "extras")) \
        if sealed else pa.nulls(n, pa.binary())
    out["key_id"] = pa.repeat(pa.scalar(cipher.key_id, pa.string()), n)
    out["row_hash"] = keys.content.digest_many(f"row:{spec.name}", _contents(spec, table))
    out["source_file"] = pa.repeat(pa.scalar(ref.file or spec.source.file, pa.string()), n)
    out["source_line"] = table.column("_line")
    out["_reasons"] = table.column("_reasons")
    out["_chunk"] = pa.repeat(pa.scalar(ref.index, pa.int64()), n)

    schema = [(name, _arrow_type(sqltype)) for name, sqltype in vault_columns(model)]
    if analytics_rows is not None:
        extra = analytics_rows(table)
        out.update(extra)
        schema += [(name, extra[name].type) for name in extra]
    schema += [("key_id", pa.string()), ("row_hash", pa.binary()), ("source_file", pa.string()),
               ("source_line", pa.int64()), ("_reasons", pa.list_(pa.string())), ("_chunk", pa.int64())]
    protected = pa.table({name: _typed(out[name], typ) for name, typ in schema})
    path = area.protected(ref)
    write_table(protected, path)
    return path


def derived_keys(bidx, domain: str, values) -> pa.Array:
    """Keys for records the export gives no number of their own (a card file keyed by card number): the
    first 128 bits of the number's blind index, in hex. Stable across runs, and no number in plaintext."""
    digests = bidx.digest_many(domain, _utf8_values(values))
    return pa.array([None if d is None else "K" + d[:16].hex() for d in digests], pa.string())


def _arrow_type(sqltype: str) -> pa.DataType:
    # Staging receives text for typed columns (PostgreSQL parses ISO dates and decimals on COPY).
    return pa.binary() if sqltype == "bytea" else pa.list_(pa.string()) if sqltype == "text[]" else pa.string()


def _document_masks(table: pa.Table, numbers) -> pa.Array:
    """An identity-document number's display mask, by its type (a resident ID keeps 6 and 4, a passport
    1 and 3 …: :data:`handover.documents.DOCUMENT_TYPES`)."""
    from handover.documents import DOCUMENT_TYPES

    types = table.column("id_type") if "id_type" in table.column_names else None
    if types is None:  # every number is a resident ID (verify's default)
        return masks.keep_ends(numbers, *DOCUMENT_TYPES["resident_id"].mask_keep)
    out = pa.nulls(table.num_rows, pa.string())
    kinds = pc.unique(types.combine_chunks()).to_pylist()
    for kind in kinds:
        first, last = DOCUMENT_TYPES[kind].mask_keep if kind in DOCUMENT_TYPES else (1, 1)
        where = pc.fill_null(pc.equal(types, kind), False) if kind is not None else types.is_null()
        out = pc.if_else(where, masks.keep_ends(numbers, first, last), out)
    return out


def _utf8_values(column) -> list[bytes | None]:
    """A string column as UTF-8 bytes (what the cipher and the hasher take), without decoding to str."""
    return column.cast(pa.binary()).to_pylist()


def _typed(values, typ: pa.DataType):
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        return values if values.type == typ else values.cast(typ)
    return pa.array(values, typ)


def _extras_json(table: pa.Table, names: list[str]) -> pa.Array:
    """Per row, its non-null values of these columns as a JSON object — the text of
    ``json.dumps(..., ensure_ascii=False, sort_keys=True)`` — or null when it has none.

    Each column's ``"name": value`` items are dumped once per distinct value (extra columns repeat:
    managers, codes); a row's object joins its items in name order."""
    joined = pa.nulls(table.num_rows, pa.string())
    for name in sorted(names):
        encoded = table.column(name).combine_chunks().dictionary_encode()
        dumped = [json.dumps({name: v}, ensure_ascii=False)[1:-1] for v in encoded.dictionary.to_pylist()]
        item = pa.array(dumped, pa.string()).take(encoded.indices)
        # (binary_join_element_wise's null_handling="skip" loses rows whose values are all null.)
        joined = pc.coalesce(pc.binary_join_element_wise(joined, item, ", "), joined, item)
    return pc.binary_join_element_wise("{", joined, "}", "")


def _contents(spec: EntitySpec, table: pa.Table) -> list[bytes]:
    """A row's content for its hash: the normalised values, unit-separated, NULL as its own marker."""
    columns = [pc.fill_null(table.column(c.name), "\x00") for c in spec.columns]
    content = _utf8_values(pc.binary_join_element_wise(*columns, "\x1f"))
    problems = table.column("_problem")
    if problems.null_count < table.num_rows:
        raw = table.column("_raw")
        for i in pc.indices_nonzero(problems.is_valid()).to_pylist():
            # Unreadable rows: their original bytes are their content.
            content[i] = base64.b64encode(raw[i].as_py() or b"")
    return content


def seal_payloads(spec: EntitySpec, area: WorkArea, lines_by_chunk: dict[int, list[int]], keys: Keyring) -> list[tuple]:
    """(source_line, sealed payload, payload hash) for the given rows, read back from the verified chunks."""
    out = []
    for chunk, lines in sorted(lines_by_chunk.items()):
        table = read_table(area.verified(ChunkRef(spec.name, chunk)))
        wanted = set(lines)
        line_col = table.column("_line").to_pylist()
        rows = [i for i, line in enumerate(line_col) if line in wanted]
        taken = table.take(rows).to_pylist()
        payloads = []
        for row in taken:
            if row["_problem"] is not None:
                payload = {"raw_base64": base64.b64encode(row["_raw"] or b"").decode()}
            else:
                payload = {c.header: row[f"_src_{c.name}"] for c in spec.columns}
            payloads.append(json.dumps(payload, ensure_ascii=False, sort_keys=True))
        sealed = keys.cipher.encrypt_many(payloads, PAYLOAD_COLUMN)
        hashes = keys.content.digest_many(f"payload:{spec.name}", payloads)
        out += [(row["_line"], s, h) for row, s, h in zip(taken, sealed, hashes, strict=True)]
    return out


def open_payload(cipher, blob: bytes) -> dict:
    """Decrypt a quarantine payload (for repair tooling; never logged)."""
    return json.loads(cipher.decrypt(blob, PAYLOAD_COLUMN))
