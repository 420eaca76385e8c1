"""The synthetic branch export: deterministic, encoded as the contract says, and self-consistent."""

from __future__ import annotations

import csv
import io
import pathlib
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
try:
    from handover import sample
except ImportError:  # not installed: run from the source tree
    sys.path.insert(0, str(ROOT / "include"))
    from handover import sample


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    out = tmp_path_factory.mktemp("export")
    return out, sample.generate(out)


def _rows(raw: bytes, encoding: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(raw.decode(encoding), newline="")))


def test_checksum_vectors():
    assert sample._resident_id_check_char("11010519491231002") == "X"
    assert sample._uscc_check_char("91110000600037341") == "L"
    assert sample._luhn_check_digit("7992739871") == "3"


def test_generation_is_deterministic(tmp_path, export):
    first, _ = export
    second = tmp_path / "again"
    sample.generate(second)
    for name in sample.FILES.values():
        assert (first / name).read_bytes() == (second / name).read_bytes(), name


def test_another_seed_gives_another_export(tmp_path, export):
    first, _ = export
    sample.generate(tmp_path, seed=1)
    assert (first / sample.FILES["customers"]).read_bytes() != (
        tmp_path / sample.FILES["customers"]
    ).read_bytes()


def test_encodings_and_line_endings(export):
    out, _ = export
    customers = (out / sample.FILES["customers"]).read_bytes()
    with pytest.raises(UnicodeDecodeError):
        customers.decode("utf-8")
    text = customers.decode("gb18030")
    assert not text.startswith("\ufeff") and text.count("\r\n") == text.count("\n")
    assert text.split("\r\n")[0].split(",") == sample.HEADERS["customers"]

    transactions = (out / sample.FILES["transactions"]).read_bytes()
    assert transactions.startswith(b"\xef\xbb\xbf") and b"\r\n" not in transactions
    assert transactions.decode("utf-8-sig").split("\n")[0].split(",") == sample.HEADERS["transactions"]

    interactions = (out / sample.FILES["interactions"]).read_bytes()
    assert not interactions.startswith(b"\xef\xbb\xbf")
    assert interactions.decode("utf-8").split("\n")[0].split(",") == sample.HEADERS["interactions"]


def test_xlsx_has_note_sheet_then_accounts(export):
    from openpyxl import load_workbook

    out, result = export
    wb = load_workbook(out / sample.FILES["accounts"])
    assert wb.sheetnames == ["说明", "账户"]
    rows = list(wb["账户"].iter_rows(values_only=True))
    assert list(rows[0]) == sample.HEADERS["accounts"]
    assert len(rows) - 1 == result["rows"]["accounts"]
    dates = {type(r[6]).__name__ for r in rows[1:]}
    assert dates == {"datetime", "int"}  # real date cells and Excel serials
    assert any(isinstance(r[5], str) and r[5].startswith("¥") for r in rows[1:])


def test_expected_counts_reconcile(export):
    out, result = export
    for entity, exp in result["expected"].items():
        assert exp["source_rows"] == exp["loaded"] + exp["quarantined"] + exp["excluded"] + exp["duplicates"]
        assert exp["source_rows"] == result["rows"][entity]
    assert result["rows"]["customers"] == 200 + 2  # one exact copy, one conflicting copy
    assert len(_rows((out / sample.FILES["customers"]).read_bytes(), "gb18030")) == 202
    assert (
        len(_rows((out / sample.FILES["transactions"]).read_bytes(), "utf-8-sig"))
        == result["rows"]["transactions"]
    )
    assert result["expected"]["customers"]["duplicates"] == 1
    assert result["expected"]["transactions"]["duplicates"] == 1
    assert result["expected"]["customers"]["excluded"] == result["no_consent"] > 0
    for defect, count in result["defects"].items():
        assert 1 <= count <= 3, defect


def test_resident_ids_valid_unless_planted(export):
    out, result = export
    id_defects = {"resident_id_checksum", "resident_id_birth_date", "resident_id_scientific"}
    planted = {cid for d in id_defects for cid in result["planted"][d]}
    rows = _rows((out / sample.FILES["customers"]).read_bytes(), "gb18030")
    checked = 0
    for row in rows:
        rid = row["证件号码"].strip().upper()
        if row["证件类型"] != "身份证" or row["客户编号"] in planted:
            continue
        assert len(rid) == 18 and rid[:17].isdigit(), row["客户编号"]
        assert sample._resident_id_check_char(rid[:17]) == rid[17], row["客户编号"]
        if row["性别"] and row["客户编号"] not in result["planted"]["gender_mismatch"]:
            assert (row["性别"] == "男") == (int(rid[16]) % 2 == 1), row["客户编号"]
        checked += 1
    assert checked > 150
    for row in rows:  # and the planted ones really fail
        if row["客户编号"] in result["planted"]["resident_id_checksum"]:
            rid = row["证件号码"].upper()
            assert sample._resident_id_check_char(rid[:17]) != rid[17]


def test_cli_prints_summary_without_customer_data(tmp_path, capsys):
    assert sample.main([str(tmp_path / "cli"), "--customers", "50", "--seed", "7"]) == 0
    line = capsys.readouterr().out
    assert line.count("\n") == 1 and "customers 52" in line and "C000" not in line
