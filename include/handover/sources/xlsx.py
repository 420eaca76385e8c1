"""XLSX exports: one named sheet per entity, read row by row (openpyxl read-only mode, bounded memory).

Cells come back typed; they are turned into text the way the branch saw them, so that normalisation and
validation treat CSV and XLSX alike: whole numbers without ``.0``, dates as ISO text, and a long number
that Excel stored as a float (an ID number typed into a General cell) in scientific notation — its digits
are gone, so it is flagged later, never "repaired".

Rows are numbered as Excel numbers them. A row covered by a merged range is quarantined (``merged_cell``):
Excel shows the merged value in every row of the range, the file holds it in the first cell only. So is a
row with a formula whose result was never stored (``uncalculated_formula``): it would read as empty. A
quarantined row keeps the text of all its cells (JSON) as its original content.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path

from handover.contract import EntitySpec
from handover.errors import HandoverError, SourceError
from handover.sources import (
    RawChunk,
    cell_issues,
    cell_problem,
    check_title_rows,
    clean_header,
    field_limits,
    is_blank_row,
    match_headers,
    suspect_value,
)

# Floats at or above this cannot hold every digit of an integer (2**53 ≈ 9.007e15).
_EXACT_LIMIT = 1e15


def cell_text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < _EXACT_LIMIT:
            return str(int(value))
        if abs(value) >= _EXACT_LIMIT:
            return f"{value:.5E}"  # as Excel's General format shows it: 4.40106E+17
        return repr(value)
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dt.time):
        return value.isoformat()
    return str(value)


# What a damaged workbook makes zipfile, the XML parsers (SyntaxError covers ElementTree's and lxml's) and
# openpyxl raise; each becomes a SourceError naming the file.
_DAMAGED = (zipfile.BadZipFile, zlib.error, EOFError, OSError, KeyError, ValueError, TypeError, IndexError,
            AttributeError, SyntaxError, ArithmeticError, NotImplementedError, RuntimeError)
_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_MERGE_RE = re.compile(rb'mergeCell\s[^>]*?ref="\$?([A-Z]+)\$?([0-9]+)(?::\$?([A-Z]+)\$?([0-9]+))?"')
_FORMULA_TAG_RE = re.compile(rb"<f[\s>/]")
_VALUE_RE = re.compile(rb"<v(?:\s[^>]*)?>[^<]+</v>")
_CELL_ROW_RE = re.compile(rb'\br="\$?[A-Z]+\$?([0-9]+)"')
_EXCEL_MAX_ROW = 1_048_576


def _not_readable(path: Path, what: str, hint: str = "open it in Excel and save it again as .xlsx") -> SourceError:
    return SourceError(path, what, hint=hint)


def _check_inflation(path: Path) -> None:
    """A workbook is a zip: before anything is inflated, its entries' declared sizes are held to the limits
    (``xlsx_inflated`` in all, ``xlsx_ratio`` per entry over 1 MiB) — a zip bomb is refused, not unpacked.
    (An entry that inflates beyond what it declares fails zipfile's own check while it is read.)"""
    from handover.limits import LimitError, limit

    try:
        with zipfile.ZipFile(path) as zf:
            entries = zf.infolist()
    except (*_DAMAGED, zipfile.LargeZipFile) as exc:
        raise _not_readable(path, f"not a readable XLSX workbook ({type(exc).__name__})") from None
    total = sum(e.file_size for e in entries)
    if total > limit("xlsx_inflated"):
        raise LimitError(f"{path}: the workbook inflates to {total:,} bytes, over the limit of "
                         f"{limit('xlsx_inflated'):,} (HANDOVER_LIMIT_XLSX_INFLATED)")
    for e in entries:
        if e.file_size > 1 << 20 and e.file_size > limit("xlsx_ratio") * max(e.compress_size, 1):
            raise LimitError(f"{path}: entry {e.filename[:60]} inflates {e.file_size // max(e.compress_size, 1):,} "
                             f"times its size, over the limit of {limit('xlsx_ratio')} (a zip bomb, or padding; "
                             "HANDOVER_LIMIT_XLSX_RATIO)")


def _sheet(spec: EntitySpec, path: Path):
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        with open(path, "rb") as fh:
            magic = fh.read(8)
    except OSError as exc:
        raise _not_readable(path, f"the file cannot be read ({exc.strerror or type(exc).__name__})",
                            "check the file's permissions and the source folder") from None
    if magic == _OLE2:
        raise _not_readable(path, "the file is an OLE2 compound file, not an XLSX workbook: an old .xls workbook "
                            "or a password-protected (encrypted) .xlsx",
                            "remove the password and save it again as .xlsx") from None
    _check_inflation(path)
    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except HandoverError:
        raise
    except (*_DAMAGED, InvalidFileException) as exc:  # the file is not a workbook we can read
        raise _not_readable(path, f"not a readable XLSX workbook ({type(exc).__name__})") from None
    if spec.source.sheet not in workbook.sheetnames:
        names = ", ".join(workbook.sheetnames)
        workbook.close()
        raise SourceError(path, f"sheet {spec.source.sheet} is not in the workbook (it has: {names})",
                          hint=f"set entities.{spec.name}.source.sheet to the sheet that holds the data")
    return workbook, workbook[spec.source.sheet]


def _rows(spec: EntitySpec, path: Path, sheet) -> Iterator[tuple[int, tuple]]:
    """(row number, cell values) for every row of the sheet, the sheet's own dimension record ignored.

    openpyxl's read-only mode stops at the ``<dimension>`` the file declares; a tool that wrote a stale
    one would make it drop the rows and columns beyond it without a word."""
    sheet.reset_dimensions()
    number = 0
    try:
        for number, row in enumerate(sheet.iter_rows(min_row=1, min_col=1, values_only=True), start=1):
            yield number, row
    except HandoverError:
        raise
    except _DAMAGED as exc:  # a damaged sheet part: say where reading stopped, never a bare traceback
        raise SourceError(path, f"sheet {spec.source.sheet} cannot be read after row {number} "
                          f"({type(exc).__name__})", line=number + 1,
                          hint="open it in Excel and save it again as .xlsx") from None


def _scan(data: bytes, flagged: dict[int, str]) -> None:
    for m in _MERGE_RE.finditer(data):
        first, last = int(m.group(2)), int(m.group(4) or m.group(2))
        for row in range(first, min(last, _EXCEL_MAX_ROW) + 1):
            flagged[row] = "merged_cell"
    for m in _FORMULA_TAG_RE.finditer(data):
        start = max(data.rfind(b"<c ", 0, m.start()), data.rfind(b"<c>", 0, m.start()))
        end = data.find(b"</c>", m.end())
        if start < 0 or end < 0:
            continue
        cell = data[start:end]
        if _VALUE_RE.search(cell) or (b't="str"' in cell[:cell.find(b">")] and b"<v" in cell):
            continue  # a formula with its result (what Excel showed) stored, maybe an empty text: read that
        ref = _CELL_ROW_RE.search(data, start, m.start())
        if ref:
            flagged.setdefault(int(ref.group(1)), "uncalculated_formula")


def _end(data: bytes, tag: bytes) -> int:
    """Where the last ``tag`` in ``data`` ends; -1 when there is none."""
    at = data.rfind(tag)
    return at + len(tag) if at >= 0 else -1


def _flagged_rows(spec: EntitySpec, path: Path, sheet) -> dict[int, str]:
    """Rows whose cells do not hold what Excel shows, by scanning the sheet's XML (read-only mode reports
    neither): rows a merged range covers (``merged_cell``) and rows with a formula cell whose result was
    never stored (``uncalculated_formula``: a workbook written by a program and never opened in Excel;
    openpyxl reads such a cell as empty)."""
    from handover.limits import LimitError, limit

    flagged: dict[int, str] = {}
    most = limit("xlsx_row_bytes")
    try:
        with sheet._get_source() as src:
            carry = b""
            while block := src.read(1 << 20):
                data = carry + block
                # Scanned up to the last complete row or cell, or the start of the last merged range: what is
                # carried over is never more than one cell or range (padding with no element in it is dropped),
                # so the XML is read once, in time linear in its size.
                cut = max(_end(data, b"</row>"), _end(data, b"</c>"), data.rfind(b"<mergeCell "))
                if cut <= 0:
                    if b"<" not in data:
                        carry = b""  # padding between elements
                        continue
                    if len(data) > most:
                        raise LimitError(f"{path}: sheet {spec.source.sheet} holds an element of more than "
                                         f"{most:,} bytes (HANDOVER_LIMIT_XLSX_ROW_BYTES)")
                    carry = data
                    continue
                _scan(data[:cut], flagged)
                carry = data[cut:]
            _scan(carry, flagged)
    except HandoverError:
        raise
    except _DAMAGED as exc:
        raise SourceError(path, f"sheet {spec.source.sheet} cannot be read ({type(exc).__name__})",
                          hint="open it in Excel and save it again as .xlsx") from None
    return flagged


def find_header(spec: EntitySpec, path: Path) -> tuple[None, list[str], int]:
    """The sheet's header row (the first row with content) and its row number."""
    workbook, sheet = _sheet(spec, path)
    try:
        rows = _rows(spec, path, sheet)
        for number, row in rows:
            if spec.source.header_row and number < spec.source.header_row:
                continue  # a title above the header (the contract's header_row)
            texts = [cell_text(v) or "" for v in row]
            if not is_blank_row(texts):
                check_title_rows(spec, texts, ((_texts(r), n) for n, r in rows), str(path), number)
                return None, texts, number
    finally:
        workbook.close()
    raise SourceError(path, f"sheet {spec.source.sheet} is empty: no header row", line=1,
                      hint="export the data again, with its header row")


def read_header(spec: EntitySpec, path: Path) -> tuple[None, list[str]]:
    _, header, _ = find_header(spec, path)
    return None, header


def _texts(row: tuple) -> list[str | None]:
    return [cell_text(v) for v in row]


def _raw(texts: list[str | None]) -> bytes:
    """A quarantined row's content: every cell's text, in order (JSON keeps tabs and empties apart)."""
    return json.dumps(texts, ensure_ascii=False).encode()


def read_chunks(spec: EntitySpec, path: Path, chunk_rows: int) -> Iterator[RawChunk]:
    headers = [c.header for c in spec.columns]
    names = [c.name for c in spec.columns]
    workbook, sheet = _sheet(spec, path)
    try:
        flagged = _flagged_rows(spec, path, sheet)
        positions: list[int] | None = None
        chunk = RawChunk(headers, [], [], [], [], [])
        rows = _rows(spec, path, sheet)
        for number, row in rows:
            texts = _texts(row)
            if all(t is None for t in texts):
                continue  # no cell holds anything: not a row
            if positions is None:
                if is_blank_row(texts) or (spec.source.header_row and number < spec.source.header_row):
                    continue
                check_title_rows(spec, [t or "" for t in texts], ((_texts(r), n) for n, r in rows), str(path),
                                 number)
                positions = match_headers(spec, [t or "" for t in texts], str(path),
                                          f"header row of sheet {spec.source.sheet}", line=number)
                width = len(texts)
                unnamed = sorted(set(range(width)) - set(positions))
                header = [clean_header(t) for t in texts]
                limits = field_limits(spec, positions, width)
                continue
            problem = None
            if is_blank_row(texts):
                problem = "blank_row"
            elif any(t is not None and t.strip() for t in texts[width:]) or any(
                    i < len(texts) and texts[i] and texts[i].strip() for i in unnamed):
                problem = "ragged_row"  # a value beyond the header, or in a column without a header
            elif number in flagged:
                problem = flagged[number]
            else:
                problem = cell_problem([t or "" for t in texts], header, limits)
            values = [texts[p] if p < len(texts) else None for p in positions]
            if problem:
                values = [None if suspect_value(v, limits[p]) else v for v, p in zip(values, positions, strict=True)]
            chunk.rows.append(values)
            chunk.lines.append(number)
            chunk.problems.append(problem)
            chunk.raw.append(_raw(texts) if problem else None)
            chunk.issues.append(None if problem else cell_issues(texts, positions, names))
            if len(chunk.rows) >= chunk_rows:
                yield chunk
                chunk = RawChunk(headers, [], [], [], [], [])
        if positions is None:
            raise SourceError(path, f"sheet {spec.source.sheet} is empty: no header row", line=1,
                              hint="export the data again, with its header row")
        if chunk.rows:
            yield chunk
    finally:
        workbook.close()
