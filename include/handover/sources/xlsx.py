"""XLSX exports: one named sheet per entity, read row by row (openpyxl read-only mode, bounded memory).

Cells come back typed; they are turned into text the way the branch saw them, so that normalisation and
validation treat CSV and XLSX alike: whole numbers without ``.0``, dates as ISO text, and a long number
that Excel stored as a float (an ID number typed into a General cell) in scientific notation — its digits
are gone, so it is flagged later, never "repaired".
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

from handover.contract import EntitySpec
from handover.errors import SourceError
from handover.sources import RawChunk, match_headers

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


def _sheet(spec: EntitySpec, path: Path):
    import zipfile

    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, ValueError, OSError) as exc:
        raise SourceError(path, f"not a readable XLSX workbook ({type(exc).__name__})",
                          hint="open it in Excel and save it again as .xlsx") from None
    if spec.source.sheet not in workbook.sheetnames:
        names = ", ".join(workbook.sheetnames)
        workbook.close()
        raise SourceError(path, f"sheet {spec.source.sheet} is not in the workbook (it has: {names})",
                          hint=f"set entities.{spec.name}.source.sheet to the sheet that holds the data")
    return workbook, workbook[spec.source.sheet]


def read_header(spec: EntitySpec, path: Path) -> tuple[None, list[str]]:
    workbook, sheet = _sheet(spec, path)
    try:
        for row in sheet.iter_rows(values_only=True):
            if any(v is not None and str(v).strip() for v in row):
                return None, [cell_text(v) or "" for v in row]
    finally:
        workbook.close()
    raise SourceError(path, f"sheet {spec.source.sheet} is empty: no header row", line=1)


def read_chunks(spec: EntitySpec, path: Path, chunk_rows: int) -> Iterator[RawChunk]:
    headers = [c.header for c in spec.columns]
    workbook, sheet = _sheet(spec, path)
    try:
        rows = sheet.iter_rows(values_only=True)
        positions: list[int] | None = None
        chunk = RawChunk(headers, [], [], [], [])
        for number, row in enumerate(rows, start=1):
            texts = [cell_text(v) for v in row]
            if not any(t is not None and t.strip() for t in texts):
                continue
            if positions is None:
                positions = match_headers(spec, [t or "" for t in texts], str(path),
                                          f"header row of sheet {spec.source.sheet}")
                width = len(texts)
                continue
            extra = [t for t in texts[width:] if t is not None and t.strip()]
            chunk.rows.append([texts[p] if p < len(texts) else None for p in positions])
            chunk.lines.append(number)
            chunk.problems.append("ragged_row" if extra else None)
            chunk.raw.append("\t".join(t or "" for t in texts).encode() if extra else None)
            if len(chunk.rows) >= chunk_rows:
                yield chunk
                chunk = RawChunk(headers, [], [], [], [])
        if positions is None:
            raise SourceError(path, f"sheet {spec.source.sheet} is empty: no header row", line=1)
        if chunk.rows:
            yield chunk
    finally:
        workbook.close()
