"""CSV exports: UTF-8, UTF-8 with BOM, GB18030/GBK — declared in the contract or detected.

Detection (``encoding: auto``): a UTF-8 BOM means utf-8-sig; else the first megabytes decode as strict
UTF-8, or, when they do not, the encoding most of their non-ASCII lines decode in wins (a UTF-8 export
with a few GBK rows pasted in stays UTF-8; those rows are quarantined). A file that is not text of that
kind at all (UTF-16 "Unicode text", an XLSX or XLS workbook named .csv) is refused, naming what it is.

Rows that cannot be trusted go to quarantine with the exact bytes the file holds for them (the physical
lines the row spans, quotes and inner line breaks included, the final line break left off), so nothing is lost and the row can be repaired:
bytes that do not decode (kept as surrogate escapes while reading) and UTF-8 text inside a GB18030 file
(which GB18030 would otherwise decode silently into wrong characters) are ``encoding_error``; see
`handover.sources` for the other codes.
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from handover.contract import EntitySpec
from handover.errors import SourceError
from handover.limits import LimitError, limit
from handover.sources import (
    CELL_STARTS,
    FIELD_LIMIT,
    SPECIAL_RE,
    RawChunk,
    cell_issues,
    cell_problem,
    check_title_rows,
    clean_header,
    field_limits,
    is_blank_row,
    match_headers,
    special_problem,
    suspect_value,
)

SNIFF_BYTES = 4 << 20
_ESCAPED = re.compile("[\udc80-\udcff]")
_MULTIBYTE = re.compile("[\u0800-\U0010ffff]")

# Files that are not delimited text in a single-byte-compatible encoding, by their first bytes.
_NOT_CSV = (
    (codecs.BOM_UTF32_LE, "UTF-32 text", "save it again as CSV UTF-8"),
    (codecs.BOM_UTF32_BE, "UTF-32 text", "save it again as CSV UTF-8"),
    (codecs.BOM_UTF16_LE, "UTF-16 text (Excel's \"Unicode text\")", "save it again as CSV UTF-8"),
    (codecs.BOM_UTF16_BE, "UTF-16 text", "save it again as CSV UTF-8"),
    (b"PK\x03\x04", "a zip file (an XLSX workbook?)",
     "declare format: xlsx and the sheet in the contract, or export the data as CSV"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an OLE2 file (an old .xls workbook?)",
     "open it in Excel and save it as CSV UTF-8"),
)


def _head(path: Path) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read(SNIFF_BYTES)
    except OSError as exc:
        raise SourceError(path, f"the file cannot be read ({exc.strerror or type(exc).__name__})",
                          hint="check the file's permissions and the source folder") from None


def _mostly_utf8(head: bytes, complete: bool) -> bool:
    """Whether more of the non-ASCII lines decode as UTF-8 than not (a mixed file's main encoding)."""
    lines = head.split(b"\n")
    if not complete:
        lines = lines[:-1]  # the last line may be cut in the middle of a character
    utf8 = other = 0
    for line in lines:
        if line.isascii():
            continue
        try:
            line.decode("utf-8")
            utf8 += 1
        except UnicodeDecodeError:
            other += 1
    return utf8 > other


def detect_encoding(path: Path, declared: str = "auto") -> str:
    head = _head(path)
    for magic, what, hint in _NOT_CSV:
        if head.startswith(magic):
            raise SourceError(path, f"the file is {what}, not a CSV file in UTF-8 or GB18030", line=1, hint=hint)
    if head.startswith(codecs.BOM_UTF8):
        if declared in ("gbk", "gb18030"):
            raise SourceError(path, f"the file starts with a UTF-8 byte-order mark but the contract declares "
                              f"{declared}", line=1, hint="declare encoding: utf-8-sig (or auto) for this file")
        return "utf-8-sig"
    if declared in ("gbk", "gb18030"):
        return "gb18030"
    if declared != "auto":
        return declared
    complete = len(head) < SNIFF_BYTES
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=complete)
        return "utf-8"
    except UnicodeDecodeError:
        return "utf-8" if _mostly_utf8(head, complete) else "gb18030"


def _is_utf8_text(raw: bytes) -> bool:
    """Bytes that are valid UTF-8 with at least one 3- or 4-byte character: in a GB18030 file, such a row
    was written in UTF-8 (GB18030 text practically never forms such sequences) and would decode to wrong
    characters."""
    if raw.isascii():
        return False
    text = raw.decode("utf-8", "replace")  # no exception to raise and catch per row: 3x faster
    return "\ufffd" not in text and bool(_MULTIBYTE.search(text))


def _open(path: Path, encoding: str):
    try:
        return open(path, encoding=encoding, errors="surrogateescape", newline="")
    except OSError as exc:
        raise SourceError(path, f"the file cannot be read ({exc.strerror or type(exc).__name__})",
                          hint="check the file's permissions and the source folder") from None


_BLOCK_CHARS = 1 << 20  # lines are read in blocks of about this many characters


def _blocks(fh, path: Path, first: int = 0) -> Iterator[list[str]]:
    """The file's physical lines (each with its line break), a block of about `_BLOCK_CHARS` characters at a
    time — and never one line longer than the ``line_chars`` limit held in memory: a 2 GB file of one
    "line", or a tail of NUL bytes an export crashed while writing, is a `LimitError` naming the line, not
    a MemoryError. Lines break at CR, LF or CRLF, as the file is opened with ``newline=""``."""
    most = limit("line_chars")
    rest, number = "", first
    while True:
        block = fh.read(_BLOCK_CHARS)
        if not block:
            if rest:
                yield [rest]
            return
        lines = io.StringIO(rest + block, newline="").readlines()
        last = lines[-1]
        rest = "" if last.endswith("\n") else lines.pop()  # a line without its break yet (or a CR before LF)
        if len(rest) > most:
            raise LimitError(f"{path}, line {number + len(lines) + 1}: a line longer than {most:,} characters — "
                             "the file may be damaged (a crashed export, zeros written over its end) or not an "
                             "export; the limit is HANDOVER_LIMIT_LINE_CHARS")
        number += len(lines)
        if lines:
            yield lines


_BATCH_ROWS = 4096  # rows the quoted path (csv.reader) hands on at a time


class _Reader:
    """csv.reader over the file's physical lines, keeping the lines of the current row (its exact text).

    Rows come in batches — ``(rows, first lines, texts, eof)``: each non-empty row's fields as a tuple, the
    physical line it starts on, its exact text, and whether the file ended inside the batch's last row —
    so that the common case (a block of lines with no quote) is split by a few list comprehensions instead
    of a generator step per row. Iterating gives the same one row at a time (for the header); `batches`
    then goes on where that iteration stopped. Empty lines are no rows."""

    def __init__(self, fh, delimiter: str, path: Path = Path("?")) -> None:
        self.line = 0  # the last physical line consumed
        self.path = path
        self._source = self._read(fh, delimiter)
        self._left: tuple | None = None  # the rest of the batch a row-by-row iteration stopped in

    def __iter__(self) -> Iterator[tuple[tuple[str, ...], int, str, bool]]:
        for rows, starts, texts, eof in self.batches():
            last = len(rows) - 1
            for i in range(len(rows)):
                self._left = (rows[i + 1:], starts[i + 1:], texts[i + 1:], eof)
                yield rows[i], starts[i], texts[i], eof and i == last
            self._left = None

    def batches(self) -> Iterator[tuple[list[tuple[str, ...]], list[int], list[str], bool]]:
        if self._left is not None:
            left, self._left = self._left, None
            if left[0]:
                yield left
        for batch in self._source:  # noqa: UP028 — `yield from` would close the file's rows with this generator
            yield batch

    def _read(self, fh, delimiter: str):
        # While a block of lines holds no quote character and no NUL, every line is one row and csv.reader
        # would split it exactly where the delimiters are: split it (several times faster). From the first
        # block that has one, csv.reader reads the rest (a quoted field may run over lines and blocks).
        blocks = _blocks(fh, self.path)
        block: list[str] = []
        for block in blocks:
            joined = "".join(block)
            if '"' in joined or "\x00" in joined:
                break
            first = self.line + 1
            self.line += len(block)
            # a line ends in exactly one of CRLF, LF, CR (the file is read with newline=""): rstrip takes it
            bodies = [text.rstrip("\r\n") for text in block]
            if all(bodies):
                yield ([tuple(body.split(delimiter)) for body in bodies], list(range(first, first + len(block))),
                       block, False)
            else:  # empty lines are no rows
                kept = [i for i, body in enumerate(bodies) if body]
                yield ([tuple(bodies[i].split(delimiter)) for i in kept], [first + i for i in kept],
                       [block[i] for i in kept], False)
        else:
            return
        rows: list[tuple[str, ...]] = []
        starts: list[int] = []
        texts: list[str] = []
        ended = False
        for row, start, text, eof in self._read_csv(itertools.chain(block, itertools.chain.from_iterable(blocks)),
                                                    delimiter):
            if not row:
                continue
            rows.append(tuple(row))
            starts.append(start)
            texts.append(text)
            ended = eof
            if len(rows) >= _BATCH_ROWS:
                yield rows, starts, texts, ended
                rows, starts, texts = [], [], []
        if rows:
            yield rows, starts, texts, ended

    def _read_csv(self, source, delimiter: str) -> Iterator[tuple[list[str], int, str, bool]]:
        taken: list[str] = []
        eof: list[bool] = []
        first = self.line

        def lines():
            for line in source:
                taken.append(line)
                yield line
            eof.append(True)

        csv.field_size_limit(limit("record_chars"))
        rows = csv.reader(lines(), delimiter=delimiter)
        for row in rows:
            if len(taken) > 1 and sum(map(len, taken)) > limit("record_chars"):
                raise LimitError(f"{self.path}, line {self.line + 1}: a record longer than "
                                 f"{limit('record_chars'):,} characters (a quote that is never closed?); the "
                                 "limit is HANDOVER_LIMIT_RECORD_CHARS")
            start, self.line = self.line + 1, first + rows.line_num
            text = "".join(taken)
            taken.clear()
            yield row, start, text, bool(eof)


def _raw_codec(encoding: str) -> str:
    return "utf-8" if encoding == "utf-8-sig" else encoding  # never re-add the BOM to a row's bytes


def _strip_terminator(text: str) -> str:
    """A row's text without the line break that ends it (line breaks inside quoted fields stay)."""
    if text.endswith("\r\n"):
        return text[:-2]
    return text[:-1] if text.endswith(("\n", "\r")) else text


def _header(path: Path, reader: _Reader, encoding: str, header_row: int | None = None) -> tuple[list[str], int]:
    """The header row: the first line with content (at or after ``header_row``, when the contract says the
    header sits below a title)."""
    for header, line, text, _ in reader:
        if header_row and line < header_row:
            continue  # a title or a note above the header: part of the file (archived), not data
        if any(h.strip() for h in header):
            if any(_ESCAPED.search(h) for h in header):
                raise SourceError(path, f"the header row does not decode as {encoding}", line=line,
                                  hint="declare the file's real encoding in the contract")
            if encoding == "gb18030" and _is_utf8_text(text.encode("gb18030", "surrogateescape")):
                raise SourceError(path, "the header row is UTF-8 text but the file is read as GB18030", line=line,
                                  hint="declare encoding: utf-8 (or auto) for this file, or export it again "
                                       "in one encoding")
            return list(header), line
    raise SourceError(path, "the file is empty: no header row", line=1,
                      hint="export the data again, with its header row")


def _following(reader: _Reader) -> Iterator[tuple[list[str], int]]:
    for row, line, _, _ in reader:
        if row:
            yield row, line


def _csv_error(path: Path, reader: _Reader, exc: csv.Error) -> SourceError:
    if "field larger than field limit" in str(exc):
        return LimitError(f"{path}, line {reader.line + 1}: a field longer than {limit('record_chars'):,} "
                          "characters (a quote that is never closed?); the limit is HANDOVER_LIMIT_RECORD_CHARS")
    return SourceError(path, f"the file cannot be split into rows ({type(exc).__name__})", line=reader.line + 1,
                       hint="check the contract's delimiter, or export the file again")


def find_header(spec: EntitySpec, path: Path) -> tuple[str, list[str], int]:
    """The file's encoding, its header row and the line it is on."""
    encoding = detect_encoding(path, spec.source.encoding)
    with _open(path, encoding) as fh:
        reader = _Reader(fh, spec.source.delimiter, path)
        try:
            header, line = _header(path, reader, encoding, spec.source.header_row)
            check_title_rows(spec, header, _following(reader), str(path), line)
        except csv.Error as exc:
            raise _csv_error(path, reader, exc) from None
    return encoding, header, line


def read_header(spec: EntitySpec, path: Path) -> tuple[str, list[str]]:
    encoding, header, _ = find_header(spec, path)
    return encoding, header


def _row_problem(row: list[str], text: str, eof: bool, width: int, unnamed: list[int], encoding: str,
                 header: list[str], limits: list[int]) -> str | None:
    if eof:
        return "unterminated_quote"  # the reader only runs into the end of the file inside a quoted field
    if is_blank_row(row):
        return "blank_row"
    if len(row) != width or (unnamed and any(row[i].strip() for i in unnamed)):
        return "ragged_row"  # or a value in a column that has no header (Excel's trailing empty column)
    if SPECIAL_RE.search(text):  # one pass over the row for undecodable bytes, control characters, BOMs
        return special_problem(row, header, text)
    if encoding == "gb18030":
        raw = text.encode("gb18030")
        if codecs.BOM_UTF8 in raw:
            return "stray_bom"  # a UTF-8 file's start, concatenated: GB18030 would read it as 锘 and more
        if _is_utf8_text(raw):
            return "encoding_error"
    return cell_problem(row, header, limits, scanned=True, longest=len(text))


def _cell_start_re(delimiter: str) -> tuple[tuple[str, re.Pattern], ...]:
    """Where, in a chunk's text (after a line break of its own), a cell may start with a character of
    `CELL_STARTS` (a formula, an Excel error, a blank) or a row's first cell may be empty (a blank row).
    A cell starts after a line break or a delimiter, its text right after the opening quote when quoted;
    an unquoted cell cannot start with a line break or the delimiter. A line break or delimiter inside
    quotes only makes a row suspect for nothing. Each match ends on a character of the row it flags.

    One pattern per leading character, with the character it needs before it looked behind for: a
    pattern led by one literal character is searched for at C speed (and skipped when the character is
    not in the text at all), where one led by a set ("a delimiter or a line break", or the set of
    CELL_STARTS) is tried at every position: 10x slower on a chunk of Chinese text."""
    starts = re.escape("".join(sorted(CELL_STARTS)))
    sep = re.escape(delimiter)
    patterns = [(c, re.compile(rf"{re.escape(c)}(?<=[\r\n{sep}].)"))  # an unquoted cell's first character
                for c in sorted(CELL_STARTS - {"\r", "\n", delimiter})]
    patterns.append(('"', re.compile(rf'"(?<=[\r\n{sep}]")[{starts}"]')))  # a quoted cell's first character
    patterns += [(f"{nl}{delimiter}", re.compile(rf"{re.escape(nl)}{sep}")) for nl in "\r\n"]  # an empty first cell
    return tuple(patterns)


def _suspects(rows: list[tuple[str, ...]], texts: list[str], eof: bool, width: int, unnamed: list[int],
              encoding: str, header: list[str], cell_start: tuple[tuple[str, re.Pattern], ...]) -> list[int]:
    """The rows of a chunk `_row_problem` may find a problem in, in order: a superset found with a few
    passes in C over the whole chunk (its rows' widths, one search of its text for control characters and
    one for cells that may be formulas), instead of a dozen calls per row. Only these rows get the per-row
    checks."""
    n = len(rows)
    suspects = set(np.flatnonzero(np.fromiter(map(len, rows), np.intp, n) != width).tolist())  # ragged
    if eof:
        suspects.add(n - 1)  # only the file's last row can run into its end
    for position in unnamed:  # a value under no header
        if any(len(row) > position and row[position] for row in rows):
            suspects.update(i for i, row in enumerate(rows) if len(row) > position and row[position])
    lengths = np.fromiter(map(len, texts), np.intp, n)
    suspects.update(np.flatnonzero(lengths > FIELD_LIMIT).tolist())  # a field may be oversized
    text = "\n" + "".join(texts)  # the first row starts after a line break too (`_cell_start_re`)
    ends = np.cumsum(lengths) + 1  # where each row's text ends in the chunk's

    def rows_at(offsets: list[int]) -> list[int]:
        return np.searchsorted(ends, offsets, side="right").tolist()

    if SPECIAL_RE.search(text):  # undecodable bytes, control characters, BOMs
        suspects.update(rows_at([m.start() for m in SPECIAL_RE.finditer(text)]))
    for lead, pattern in cell_start:  # blank rows, formulas, errors
        if lead in text:
            suspects.update(rows_at([m.end() - 1 for m in pattern.finditer(text)]))
    first = header[0] if header else ""
    if first and ('"' in first or first in text):  # a repeated header (its text is in the row's, unless quoted)
        suspects.update(i for i, row in enumerate(rows) if first in row[0])
    if encoding == "gb18030":
        suspects.update(_gb18030_suspects(texts, suspects))
    return sorted(suspects)


def _gb18030_suspects(texts: list[str], skip: set[int]) -> list[int]:
    """Rows of a GB18030 file whose bytes may hold a UTF-8 BOM or be UTF-8 text (`_row_problem`): the chunk is
    encoded and decoded once, its rows separated by NUL (a byte no multi-byte character in either encoding
    contains; rows with one, or with undecodable bytes, are in `skip`: already suspect)."""
    raw = "\x00".join("" if i in skip else t for i, t in enumerate(texts)).encode("gb18030")
    found = []
    if codecs.BOM_UTF8 in raw:
        found = [i for i, row in enumerate(raw.split(b"\x00")) if codecs.BOM_UTF8 in row]
    as_utf8 = raw.decode("utf-8", "surrogateescape").split("\x00")
    found += [i for i, row in enumerate(as_utf8) if _MULTIBYTE.search(row) and not _ESCAPED.search(row)]
    return found


def read_chunks(spec: EntitySpec, path: Path, chunk_rows: int) -> Iterator[RawChunk]:
    encoding = detect_encoding(path, spec.source.encoding)
    codec = _raw_codec(encoding)
    headers = [c.header for c in spec.columns]
    names = [c.name for c in spec.columns]
    with _open(path, encoding) as fh:
        reader = _Reader(fh, spec.source.delimiter, path)
        try:
            header, header_line = _header(path, reader, encoding, spec.source.header_row)
            check_title_rows(spec, header, _following(reader), str(path), header_line)
            positions = match_headers(spec, header, str(path), "header row", line=header_line)
            width = len(header)
            unnamed = sorted(set(range(width)) - set(positions))
            cleaned = [clean_header(h) for h in header]
            limits = field_limits(spec, positions, width)
            cell_start = _cell_start_re(spec.source.delimiter)

            def chunk(rows: list[tuple[str, ...]], lines: list[int], texts: list[str], eof: bool) -> RawChunk:
                # a clean row's values are its fields in contract order (the very tuple, when that is the file's)
                if positions == list(range(width)):
                    values = list(rows)
                else:
                    values = [tuple(map(row.__getitem__, positions)) if len(row) == width else None for row in rows]
                problems: list[str | None] = [None] * len(rows)
                raws: list[bytes | None] = [None] * len(rows)
                issues: list[list[str] | None] = [None] * len(rows)
                last = len(rows) - 1
                for i in _suspects(rows, texts, eof, width, unnamed, encoding, cleaned, cell_start):
                    row, text = rows[i], texts[i]
                    problem = _row_problem(row, text, eof and i == last, width, unnamed, encoding, cleaned, limits)
                    if problem:
                        problems[i] = problem
                        raws[i] = _strip_terminator(text).encode(codec, "surrogateescape")
                        kept = [row[p] if p < len(row) else None for p in positions]
                        values[i] = tuple(None if v is None or _ESCAPED.search(v) or suspect_value(v, limits[p])
                                          else v for v, p in zip(kept, positions, strict=True))
                    else:
                        issues[i] = cell_issues(row, positions, names)
                return RawChunk(headers, values, lines, problems, raws, issues)

            # The rows come in batches (`_Reader`) and are cut into chunks by slicing. Rows are held (and handed
            # on) as tuples: a tuple of strings drops out of the garbage collector's sight, while hundreds of
            # thousands of lists would be scanned by every full collection.
            rows: list[tuple[str, ...]] = []
            lines: list[int] = []
            texts: list[str] = []
            ended = False
            for batch_rows, batch_lines, batch_texts, ended in reader.batches():
                rows += batch_rows
                lines += batch_lines
                texts += batch_texts
                while len(rows) >= chunk_rows:
                    whole = len(rows) == chunk_rows  # the file's end, if any, is in the last row held
                    yield chunk(rows[:chunk_rows], lines[:chunk_rows], texts[:chunk_rows], ended and whole)
                    rows, lines, texts = rows[chunk_rows:], lines[chunk_rows:], texts[chunk_rows:]
        except csv.Error as exc:
            raise _csv_error(path, reader, exc) from None
        if rows:
            yield chunk(rows, lines, texts, ended)
