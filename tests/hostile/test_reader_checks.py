"""Reader-level checks of the hostile corpus, without PostgreSQL: which cell texts are quarantined, how a
mixed file's encoding is chosen, and that a quarantined CSV row keeps its bytes exactly."""

from __future__ import annotations

import pytest
from handover.contract import load_contract
from handover.sources import FIELD_LIMIT, cell_issues, cell_problem, is_blank_row, read_chunks
from handover.sources.csv import detect_encoding

from tests.hostile.builders import HEADERS, csv_lines, customers, write_contract

HEADER = ["客户编号", "姓名", "备注"]
LIMITS = [FIELD_LIMIT, FIELD_LIMIT, 32_767]


@pytest.mark.parametrize("value", [
    '=HYPERLINK("http://x","y")', "=1+1", "@SUM(A1:A9)", "+cmd", "-cmd", "+SUM(A1)", "-2+3+cmd|' /C calc'!A0",
    "  =A1", "\u3000@x", "+ cmd",
])
def test_formula_like_values(value):
    """A cell's finding, laid at its column (whose on_invalid decides), never the row's problem."""
    assert cell_problem(["C1", value, ""], HEADER, LIMITS) is None
    assert cell_issues(["C1", value, ""], [0, 1, 2], ["customer_id", "name", "note"]) == ["name:formula_like"]


@pytest.mark.parametrize("value", [
    "+86 138-0013-8000", "-1,234.50", "+1234", "-¥1,234.50", "- 客户来电", "-", "+", "王@", "张三=李四", "#12 室",
    "O'Brien", "Robert'); DROP TABLE vault.customers;--", "𠀾𪚥", "王😀",
])
def test_values_that_are_not_formulas(value):
    assert cell_problem(["C1", value, ""], HEADER, LIMITS) is None
    assert cell_issues(["C1", value, ""], [0, 1, 2], ["customer_id", "name", "note"]) is None


@pytest.mark.parametrize("value", ["#N/A", "#REF!", " #VALUE! ", "#DIV/0!", "#NAME?"])
def test_excel_error_values(value):
    assert cell_issues(["C1", "王", value], [0, 1, 2], ["customer_id", "name", "note"]) == ["note:excel_error"]


@pytest.mark.parametrize("cells, problem", [
    (["C1", "王\x00伟", ""], "control_character"),
    (["C1", "王\x1b伟", ""], "control_character"),
    (["C1", "王\ufeff伟", ""], "stray_bom"),
    (["\ufeff客户编号", "姓名", "备注"], "repeated_header"),
    ([" 客户编号 ", "姓名", "备注"], "repeated_header"),
    (["C1", "王" * (FIELD_LIMIT + 1), ""], "oversized_field"),
    (["C1", "王" * FIELD_LIMIT, "注" * 32_767], None),
    (["C1", "王", "注" * 32_768], "oversized_field"),
    (["C1", "王\t伟\r\n", "多行\n备注"], None),  # tabs and line breaks are text
])
def test_cell_problems(cells, problem):
    assert cell_problem(cells, HEADER, LIMITS) == problem


@pytest.mark.parametrize("cells, blank", [
    (["", "", ""], True), (["  ", "\u3000", "\t"], True), (["\u200b", None, ""], True), (["", "x", ""], False),
])
def test_blank_rows(cells, blank):
    assert is_blank_row(cells) is blank


def test_auto_detection_by_majority_of_lines(tmp_path):
    rows = customers(6)
    path = tmp_path / "x.csv"
    lines = csv_lines(HEADERS["customers"], rows, "gb18030")
    lines[3] = csv_lines(HEADERS["customers"], [rows[2]], "utf-8")[1]
    path.write_bytes(b"".join(lines))
    assert detect_encoding(path) == "gb18030"
    lines = csv_lines(HEADERS["customers"], rows, "utf-8")
    lines[3] = csv_lines(HEADERS["customers"], [rows[2]], "gb18030")[1]
    path.write_bytes(b"".join(lines))
    assert detect_encoding(path) == "utf-8"


def test_a_quarantined_csv_row_keeps_its_exact_bytes_quotes_and_inner_line_breaks(tmp_path):
    header = ",".join(HEADERS["customers"]).encode()
    bad = '"C,1","王\r\n伟",女'.encode()  # ragged: three fields
    (tmp_path / "客户信息.csv").write_bytes(header + b"\r\n" + bad + b"\r\n")
    spec = load_contract(write_contract(tmp_path)).entities["customers"]
    chunk = next(read_chunks(spec, tmp_path, 10))
    assert chunk.problems == ["ragged_row"] and chunk.raw == [bad] and chunk.lines == [2]
