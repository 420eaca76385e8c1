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
from pathlib import Path

import pyarrow as pa

from handover import masks
from handover.contract import EntitySpec
from handover.store.keys import Keyring
from handover.store.schema import vault_columns
from handover.workarea import read_table, subdir, write_table

PAYLOAD_COLUMN = "quarantine.payload"


def _aad(entity: str, column: str) -> str:
    return f"vault.{entity}.{column}"


def protect_chunk(spec: EntitySpec, ref: dict, area: Path, keys: Keyring, branch_id: str) -> dict:
    table = read_table(Path(ref["path"]))
    data = {name: table.column(name).to_pylist() for name in table.column_names}
    n = table.num_rows
    model = spec.model
    out: dict[str, list] = {"branch_id": [branch_id] * n}
    cipher, bidx = keys.cipher, keys.blind_index
    for f in model.fields:
        values = data.get(f.name, [None] * n)
        if f.storage == "plain":
            out[f.name] = values
            continue
        out[f"{f.name}_enc"] = cipher.encrypt_many(values, _aad(spec.name, f.name))
        if f.blind_index:
            out[f"{f.name}_bidx"] = bidx.digest_many(f.format or f.name, values)
        if f.display_mask:
            out[f"{f.name}_mask"] = [masks.mask(f.format or f.name, v) for v in values]
    extras_plain, extras_sealed = [], []
    for i in range(n):
        plain = {c.name: data[c.name][i] for c in spec.extras if not c.sealed and data[c.name][i] is not None}
        sealed = {c.name: data[c.name][i] for c in spec.extras if c.sealed and data[c.name][i] is not None}
        extras_plain.append(json.dumps(plain, ensure_ascii=False, sort_keys=True) if plain else None)
        extras_sealed.append(json.dumps(sealed, ensure_ascii=False, sort_keys=True) if sealed else None)
    out["extras"] = extras_plain
    out["extras_enc"] = cipher.encrypt_many(extras_sealed, _aad(spec.name, "extras"))

    # A row's content for its hash: the normalised values, unit-separated, NULL as its own marker.
    columns = [data[c.name] for c in spec.columns]
    content = ["\x1f".join("\x00" if v is None else v for v in row) for row in zip(*columns, strict=True)]
    for i, problem in enumerate(data["_problem"]):
        if problem is not None:  # unreadable rows: their original bytes are their content
            content[i] = base64.b64encode(data["_raw"][i] or b"").decode()
    out["key_id"] = [cipher.key_id] * n
    out["row_hash"] = keys.content.digest_many(f"row:{spec.name}", content)
    out["source_file"] = [spec.source.file] * n
    out["source_line"] = data["_line"]
    out["_reasons"] = data["_reasons"]
    out["_chunk"] = [ref["chunk"]] * n

    schema = [(name, _arrow_type(sqltype)) for name, sqltype in vault_columns(model)]
    schema += [("key_id", pa.string()), ("row_hash", pa.binary()), ("source_file", pa.string()),
               ("source_line", pa.int64()), ("_reasons", pa.list_(pa.string())), ("_chunk", pa.int64())]
    protected = pa.table({name: pa.array(out[name], typ) for name, typ in schema})
    path = subdir(area, "protected", spec.name) / Path(ref["path"]).name
    write_table(protected, path)
    return {k: v for k, v in ref.items() if k != "validation"} | {"path": path.as_posix()}


def _arrow_type(sqltype: str) -> pa.DataType:
    # Staging receives text for typed columns (PostgreSQL parses ISO dates and decimals on COPY).
    return pa.binary() if sqltype == "bytea" else pa.string()


def seal_payloads(spec: EntitySpec, area: Path, lines_by_chunk: dict[int, list[int]], keys: Keyring) -> list[tuple]:
    """(source_line, sealed payload, payload hash) for the given rows, read back from the verified chunks."""
    out = []
    for chunk, lines in sorted(lines_by_chunk.items()):
        table = read_table(Path(area) / "verified" / spec.name / f"{chunk:05d}.parquet")
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
