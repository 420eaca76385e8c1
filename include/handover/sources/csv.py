"""CSV exports: UTF-8, UTF-8 with BOM, GB18030/GBK — declared in the contract or detected.

Detection: a UTF-8 BOM means utf-8-sig; else the first megabytes decode as strict UTF-8 or they are
GB18030 (a superset of GBK and GB2312, and what Excel on a Chinese Windows writes). Bytes that do not
decode are kept (surrogate escapes) and the row goes to quarantine as ``encoding_error`` with its
original bytes, so nothing is lost and the value can be repaired.
"""

from __future__ import annotations

import codecs
import csv
import re
from collections.abc import Iterator
from pathlib import Path

from handover.contract import EntitySpec
from handover.errors import SourceError
from handover.sources import RawChunk, match_headers

SNIFF_BYTES = 4 << 20
_ESCAPED = re.compile("[\udc80-\udcff]")
csv.field_size_limit(1 << 30)


def detect_encoding(path: Path, declared: str = "auto") -> str:
    if declared in ("gbk", "gb18030"):
        return "gb18030"
    with open(path, "rb") as fh:
        head = fh.read(SNIFF_BYTES)
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if declared != "auto":
        return declared
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=len(head) < SNIFF_BYTES)
        return "utf-8"
    except UnicodeDecodeError:
        return "gb18030"


def _open(path: Path, encoding: str):
    return open(path, encoding=encoding, errors="surrogateescape", newline="")


def read_header(spec: EntitySpec, path: Path) -> tuple[str, list[str]]:
    encoding = detect_encoding(path, spec.source.encoding)
    with _open(path, encoding) as fh:
        reader = csv.reader(fh, delimiter=spec.source.delimiter)
        for header in reader:
            if any(h.strip() for h in header):
                if any(_ESCAPED.search(h) for h in header):
                    raise SourceError(path, f"the header row does not decode as {encoding}",
                                      line=reader.line_num,
                                      hint="declare the file's real encoding in the contract")
                return encoding, header
    raise SourceError(path, "the file is empty: no header row", line=1,
                      hint="export the data again, with its header row")


def read_chunks(spec: EntitySpec, path: Path, chunk_rows: int) -> Iterator[RawChunk]:
    encoding = detect_encoding(path, spec.source.encoding)
    headers = [c.header for c in spec.columns]
    with _open(path, encoding) as fh:
        reader = csv.reader(fh, delimiter=spec.source.delimiter)
        header: list[str] | None = None
        for header in reader:
            if any(h.strip() for h in header):
                break
        if header is None:
            raise SourceError(path, "the file is empty: no header row", line=1)
        positions = match_headers(spec, header, str(path), "header row")
        width = len(header)
        chunk = RawChunk(headers, [], [], [], [])
        last_line = reader.line_num
        for row in reader:
            start, last_line = last_line + 1, reader.line_num
            if not row or (len(row) == 1 and not row[0].strip()):
                continue  # a blank line is not a row
            problem = None
            if len(row) != width:
                problem = "ragged_row"
            elif any(_ESCAPED.search(v) for v in row):
                problem = "encoding_error"
            if problem:
                raw = spec.source.delimiter.join(row).encode(encoding, "surrogateescape")
                values = [row[p] if p < len(row) else None for p in positions]
                values = [None if v is None or _ESCAPED.search(v) else v for v in values]
            else:
                raw = None
                values = [row[p] for p in positions]
            chunk.rows.append(values)
            chunk.lines.append(start)
            chunk.problems.append(problem)
            chunk.raw.append(raw)
            if len(chunk.rows) >= chunk_rows:
                yield chunk
                chunk = RawChunk(headers, [], [], [], [])
        if chunk.rows:
            yield chunk
