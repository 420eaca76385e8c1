"""Reading exports: encodings detected, rows never lost, lines exact, Excel's habits kept visible."""

from __future__ import annotations

import datetime as dt

import openpyxl
import pytest
from handover.contract import Column, EntitySpec, Source
from handover.sources import read_chunks
from handover.sources.csv import detect_encoding
from handover.sources.xlsx import cell_text


def _spec(fmt="csv", encoding="auto", sheet=None) -> EntitySpec:
    cols = [Column("客户编号", "interaction_id", False, "string", None, True, True, "none", "r"),
            Column("客户", "customer_id", False, "string", None, True, False, "none", "r"),
            Column("备注", "note", False, "string", None, False, False, "free_text", "r")]
    return EntitySpec("interactions", Source("x." + fmt, fmt, encoding, sheet), tuple(cols))


TEXT = "客户编号,客户,备注\nI1,C1,客户来电咨询\nI2,C2,\"多行\n备注\"\n\nI3,C3,完\n"


@pytest.mark.parametrize("encoding, written", [
    ("utf-8", TEXT.encode("utf-8")),
    ("utf-8-sig", b"\xef\xbb\xbf" + TEXT.encode("utf-8")),
    ("gb18030", TEXT.encode("gb18030")),
])
def test_encoding_is_detected_and_rows_keep_their_lines(tmp_path, encoding, written):
    path = tmp_path / "x.csv"
    path.write_bytes(written)
    assert detect_encoding(path) == encoding
    chunks = list(read_chunks(_spec(), tmp_path, chunk_rows=2))
    rows = [r for c in chunks for r in c.rows]
    lines = [n for c in chunks for n in c.lines]
    assert [len(c) for c in chunks] == [2, 1]
    assert list(rows[1]) == ["I2", "C2", "多行\n备注"]
    assert lines == [2, 3, 6]  # the multi-line row starts on line 3; the blank line is not a row


def test_ragged_and_undecodable_rows_are_kept_for_quarantine(tmp_path):
    body = "客户编号,客户,备注\nI1,C1,ok\nI2,C2\n".encode() + "I3,C3,坏".encode("gbk") + b"\n"
    (tmp_path / "x.csv").write_bytes(body)
    chunk = next(read_chunks(_spec(encoding="utf-8"), tmp_path, 100))
    assert chunk.problems == [None, "ragged_row", "encoding_error"]
    assert chunk.raw[2] == "I3,C3,坏".encode("gbk")  # the original bytes survive
    assert chunk.rows[2][2] is None  # the undecodable value is not passed on as text


def test_xlsx_named_sheet_and_excel_cells(tmp_path):
    wb = openpyxl.Workbook()
    wb.active.title = "说明"
    ws = wb.create_sheet("数据")
    ws.append(["客户编号", "客户", "备注"])
    ws.append(["I1", 440106194912310000.0, dt.datetime(2024, 1, 5)])
    wb.save(tmp_path / "x.xlsx")
    chunk = next(read_chunks(_spec("xlsx", sheet="数据"), tmp_path, 100))
    assert chunk.rows == [["I1", "4.40106E+17", "2024-01-05"]]
    assert chunk.lines == [2]


@pytest.mark.parametrize("value, text", [
    (45296, "45296"), (12.0, "12"), (12.5, "12.5"), (6.2220212345678902e18, "6.22202E+18"),
    (True, "true"), (dt.date(2024, 1, 5), "2024-01-05"), (dt.datetime(2024, 1, 5, 9, 30), "2024-01-05 09:30:00"),
    (None, None),
])
def test_cell_text(value, text):
    assert cell_text(value) == text


def test_a_headerless_export_is_refused_without_quoting_its_first_row(tmp_path):
    from handover.errors import SourceError

    (tmp_path / "x.csv").write_text("I1,C1,客户张伟来电\nI2,C2,ok\n", encoding="utf-8")
    with pytest.raises(SourceError) as err:
        list(read_chunks(_spec(), tmp_path, 10))
    assert "no header row" in str(err.value) and "张伟" not in str(err.value) and "I1" not in str(err.value)


@pytest.mark.parametrize("line_break", ["\n", "\r\n", "\r"])
def test_rows_over_many_blocks_and_batches_keep_their_values_and_lines(tmp_path, line_break):
    """The reader hands rows on in batches (a block of quote-free lines split at once, then csv.reader's
    rows once a quote appears): across block, batch and chunk boundaries, with empty lines between, every
    row keeps its values and the physical line it starts on."""
    lines, expected = ["客户编号,客户,备注"], []
    for i in range(40_000):
        if i % 997 == 0:
            lines.append("")  # an empty line: no row, but a line
        if i == 35_000:
            lines.append(f'I{i},C{i},"两行{line_break}备注"')  # from here on csv.reader reads
            expected.append((len(lines), (f"I{i}", f"C{i}", f"两行{line_break}备注")))
            lines.append("")  # the quoted row's second physical line is counted by the row
            lines.pop()
            continue
        lines.append(f"I{i},C{i},客户来电咨询第{i}次")
        expected.append((len(lines) + (1 if i > 35_000 else 0), (f"I{i}", f"C{i}", f"客户来电咨询第{i}次")))
    (tmp_path / "x.csv").write_text(line_break.join(lines) + line_break, encoding="utf-8", newline="")
    chunks = list(read_chunks(_spec(encoding="utf-8"), tmp_path, chunk_rows=6_999))
    assert [len(c) for c in chunks] == [6_999] * 5 + [40_000 - 5 * 6_999]
    got = [(n, tuple(r)) for c in chunks for n, r in zip(c.lines, c.rows, strict=True)]
    assert got == expected
    assert all(p is None for c in chunks for p in c.problems)
