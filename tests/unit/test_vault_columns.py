"""The column-at-a-time parts of protect_chunk give what the row-at-a-time definitions give."""

from __future__ import annotations

import base64
import json
from types import SimpleNamespace

import pyarrow as pa
from handover.vault import _contents, _extras_json


def test_extras_are_the_json_of_each_rows_non_null_values():
    rows = [("王经理", None, "a\"b\\c\n"), (None, None, None), ("王经理", "x", None), ("李", "😀", "é")]
    table = pa.table({name: pa.chunked_array([[r[i] for r in rows[:2]], [r[i] for r in rows[2:]]], pa.string())
                      for i, name in enumerate(("manager", "branch_note", "code"))})
    names = ["manager", "code", "branch_note"]
    expected = []
    for row in rows:
        present = {n: v for n, v in zip(("manager", "branch_note", "code"), row, strict=True) if v is not None}
        expected.append(json.dumps(present, ensure_ascii=False, sort_keys=True) if present else None)
    assert _extras_json(table, names).to_pylist() == expected
    assert _extras_json(table, []).to_pylist() == [None] * len(rows)


def test_row_content_joins_values_and_unreadable_rows_use_their_bytes():
    spec = SimpleNamespace(columns=[SimpleNamespace(name="a"), SimpleNamespace(name="b")])
    table = pa.table({
        "a": pa.array(["1", None, "张", None], pa.string()),
        "b": pa.array(["x", "y", None, None], pa.string()),
        "_problem": pa.array([None, None, None, "ragged_row"], pa.string()),
        "_raw": pa.array([None, None, None, b"1,2,3\n"], pa.binary()),
    })
    expected = ["1\x1fx", "\x00\x1fy", "张\x1f\x00"]
    assert _contents(spec, table) == [v.encode() for v in expected] + [base64.b64encode(b"1,2,3\n")]


def test_protect_chunk_values_match_their_row_by_row_definitions(tmp_path):
    from handover import masks
    from handover.contract import Column, EntitySpec, Source
    from handover.crypto import FieldCipher, Hasher, new_key
    from handover.vault import protect_chunk
    from handover.workarea import ChunkRef, WorkArea, read_table, write_table

    def column(name, extra=False, pii="none", fmt=None):
        return Column(header=name, name=name, is_extra=extra, type="string", format=fmt, required=False,
                      key=name == "customer_id", pii=pii, retention="relationship")

    spec = EntitySpec(name="customers", source=Source(file="客户.csv", format="csv"), columns=(
        column("customer_id"), column("name", pii="direct"), column("mobile", pii="direct", fmt="mobile"),
        column("manager", extra=True), column("note", extra=True, pii="free_text"),
        column("passport", extra=True, pii="direct")))
    rows = [("C1", "张伟", "13812345678", "王", "备注", None), ("C2", None, None, None, None, None),
            ("C3", "李", "138", None, "a\"b", "E123"), ("C4", None, None, None, None, None)]
    names = [c.name for c in spec.columns]
    chunk = {n: pa.array([r[i] for r in rows], pa.string()) for i, n in enumerate(names)}
    chunk |= {"_reasons": pa.array([[], [], ["invalid_mobile"], []], pa.list_(pa.string())),
              "_issues": pa.array([[], ["note:formula_like"], [], []], pa.list_(pa.string())),
              "_line": pa.array([2, 3, 4, 5], pa.int64()), "_problem": pa.array([None, None, None, "ragged_row"]),
              "_raw": pa.array([None, None, None, b"C4,,"], pa.binary())}
    area, ref = WorkArea(tmp_path), ChunkRef("customers", 0)
    write_table(pa.table(chunk), area.verified(ref))
    keys = SimpleNamespace(cipher=FieldCipher(new_key(), "k1"), blind_index=Hasher(new_key()),
                           content=Hasher(new_key()))
    out = read_table(protect_chunk(spec, ref, area, keys, "SH-1")).to_pydict()

    def extras(row, sealed):
        present = {c.name: row[i] for i, c in enumerate(spec.columns)
                   if c.is_extra and c.sealed == sealed and row[i] is not None}
        return json.dumps(present, ensure_ascii=False, sort_keys=True) if present else None

    assert out["branch_id"] == ["SH-1"] * 4 and out["customer_id"] == ["C1", "C2", "C3", "C4"]
    assert [keys.cipher.decrypt(b, "vault.customers.name") for b in out["name_enc"]] == [r[1] for r in rows]
    assert out["name_mask"] == [masks.mask("name", r[1]) for r in rows]
    assert out["mobile_bidx"] == [keys.blind_index.digest("mobile", r[2]) for r in rows]
    assert out["mobile_mask"] == [masks.mask("mobile", r[2]) for r in rows]
    assert out["extras"] == [extras(r, False) for r in rows]
    assert [keys.cipher.decrypt(b, "vault.customers.extras") for b in out["extras_enc"]] == \
        [extras(r, True) for r in rows]
    contents = ["\x1f".join("\x00" if v is None else v for v in r) for r in rows[:3]]
    contents.append(base64.b64encode(b"C4,,").decode())
    assert out["row_hash"] == [keys.content.digest("row:customers", c) for c in contents]
    assert out["id_number_enc"] == [None] * 4  # a field the contract does not map
    assert out["_reasons"] == [[], [], ["invalid_mobile"], []] and out["source_line"] == [2, 3, 4, 5]
    assert out["field_issues"] == [[], ["note:formula_like"], [], []]
    assert out["key_id"] == ["k1"] * 4 and out["source_file"] == ["客户.csv"] * 4 and out["_chunk"] == [0] * 4
