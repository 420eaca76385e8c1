"""Protect one verified chunk: the values the vault stores for each row, and its sealed quarantine payload.

By the canonical storage of each field: ``plain`` values stay; ``sealed`` values are encrypted, and get
a blind index and a display mask where the field asks for them. Extra columns go to ``extras``
(JSON) or, when the contract declares them personal, to ``extras_enc``. Every row also gets:

- ``row_hash``: a keyed hash of its normalised content — equal rows collapse, different rows with one key
  conflict, and a re-run writes nothing when the hash is unchanged;
- ``_payload``: the row as the branch sent it, encrypted — what quarantine keeps for repair.

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

    names = [c.name for c in spec.columns]
    content = [json.dumps([data[c][i] for c in names], ensure_ascii=False) if data["_problem"][i] is None
               else base64.b64encode(data["_raw"][i] or b"").decode() for i in range(n)]
    out["key_id"] = [cipher.key_id] * n
    out["row_hash"] = keys.content.digest_many(f"row:{spec.name}", content)
    out["source_file"] = [spec.source.file] * n
    out["source_line"] = data["_line"]
    payloads = []
    for i in range(n):
        if data["_problem"][i] is not None:
            payload = {"raw_base64": base64.b64encode(data["_raw"][i] or b"").decode()}
        else:
            payload = {c.header: data[f"_src_{c.name}"][i] for c in spec.columns}
        payloads.append(json.dumps(payload, ensure_ascii=False, sort_keys=True))
    out["_payload"] = cipher.encrypt_many(payloads, PAYLOAD_COLUMN)
    out["_payload_hash"] = keys.content.digest_many(f"payload:{spec.name}", payloads)
    out["_reasons"] = data["_reasons"]
    out["_chunk"] = [ref["chunk"]] * n

    schema = [(name, _arrow_type(sqltype)) for name, sqltype in vault_columns(model)]
    schema += [("key_id", pa.string()), ("row_hash", pa.binary()), ("source_file", pa.string()),
               ("source_line", pa.int64()), ("_payload", pa.binary()), ("_payload_hash", pa.binary()),
               ("_reasons", pa.list_(pa.string())), ("_chunk", pa.int64())]
    protected = pa.table({name: pa.array(out[name], typ) for name, typ in schema})
    path = subdir(area, "protected", spec.name) / Path(ref["path"]).name
    write_table(protected, path)
    return {k: v for k, v in ref.items() if k != "validation"} | {"path": path.as_posix()}


def _arrow_type(sqltype: str) -> pa.DataType:
    # Staging receives text for typed columns (PostgreSQL parses ISO dates and decimals on COPY).
    return pa.binary() if sqltype == "bytea" else pa.string()


def open_payload(cipher, blob: bytes) -> dict:
    """Decrypt a quarantine payload (for repair tooling; never logged)."""
    return json.loads(cipher.decrypt(blob, PAYLOAD_COLUMN))
