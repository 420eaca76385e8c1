"""The hostile corpus: what a branch's export can do wrong, and what the transfer does about it.

Every case builds its input in tmp_path and runs the whole transfer (`local_run.run_all`, no Airflow) on
a real PostgreSQL, through the `hostile` harness (conftest.py), which enforces for every case:

- nothing but a `HandoverError` escapes the run — never a bare traceback;
- no customer value the case planted appears in the error, the manifest or the audit log;
- a run that succeeds reconciles: source rows = loaded + quarantined + excluded + duplicates, per entity.

Each case then asserts ONE of:

(a) a clear error: a `HandoverError` naming the file (and the line and column where one applies) and
    saying what to do — only when the file as a whole cannot be read (absent, empty, headerless, not
    CSV/XLSX, wrong encoding declared for the header, missing/duplicated columns, missing sheet) or the
    contract is wrong;
(b) the run succeeds and the damaged row(s) — only those — are in ``ops.quarantine`` (or
    ``ops.exclusions``) with the expected reason code, the original content kept in the sealed payload;
(c) for values that are strange but legitimate (SQL-looking or rare-character names, full-width digits,
    Excel serial dates, quoted line breaks), the run succeeds and the row is loaded exactly.

Decisions a demanding data engineer would take, made here and documented per case:

- bytes that do not decode, and UTF-8 text inside a GB18030 file, quarantine the row (``encoding_error``)
  with its bytes — never mojibake in the vault;
- a byte-order mark inside the data is never stripped silently: a repeated header row (two exports
  concatenated) is ``repeated_header``, any other row with a BOM is ``stray_bom``;
- NUL and other control characters are ``control_character`` (NUL cannot even be stored in PostgreSQL);
- a field over 1,024 characters (32,767 for free text, Excel's cell limit) is ``oversized_field``;
- a cell a spreadsheet would run (``=…``, ``@…``, ``+cmd``) is ``formula_like``; an Excel error value
  (``#N/A``) is ``excel_error``;
- a row with cells but no content is ``blank_row`` (an empty line is not a row);
- a quoted field still open at the end of the file is ``unterminated_quote`` (a cut file);
- an XLSX row covered by a merged range is ``merged_cell``.
"""

from __future__ import annotations

import datetime as dt
import io
import random
import re
import zipfile
from pathlib import Path

import psycopg2
import pytest
from handover import lookup
from handover.crypto import MasterKey
from handover.errors import ContractError, SourceError

from tests.hostile.builders import (
    ACCOUNT_COLUMNS,
    BRANCH,
    CUSTOMER_COLUMNS,
    HEADERS,
    account,
    csv_lines,
    csv_source,
    customer,
    customers,
    interaction,
    resident_id,
    table,
    workbook,
    write_contract,
    write_csv,
    xlsx_source,
)
from tests.hostile.checks import assert_clear_error, raw_bytes

H = HEADERS["customers"]


@pytest.fixture
def export(tmp_path) -> Path:
    folder = tmp_path / "export"
    folder.mkdir()
    return folder


def values_of(*rows: dict) -> list[str]:
    """The customer values a case plants (for the no-leak rule): every non-trivial cell of its rows."""
    skip = {"是", "否", "男", "女", "周经理", ""}
    return [v for row in rows for k, v in row.items() if v not in skip and k not in ("出生日期",)]


def only_damaged(outcome, expected: dict[int, set[str]], entity: str = "customers", contains: bool = False):
    """Exactly the planted lines are quarantined, each with the expected reason code(s)."""
    found = outcome.reasons(entity)
    assert set(found) == set(expected), found
    declared = next(s["file"] for s in outcome.manifest["sources"] if s["entity"] == entity)
    assert {q["file"] for q in outcome.quarantine if q["entity"] == entity} <= {declared}  # the file is named
    for line, reasons in expected.items():
        assert (reasons <= found[line]) if contains else (found[line] == reasons), (line, found[line])


# ======================================================================================================
# Encodings
# ======================================================================================================

def test_gbk_bytes_in_a_file_declared_utf8_quarantine_the_row_with_its_bytes(export, hostile):
    rows = customers(5)
    lines = csv_lines(H, rows, "utf-8")
    lines[3] = csv_lines(H, [rows[2]], "gbk")[1]  # line 4 was pasted from a GBK export
    (export / "客户信息.csv").write_bytes(b"".join(lines))
    out = hostile(write_contract(export, {"customers": csv_source("customers", "utf-8")}), values_of(rows[2]))
    only_damaged(out, {4: {"encoding_error"}})
    assert raw_bytes(out.at(4)) == lines[3].rstrip(b"\r\n")  # the GBK bytes, as the file holds them
    assert out.counts("customers")["loaded"] == 4


def test_utf8_bytes_in_a_file_declared_gb18030_quarantine_the_row_not_mojibake(export, hostile):
    rows = customers(5)
    lines = csv_lines(H, rows, "gb18030")
    lines[2] = csv_lines(H, [rows[1]], "utf-8")[1]  # GB18030 would decode these bytes into wrong characters
    (export / "客户信息.csv").write_bytes(b"".join(lines))
    out = hostile(write_contract(export, {"customers": csv_source("customers", "gb18030")}), values_of(rows[1]))
    only_damaged(out, {3: {"encoding_error"}})
    assert raw_bytes(out.at(3)) == lines[2].rstrip(b"\r\n")
    assert rows[1]["客户编号"] not in out.loaded_keys()


@pytest.mark.parametrize("main, stray", [("utf-8", "gbk"), ("gb18030", "utf-8")])
def test_auto_detection_keeps_the_main_encoding_of_a_mixed_file(export, hostile, main, stray):
    """`encoding: auto`: the encoding most lines decode in wins; the odd rows are quarantined."""
    rows = customers(8)
    lines = csv_lines(H, rows, main)
    lines[6] = csv_lines(H, [rows[5]], stray)[1]
    (export / "客户信息.csv").write_bytes(b"".join(lines))
    out = hostile(write_contract(export), values_of(rows[5]))
    only_damaged(out, {7: {"encoding_error"}})
    assert out.names["C0001"] == rows[0]["姓名"]  # the others decoded right
    assert out.manifest["sources"][0]["encoding"] == main


def test_a_utf16_export_is_refused_naming_what_it_is(export, hostile):
    rows = customers(3)
    (export / "客户信息.csv").write_bytes(b"\xff\xfe" + b"".join(csv_lines(H, rows, "utf-16-le")))
    out = hostile(write_contract(export), values_of(*rows))
    assert_clear_error(out.error, file="客户信息.csv", line=1, says=("UTF-16", "save it again as CSV UTF-8"))


def test_a_utf8_bom_in_a_file_declared_gb18030_is_refused(export, hostile):
    rows = customers(3)
    (export / "客户信息.csv").write_bytes(b"\xef\xbb\xbf" + b"".join(csv_lines(H, rows, "utf-8")))
    out = hostile(write_contract(export, {"customers": csv_source("customers", "gb18030")}), values_of(*rows))
    assert_clear_error(out.error, file="客户信息.csv", line=1, says=("byte-order mark", "utf-8-sig"))


def test_a_utf8_header_in_a_file_declared_gb18030_is_refused_not_read_as_headerless(export, hostile):
    rows = customers(3)
    write_csv(export / "客户信息.csv", H, rows, "utf-8")
    out = hostile(write_contract(export, {"customers": csv_source("customers", "gb18030")}), values_of(*rows))
    assert_clear_error(out.error, file="客户信息.csv", line=1, says=("UTF-8", "declare encoding"))


def test_an_xlsx_workbook_declared_as_csv_is_refused(export, hostile):
    rows = customers(3)
    workbook({"数据": table(H, rows)}).save(export / "客户信息.csv")
    out = hostile(write_contract(export), values_of(*rows))
    assert_clear_error(out.error, file="客户信息.csv", line=1, says=("zip", "format: xlsx"))


# ======================================================================================================
# Structure: truncation, ragged rows, headers, empty files
# ======================================================================================================

def test_a_file_cut_in_the_middle_of_a_row_quarantines_that_row(export, hostile):
    rows = customers(5)
    data = b"".join(csv_lines(H, rows))
    cut = data.rindex(rows[4]["证件号码"].encode()) + 9  # the last row ends inside its ID number
    (export / "客户信息.csv").write_bytes(data[:cut])
    out = hostile(write_contract(export), values_of(rows[4]) + [rows[4]["证件号码"][:9]])
    only_damaged(out, {6: {"ragged_row"}})
    assert raw_bytes(out.at(6)) == data[data.rindex(b"C0005"):cut]
    assert out.counts("customers")["loaded"] == 4


@pytest.mark.parametrize("tail", [
    '"周经理',  # cut inside the last field: it has the right number of fields, and would load truncated
    '"王',  # cut inside the name: every field after it is missing
])
def test_a_file_cut_inside_a_quoted_field_quarantines_the_row_as_unterminated(export, hostile, tail):
    rows = customers(4)
    last = customer(5)
    head = ",".join(last[h] for h in H[:-1]) + "," if tail.startswith('"周') else "C0005,"
    data = b"".join(csv_lines(H, rows)) + (head + tail).encode()
    (export / "客户信息.csv").write_bytes(data)
    out = hostile(write_contract(export), values_of(last))
    only_damaged(out, {6: {"unterminated_quote"}})
    assert raw_bytes(out.at(6)) == (head + tail).encode()
    assert "C0005" not in out.loaded_keys()


def test_a_stray_quote_swallowing_the_rest_of_the_file_is_one_quarantined_row_with_every_byte(export, hostile):
    rows = customers(6)
    rows[2]["姓名"] = '"张三'  # written unquoted below: the quote opens a field that never closes
    lines = csv_lines(H, rows)
    lines[3] = ",".join(rows[2][h] for h in H).encode() + b"\r\n"
    (export / "客户信息.csv").write_bytes(b"".join(lines))
    out = hostile(write_contract(export), values_of(rows[2], *rows[3:]))
    only_damaged(out, {4: {"unterminated_quote"}})
    assert raw_bytes(out.at(4)) == b"".join(lines[3:]).rstrip(b"\r\n")  # lines 4..7: nothing is lost
    assert out.counts("customers")["source_rows"] == 3  # rows 4-7 swallowed into one: flagged, not lost
    # … and the manifest shows the file's 7 physical lines beside its 3 records, for the receiver to see
    assert [s["lines"] for s in out.manifest["sources"] if s["entity"] == "customers"] == [7]


def test_ragged_rows_too_few_and_too_many_fields_are_quarantined_with_their_quoting(export, hostile):
    rows = customers(5)
    lines = csv_lines(H, rows)
    lines[2] = csv_lines(H[:-2], [rows[1]])[1]  # two fields short
    lines[4] = lines[4].rstrip(b"\r\n") + ',"多余,字段"\r\n'.encode()  # one field too many, quoted comma
    (export / "客户信息.csv").write_bytes(b"".join(lines))
    out = hostile(write_contract(export), values_of(rows[1], rows[3]))
    only_damaged(out, {3: {"ragged_row"}, 5: {"ragged_row"}})
    assert raw_bytes(out.at(5)).endswith(',"多余,字段"'.encode())  # the original bytes, quotes and all
    assert out.at(3)["key"] == "C0002"


def test_a_duplicated_header_is_refused_naming_the_column(export, hostile):
    rows = customers(3)
    header = [*H, "手机号码"]
    write_csv(export / "客户信息.csv", header, [[*(r[h] for h in H), r["手机号码"]] for r in rows])
    out = hostile(write_contract(export), values_of(*rows))
    assert_clear_error(out.error, file="客户信息.csv", line=1, column="手机号码", says=("appears 2 times",))


def test_a_missing_header_column_is_refused_naming_the_column(export, hostile):
    rows = customers(3)
    header = [h for h in H if h != "出生日期"]
    write_csv(export / "客户信息.csv", header, rows)
    out = hostile(write_contract(export), values_of(*rows))
    assert_clear_error(out.error, file="客户信息.csv", line=1, column="出生日期",
                       says=("declared in the contract is not in the header row",))


def test_a_headerless_file_is_refused_without_quoting_its_first_row(export, hostile):
    rows = customers(3)
    (export / "客户信息.csv").write_bytes(b"".join(csv_lines(H, rows)[1:]))
    out = hostile(write_contract(export), values_of(*rows))
    assert_clear_error(out.error, file="客户信息.csv", line=1, says=("no header row",))


def test_a_header_after_blank_lines_is_reported_on_its_own_line(export, hostile):
    rows = customers(2)
    header = [*H, "备用"]
    (export / "客户信息.csv").write_bytes(b"\r\n\r\n" + b"".join(csv_lines(header, rows)))
    out = hostile(write_contract(export), values_of(*rows))
    assert_clear_error(out.error, file="客户信息.csv", line=3, column="备用", says=("not in the contract",))


def test_an_empty_file_is_refused(export, hostile):
    (export / "客户信息.csv").write_bytes(b"")
    out = hostile(write_contract(export))
    assert_clear_error(out.error, file="客户信息.csv", line=1, says=("empty",))


def test_a_header_only_file_transfers_zero_rows_and_balances(export, hostile):
    rows = customers(3)
    write_csv(export / "客户信息.csv", H, rows)
    write_csv(export / "服务记录.csv", HEADERS["interactions"], [])
    out = hostile(write_contract(export, {"customers": csv_source("customers"),
                                          "interactions": csv_source("interactions")}), values_of(*rows))
    assert out.error is None
    assert out.counts("interactions") | {"reasons": None} == {
        "source_rows": 0, "loaded": 0, "quarantined": 0, "excluded": 0, "duplicates": 0, "reasons": None,
        "loaded_with_issues": 0, "field_issues": {}, "balanced": True}
    assert out.counts("customers")["loaded"] == 3


def test_a_trailing_delimiter_on_every_line_is_an_empty_unnamed_column_not_a_problem(export, hostile):
    """Excel's habit: an empty last column with no header. It holds nothing, so nothing is lost."""
    rows = customers(3)
    lines = [line.rstrip(b"\r\n") + b",\r\n" for line in csv_lines(H, rows)]
    (export / "客户信息.csv").write_bytes(b"".join(lines))
    out = hostile(write_contract(export), values_of(*rows))
    assert out.reasons() == {} and out.loaded_keys() == {"C0001", "C0002", "C0003"}


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_a_value_in_a_column_without_a_header_quarantines_the_row_not_drops_the_value(export, hostile, fmt):
    rows = customers(3)
    if fmt == "csv":
        lines = [line.rstrip(b"\r\n") + b",\r\n" for line in csv_lines(H, rows)]
        lines[2] = lines[2].rstrip(b",\r\n") + ",备注：VIP客户\r\n".encode()
        (export / "客户信息.csv").write_bytes(b"".join(lines))
        source = csv_source("customers")
    else:
        sheet = [[*row, None] for row in table(H, rows)]
        sheet[0][-1] = "  "  # the header cell exists but is blank
        sheet[2][-1] = "备注：VIP客户"
        workbook({"数据": sheet}).save(export / "客户信息.xlsx")
        source = xlsx_source("customers")
    out = hostile(write_contract(export, {"customers": source}), [*values_of(*rows), "VIP客户"])
    only_damaged(out, {3: {"ragged_row"}})
    assert "VIP客户".encode() in raw_bytes(out.at(3))


def test_whitespace_only_rows_are_quarantined_and_empty_lines_are_not_rows(export, hostile):
    rows = customers(4)
    lines = csv_lines(H, rows)
    lines[2:2] = [b"   \r\n", b",,,,,,,,\r\n", "\u3000, ,\t,,,,,,\r\n".encode(), b"\r\n"]
    (export / "客户信息.csv").write_bytes(b"".join(lines))
    out = hostile(write_contract(export), values_of(*rows))
    only_damaged(out, {3: {"blank_row"}, 4: {"blank_row"}, 5: {"blank_row"}})  # line 6 is empty: not a row
    assert out.counts("customers")["source_rows"] == 7
    assert {v["line"] for v in out.vault["customers"]} == {2, 7, 8, 9}


def test_a_declared_file_that_is_absent_is_refused(export, hostile):
    write_csv(export / "客户信息.csv", H, customers(2))
    out = hostile(write_contract(export, {"customers": csv_source("customers"),
                                          "interactions": csv_source("interactions")}), values_of(*customers(2)))
    assert_clear_error(out.error, file="服务记录.csv", says=("does not exist", "source folder"))


def test_a_contract_with_several_errors_lists_them_all(export, hostile):
    write_csv(export / "客户信息.csv", H, customers(2))
    cols = {h: dict(c) for h, c in CUSTOMER_COLUMNS.items()}
    cols["证件号码"]["pii"] = "none"  # weaker than the field's class
    cols["手机号码"]["field"] = "cellphone"  # no such field
    cols["客户经理"]["retention"] = "forever"  # undeclared retention class
    cols["姓名"]["colour"] = "red"  # unknown key
    contract = write_contract(export, {"customers": {"file": "客户信息.csv", "format": "csv", "encoding": "latin-1"}},
                              columns={"customers": cols})
    out = hostile(contract)
    message = assert_clear_error(out.error, file="contract.yaml", says=(
        "entities.customers.columns.证件号码: pii none is weaker",
        "entities.customers.columns.手机号码: unknown field 'cellphone'",
        "retention class 'forever' is not declared",
        "entities.customers.columns.姓名: unknown key 'colour'",
        "entities.customers.source.encoding",
    ))
    assert isinstance(out.error, ContractError) and len(out.error.problems) >= 5, message


# ======================================================================================================
# Bytes inside fields: NUL, BOMs, line breaks, sizes
# ======================================================================================================

def test_nul_bytes_quarantine_the_row_as_control_character(export, hostile):
    """NUL is never data (and PostgreSQL text cannot hold it): the row goes to quarantine, bytes kept."""
    rows = customers(5)
    rows[1]["姓名"] = "王\x00伟"
    rows[3]["客户编号"] = "C00\x0004"  # in the key, which staging stores as plain text
    out_lines = csv_lines(H, rows)
    (export / "客户信息.csv").write_bytes(b"".join(out_lines))
    out = hostile(write_contract(export), values_of(rows[1], rows[3]))
    only_damaged(out, {3: {"control_character"}, 5: {"control_character"}})
    assert b"\x00" in raw_bytes(out.at(3)) and raw_bytes(out.at(5)) == out_lines[4].rstrip(b"\r\n")
    assert out.at(5)["key"] is None  # the key itself was damaged: never passed on as text


def test_two_exports_concatenated_the_second_header_is_quarantined_as_repeated_header(export, hostile):
    """A BOM inside the file is never stripped silently: here it starts a repeated header row."""
    first = b"\xef\xbb\xbf" + b"".join(csv_lines(H, customers(3)))
    second = b"\xef\xbb\xbf" + b"".join(csv_lines(H, customers(3, start=4)))
    (export / "客户信息.csv").write_bytes(first + second)
    out = hostile(write_contract(export), values_of(*customers(6)))
    only_damaged(out, {5: {"repeated_header"}})
    assert raw_bytes(out.at(5)).startswith(b"\xef\xbb\xbf")
    assert out.loaded_keys() == {f"C{i:04d}" for i in range(1, 7)}


def test_a_bom_in_the_middle_of_the_data_quarantines_the_row_as_stray_bom(export, hostile):
    rows = customers(5)
    rows[3]["姓名"] = "王\ufeff伟"  # a BOM inside a field
    first = b"\xef\xbb\xbf" + b"".join(csv_lines(H, rows))
    second = b"\xef\xbb\xbf" + b"".join(csv_lines(H, customers(2, start=6))[1:])  # appended without header
    (export / "客户信息.csv").write_bytes(first + second)
    out = hostile(write_contract(export), values_of(*rows, *customers(2, start=6)))
    only_damaged(out, {5: {"stray_bom"}, 7: {"stray_bom"}})
    assert raw_bytes(out.at(7)).startswith("\ufeffC0006".encode())
    assert out.loaded_keys() == {"C0001", "C0002", "C0003", "C0005", "C0007"}


def test_a_10mb_field_is_quarantined_as_oversized_with_every_byte_kept(export, hostile):
    people = customers(2)
    write_csv(export / "客户信息.csv", H, people)
    huge = "客户张伟来电13912345678" * 370_000  # 10.7 MB in UTF-8
    talks = [interaction(1, "C0001"), interaction(2, "C0002", 备注=huge), interaction(3, "C0002")]
    lines = csv_lines(HEADERS["interactions"], talks)
    (export / "服务记录.csv").write_bytes(b"".join(lines))
    out = hostile(write_contract(export, {"customers": csv_source("customers"),
                                          "interactions": csv_source("interactions")}),
                  values_of(*people) + ["张伟来电13912345678"])
    only_damaged(out, {3: {"oversized_field"}}, entity="interactions")
    assert len(raw_bytes(out.at(3, "interactions"))) == len(lines[2]) - 2 > 10_000_000
    assert out.counts("interactions")["loaded"] == 2


def test_very_long_names_are_quarantined_as_oversized(export, hostile):
    rows = customers(4)
    rows[1]["姓名"] = "张" * 5000
    rows[2]["姓名"] = "李" * 1024  # at the limit: still loaded
    write_csv(export / "客户信息.csv", H, rows)
    out = hostile(write_contract(export), values_of(rows[1]))
    only_damaged(out, {3: {"oversized_field"}})
    assert out.names["C0003"] == "李" * 1024


def test_crlf_lf_and_cr_mixed_in_one_file_keep_every_row_and_its_line(export, hostile):
    rows = customers(7)
    rows[5]["手机号码"] = "1234"
    lines = [line.rstrip(b"\r\n") + end for line, end in
             zip(csv_lines(H, rows), [b"\r\n", b"\n", b"\r\n", b"\r", b"\n", b"\r\n", b"\n", b"\r\n"], strict=True)]
    (export / "客户信息.csv").write_bytes(b"".join(lines))
    out = hostile(write_contract(export), values_of(rows[5]))
    only_damaged(out, {7: {"invalid_mobile"}})
    assert out.counts("customers")["loaded"] == 6


def test_quoted_fields_with_line_breaks_load_and_later_lines_stay_exact(export, hostile):
    rows = customers(5)
    rows[1]["客户经理"] = "周经理\r\n（兼）"
    rows[2]["客户经理"] = "李经理\n\n吴经理"
    rows[4]["手机号码"] = "1234"
    write_csv(export / "客户信息.csv", H, rows)
    out = hostile(write_contract(export), values_of(rows[4]))
    only_damaged(out, {9: {"invalid_mobile"}})  # rows start on lines 2, 3, 5, 8, 9
    assert {v["key"]: v["line"] for v in out.vault["customers"]} == {
        "C0001": 2, "C0002": 3, "C0003": 5, "C0004": 8}
    with psycopg2.connect(_dsn(out)) as conn, conn.cursor() as cur:
        cur.execute("SELECT extras FROM vault.customers WHERE customer_id = 'C0003'")
        assert cur.fetchone()[0]["relationship_manager"] == "李经理\n\n吴经理"


# ======================================================================================================
# Values: spreadsheet formulas, SQL, long and rare characters
# ======================================================================================================

def test_formula_looking_cells_are_quarantined_as_formula_like(export, hostile):
    """In a name or a code a formula is a reason to hold the row (the columns' default on_invalid)."""
    rows = customers(7)
    rows[0]["姓名"] = '=HYPERLINK("http://x","y")'
    rows[1]["客户经理"] = "+cmd"
    rows[2]["姓名"] = "@SUM(A1:A9)"
    rows[3]["姓名"] = "-2+3+cmd|' /C calc'!A0"
    rows[4]["手机号码"] = "+86 139-0000-0005"  # a sign, but a phone number: not a formula
    rows[5]["客户经理"] = "- 张经理"  # a dash before a name in Chinese: not a formula
    write_csv(export / "客户信息.csv", H, rows)
    planted = ['=HYPERLINK("http://x","y")', "+cmd", "@SUM(A1:A9)", "-2+3+cmd"]
    out = hostile(write_contract(export), planted)
    only_damaged(out, {2: {"formula_like"}, 3: {"formula_like"}, 4: {"formula_like"}, 5: {"formula_like"}})
    assert out.loaded_keys() == {"C0005", "C0006", "C0007"}
    assert out.at(2)["payload"]["姓名"] == '=HYPERLINK("http://x","y")'  # kept as sent, for the branch to correct


def test_a_formula_in_free_text_is_kept_as_text_and_counted_not_quarantined(export, hostile):
    """A remark is data: the row loads, the formula is kept as text, and the reconciliation counts it."""
    people = customers(3)
    notes = [interaction(1, "C0001", 备注='=HYPERLINK("http://x","点我")'), interaction(2, "C0002"),
             interaction(3, "C0003", 备注="@SUM(1)")]
    write_csv(export / "客户信息.csv", H, people)
    write_csv(export / "服务记录.csv", HEADERS["interactions"], notes)
    out = hostile(write_contract(export, {"customers": csv_source("customers"),
                                          "interactions": csv_source("interactions")}), values_of(*people))
    assert out.reasons("interactions") == {}
    counts = out.counts("interactions")
    assert counts["loaded"] == 3 and counts["loaded_with_issues"] == 2
    assert counts["field_issues"] == {"note:formula_like": 2}
    with psycopg2.connect(_dsn(out)) as conn, conn.cursor() as cur:
        cur.execute("SELECT interaction_id, field_issues FROM vault.interactions ORDER BY 1")
        assert cur.fetchall() == [("I0001", ["note:formula_like"]), ("I0002", []), ("I0003", ["note:formula_like"])]


def test_a_column_may_load_a_bad_value_as_null_with_the_reason_kept(export, hostile):
    """on_invalid: null — the customer loads without the unreadable birth date; the row says why."""
    people = customers(3)
    people[1]["出生日期"] = "1990-02-30"
    write_csv(export / "客户信息.csv", H, people)
    columns = {"customers": {**CUSTOMER_COLUMNS, "出生日期": {**CUSTOMER_COLUMNS["出生日期"], "on_invalid": "null"}}}
    out = hostile(write_contract(export, columns=columns), values_of(*people))
    assert out.reasons() == {}
    assert out.counts("customers")["field_issues"] == {"birth_date:unparseable_date": 1}
    with psycopg2.connect(_dsn(out)) as conn, conn.cursor() as cur:
        cur.execute("SELECT birth_date, field_issues FROM vault.customers WHERE customer_id = 'C0002'")
        assert cur.fetchone() == (None, ["birth_date:unparseable_date"])


def test_excel_error_values_are_quarantined(export, hostile):
    rows = customers(4)
    rows[1]["证件号码"] = "#N/A"
    rows[2]["姓名"] = " #REF! "
    write_csv(export / "客户信息.csv", H, rows)
    out = hostile(write_contract(export), values_of(rows[1], rows[2]))
    only_damaged(out, {3: {"excel_error"}, 4: {"excel_error"}})


def test_sql_looking_values_are_loaded_exactly_as_data(export, hostile):
    """A name is data: parameterised SQL and COPY keep it intact, and nothing is dropped."""
    rows = customers(3)
    rows[0]["姓名"] = "Robert'); DROP TABLE vault.customers;--"
    rows[1]["客户编号"] = "C9'); DROP TABLE ops.quarantine;--"
    rows[2]["客户经理"] = "x\\'; DELETE FROM ops.audit; --\t\\N"
    write_csv(export / "客户信息.csv", H, rows)
    out = hostile(write_contract(export), values_of(*rows))
    assert out.reasons() == {}
    assert out.names["C0001"] == "Robert'); DROP TABLE vault.customers;--"
    assert out.loaded_keys() == {"C0001", "C9'); DROP TABLE ops.quarantine;--", "C0003"}
    with psycopg2.connect(_dsn(out)) as conn, conn.cursor() as cur:
        cur.execute("SELECT extras FROM vault.customers WHERE customer_id = 'C0003'")
        assert cur.fetchone()[0]["relationship_manager"] == "x\\'; DELETE FROM ops.audit; --\t\\N"


@pytest.mark.parametrize("encoding", ["gb18030", "utf-8"])
def test_emoji_and_rare_cjk_names_load_exactly(export, hostile, encoding):
    rows = customers(4)
    rows[0]["姓名"] = "𠀾𪚥"  # CJK extension B: four bytes in GB18030 and in UTF-8
    rows[1]["姓名"] = "王😀"
    rows[2]["姓名"] = "𠮷野家"
    rows[3]["姓名"] = "李\u3400\u9fff"  # extension A and the last URO character
    write_csv(export / "客户信息.csv", H, rows, encoding)
    out = hostile(write_contract(export), values_of(*rows))
    assert out.reasons() == {}
    assert out.names == {r["客户编号"]: r["姓名"] for r in rows}


def test_full_width_digits_are_normalised_and_found(export, hostile, master_key_text):
    rows = customers(3)
    full = str.maketrans("0123456789X-", "０１２３４５６７８９Ｘ－")
    rows[1]["手机号码"] = rows[1]["手机号码"].translate(full)
    rows[1]["证件号码"] = rows[1]["证件号码"].translate(full)
    rows[1]["出生日期"] = rows[1]["出生日期"].translate(full)
    write_csv(export / "客户信息.csv", H, rows, "gb18030")
    out = hostile(write_contract(export), values_of(*rows))
    assert out.reasons() == {}
    found = lookup.find_customers(_dsn(out), MasterKey.from_text(master_key_text), mobile="13900000002")
    assert [f["customer_id"] for f in found] == ["C0002"]


# ======================================================================================================
# Validation: checksums, scientific notation, dates and amounts, references, duplicates
# ======================================================================================================

def _with_accounts(export: Path, people: list[dict], accounts: list[dict]) -> Path:
    write_csv(export / "客户信息.csv", H, people)
    write_csv(export / "账户信息.csv", list(ACCOUNT_COLUMNS), accounts)
    return write_contract(export, {"customers": csv_source("customers"), "accounts": csv_source("accounts")})


def test_invalid_checksums_resident_id_uscc_and_luhn_are_quarantined(export, hostile):
    people = customers(4)
    rid = people[1]["证件号码"]
    people[1]["证件号码"] = rid[:-1] + ("0" if rid[-1] != "0" else "1")
    people[2]["统一社会信用代码"] = "91310115MA1H7GXP4L"
    accounts = [account(1, "C0001"), account(2, "C0004")]
    accounts[1]["卡号"] = accounts[1]["卡号"][:-1] + str((int(accounts[1]["卡号"][-1]) + 1) % 10)
    out = hostile(_with_accounts(export, people, accounts), values_of(*people, *accounts))
    only_damaged(out, {3: {"invalid_resident_id"}, 4: {"invalid_uscc"}})
    only_damaged(out, {3: {"invalid_bank_card"}}, entity="accounts")


def test_resident_ids_are_checked_when_the_contract_has_no_id_type_column(export, hostile):
    rows = customers(3)
    rid = rows[1]["证件号码"]
    rows[1]["证件号码"] = rid[:-1] + ("0" if rid[-1] != "0" else "1")
    cols = {h: c for h, c in CUSTOMER_COLUMNS.items() if h != "证件类型"}
    write_csv(export / "客户信息.csv", [h for h in H if h != "证件类型"], rows)
    out = hostile(write_contract(export, columns={"customers": cols}), values_of(*rows))
    only_damaged(out, {3: {"invalid_resident_id"}})


def test_a_scientific_notation_id_in_csv_text_is_flagged_never_repaired(export, hostile):
    rows = customers(3)
    rows[1]["证件号码"] = "4.40106E+17"
    rows[2]["证件号码"] = "4.40106194912310E+17"
    write_csv(export / "客户信息.csv", H, rows)
    out = hostile(write_contract(export), values_of(rows[0]))
    only_damaged(out, {3: {"id_scientific_notation"}, 4: {"id_scientific_notation"}}, contains=True)


def test_a_scientific_notation_id_from_an_xlsx_float_cell_is_flagged(export, hostile):
    rows = customers(3)
    sheet = table(H, rows)
    sheet[2][H.index("证件号码")] = 440106194912310000.0  # Excel stored the ID typed into a General cell
    workbook({"数据": sheet}).save(export / "客户信息.xlsx")
    out = hostile(write_contract(export, {"customers": xlsx_source("customers")}), values_of(*rows))
    only_damaged(out, {3: {"id_scientific_notation"}}, contains=True)


def test_unparseable_dates_amounts_datetimes_and_booleans_are_quarantined(export, hostile):
    people = customers(5)
    people[1]["出生日期"] = "1990-02-30"
    people[2]["同意转移"] = "也许"
    people[3]["出生日期"] = "3000000"  # beyond Excel's last serial
    accounts = [account(1, "C0001", 余额="12,34.5"), account(2, "C0001", 余额="￥1,234.50"),
                account(3, "C0005", 余额="USD 100")]
    write_csv(export / "服务记录.csv", HEADERS["interactions"],
              [interaction(1, "C0001", 服务时间="2024-13-01 25:00"), interaction(2, "C0001")])
    contract = _with_accounts(export, people, accounts)
    contract = write_contract(export, {"customers": csv_source("customers"), "accounts": csv_source("accounts"),
                                       "interactions": csv_source("interactions")})
    out = hostile(contract, values_of(*people))
    only_damaged(out, {3: {"unparseable_date"}, 4: {"unparseable_boolean"}, 5: {"unparseable_date"}},
                 contains=True)
    only_damaged(out, {2: {"unparseable_amount"}, 4: {"unparseable_amount"}}, entity="accounts")
    only_damaged(out, {2: {"unparseable_datetime"}}, entity="interactions")


def test_orphans_and_children_of_quarantined_parents_are_held(export, hostile):
    people = customers(3)
    people[2]["手机号码"] = "1234"  # C0003 is quarantined
    accounts = [account(1, "C0001"), account(2, "C9999"), account(3, "C0003")]
    out = hostile(_with_accounts(export, people, accounts), values_of(*people))
    only_damaged(out, {3: {"orphan_reference"}, 4: {"parent_quarantined"}}, entity="accounts")
    assert out.loaded_keys("accounts") == {"A0001"}


def test_conflicting_duplicates_are_all_quarantined_and_exact_ones_collapse(export, hostile):
    rows = customers(4)
    rows.append(customer(2, 手机号码="13911112222"))  # same key, other content
    rows.append(customer(3))  # an exact copy
    rows.append(customer(4, 同意转移="否"))  # same key, other content, and no consent
    write_csv(export / "客户信息.csv", H, rows)
    out = hostile(write_contract(export), values_of(*rows))
    only_damaged(out, {3: {"conflicting_duplicate"}, 6: {"conflicting_duplicate"}, 5: {"conflicting_duplicate"}})
    assert out.excluded() == {8: {"no_consent"}}
    c = out.counts("customers")
    assert (c["source_rows"], c["loaded"], c["quarantined"], c["excluded"], c["duplicates"]) == (7, 2, 3, 1, 1)


def _serial_export(export):
    people = customers(3)
    born = dt.date(1990, 1, 1)
    people[1].update({"出生日期": "32874", "证件号码": resident_id(born, True, 7)})  # 32874 = 1990-01-01
    people[1]["性别"] = "男"
    sheet = table(list(ACCOUNT_COLUMNS), [account(1, "C0001"), account(2, "C0002")])
    sheet[1][4] = 45296  # 2024-01-05, a serial in a cell without a date format
    sheet[2][4] = dt.datetime(2024, 1, 6)
    write_csv(export / "客户信息.csv", H, people)
    workbook({"数据": sheet}).save(export / "账户信息.xlsx")
    return people, {"customers": csv_source("customers"), "accounts": xlsx_source("accounts")}


def test_a_number_in_a_date_column_is_a_reason_unless_the_contract_declares_serials(export, hostile):
    """In a CSV, "32874" is not a date unless the contract says the column holds Excel serial days ("2015"
    would otherwise be a day of 1905); nor is a number in a General XLSX cell."""
    people, sources = _serial_export(export)
    out = hostile(write_contract(export, sources), values_of(*people))
    assert out.reasons() == {3: {"date_as_number"}}
    assert out.reasons("accounts") == {2: {"date_as_number"}, 3: {"parent_quarantined"}}


def test_excel_serial_dates_are_read_as_dates_where_the_contract_says_so(export, hostile):
    """Declared (excel_serial), the numbers are days; a date-formatted XLSX cell is a date either way."""
    people, sources = _serial_export(export)
    serial = {"excel_serial": True}
    columns = {"customers": {**CUSTOMER_COLUMNS, "出生日期": {**CUSTOMER_COLUMNS["出生日期"], **serial}},
               "accounts": {**ACCOUNT_COLUMNS, "开户日期": {**ACCOUNT_COLUMNS["开户日期"], **serial}}}
    out = hostile(write_contract(export, sources, columns=columns), values_of(*people))
    assert out.reasons() == {} and out.reasons("accounts") == {}
    with psycopg2.connect(_dsn(out)) as conn, conn.cursor() as cur:
        cur.execute("SELECT birth_date::text FROM vault.customers WHERE customer_id = 'C0002'")
        assert cur.fetchone()[0] == "1990-01-01"
        cur.execute("SELECT account_id, opened_on::text FROM vault.accounts ORDER BY 1")
        assert cur.fetchall() == [("A0001", "2024-01-05"), ("A0002", "2024-01-06")]


# ======================================================================================================
# XLSX
# ======================================================================================================

def test_xlsx_rows_under_merged_cells_are_quarantined(export, hostile):
    rows = customers(6)
    wb = workbook({"数据": table(H, rows)})
    ws = wb["数据"]
    col = H.index("客户经理") + 1
    ws.merge_cells(start_row=3, end_row=4, start_column=col, end_column=col)  # one manager for C0002-C0003
    ws.merge_cells(start_row=6, end_row=6, start_column=2, end_column=3)  # name over the gender column
    wb.save(export / "客户信息.xlsx")
    out = hostile(write_contract(export, {"customers": xlsx_source("customers")}), values_of(*rows))
    only_damaged(out, {3: {"merged_cell"}, 4: {"merged_cell"}, 6: {"merged_cell"}})
    assert out.loaded_keys() == {"C0001", "C0004", "C0006"}


def test_xlsx_with_several_sheets_reads_only_the_one_the_contract_names(export, hostile):
    wb = workbook({"说明": table(H, customers(3, start=50)), "客户": table(H, customers(3)),
                   "备份": table(H, customers(2, start=80))})
    wb.save(export / "客户信息.xlsx")
    out = hostile(write_contract(export, {"customers": xlsx_source("customers", sheet="客户")}),
                  values_of(*customers(3), *customers(3, start=50)))
    assert out.loaded_keys() == {"C0001", "C0002", "C0003"}
    assert out.manifest["sources"][0]["sheet"] == "客户"


def test_xlsx_sheet_that_does_not_exist_is_refused_listing_the_sheets(export, hostile):
    rows = customers(2)
    workbook({"Sheet1": table(H, rows), "说明": [["导出说明"]]}).save(export / "客户信息.xlsx")
    out = hostile(write_contract(export, {"customers": xlsx_source("customers", sheet="客户")}), values_of(*rows))
    assert_clear_error(out.error, file="客户信息.xlsx", says=("sheet 客户 is not in the workbook",
                                                          "Sheet1, 说明", "source.sheet"))


def _valid_xlsx_bytes(rows) -> bytes:
    buf = io.BytesIO()
    workbook({"数据": table(H, rows)}).save(buf)
    return buf.getvalue()


@pytest.mark.parametrize("damage", ["random", "truncated", "ole2"])
def test_a_corrupt_xlsx_is_refused(export, hostile, damage):
    rows = customers(3)
    data = {"random": random.Random(7).randbytes(4096),
            "truncated": _valid_xlsx_bytes(rows)[:1500],
            "ole2": b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + random.Random(8).randbytes(2048)}[damage]
    (export / "客户信息.xlsx").write_bytes(data)
    out = hostile(write_contract(export, {"customers": xlsx_source("customers")}), values_of(*rows))
    assert_clear_error(out.error, file="客户信息.xlsx", says=("XLSX",))


def _rewrite_sheet(data: bytes, change) -> bytes:
    src, out = zipfile.ZipFile(io.BytesIO(data)), io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            body = src.read(item.filename)
            dst.writestr(item, change(body) if item.filename == "xl/worksheets/sheet1.xml" else body)
    return out.getvalue()


def test_xlsx_with_a_damaged_sheet_part_is_refused_naming_the_sheet(export, hostile):
    rows = customers(30)
    data = _rewrite_sheet(_valid_xlsx_bytes(rows), lambda b: b[: len(b) // 2])  # the sheet's XML cut in two
    (export / "客户信息.xlsx").write_bytes(data)
    out = hostile(write_contract(export, {"customers": xlsx_source("customers")}), values_of(*rows))
    assert_clear_error(out.error, file="客户信息.xlsx", says=("sheet 数据",))
    assert isinstance(out.error, SourceError)


def test_xlsx_with_a_stale_dimension_record_loses_no_row(export, hostile):
    """openpyxl's read-only mode trusts <dimension>; a tool that wrote a stale one must not cost rows."""
    rows = customers(6)
    data = _rewrite_sheet(_valid_xlsx_bytes(rows),
                          lambda b: re.sub(rb'<dimension ref="[^"]*"', b'<dimension ref="A1:C3"', b))
    (export / "客户信息.xlsx").write_bytes(data)
    out = hostile(write_contract(export, {"customers": xlsx_source("customers")}), values_of(*rows))
    assert out.counts("customers")["source_rows"] == 6
    assert out.loaded_keys() == {f"C{i:04d}" for i in range(1, 7)}


def test_xlsx_error_cells_are_quarantined(export, hostile):
    rows = customers(3)
    wb = workbook({"数据": table(H, rows)})
    cell = wb["数据"].cell(row=3, column=H.index("证件号码") + 1)
    cell.value, cell.data_type = "#N/A", "e"  # a formula error Excel saved as the cell's value
    wb.save(export / "客户信息.xlsx")
    out = hostile(write_contract(export, {"customers": xlsx_source("customers")}), values_of(*rows))
    only_damaged(out, {3: {"excel_error"}})


def _dsn(outcome) -> str:
    return outcome.dsn


def test_xlsx_formula_cells_without_a_stored_result_are_quarantined(export, hostile):
    """A workbook written by a program and never opened in Excel stores formulas without their results:
    the cell would read as empty. A formula whose result is stored is read as that result."""
    rows = customers(4)
    wb = workbook({"数据": table(H, rows)})
    for row in (3, 4):
        cell = wb["数据"].cell(row=row, column=H.index("客户经理") + 1)
        cell.value, cell.data_type = f'=CONCAT("周","经理{row}")', "f"
    buf = io.BytesIO()
    wb.save(buf)
    data = _rewrite_sheet(buf.getvalue(), lambda b: re.sub(  # row 4: Excel calculated it and stored 周经理4
        rb'<c r="J4"[^>]*><f>(.*?)</f><v\s*/?>(?:</v>)?</c>', '<c r="J4" t="str"><f>\\1</f><v>周经理4</v></c>'.encode(), b))
    assert "周经理4".encode() in zipfile.ZipFile(io.BytesIO(data)).read("xl/worksheets/sheet1.xml")
    (export / "客户信息.xlsx").write_bytes(data)
    out = hostile(write_contract(export, {"customers": xlsx_source("customers")}), values_of(*rows))
    only_damaged(out, {3: {"uncalculated_formula"}})
    with psycopg2.connect(_dsn(out)) as conn, conn.cursor() as cur:
        cur.execute("SELECT extras FROM vault.customers WHERE customer_id = 'C0003'")
        assert cur.fetchone()[0]["relationship_manager"] == "周经理4"


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_a_title_row_above_the_header_is_named_not_taken_for_a_headerless_file(export, hostile, fmt):
    rows = customers(3)
    title = [["浦东张江支行客户信息表"], ["导出时间：2026-11-29"], [None]]
    if fmt == "csv":
        lines = csv_lines(H, rows)
        (export / "客户信息.csv").write_bytes("浦东张江支行客户信息表\r\n导出时间：2026-11-29\r\n\r\n".encode() + b"".join(lines))
        source = csv_source("customers")
    else:
        workbook({"数据": title + table(H, rows)}).save(export / "客户信息.xlsx")
        source = xlsx_source("customers")
    out = hostile(write_contract(export, {"customers": source}), values_of(*rows))
    assert_clear_error(out.error, file="客户信息." + fmt, line=4, says=("below", "delete the lines above"))


@pytest.mark.parametrize("delimiter, name", [(";", "';'"), ("\t", "a tab")])
def test_a_file_with_another_delimiter_is_named_not_taken_for_a_headerless_file(export, hostile, delimiter, name):
    rows = customers(3)
    text = "\r\n".join(delimiter.join(r) for r in [H, *[[row[h] for h in H] for row in rows]]) + "\r\n"
    (export / "客户信息.csv").write_text(text, encoding="utf-8")
    out = hostile(write_contract(export), values_of(*rows))
    assert_clear_error(out.error, file="客户信息.csv", line=1, says=(f"separated by {name}", "source.delimiter"))


def test_a_utf8_export_appended_to_a_gb18030_one_is_quarantined_not_read_as_mojibake(export, hostile):
    """GB18030 decodes a UTF-8 BOM as 锘 followed by whatever the next bytes make: the row is flagged."""
    first = b"".join(csv_lines(H, customers(3), "gb18030"))
    rows = customers(2, start=4)
    second = b"\xef\xbb\xbf" + b"".join(csv_lines(H, rows, "gb18030")[1:])
    (export / "客户信息.csv").write_bytes(first + second)
    out = hostile(write_contract(export, {"customers": csv_source("customers", "gb18030")}), values_of(*rows))
    only_damaged(out, {5: {"stray_bom"}})
    assert out.loaded_keys() == {"C0001", "C0002", "C0003", "C0005"}


def test_quarantine_exported_for_repair_is_formula_safe_and_private(export, hostile, pg_dsn, master_key_text,
                                                                   tmp_path, monkeypatch):
    """The rows exported for the branch to repair: every quarantined row once, with its reasons, no cell a
    spreadsheet would run, readable by its owner only, and the export audited without values."""
    import csv as csv_module
    import stat

    import psycopg2
    from handover import repair
    from handover.crypto import MasterKey
    from openpyxl import load_workbook

    rows = customers(5)
    rows[0]["姓名"] = '=HYPERLINK("http://x","y")'  # the reader's formula_like: the row's text is kept
    rows[1]["证件号码"] = rows[1]["证件号码"][:-1] + ("0" if rows[1]["证件号码"][-1] != "0" else "1")
    rows[1]["客户经理"] = "- 张经理"  # no formula for the reader, but a cell starting with "-": made inert
    write_csv(export / "客户信息.csv", H, rows)
    out = hostile(write_contract(export), [])
    assert len(out.quarantine) == 2
    master = MasterKey.from_text(master_key_text)
    with psycopg2.connect(pg_dsn) as conn:
        assert repair.export(conn, master, BRANCH, tmp_path / "csv") == {"customers": 2}
        assert repair.export(conn, master, BRANCH, tmp_path / "xlsx", "xlsx") == {"customers": 2}
    files = [tmp_path / "csv" / f"{BRANCH}_customers_quarantine.csv", tmp_path / "xlsx" / f"{BRANCH}_quarantine.xlsx"]
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with open(files[0], encoding="utf-8-sig", newline="") as fh:
        table = list(csv_module.reader(fh))
    sheet = [[c.value for c in row] for row in load_workbook(files[1]).active.iter_rows()]
    for grid in (table, sheet):
        header, body = grid[0], grid[1:]
        assert header[:4] == repair.LEADING and len(body) == 2
        cells = [str(v) for row in body for v in row if v is not None]
        assert not [c for c in cells if c.startswith(repair.FORMULA_STARTS)]
        assert "'- 张经理" in cells
        assert any("=HYPERLINK(" in c for c in cells)  # inside the row's original text, as sent
        assert {row[3] for row in body} >= {"formula_like"}
    assert repair.neutralise("-12.50") == "'-12.50" and repair.neutralise("张三") == "张三"
    from handover import cli

    monkeypatch.setenv("HANDOVER_MASTER_KEY", master_key_text)
    assert cli.main(["quarantine", "export", "--dsn", pg_dsn, "--branch", BRANCH, "--out", str(tmp_path / "cli"),
                     "--format", "xlsx"]) == 0
    with psycopg2.connect(pg_dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT detail::text FROM ops.audit WHERE action = 'quarantine_exported'")
        (detail,) = cur.fetchone()
    assert '"customers": 2' in detail and "HYPERLINK" not in detail and "张经理" not in detail


def test_a_repaired_row_resolves_its_quarantine_entry(export, hostile, pg_dsn, master_key_text):
    """The branch corrects a quarantined row and sends the file again: the record loads, its quarantine entry
    is marked resolved by that run, and the repair export no longer lists it."""
    import psycopg2
    from handover import repair
    from handover.crypto import MasterKey

    rows = customers(3)
    good_id = rows[1]["证件号码"]
    rows[1]["证件号码"] = good_id[:-1] + ("0" if good_id[-1] != "0" else "1")
    write_csv(export / "客户信息.csv", H, rows)
    contract = write_contract(export)
    first = hostile(contract)
    assert [q["key"] for q in first.quarantine] == ["C0002"]
    rows[1]["证件号码"] = good_id
    write_csv(export / "客户信息.csv", H, rows)
    second = hostile(contract)
    assert second.loaded_keys() == {"C0001", "C0002", "C0003"}
    with psycopg2.connect(pg_dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT record_key, resolved_run_id IS NOT NULL FROM ops.quarantine")
        assert cur.fetchall() == [("C0002", True)]
        assert repair.quarantined_rows(conn, MasterKey.from_text(master_key_text), BRANCH) == {}
